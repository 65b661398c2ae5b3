import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Testing

@testable import GreenlightPostgres

/// Writes that share one call of `greenlight_apply` (invariants 1 and 2): each stands or falls alone, the audit chain
/// the database links stays dense and verifies with the Swift verifier, and writes arriving together share a commit.
@Suite("Write batches on PostgreSQL", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct PostgresWriteBatchTests {
    /// Details whose canonical bytes need escaping and are not ASCII: the bytes hashed inside the database are the
    /// bytes Swift would hash.
    static func details(_ index: Int) -> [String: String] {
        ["n": "\(index)", "quote": #"say "hi"\ "#, "line": "one\ntwo\t\u{1}", "unicode": "Ünïcødé 🚦 ｇａｔｅ", "ключ": "значение"]
    }

    @Test("a unit that fails after appending rolls back alone; the others in its batch commit, in fewer transactions, and the chain verifies")
    func isolation() async throws {
        let store = try await PostgresGateStore.open(try await PostgresTestServer.freshDatabase(), logger: PostgresTestServer.logger)
        try await store.whileRunning {
            let before = store.writes.batchesSent
            let results = await withTaskGroup(of: (Int, Bool).self) { group in
                for index in 0..<60 {
                    group.addTask {
                        var unit = PostgresWriteUnit()
                        unit.audit(AuditDraft(at: StoreFixtures.start, actor: "writer-\(index)", action: .policyLoaded, details: Self.details(index)))
                        // Every third unit fails after appending (no such gate): its event must not survive.
                        if index % 3 == 0 { unit.append("gate_at", [("id", .string("gl_missing")), ("version", .integer(1))]) }
                        do {
                            try await store.perform(unit)
                            return (index, true)
                        } catch {
                            #expect(error as? StoreError == .conflict("gate gl_missing changed"))
                            return (index, false)
                        }
                    }
                }
                return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
            #expect(results.filter(\.value).count == 40)
            let events = try await store.auditEvents(AuditQuery(action: AuditAction.policyLoaded.rawValue))
            #expect(Set(events.map(\.actor)) == Set(results.filter(\.value).map { "writer-\($0.key)" }))
            #expect(events.map(\.sequence) == Array(1...40).map(Int64.init), "no gaps where the failed units were")
            #expect(events.allSatisfy { $0.details["unicode"] == "Ünïcødé 🚦 ｇａｔｅ" && $0.details["line"] == "one\ntwo\t\u{1}" })
            #expect(try await store.verifyAudit().isIntact, "the database's hashes are the Swift verifier's")
            let sent = store.writes.batchesSent - before
            #expect(sent < 60, "60 units arriving together took \(sent) transactions")
        }
    }

    @Test("a value PostgreSQL cannot store (a NUL) fails its own write with a clear error, never the batch beside it")
    func nul() async throws {
        let store = try await PostgresGateStore.open(try await PostgresTestServer.freshDatabase(), logger: PostgresTestServer.logger)
        try await store.whileRunning {
            let refused = Task { try await store.record(AuditDraft(at: StoreFixtures.start, actor: "nul\u{0}byte", action: .policyLoaded)) }
            let kept = Task { try await store.record(AuditDraft(at: StoreFixtures.start, actor: "fine", action: .policyLoaded)) }
            await #expect {
                try await refused.value
            } throws: { error in
                "\(error)".contains("NUL")
            }
            try await kept.value
            #expect(try await store.auditEvents(AuditQuery()).map(\.actor) == ["fine"])
        }
    }

    @Test("a token whose name is taken is refused by name; a unit that breaks a constraint fails alone as a store error")
    func errors() async throws {
        let store = try await PostgresGateStore.open(try await PostgresTestServer.freshDatabase(), logger: PostgresTestServer.logger)
        try await store.whileRunning {
            let token = AccessToken(name: "ci", kind: .pipeline, createdAt: StoreFixtures.start)
            let audit = AuditDraft(TokenCreated(token), by: .greenlight, at: StoreFixtures.start)
            try await store.createToken(token, secretHash: String(repeating: "a", count: 64), audit: audit)
            await #expect(throws: StoreError.tokenNameTaken("ci")) {
                try await store.createToken(token, secretHash: String(repeating: "b", count: 64), audit: audit)
            }
            // A vote on a gate that does not exist breaks the foreign key: a failure of that unit, not of the batch.
            var unit = PostgresWriteUnit()
            unit.append(
                "insert_vote",
                [
                    ("id", .string("gl_missing")), ("voter", .string("alice")), ("decision", .string("approve")), ("comment", .null),
                    ("at", .integer(0)), ("via", .string("api")),
                ])
            await #expect {
                try await store.perform(unit)
            } throws: { error in
                guard case .databaseFailed(let reason)? = error as? StoreError else { return false }
                return reason.hasPrefix("23503")
            }
            #expect(try await store.verifyAudit().isIntact)
            #expect(try await store.auditEvents(AuditQuery()).count == 1, "the refused token left no event")
        }
    }
}

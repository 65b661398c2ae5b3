import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightTestSupport
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// scripts/verify-audit-chain.py recomputes the chain from the stored rows as docs/audit.md describes it, knowing
/// nothing of Greenlight's code: it must reach the verdict `audit verify` prints, byte for byte.
@Suite(
    "Independent verifier (scripts/verify-audit-chain.py)",
    .enabled(if: IndependentVerifier.python != nil, "python3 is not on PATH: install it to run the independent audit verifier"))
struct AuditScriptTests {
    /// A log of a few thousand events of every common kind, at instants a fraction of a millisecond apart.
    private func busyLog() async throws -> TemporaryStore {
        let fixture = try TemporaryStore()
        let (store, ledger) = (fixture.store, fixture.ledger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for round in 0..<100 {
                        let index = writer * 100 + round
                        var gate = StoreFixtures.gate(commit: "c\(index)abcdef")
                        gate.createdAt = AuditTimeTests.instant(4 * index)
                        _ = try await ledger.open(gate, idempotencyKey: nil)
                        _ = try await ledger.castVote(
                            Vote(voter: "alice", decision: .approve, at: AuditTimeTests.instant(4 * index + 1)), on: gate.id)
                        _ = try await ledger.castVote(
                            Vote(voter: "mallory", decision: .approve, at: AuditTimeTests.instant(4 * index + 2)), on: gate.id)
                        let details = ["source": "greenlight.yaml", "note": "tab\there, \"quoted\", ünïcode, \u{7}"]
                        try await store.record(
                            AuditDraft(at: AuditTimeTests.instant(4 * index + 3), actor: "operator", action: .policyLoaded, details: details))
                    }
                }
            }
            try await group.waitForAll()
        }
        return fixture
    }

    private func expectAgreement(_ fixture: TemporaryStore, _ comment: Comment? = nil) async throws {
        let verdict = try await fixture.store.verifyAudit()
        let script = try IndependentVerifier.run(on: fixture.path)
        #expect(script.line == verdict.description, comment)
        #expect(script.status == (verdict.isIntact ? 0 : 1), "exit status \(script.status): \(script.line)")
    }

    @Test("on 3,200 events at sub-millisecond instants, the script and audit verify print the same verdict")
    func agreesOnABusyLog() async throws {
        let fixture = try await busyLog()
        guard case .intact(let count, _) = try await fixture.store.verifyAudit() else {
            Issue.record("the log does not verify: \(try await fixture.store.verifyAudit())")
            return
        }
        #expect(count == 3_200)
        try await expectAgreement(fixture)
    }

    @Test("on edited logs the script and audit verify name the same event and the same problem")
    func agreesOnTampering() async throws {
        let fixture = try await busyLog()
        let queue = try DatabaseQueue(path: fixture.path)
        let edits = [
            "UPDATE audit_event SET at = at + 1 WHERE sequence = 2900",
            "UPDATE audit_event SET details = '{\"source\":\"elsewhere.yaml\"}' WHERE sequence = 2500",
            "DELETE FROM audit_event WHERE sequence = 2000",
            "DELETE FROM audit_event WHERE sequence > 3000",
            "UPDATE audit_event SET at = at - 1 WHERE sequence = 10",
        ]
        for edit in edits {
            try await queue.write { db in try db.execute(sql: edit) }
            try await expectAgreement(fixture, "after \(edit)")
        }
    }

    @Test("on a log begun before schema v5 and continued after it, they agree, before and after an edit")
    func agreesOnALogFromBeforeV5() async throws {
        let old = try OldAuditLog(events: 500)
        let store = try SQLiteGateStore(path: old.path)
        for index in 500..<1_000 {
            try await store.record(
                AuditDraft(at: AuditTimeTests.instant(index), actor: "operator", action: .policyLoaded, details: ["n": "\(index)"]))
        }
        func expectAgreement(_ comment: Comment) async throws {
            let verdict = try await store.verifyAudit()
            let script = try IndependentVerifier.run(on: old.path)
            #expect(script.line == verdict.description, comment)
        }
        #expect(try await store.verifyAudit().isIntact)
        try await expectAgreement("the upgraded log")
        try await store.pool.write { db in try db.execute(sql: "UPDATE audit_event SET actor = 'mallory' WHERE sequence = 250") }
        try await expectAgreement("an old event edited")
    }
}

/// Runs scripts/verify-audit-chain.py with the `python3` on PATH.
enum IndependentVerifier {
    static let python: URL? = {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { URL(fileURLWithPath: String($0)).appendingPathComponent("python3") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/verify-audit-chain.py")

    /// The script's one line (from standard output when intact, standard error otherwise) and exit status.
    static func run(on database: String) throws -> (line: String, status: Int32) {
        let process = Process()
        process.executableURL = python
        process.arguments = [script.path, database]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile() + errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let line = String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .newlines)
        return (line, process.terminationStatus)
    }
}

import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightTestSupport
import Synchronization
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// Writes that share one commit (invariants 1 and 2): each stands or falls alone, and the audit chain stays whole.
@Suite("Group commit")
struct GroupCommitTests {
    struct Refused: Error, Equatable {
        let index: Int
    }

    @Test("a write that fails after writing rolls back alone; the others in its batch commit, and the chain verifies")
    func isolation() async throws {
        let fixture = try TemporaryStore()
        let store = fixture.store
        let results = await withTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<60 {
                group.addTask {
                    do {
                        try await store.writer.write { db in
                            try SQLiteAuditLog.append(
                                AuditDraft(at: StoreFixtures.start, actor: "writer-\(index)", action: .policyLoaded, details: ["n": "\(index)"]),
                                db: db)
                            // Every third write fails after appending: its event must not survive.
                            if index % 3 == 0 { throw Refused(index: index) }
                        }
                        return (index, true)
                    } catch {
                        #expect(error as? Refused == Refused(index: index))
                        return (index, false)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.filter(\.value).count == 40)
        let events = try await store.auditEvents(AuditQuery(action: AuditAction.policyLoaded.rawValue))
        #expect(Set(events.map(\.actor)) == Set(results.filter(\.value).map { "writer-\($0.key)" }))
        #expect(events.map(\.sequence) == Array(1...40).map(Int64.init), "no gaps where the failed writes were")
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("a write whose caller gives up before its batch reaches it is never run, and its caller hears so at once")
    func abandoned() async throws {
        let fixture = try TemporaryStore()
        let store = fixture.store
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: fixture.path, configuration: configuration)
        try await other.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let ran = Mutex(false)
        let write = Task {
            try await store.writer.write { db in
                ran.withLock { $0 = true }
                try SQLiteAuditLog.append(AuditDraft(at: StoreFixtures.start, actor: "late", action: .policyLoaded, details: [:]), db: db)
            }
        }
        write.cancel()
        await #expect(throws: CancellationError.self) { try await write.value }
        try await other.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
        // A write after the lock is released goes through, and the abandoned one did not run before it.
        try await store.record(AuditDraft(at: StoreFixtures.start, actor: "next", action: .policyLoaded, details: [:]))
        #expect(!ran.withLock { $0 })
        #expect(try await store.auditEvents(AuditQuery(action: AuditAction.policyLoaded.rawValue)).map(\.actor) == ["next"])
    }
}

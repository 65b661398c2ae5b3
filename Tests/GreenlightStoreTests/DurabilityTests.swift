import Dispatch
import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightTestSupport
import Synchronization
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// "A 200 means stored": an acknowledged write must survive a power cut, so each commit must wait for an fsync of the
/// log (synchronous=FULL in WAL mode), and the group commit must make one fsync serve every write in its batch.
@Suite("Durability")
struct DurabilityTests {
    /// Counts the commits of the connection it observes.
    final class CommitCounter: TransactionObserver, Sendable {
        private let commits = Mutex(0)
        var count: Int { commits.withLock { $0 } }
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
        func databaseDidRollback(_ db: Database) {}
    }

    private static func draft(_ index: Int) -> AuditDraft {
        AuditDraft(at: StoreFixtures.start, actor: "writer-\(index)", action: .policyLoaded, details: ["n": "\(index)"])
    }

    @Test("the writer, a reader and the checkpoint's connection run synchronous=FULL (2), not GRDB's NORMAL")
    func synchronousIsFull() async throws {
        let fixture = try TemporaryStore()
        let store = fixture.store
        let writer = try await store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(writer == 2, "the writer, which commits every vote")
        let reader = try await store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(reader == 2, "a reader")
        #expect(try store.checkpointer.synchronousSetting() == 2, "the checkpoint's connection")
    }

    @Test("each group commit fsyncs the write-ahead log, and one fsync serves a whole batch")
    func syncPerGroupCommit() async throws {
        SyncCountingVFS.install()
        let fixture = try TemporaryStore()
        let store = fixture.store
        let commits = CommitCounter()
        store.pool.add(transactionObserver: commits, extent: .observerLifetime)
        let wal = fixture.path + "-wal"
        func counts() -> (syncs: Int, commits: Int) { (SyncCountingVFS.syncs(of: wal), commits.count) }

        // One write at a time: each is a group of its own, and each must wait for the disk.
        let start = counts()
        for index in 0..<40 { try await store.record(Self.draft(index)) }
        let sequential = (syncs: counts().syncs - start.syncs, commits: counts().commits - start.commits)
        #expect(sequential.commits == 40)
        #expect(sequential.syncs >= sequential.commits, "WAL syncs for \(sequential.commits) group commits: \(sequential.syncs)")

        // 200 writes lined up behind a commit that cannot start yet (the writer's queue is held): the batch that commit
        // took (the first write, or more if they came in before it was taken) and one batch of the rest.
        let held = DispatchSemaphore(value: 0)
        store.pool.asyncWriteWithoutTransaction { _ in held.wait() }
        let beforeBatch = counts()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { held.signal() }
            for index in 0..<200 { group.addTask { try await store.record(Self.draft(1_000 + index)) } }
            while store.writer.unansweredWrites < 200 { await Task.yield() }
            held.signal()
            try await group.waitForAll()
        }
        let batched = (syncs: counts().syncs - beforeBatch.syncs, commits: counts().commits - beforeBatch.commits)
        #expect((1...2).contains(batched.commits), "200 writes lined up commit in \(batched.commits) transactions, not 200")
        #expect(batched.syncs >= batched.commits, "WAL syncs for \(batched.commits) group commits: \(batched.syncs)")
        #expect(batched.syncs < 10, "one fsync serves a batch, not one per write: \(batched.syncs) for 200 writes")
        #expect(try await store.verifyAudit() == .intact(events: 240, headHash: try await Self.headHash(store)))
    }

    private static func headHash(_ store: SQLiteGateStore) async throws -> String {
        try await store.pool.read { db in try String.fetchOne(db, sql: "SELECT hash FROM audit_head") ?? "" }
    }
}

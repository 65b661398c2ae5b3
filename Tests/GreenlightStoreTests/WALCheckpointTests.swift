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

@Suite("Checkpoints and the frozen-parts memo")
struct WALCheckpointTests {
    @Test("the write-ahead log stays short without SQLite's in-commit checkpoint: the checkpointer copies it out")
    func walStaysShort() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        let wal = temporary.path + "-wal"
        func size() throws -> Int { (try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0 }
        var sizes: [Int] = []
        for round in 0..<12 {
            for index in 0..<WALCheckpointer.commitsBetween {
                _ = try await temporary.ledger.open(StoreFixtures.gate(commit: "c\(round)x\(index)abcdef"), idempotencyKey: nil)
            }
            store.checkpointer.drain()
            sizes.append(try size())
        }
        // Without checkpoints the log would hold all 384 commits and grow every round; with them it is reused.
        #expect(sizes.last ?? 0 <= (sizes.first ?? 0) * 2, "WAL sizes per round: \(sizes)")
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("under sustained writes with a read always in progress, the write-ahead log stays bounded")
    func walBoundedUnderReaders() async throws {
        let limit = 1 << 20
        let fixture = try TemporaryStore(walSizeLimit: limit)
        let store = fixture.store
        let wal = fixture.path + "-wal"
        func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0 }
        let readers = OverlappingReaders(pool: store.pool)
        readers.start()
        // A row of about 3 KB fills most of a page: 2,400 of them are over 10 MB of log, which is what the file grows
        // to when nothing restarts it.
        let payload = String(repeating: "x", count: 3_000)
        let largest = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    var largest = 0
                    for index in 0..<600 {
                        let draft = AuditDraft(
                            at: StoreFixtures.start, actor: "writer-\(writer)", action: .policyLoaded, details: ["n": "\(index)", "payload": payload])
                        try await store.record(draft)
                        largest = max(largest, size())
                    }
                    return largest
                }
            }
            return try await group.reduce(0, max)
        }
        let reads = readers.stop()
        store.checkpointer.drain()
        #expect(reads > 100, "reads overlapped the writes throughout: \(reads)")
        // The bound: the limit, plus what is committed between two checkpoints (about 1 MiB here) before the RESTART
        // runs, twice over for a RESTART that gave up. Nothing restarting the log, it grows past 30 MB.
        #expect(largest <= 4 * limit, "largest -wal file: \(largest) bytes, limit \(limit)")
        #expect(store.checkpointer.restartCounts.completed >= 1, "restarts: \(store.checkpointer.restartCounts)")
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("the write-once memo computes a value once, and forgets the oldest beyond its capacity")
    func memo() throws {
        let memo = WriteOnceMemo<GateID, (GateRequest, GatePlan)>(capacity: 64)
        let gate = StoreFixtures.gate()
        var decoded = 0
        func decode() -> (GateRequest, GatePlan) {
            decoded += 1
            return (gate.request, gate.plan)
        }
        let ids = (0...memo.capacity).map { _ in GateID.generate() }
        for id in ids { _ = memo.value(for: id, make: decode) }
        #expect(decoded == ids.count)
        _ = memo.value(for: ids[1], make: decode)
        #expect(decoded == ids.count, "a remembered gate is not decoded again")
        _ = memo.value(for: ids[0], make: decode)
        #expect(decoded == ids.count + 1, "the oldest was forgotten")
    }
}

/// Two readers that hand a read over to each other so that one is always in progress: each takes a snapshot, waits
/// until the other has taken a newer one, and only then ends its own. A write-ahead log that needs a moment with no
/// reader on it to be restarted never gets one.
final class OverlappingReaders: Sendable {
    private struct State {
        var opened = [0, 0]
        var stopped = false
    }

    private let pool: DatabasePool
    private let state = Mutex(State())
    private let condition = NSCondition()
    private let finished = DispatchGroup()

    init(pool: DatabasePool) {
        self.pool = pool
    }

    func start() {
        for reader in 0..<2 {
            finished.enter()
            Thread.detachNewThread { [self] in
                run(reader)
                finished.leave()
            }
        }
    }

    /// Stops both readers and returns how many reads they made.
    func stop() -> Int {
        condition.lock()
        state.withLock { $0.stopped = true }
        condition.broadcast()
        condition.unlock()
        finished.wait()
        return state.withLock { $0.opened.reduce(0, +) }
    }

    private func run(_ reader: Int) {
        let other = 1 - reader
        while !state.withLock({ $0.stopped }) {
            try? pool.read { db in
                // The snapshot is taken by the first read of the transaction.
                _ = try Int.fetchOne(db, sql: "SELECT sequence FROM audit_head")
                condition.lock()
                defer { condition.unlock() }
                let otherOpened = state.withLock { state in
                    state.opened[reader] += 1
                    return state.opened[other]
                }
                condition.broadcast()
                while !state.withLock({ $0.stopped || $0.opened[other] > otherOpened }) { condition.wait() }
            }
        }
    }
}

import Dispatch
import Foundation
import GRDB
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Synchronization
import Testing

@testable import GreenlightSQLite

/// Point reads run on the calling thread, each thread on a connection of its own (``ConfinedReaders``): they never
/// wait for the pool's readers, so a read that blocks its event loop cannot wait on a reader whose task needs that loop.
@Suite("Reads on the calling thread", .timeLimit(.minutes(1)))
struct ConfinedReadersTests {
    @Test("a point read completes while every one of the pool's readers is held")
    func readsWithoutThePool() async throws {
        let fixture = try TemporaryStore()
        let store = fixture.store
        let opened = try await fixture.ledger.open(StoreFixtures.gate(), idempotencyKey: nil).gate

        // Every reader of the pool held inside a read. A point read that needs one waits for them: after ten seconds
        // they are let go, so that such a build fails here instead of hanging.
        let held = await HeldReaders(store.pool)
        defer { held.release() }
        let watchdog = Task.detached {
            try? await Task.sleep(for: .seconds(10))
            return held.release()
        }

        let read = try await store.gate(opened.id)
        let readersLetGo = !held.release()
        watchdog.cancel()
        #expect(!readersLetGo, "the read waited for the pool's readers")
        #expect(read?.id == opened.id)
        #expect(store.confined.count >= 1)
        try await held.finished()
    }

    @Test("a thread's connection sees every commit made before its read, on its next read as on its first")
    func seesCommits() async throws {
        let fixture = try TemporaryStore()
        let store = fixture.store
        let opened = try await fixture.ledger.open(StoreFixtures.gate(), idempotencyKey: nil).gate
        // One thread, one connection, reading before and after each commit.
        let reads = OnThread()
        let voters = { @Sendable () -> [String]? in
            (try? store.confined.read(oneStatement: true) { db in try SQLiteRows.fetchGate(db, opened.id)?.votes.map(\.voter) }) ?? nil
        }
        #expect(await reads.run(voters) == [])
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: opened.id)
        #expect(await reads.run(voters) == ["alice"])
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: opened.id)
        #expect(await reads.run(voters) == ["alice", "bob"])
        #expect(store.confined.count == 1, "one thread read, on one connection")
        reads.stop()
    }

    @Test("when the store goes, its threads' connections close before its pool, whose writer checkpoints and removes the log")
    func closesBeforeThePool() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-confined-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("greenlight.db").path
        do {
            let store = try SQLiteGateStore(path: path, create: true, walSizeLimit: WALCheckpointer.defaultSizeLimit)
            let opened = try await GateLedger(store: store, notifying: []).open(StoreFixtures.gate(), idempotencyKey: nil).gate
            #expect(try await store.gate(opened.id) != nil)
            #expect(store.confined.count >= 1)
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "a read-only connection closed last and left the log")
    }

    @Test("no more threads than the limit get a connection; reads on the others go to the pool")
    func boundedConnections() async throws {
        let fixture = try TemporaryStore()
        let store = fixture.store
        let opened = try await fixture.ledger.open(StoreFixtures.gate(), idempotencyKey: nil).gate
        // Threads of their own, each reading once while the others are alive, so that none inherits another's
        // connection.
        let threads = ConfinedReaders.limit + 3
        let results = Mutex<[Bool]>([])
        let started = DispatchSemaphore(value: 0)
        let finish = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            Thread {
                let here = (try? store.confined.read(oneStatement: true) { db in try SQLiteRows.fetchGate(db, opened.id)?.id }) ?? nil
                results.withLock { $0.append(here == opened.id) }
                started.signal()
                finish.wait()
            }.start()
        }
        for _ in 0..<threads { await Self.wait(started) }
        #expect(store.confined.count == ConfinedReaders.limit)
        #expect(results.withLock { $0.filter { $0 }.count } == ConfinedReaders.limit, "the others answer nil, for the pool")
        for _ in 0..<threads { finish.signal() }
        // A thread past the limit reads through the store all the same.
        #expect(try await store.gate(opened.id)?.id == opened.id)
    }

    /// Waits for `semaphore` off the cooperative pool, whose threads the held readers must not starve.
    static func wait(_ semaphore: DispatchSemaphore) async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                semaphore.wait()
                continuation.resume()
            }
        }
    }

    /// Every reader of a pool held inside a read, until ``release()``.
    final class HeldReaders: Sendable {
        private let gate = DispatchSemaphore(value: 0)
        private let released = Atomic<Bool>(false)
        private let count: Int
        private let reads: [Task<Void, any Error>]

        /// Returns once every reader of `pool` is inside its read.
        init(_ pool: DatabasePool) async {
            count = pool.configuration.maximumReaderCount
            let inside = DispatchSemaphore(value: 0)
            reads = (0..<count).map { [gate] _ in
                Task.detached {
                    try await pool.read { _ in
                        inside.signal()
                        gate.wait()
                    }
                }
            }
            for _ in 0..<count { await ConfinedReadersTests.wait(inside) }
        }

        /// Lets the readers go; `true` for the call that did, `false` for any after it.
        @discardableResult func release() -> Bool {
            guard released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return false }
            for _ in 0..<count { gate.signal() }
            return true
        }

        /// Returns once the held reads have ended.
        func finished() async throws {
            for read in reads { try await read.value }
        }
    }

    /// A thread of its own that runs what it is given, one thing at a time.
    final class OnThread: Sendable {
        private let work = Mutex<[@Sendable () -> Void]>([])
        private let ready = DispatchSemaphore(value: 0)
        private let stopped = Atomic<Bool>(false)

        init() {
            Thread { [self] in
                while true {
                    ready.wait()
                    if stopped.load(ordering: .acquiring) { return }
                    let next = work.withLock { $0.removeFirst() }
                    next()
                }
            }.start()
        }

        func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
            await withCheckedContinuation { continuation in
                work.withLock { $0.append { continuation.resume(returning: body()) } }
                ready.signal()
            }
        }

        func stop() {
            stopped.store(true, ordering: .releasing)
            ready.signal()
        }
    }
}

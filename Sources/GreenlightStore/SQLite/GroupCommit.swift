import GRDB
import Synchronization

/// Commits the writes that arrive together in one SQLite transaction: one fsync for many votes instead of one each.
///
/// With `synchronous=FULL` a commit waits for an fsync of the log, and SQLite has one writer, so
/// transactions one after another cap the store at about a thousand a second however many clicks wait. Here a write
/// that arrives while a commit is in flight joins the next one. Each write runs in its own savepoint inside the shared
/// transaction: a write that throws (a refused idempotency key, a missing gate) rolls back alone and its caller gets
/// its error, while the others commit. Callers return only after the transaction holding their write has committed,
/// so nothing is reported — or published on the change feed — before it is durable.
final class GroupCommit: Sendable {
    private struct Pending: Sendable {
        let work: @Sendable (Database) throws -> Void
        let done: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var queue: [Pending] = []
        var flushing = false
        /// Writes submitted and not yet answered: those queued and those of the batch in flight.
        var unanswered = 0
    }

    /// The most writes one transaction takes, so that one batch never holds the write lock for long.
    static let batchLimit = 256

    private let pool: DatabasePool
    private let state = Mutex(State())

    init(pool: DatabasePool) {
        self.pool = pool
    }

    /// Writes submitted and not yet answered (for tests that line writes up behind a commit).
    var unansweredWrites: Int {
        state.withLock { $0.unanswered }
    }

    /// Runs `work` in a transaction (shared with other writes that arrive meanwhile) and returns its result once that
    /// transaction has committed.
    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = Mutex<T?>(nil)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let pending = Pending(
                work: { db in
                    let value = try work(db)
                    result.withLock { $0 = value }
                }, done: continuation)
            let leads = state.withLock { state -> Bool in
                state.queue.append(pending)
                state.unanswered += 1
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if leads { commitNextBatch() }
        }
        guard let value = result.withLock({ $0 }) else { throw CancellationError() }
        return value
    }

    /// Commits the next batch from the queue on the writer's dispatch queue. The commit's completion, still on that
    /// queue, answers the batch's callers and starts the batch that gathered meanwhile, until the queue is empty.
    ///
    /// No task sits between the callers and the writer: a vote goes from its request's thread to the writer's queue and
    /// back, and each thread hop is a wake-up that a short request on a small machine pays for in latency.
    private func commitNextBatch() {
        let batch = state.withLock { state -> [Pending] in
            let batch = Array(state.queue.prefix(Self.batchLimit))
            state.queue.removeFirst(batch.count)
            if batch.isEmpty { state.flushing = false }
            return batch
        }
        if batch.isEmpty { return }
        pool.asyncWrite { db -> [Int: any Error] in
            var failures: [Int: any Error] = [:]
            for (index, pending) in batch.enumerated() {
                do {
                    try db.inSavepoint {
                        try pending.work(db)
                        return .commit
                    }
                } catch {
                    failures[index] = error
                }
            }
            return failures
        } completion: { _, result in
            self.state.withLock { $0.unanswered -= batch.count }
            switch result {
            case .success(let failures):
                for (index, pending) in batch.enumerated() {
                    if let failure = failures[index] { pending.done.resume(throwing: failure) } else { pending.done.resume() }
                }
            case .failure(let error):
                // The transaction itself failed (the disk, a lock held too long by another process): nothing committed.
                for pending in batch { pending.done.resume(throwing: error) }
            }
            self.commitNextBatch()
        }
    }
}

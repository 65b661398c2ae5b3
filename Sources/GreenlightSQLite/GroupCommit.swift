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
    /// Where one write stands. A write its caller gives up on (the task is cancelled) before its batch runs it is never
    /// run, and its caller hears so at once; once it runs, it runs to the end and its caller hears the outcome. So a
    /// caller that gives up — a Slack click past its three seconds, behind a lock another process holds — knows
    /// exactly whether its write happened: cancelled means not stored.
    private enum Phase {
        case waiting(CheckedContinuation<Void, any Error>)
        case running(CheckedContinuation<Void, any Error>)
        case abandoned
        case finished
    }

    private final class Pending: Sendable {
        let work: @Sendable (Database) throws -> Void
        let phase = Mutex<Phase?>(nil)

        init(work: @escaping @Sendable (Database) throws -> Void) {
            self.work = work
        }

        /// Moves a waiting write to running; false when its caller gave up on it.
        func start() -> Bool {
            phase.withLock { phase in
                guard case .waiting(let continuation) = phase else { return false }
                phase = .running(continuation)
                return true
            }
        }

        /// Answers the caller, unless it gave up (and was answered) already.
        func finish(_ result: Result<Void, any Error>) {
            let continuation = phase.withLock { phase -> CheckedContinuation<Void, any Error>? in
                switch phase {
                case .waiting(let continuation), .running(let continuation):
                    phase = .finished
                    return continuation
                case .abandoned, .finished, nil:
                    return nil
                }
            }
            continuation?.resume(with: result)
        }

        /// The caller gives up: answered with `CancellationError` now if the write has not started, else left to finish.
        func abandon() {
            let continuation = phase.withLock { phase -> CheckedContinuation<Void, any Error>? in
                switch phase {
                case .waiting(let continuation):
                    phase = .abandoned
                    return continuation
                case nil:
                    phase = .abandoned
                    return nil
                case .running, .abandoned, .finished:
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    private struct State {
        var queue: [Pending] = []
        var flushing = false
        /// Writes queued or in the batch in flight (an abandoned one until its batch has passed).
        var unanswered = 0
    }

    /// The most writes one transaction takes, so that one batch never holds the write lock for long.
    static let batchLimit = 256

    private let pool: DatabasePool
    private let state = Mutex(State())

    init(pool: DatabasePool) {
        self.pool = pool
    }

    /// Writes queued or in the batch in flight (for tests that line writes up behind a commit).
    var unansweredWrites: Int {
        state.withLock { $0.unanswered }
    }

    /// Runs `work` in a transaction (shared with other writes that arrive meanwhile) and returns its result once that
    /// transaction has committed. Throws `CancellationError`, having run nothing, when the task is cancelled before the
    /// write's batch reaches it.
    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = Mutex<T?>(nil)
        let pending = Pending(work: { db in
            let value = try work(db)
            result.withLock { $0 = value }
        })
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let queued = pending.phase.withLock { phase -> Bool in
                    guard case .none = phase else { return false }  // abandoned before it was queued
                    phase = .waiting(continuation)
                    return true
                }
                guard queued else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                let leads = state.withLock { state -> Bool in
                    state.queue.append(pending)
                    state.unanswered += 1
                    guard !state.flushing else { return false }
                    state.flushing = true
                    return true
                }
                if leads { commitNextBatch() }
            }
        } onCancel: {
            pending.abandon()
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
            for (index, pending) in batch.enumerated() where pending.start() {
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
                    pending.finish(failures[index].map { .failure($0) } ?? .success(()))
                }
            case .failure(let error):
                // The transaction itself failed (the disk, a lock held too long by another process): nothing committed.
                for pending in batch { pending.finish(.failure(error)) }
            }
            self.commitNextBatch()
        }
    }
}

import NIOCore
import Synchronization

/// This replica's writing transactions, one at a time, in the order they asked.
///
/// Writers on every replica take turns under the database's write lock anyway (``PostgresSchema/writeLock``); a
/// writer that waited for it inside the database would hold a pool connection meanwhile, and a burst of votes would
/// hold all of them, leaving none for the reads every request starts with. Waiting here costs a continuation, and at
/// most one connection per replica waits for the lock.
final class WriterTurns: Sendable {
    private struct State {
        var busy = false
        var waiting = CircularBuffer<CheckedContinuation<Void, Never>>()
    }

    private let state = Mutex(State())

    /// Runs `body` once every writer that asked before has finished.
    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard state.busy else {
                    state.busy = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
        defer {
            // The turn passes to the next writer, or the writer's seat is freed.
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let next = state.waiting.popFirst() else {
                    state.busy = false
                    return nil
                }
                return next
            }
            next?.resume()
        }
        return try await body()
    }
}

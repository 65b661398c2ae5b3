import Synchronization

/// Tests waiting for something the simulator will see — a call answered, an envelope acknowledged, a connection
/// opened. Each waits until its condition holds, or until its task is cancelled (a test's time limit), so that what
/// never comes fails the test instead of hanging it.
///
/// A condition reads the simulator's own state under that state's lock; call ``check()`` after every change it reads,
/// once that lock is released.
final class Waiters: Sendable {
    private struct Waiter {
        let ready: @Sendable () -> Bool
        let continuation: CheckedContinuation<Void, Never>
    }

    private let waiting = Mutex<(next: Int, all: [Int: Waiter])>((0, [:]))

    /// Returns once `ready()` holds, or the task is cancelled.
    func wait(until ready: @escaping @Sendable () -> Bool) async {
        let id = waiting.withLock { waiting -> Int in
            waiting.next += 1
            return waiting.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Checked under this lock, so that a `check()` after the change cannot run between the look and the wait.
                let now = waiting.withLock { waiting -> Bool in
                    if Task.isCancelled || ready() { return true }
                    waiting.all[id] = Waiter(ready: ready, continuation: continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            waiting.withLock { $0.all.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Resumes every waiter whose condition now holds.
    func check() {
        let due = waiting.withLock { waiting -> [CheckedContinuation<Void, Never>] in
            let ready = waiting.all.filter { $0.value.ready() }
            for id in ready.keys { waiting.all[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }
}

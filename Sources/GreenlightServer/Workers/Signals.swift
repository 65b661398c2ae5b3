import Foundation
import GreenlightCore
import Synchronization

/// Fires once; everyone waiting (and everyone who waits later) goes on. Used to release long-polls at shutdown.
final class OneShotSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var callbacks: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    var isFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let (waiters, callbacks) = state.withLock { state -> ([CheckedContinuation<Void, Never>], [@Sendable () -> Void]) in
            state.fired = true
            defer {
                state.waiters = [:]
                state.callbacks = [:]
            }
            return (Array(state.waiters.values), Array(state.callbacks.values))
        }
        for waiter in waiters { waiter.resume() }
        for callback in callbacks { callback() }
    }

    /// Calls `onFire` once when the signal fires (at once if it has); returns what stops that.
    func onFire(_ onFire: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let id = state.withLock { state -> UInt64? in
            if state.fired { return nil }
            state.nextID += 1
            state.callbacks[state.nextID] = onFire
            return state.nextID
        }
        guard let id else {
            onFire()
            return {}
        }
        return { [self] in _ = state.withLock { $0.callbacks.removeValue(forKey: id) } }
    }

    /// Returns when the signal fires or the task is cancelled.
    func wait() async {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// A doorbell for one sleeper: `ring()` wakes the current `wait()`, or the next one if nobody is waiting.
final class WakeSignal: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Sleeps on `clock` until `date`, or until rung (at once if it was rung since the last wait), or until the task is
    /// cancelled: how a worker waits for its next due time while staying ready for new work.
    func sleep(until date: Date, on clock: any WallClock) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(until: date) }
            group.addTask { await self.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns when rung (at once if it was rung since the last wait) or when the task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }
}

/// The end of one long-poll's wait: resumed once, by the deciding change, its time, the drain or cancellation.
/// Whichever comes first wins; the others find it finished.
final class DecisionWaiter: Sendable {
    // No gate in here: a waiter that holds a copy of the gate costs every waiting long-poll its size, in the waiter
    // and in the frames that wait on it. Whoever waited reads the gate afterwards.
    private struct State {
        var continuation: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    func finish() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.finished { return true }
                state.continuation = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// How many long-polls are waiting for a decision now, and a way to await a given number of them (how a test knows a
/// request it sent is waiting, without sleeping; and what a metric of waiting clients reads).
public final class WaitingCount: Sendable {
    private struct State {
        var count = 0
        var watchers: [(Int, CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// The long-polls waiting now.
    public var current: Int { state.withLock { $0.count } }

    func enter() { change(by: 1) }
    func leave() { change(by: -1) }

    private func change(by delta: Int) {
        let due = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.count += delta
            let count = state.count
            defer { state.watchers.removeAll { $0.0 == count } }
            return state.watchers.filter { $0.0 == count }.map(\.1)
        }
        for watcher in due { watcher.resume() }
    }

    /// Returns once exactly `count` long-polls are waiting (at once if they are).
    public func reaches(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.count == count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}

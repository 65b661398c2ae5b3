import Foundation
import GreenlightCore
import Synchronization

/// A clock that moves only when a test calls `advance(by:)`. Sleepers wake as soon as their date is reached.
public final class ManualWallClock: WallClock {
    private struct Sleeper {
        let date: Date
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        /// Tests waiting for a number of sleepers: resumed when that many are asleep.
        var sleeperWatchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

        mutating func dueWatchers() -> [CheckedContinuation<Void, Never>] {
            let count = sleepers.count
            let due = sleeperWatchers.filter { $0.count <= count }.map(\.continuation)
            sleeperWatchers.removeAll { $0.count <= count }
            return due
        }
    }

    private let state: Mutex<State>

    public init(now: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        self.state = Mutex(State(now: now))
    }

    public func now() -> Date { state.withLock { $0.now } }

    /// Moves time forward and wakes every sleeper whose date has come.
    public func advance(by interval: TimeInterval) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.addingTimeInterval(interval)
            let now = state.now
            let due = state.sleepers.filter { $0.value.date <= now }
            for id in due.keys { state.sleepers[id] = nil }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once at least `count` tasks are asleep on this clock: lets a test advance time only after the worker
    /// it is testing has gone to sleep.
    public func waitForSleepers(_ count: Int = 1) async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.sleepers.count >= count { return true }
                state.sleeperWatchers.append((count, continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    public func sleep(until date: Date) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resumeNow, watchers) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if date <= state.now || Task.isCancelled { return (true, []) }
                    state.sleepers[id] = Sleeper(date: date, continuation: continuation)
                    return (false, state.dueWatchers())
                }
                for watcher in watchers { watcher.resume() }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}

import Foundation

/// The time of day, and a way to wait for one, behind a protocol so that tests can move time by hand.
///
/// Named apart from the standard library's `Clock`, whose instants are not calendar dates: deadlines are
/// stored as dates because they must survive a restart.
public protocol WallClock: Sendable {
    func now() -> Date
    /// Suspends until `date` (or returns at once if it has passed). Throws `CancellationError` when cancelled.
    func sleep(until date: Date) async throws
}

/// The real clock.
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until date: Date) async throws {
        let interval = date.timeIntervalSinceNow
        if interval > 0 {
            try await Task.sleep(for: .milliseconds(Int64((interval * 1000).rounded(.up))))
        } else {
            try Task.checkCancellation()
        }
    }
}

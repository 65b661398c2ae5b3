import Foundation

/// Exponential backoff with jitter: `initial`, twice that, four times … capped at `maximum`, each delay drawn at random
/// from the upper half of its ceiling, so that many clients (or outbox items) recovering together do not retry in step.
///
/// Used by every retry loop in Greenlight: the CLI reconnecting, the deadline timer when the store fails, and the Slack
/// outbox.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double
    private var failures = 0

    public init(initial: Double = 0.25, maximum: Double = 5) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay in seconds before the next attempt, after `failures` failed ones (0 for the first retry).
    public static func delay(afterFailures failures: Int, initial: Double, maximum: Double) -> Double {
        let ceiling = min(maximum, initial * pow(2, Double(min(max(failures, 0), 30))))
        return Double.random(in: (ceiling / 2)...ceiling)
    }

    /// The next delay in seconds, counting this call as one more failure.
    public mutating func next() -> Double {
        defer { failures += 1 }
        return Self.delay(afterFailures: failures, initial: initial, maximum: maximum)
    }

    public mutating func reset() {
        failures = 0
    }
}

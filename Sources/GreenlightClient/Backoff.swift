import Foundation

/// Exponential backoff with full jitter: 0.25 s, 0.5 s, 1 s … capped, each drawn at random below its ceiling, so that
/// many pipelines reconnecting after a restart do not arrive in step.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double
    private var attempt = 0

    public init(initial: Double = 0.25, maximum: Double = 5) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The next delay in seconds.
    public mutating func next() -> Double {
        let ceiling = min(maximum, initial * pow(2, Double(attempt)))
        attempt += 1
        return Double.random(in: (ceiling / 2)...ceiling)
    }

    public mutating func reset() {
        attempt = 0
    }
}

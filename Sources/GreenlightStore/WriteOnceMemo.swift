import Synchronization

/// A bounded memo of values written once and never changed: a gate's request and plan, a posted card's address, a
/// Slack delivery already handled.
///
/// Correct across processes and stores because the keys are random ids and the values immutable: any store that reads
/// a key reads the same value. Bounded so that a long-running server does not hold every key it has seen; the oldest
/// entries go first.
public final class WriteOnceMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var values: [Key: Value] = [:]
        var order: [Key] = []
        var head = 0
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = 4_096) {
        self.capacity = capacity
    }

    /// The remembered value for `key`, if any.
    public subscript(key: Key) -> Value? {
        state.withLock { $0.values[key] }
    }

    /// The value for `key`, computed by `make` the first time.
    public func value(for key: Key, make: () throws -> Value) rethrows -> Value {
        if let value = self[key] { return value }
        let value = try make()
        remember(value, for: key)
        return value
    }

    /// Forgets `key`'s value, so that the next ``remember(_:for:)`` of it is new again: for a delivery whose handling
    /// failed, which must count when it comes again. (Its place in the ring stays until overwritten, which may then
    /// forget a newer value of the same key a little early: the memo only ever forgets too soon, never too late.)
    public func forget(_ key: Key) {
        _ = state.withLock { $0.values.removeValue(forKey: key) }
    }

    /// Remembers `value`, unless `key` already has one; returns whether it was new (among the last `capacity` keys).
    @discardableResult
    public func remember(_ value: Value, for key: Key) -> Bool {
        state.withLock { state in
            guard state.values[key] == nil else { return false }
            if state.order.count < capacity {
                state.order.append(key)
            } else {
                // A ring: overwrite the oldest key.
                state.values[state.order[state.head]] = nil
                state.order[state.head] = key
                state.head = (state.head + 1) % capacity
            }
            state.values[key] = value
            return true
        }
    }
}

import Foundation
import GreenlightCore
import Synchronization

/// The policy in force, swapped whole when an edited policy validates.
///
/// Readers take the current value once per request and use that value throughout, so a request never sees half of
/// one policy and half of the next; a gate keeps the plan it opened with whatever happens here (invariant 7).
public final class LivePolicy: Sendable {
    private struct State {
        var policy: Policy
        var loadedAt: Date
    }

    private let state: Mutex<State>

    public init(_ policy: Policy, loadedAt: Date = Date()) {
        state = Mutex(State(policy: policy, loadedAt: loadedAt))
    }

    public var current: Policy { state.withLock { $0.policy } }

    /// When the current policy was loaded.
    public var loadedAt: Date { state.withLock { $0.loadedAt } }

    /// Puts `policy` in force.
    public func replace(with policy: Policy, at date: Date) {
        state.withLock { $0 = State(policy: policy, loadedAt: date) }
    }
}

import Foundation

/// Where a gate is in its life. `pending` is the only state that changes; every other state is final.
public enum GateState: String, Sendable, Codable, CaseIterable {
    case pending
    case approved
    case rejected
    case timedOut = "timed_out"
    case cancelled

    /// Whether the gate has been decided (by quorum, a reject, the deadline or a cancel).
    public var isDecided: Bool { self != .pending }

    /// The state as a person reads it: "timed out", not `timed_out`.
    public var displayName: String { rawValue.replacingOccurrences(of: "_", with: " ") }
}

/// What a decided gate means for the deploy: may it proceed?
///
/// `approved` and `rejected` gates say so themselves; a gate that timed out takes the policy's
/// `on_timeout` (reject unless fail-open was written down); a cancelled gate never proceeds.
public enum Outcome: String, Sendable, Codable {
    case approved
    case rejected
}

/// What happens to a gate that nobody decided before its deadline.
public enum TimeoutAction: String, Sendable, Codable {
    /// Fail safe: the deploy does not proceed. The default.
    case reject
    /// Fail open: the deploy proceeds. Only when the policy says so explicitly.
    case approve
}

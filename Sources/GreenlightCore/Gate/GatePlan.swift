import Foundation

/// One approval rule as frozen into a gate: `count` approvals from the people `eligible` at the time the gate opened.
public struct ApprovalRequirement: Sendable, Equatable, Codable {
    /// The group the rule names.
    public var group: String
    /// How many distinct people of the group must approve.
    public var count: Int
    /// The group's members when the gate opened (invariant 7: later policy edits do not change them).
    public var eligible: [String]

    public init(group: String, count: Int, eligible: [String]) {
        self.group = group
        self.count = count
        self.eligible = eligible
    }
}

/// The roles that separation of duties can bar from voting.
public enum DutyRole: String, Sendable, Codable, CaseIterable {
    case author
    case triggerer
}

/// A person barred from deciding a gate, and why.
public struct Exclusion: Sendable, Equatable, Codable {
    /// The person's policy name when the identity resolved to one, otherwise the identity as the pipeline gave it.
    public var identity: String
    public var role: DutyRole

    public init(identity: String, role: DutyRole) {
        self.identity = identity
        self.role = role
    }
}

/// What the policy in force said about one gate, frozen when the gate opened.
///
/// A gate is decided by its plan, never by the policy of the moment, so editing the policy cannot change
/// who may decide a gate that is already open (invariant 7).
public struct GatePlan: Sendable, Equatable, Codable {
    /// Whether a human must approve. `false` for `gate: none`: the request is recorded and approved at once.
    public var gated: Bool
    /// Where in the policy the rule came from: `environments.production` or `default`.
    public var rule: String
    /// The tier the gate falls in (the rule's name until risk tiers arrive).
    public var tier: String
    public var requirements: [ApprovalRequirement]
    public var exclusions: [Exclusion]
    public var timeout: PolicyDuration
    public var onTimeout: TimeoutAction
    /// The Slack channel the policy names for this gate, if any.
    public var channel: String?
    /// SHA-256 of the policy document the plan came from.
    public var policyHash: String
    /// When to remind approvers before the deadline, and whom (absent in plans stored before reminders existed).
    public var reminder: Policy.Reminder?
    /// When to call in the escalation groups.
    public var escalation: Policy.Escalation?

    public init(
        gated: Bool,
        rule: String,
        tier: String,
        requirements: [ApprovalRequirement],
        exclusions: [Exclusion],
        timeout: PolicyDuration,
        onTimeout: TimeoutAction,
        channel: String?,
        policyHash: String,
        reminder: Policy.Reminder? = nil,
        escalation: Policy.Escalation? = nil
    ) {
        self.gated = gated
        self.rule = rule
        self.tier = tier
        self.requirements = requirements
        self.exclusions = exclusions
        self.timeout = timeout
        self.onTimeout = onTimeout
        self.channel = channel
        self.policyHash = policyHash
        self.reminder = reminder
        self.escalation = escalation
    }

    /// Everyone who may vote: members of any required group who are not barred by separation of duties.
    public var approvers: [String] {
        var seen = Set<String>()
        return requirements.flatMap(\.eligible).filter { seen.insert($0).inserted && exclusion(for: $0) == nil }
    }

    /// The reason `person` may not vote, if separation of duties bars them.
    public func exclusion(for person: String) -> Exclusion? {
        exclusions.first { $0.identity.caseInsensitiveCompare(person) == .orderedSame }
    }
}

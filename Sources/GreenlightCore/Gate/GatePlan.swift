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

/// One stage of a gate's approvals, frozen: its rules with the people eligible when the gate opened.
public struct PlanStage: Sendable, Equatable, Codable {
    public var name: String
    public var requirements: [ApprovalRequirement]
    /// How long the stage may stay open once it opens; the gate's deadline still bounds it.
    public var timeout: PolicyDuration?

    public init(name: String, requirements: [ApprovalRequirement], timeout: PolicyDuration? = nil) {
        self.name = name
        self.requirements = requirements
        self.timeout = timeout
    }
}

/// The freeze window a gate was opened in, and when that occurrence ends.
public struct ActiveFreeze: Sendable, Equatable, Codable {
    public var name: String
    public var endsAt: Date

    public init(name: String, endsAt: Date) {
        self.name = name
        self.endsAt = endsAt
    }
}

/// Who may break glass on a gate, frozen when it opened like its approvers.
public struct PlanBreakGlass: Sendable, Equatable, Codable {
    /// The groups the policy's `break_glass.allowed` names.
    public var groups: [String]
    /// Their members when the gate opened.
    public var eligible: [String]
    public var maxPerDay: Int

    public init(groups: [String], eligible: [String], maxPerDay: Int) {
        self.groups = groups
        self.eligible = eligible
        self.maxPerDay = maxPerDay
    }
}

/// What the policy in force said about one gate, frozen when the gate opened.
///
/// A gate is decided by its plan, never by the policy of the moment, so editing the policy cannot change
/// who may decide a gate that is already open (invariant 7).
public struct GatePlan: Sendable, Equatable, Decodable {
    /// Whether a human must approve. `false` for `gate: none`: the request is recorded and approved at once.
    public var gated: Bool
    /// Where in the policy the rule came from: `tiers.schema-migration`, `environments.production` or `default`.
    public var rule: String
    /// The tier the gate falls in: the matching tier's name, else the environment's name, else `default`.
    public var tier: String
    /// The approvals asked, one stage after another. A rule written with plain `require:` has one stage.
    public var stages: [PlanStage]
    public var exclusions: [Exclusion]
    public var timeout: PolicyDuration
    public var onTimeout: TimeoutAction
    /// Why the rule fails open, as the policy wrote it beside `on_timeout: approve`.
    public var failOpenReason: String?
    /// Where the gate's card and messages go: every target the policy names for this gate, each on its channel.
    public var notify: [NotificationTarget]
    /// SHA-256 of the policy document the plan came from.
    public var policyHash: String
    /// When to remind approvers before the deadline, and whom (absent in plans stored before reminders existed).
    public var reminder: Policy.Reminder?
    /// When to call in the escalation groups.
    public var escalation: Policy.Escalation?
    /// Who may break glass, if the policy allows it here.
    public var breakGlass: PlanBreakGlass?
    /// The freeze the gate was opened in: such a gate is rejected at once.
    public var frozen: ActiveFreeze?

    public init(
        gated: Bool,
        rule: String,
        tier: String,
        stages: [PlanStage],
        exclusions: [Exclusion],
        timeout: PolicyDuration,
        onTimeout: TimeoutAction,
        failOpenReason: String? = nil,
        channel: String?,
        policyHash: String,
        reminder: Policy.Reminder? = nil,
        escalation: Policy.Escalation? = nil,
        breakGlass: PlanBreakGlass? = nil,
        frozen: ActiveFreeze? = nil
    ) {
        self.gated = gated
        self.rule = rule
        self.tier = tier
        self.stages = stages
        self.exclusions = exclusions
        self.timeout = timeout
        self.onTimeout = onTimeout
        self.failOpenReason = failOpenReason
        self.notify = channel.map { [.slack($0)] } ?? []
        self.policyHash = policyHash
        self.reminder = reminder
        self.escalation = escalation
        self.breakGlass = breakGlass
        self.frozen = frozen
    }

    /// A single-stage plan: `count` approvals per rule, all asked at once.
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
        self.init(
            gated: gated, rule: rule, tier: tier, stages: [PlanStage(name: ApprovalStage.singleStageName, requirements: requirements)],
            exclusions: exclusions, timeout: timeout, onTimeout: onTimeout, channel: channel, policyHash: policyHash, reminder: reminder,
            escalation: escalation)
    }

    private enum CodingKeys: String, CodingKey {
        case gated, rule, tier, stages, exclusions, timeout, onTimeout, failOpenReason, channel, policyHash, reminder, escalation
        case breakGlass, frozen
    }

    /// Read only: plans stored before staged approvals had one list of requirements instead of `stages`.
    private enum LegacyKeys: String, CodingKey {
        case requirements
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        gated = try container.decode(Bool.self, forKey: .gated)
        rule = try container.decode(String.self, forKey: .rule)
        tier = try container.decode(String.self, forKey: .tier)
        if let stages = try container.decodeIfPresent([PlanStage].self, forKey: .stages) {
            self.stages = stages
        } else {
            let requirements = try decoder.container(keyedBy: LegacyKeys.self).decode([ApprovalRequirement].self, forKey: .requirements)
            stages = [PlanStage(name: ApprovalStage.singleStageName, requirements: requirements)]
        }
        exclusions = try container.decode([Exclusion].self, forKey: .exclusions)
        timeout = try container.decode(PolicyDuration.self, forKey: .timeout)
        onTimeout = try container.decode(TimeoutAction.self, forKey: .onTimeout)
        failOpenReason = try container.decodeIfPresent(String.self, forKey: .failOpenReason)
        notify = try container.decodeIfPresent(String.self, forKey: .channel).map { [.slack($0)] } ?? []
        policyHash = try container.decode(String.self, forKey: .policyHash)
        reminder = try container.decodeIfPresent(Policy.Reminder.self, forKey: .reminder)
        escalation = try container.decodeIfPresent(Policy.Escalation.self, forKey: .escalation)
        breakGlass = try container.decodeIfPresent(PlanBreakGlass.self, forKey: .breakGlass)
        frozen = try container.decodeIfPresent(ActiveFreeze.self, forKey: .frozen)
    }

    /// Every rule of every stage.
    public var requirements: [ApprovalRequirement] { stages.flatMap(\.requirements) }

    /// The Slack channel the policy names for this gate, if any: the address of its Slack target.
    public var channel: String? {
        get { address(on: .slack) }
        set {
            notify.removeAll { $0.channel == .slack }
            if let newValue { notify.append(.slack(newValue)) }
        }
    }

    /// The gate's address on `channel`, if the policy names one.
    public func address(on channel: NotificationChannel) -> String? {
        notify.first { $0.channel == channel }?.address
    }

    /// What the plan asks, as the audit log and Slack word it: "1 of platform-leads; then 1 of finance".
    public var requirementsSummary: String {
        stages.map { stage in stage.requirements.map { "\($0.count) of \($0.group)" }.joined(separator: ", ") }.joined(separator: "; then ")
    }

    /// Everyone who may vote in some stage: members of any required group who are not barred by separation of duties.
    public var approvers: [String] {
        var seen = Set<String>()
        // The barred identities folded once, not once per eligible person.
        let barred = Set(exclusions.map { Identity.matchKey($0.identity) })
        return requirements.flatMap(\.eligible).filter { seen.insert($0).inserted && !barred.contains(Identity.matchKey($0)) }
    }

    /// The reason `person` may not vote, if separation of duties bars them.
    public func exclusion(for person: String) -> Exclusion? {
        let key = Identity.matchKey(person)
        return exclusions.first { Identity.matchKey($0.identity) == key }
    }
}

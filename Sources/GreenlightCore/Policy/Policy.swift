import Foundation

/// The rules a team writes down in `greenlight.yaml`: who people are, which groups they form, and what each
/// environment requires before a deploy may proceed.
public struct Policy: Sendable, Equatable {
    /// One identity across Slack, GitHub and e-mail, so that separation of duties recognises a person however
    /// the pipeline names them.
    public struct Person: Sendable, Equatable {
        public var name: String
        public var slack: String?
        public var github: String?
        public var email: String?

        public init(name: String, slack: String? = nil, github: String? = nil, email: String? = nil) {
            self.name = name
            self.slack = slack
            self.github = github
            self.email = email
        }

        /// Whether `identity` (a policy name, Slack id, GitHub login or e-mail) names this person, compared as
        /// ``Identity/matches(_:_:)`` does (NFC, case-folded).
        public func isKnown(as identity: String) -> Bool {
            let key = Identity.matchKey(identity)
            return [name, slack, github, email].contains { $0.map(Identity.matchKey) == key }
        }
    }

    /// A named set of people. Its members are listed in the policy, or kept in a Slack user group
    /// (`slack_usergroup`) that Greenlight reads with `usergroups.users.list`, or both.
    public struct Group: Sendable, Equatable {
        public var name: String
        public var members: [String]
        /// The Slack user group (`S…`) whose members also belong to this group.
        public var slackUsergroup: String?

        public init(name: String, members: [String], slackUsergroup: String? = nil) {
            self.name = name
            self.members = members
            self.slackUsergroup = slackUsergroup
        }
    }

    /// `remind: {before_deadline: 1h, mention: [group: …]}`: a nudge in the card's thread while a gate waits.
    public struct Reminder: Sendable, Equatable, Codable {
        /// How long before the deadline the reminder is posted.
        public var beforeDeadline: PolicyDuration
        /// Groups whose members who can still approve are mentioned; empty means everyone who can still approve.
        public var mention: [String]

        public init(beforeDeadline: PolicyDuration, mention: [String] = []) {
            self.beforeDeadline = beforeDeadline
            self.mention = mention
        }
    }

    /// `escalate: {after: 2h, to: [group: …]}`: when a gate is still waiting this long after it opened, the named
    /// groups are called in.
    public struct Escalation: Sendable, Equatable, Codable {
        public var after: PolicyDuration
        public var to: [String]

        public init(after: PolicyDuration, to: [String]) {
            self.after = after
            self.to = to
        }
    }

    /// "`count` approvals from `group`". Every rule of an environment must be met.
    public struct ApprovalRule: Sendable, Equatable {
        public var group: String
        public var count: Int

        public init(group: String, count: Int) {
            self.group = group
            self.count = count
        }
    }

    /// What one environment (or the `default`) requires. Keys an environment leaves out come from `default`.
    public struct EnvironmentRule: Sendable, Equatable {
        /// `false` for `gate: none`: the request is recorded and passes.
        public var gated: Bool?
        public var require: [ApprovalRule]?
        public var separationOfDuties: [DutyRole]?
        public var timeout: PolicyDuration?
        public var onTimeout: TimeoutAction?
        public var channel: String?
        public var remind: Reminder?
        public var escalate: Escalation?
        /// `stages:` instead of `require:`: approvals asked one stage after another. A rule has one or the other.
        public var stages: [ApprovalStage]?
        /// Why this rule fails open; required beside `on_timeout: approve`, so that fail-open is always on purpose.
        public var failOpenReason: String?
        /// Windows in which gates may not open (environments and `default` only).
        public var freeze: [FreezeWindow]?
        /// Who may approve at once, past quorum and freeze (environments and `default` only).
        public var breakGlass: BreakGlass?

        public init(
            gated: Bool? = nil,
            require: [ApprovalRule]? = nil,
            separationOfDuties: [DutyRole]? = nil,
            timeout: PolicyDuration? = nil,
            onTimeout: TimeoutAction? = nil,
            channel: String? = nil,
            remind: Reminder? = nil,
            escalate: Escalation? = nil,
            stages: [ApprovalStage]? = nil,
            failOpenReason: String? = nil,
            freeze: [FreezeWindow]? = nil,
            breakGlass: BreakGlass? = nil
        ) {
            self.gated = gated
            self.require = require
            self.separationOfDuties = separationOfDuties
            self.timeout = timeout
            self.onTimeout = onTimeout
            self.channel = channel
            self.remind = remind
            self.escalate = escalate
            self.stages = stages
            self.failOpenReason = failOpenReason
            self.freeze = freeze
            self.breakGlass = breakGlass
        }

        /// The approvals asked, as stages: `stages:` as written, or `require:` as the single stage.
        public var approvalStages: [ApprovalStage]? {
            stages ?? require.map { [ApprovalStage(name: ApprovalStage.singleStageName, require: $0)] }
        }
    }

    /// What a rule falls back to when neither the environment nor `default` says.
    public enum Fallback {
        public static let timeout = PolicyDuration(seconds: 4 * 3_600)
        public static let onTimeout = TimeoutAction.reject
        /// Separation of duties is on unless a policy turns it off with `separation_of_duties: []`.
        public static let separationOfDuties: [DutyRole] = [.author, .triggerer]
    }

    public var people: [String: Person] {
        didSet { identities = IdentityIndex(people) }
    }
    /// Who each identity names, for resolving an author or a click in one look-up (derived from `people`).
    private var identities: IdentityIndex
    public var groups: [String: Group]
    public var environments: [String: EnvironmentRule]
    /// Risk tiers, tried in order; the first that matches a gate applies (see ``Tier``).
    public var tiers: [Tier]
    /// The rule for every environment the policy does not name. Never `gate: none`.
    public var defaultRule: EnvironmentRule
    /// Where the policy came from: a file path, or `built-in`.
    public var source: String
    /// SHA-256 (hex) of the policy document's bytes.
    public var hash: String
    /// The document as written, for `GET /v1/policy` (empty for a policy built in code).
    public var document: String

    public init(
        people: [String: Person] = [:],
        groups: [String: Group] = [:],
        environments: [String: EnvironmentRule] = [:],
        tiers: [Tier] = [],
        defaultRule: EnvironmentRule,
        source: String,
        hash: String,
        document: String = ""
    ) {
        self.people = people
        self.identities = IdentityIndex(people)
        self.groups = groups
        self.environments = environments
        self.tiers = tiers
        self.defaultRule = defaultRule
        self.source = source
        self.hash = hash
        self.document = document
    }

    /// The person whose `slack` id is `userID`: how a click in Slack becomes a person.
    public func person(slackUserID userID: String) -> Person? {
        identities.bySlackID[userID].flatMap { people[$0] }
    }

    /// Everyone `identity` looks like (``Identity/skeleton(_:)``), by policy name: whom separation of duties bars
    /// besides the person it names.
    public func people(resembling identity: String) -> [Person] {
        (identities.bySkeleton[Identity.skeleton(identity)] ?? []).compactMap { people[$0] }
    }

    /// The person `identity` names (by policy name, Slack id, GitHub login or e-mail), if any.
    public func person(identifiedBy identity: String) -> Person? {
        if let person = people[identity] { return person }
        return identities.byKey[Identity.matchKey(identity)].flatMap { people[$0] }
    }
}

/// Every identity of every person, by ``Identity/matchKey(_:)`` (and Slack ids as Slack sends them), to the person's
/// name: built once per policy, so that resolving costs a look-up, not a walk over everyone. Where two people share
/// an identity, the first by name has it, so the answer does not depend on a dictionary's order.
struct IdentityIndex: Sendable, Equatable {
    var byKey: [String: String] = [:]
    var bySlackID: [String: String] = [:]
    /// Everyone an identity's ``Identity/skeleton(_:)`` could be.
    var bySkeleton: [String: [String]] = [:]

    init(_ people: [String: Policy.Person]) {
        for person in people.values.sorted(by: { $0.name < $1.name }) {
            for identity in [person.name, person.slack, person.github, person.email].compactMap({ $0 }) {
                byKey[Identity.matchKey(identity)] = byKey[Identity.matchKey(identity)] ?? person.name
                let skeleton = Identity.skeleton(identity)
                if bySkeleton[skeleton]?.contains(person.name) != true { bySkeleton[skeleton, default: []].append(person.name) }
            }
            if let slack = person.slack, bySlackID[slack] == nil { bySlackID[slack] = person.name }
        }
    }
}

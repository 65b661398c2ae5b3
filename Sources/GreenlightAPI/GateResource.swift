import Foundation

/// A gate as the HTTP API returns it (DESIGN.md 3.2). The field names are the public contract: add, never rename.
public struct GateResource: Sendable, Equatable, Codable {
    /// One approval rule and who has filled it so far.
    public struct Requirement: Sendable, Equatable, Codable {
        public var rule: String
        public var group: String
        public var count: Int
        public var approvals: [String]
        /// Who may still fill the rule: its group's members, less those barred by separation of duties.
        public var eligible: [String]
    }

    public struct VoteRecord: Sendable, Equatable, Codable {
        public var voter: String
        public var decision: VoteDecision
        public var comment: String?
        public var at: String
        /// ``VoteChannel``'s raw value, kept a string on the wire so that a client older than a new channel still reads
        /// the gate.
        public var via: String
    }

    /// A fact about the deploy and whether Greenlight checked it (`verified`) or only has the pipeline's word for it.
    public struct Fact: Sendable, Equatable, Codable {
        public var value: JSONValue
        public var verified: Bool
        /// For an unverified fact: who claimed it.
        public var claimedBy: String?

        enum CodingKeys: String, CodingKey {
            case value, verified
            case claimedBy = "claimed_by"
        }
    }

    /// One stage of the gate's approvals: `met`, `open` (asked now) or `waiting` (asked once the earlier ones are met).
    public struct StageRecord: Sendable, Equatable, Codable {
        public var name: String
        public var state: String
        public var timeout: String?
        public var requirements: [Requirement]
    }

    /// The freeze window a gate was opened in.
    public struct FreezeRecord: Sendable, Equatable, Codable {
        public var name: String
        public var endsAt: String

        enum CodingKeys: String, CodingKey {
            case name
            case endsAt = "ends_at"
        }
    }

    public struct ExcludedPerson: Sendable, Equatable, Codable {
        public var identity: String
        public var role: DutyRole
    }

    public var id: String
    public var state: GateState
    public var outcome: Outcome?
    public var service: String
    public var environment: String
    public var artifact: String
    public var commit: String
    public var tier: String
    public var rule: String
    /// The open stage's rules (the last stage's, once decided): what is asked now.
    public var requirements: [Requirement]
    /// Every stage, in order; a gate written with plain `require:` has one.
    public var stages: [StageRecord]
    /// The name of the stage being asked now; `null` once the gate is decided.
    public var openStage: String?
    public var votes: [VoteRecord]
    public var excluded: [ExcludedPerson]
    public var deadline: String?
    public var onTimeout: TimeoutAction
    public var failOpen: Bool
    /// The policy's reason for failing open, when it does.
    public var failOpenReason: String?
    /// Whether a break-glass holder approved the gate past its quorum or a freeze.
    public var breakGlass: Bool
    /// The freeze the gate was opened in (and rejected by).
    public var frozen: FreezeRecord?
    /// When the open stage's reminder is due, while the gate is pending.
    public var nextReminderAt: String?
    /// When the open stage escalates, while the gate is pending.
    public var escalatesAt: String?
    public var createdAt: String
    public var openedBy: String
    public var decidedAt: String?
    public var decidedBy: String?
    public var reason: String?
    public var policyHash: String
    public var url: String
    public var facts: [String: Fact]
    public var version: Int

    enum CodingKeys: String, CodingKey {
        case id, state, outcome, service, environment, artifact, commit, tier, rule, requirements, stages, votes, excluded, deadline
        case openStage = "open_stage"
        case onTimeout = "on_timeout"
        case failOpen = "fail_open"
        case failOpenReason = "fail_open_reason"
        case breakGlass = "break_glass"
        case frozen
        case nextReminderAt = "next_reminder_at"
        case escalatesAt = "escalates_at"
        case createdAt = "created_at"
        case openedBy = "opened_by"
        case decidedAt = "decided_at"
        case decidedBy = "decided_by"
        case reason
        case policyHash = "policy_hash"
        case url, facts, version
    }

    /// Writes every field of the contract, with `null` for those without a value yet (a pending gate's `decided_at`),
    /// so that clients can rely on the keys being there.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(state, forKey: .state)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(service, forKey: .service)
        try container.encode(environment, forKey: .environment)
        try container.encode(artifact, forKey: .artifact)
        try container.encode(commit, forKey: .commit)
        try container.encode(tier, forKey: .tier)
        try container.encode(rule, forKey: .rule)
        try container.encode(requirements, forKey: .requirements)
        try container.encode(stages, forKey: .stages)
        try container.encode(openStage, forKey: .openStage)
        try container.encode(votes, forKey: .votes)
        try container.encode(excluded, forKey: .excluded)
        try container.encode(deadline, forKey: .deadline)
        try container.encode(onTimeout, forKey: .onTimeout)
        try container.encode(failOpen, forKey: .failOpen)
        try container.encode(failOpenReason, forKey: .failOpenReason)
        try container.encode(breakGlass, forKey: .breakGlass)
        try container.encode(frozen, forKey: .frozen)
        try container.encode(nextReminderAt, forKey: .nextReminderAt)
        try container.encode(escalatesAt, forKey: .escalatesAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(openedBy, forKey: .openedBy)
        try container.encode(decidedAt, forKey: .decidedAt)
        try container.encode(decidedBy, forKey: .decidedBy)
        try container.encode(reason, forKey: .reason)
        try container.encode(policyHash, forKey: .policyHash)
        try container.encode(url, forKey: .url)
        try container.encode(facts, forKey: .facts)
        try container.encode(version, forKey: .version)
    }
}

extension GateResource {
    /// The resource for `gate`, with its URL under `baseURL` (no trailing slash).
    public init(_ gate: Gate, baseURL: String) {
        let staged = gate.stages
        let approvers = Set(gate.plan.approvers)
        func records(_ stage: PlanStage, _ tally: Tally) -> [Requirement] {
            zip(stage.requirements, tally.progress).map { requirement, progress in
                Requirement(
                    rule: "\(requirement.count) of group \(requirement.group)",
                    group: requirement.group,
                    count: requirement.count,
                    approvals: progress.approvals,
                    eligible: requirement.eligible.filter(approvers.contains)
                )
            }
        }
        self.id = gate.id.rawValue
        self.state = gate.state
        self.outcome = gate.outcome
        self.service = gate.request.service
        self.environment = gate.request.environment
        self.artifact = gate.request.artifact
        self.commit = gate.request.commit
        self.tier = gate.plan.tier
        self.rule = gate.plan.rule
        self.requirements = gate.plan.stages.isEmpty ? [] : records(gate.plan.stages[staged.current], staged.currentTally)
        self.stages = zip(gate.plan.stages, staged.tallies).enumerated().map { index, pair in
            StageRecord(
                name: pair.0.name, state: index < staged.open ? "met" : index == staged.open ? "open" : "waiting",
                timeout: pair.0.timeout?.description, requirements: records(pair.0, pair.1))
        }
        self.openStage = gate.state == .pending && staged.open < gate.plan.stages.count ? gate.plan.stages[staged.open].name : nil
        self.votes = gate.votes.map {
            VoteRecord(voter: $0.voter, decision: $0.decision, comment: $0.comment, at: Timestamp.format($0.at), via: $0.via.rawValue)
        }
        self.excluded = gate.plan.exclusions.map { ExcludedPerson(identity: $0.identity, role: $0.role) }
        self.deadline = gate.deadline.map(Timestamp.format)
        self.onTimeout = gate.plan.onTimeout
        self.failOpen = gate.failOpen
        self.failOpenReason = gate.plan.onTimeout == .approve ? gate.plan.failOpenReason : nil
        self.breakGlass = gate.breakGlass
        self.frozen = gate.plan.frozen.map { FreezeRecord(name: $0.name, endsAt: Timestamp.format($0.endsAt)) }
        // One computation of the open stage's timers for both fields.
        let timers = gate.timers
        self.nextReminderAt = timers.first { $0.kind == .reminder }.map { Timestamp.format($0.due) }
        self.escalatesAt = timers.first { $0.kind == .escalation }.map { Timestamp.format($0.due) }
        self.createdAt = Timestamp.format(gate.createdAt)
        self.openedBy = gate.openedBy
        self.decidedAt = gate.decidedAt.map(Timestamp.format)
        self.decidedBy = gate.decidedBy
        self.reason = gate.reason
        self.policyHash = gate.plan.policyHash
        self.url = "\(baseURL)/v1/gates/\(gate.id)"
        self.facts = Self.facts(of: gate.request, claimedBy: AuditActor.pipeline(gate.openedBy).description)
        self.version = gate.version
    }

    /// Every fact the pipeline gave. None is verified yet: fetching digests and commit ranges arrives later.
    static func facts(of request: GateRequest, claimedBy: String) -> [String: Fact] {
        var values: [String: JSONValue] = [
            "artifact": .string(request.artifact),
            "commit": .string(request.commit),
        ]
        values["base_commit"] = request.baseCommit.map(JSONValue.string)
        values["pull_request"] = request.pullRequest.map(JSONValue.string)
        values["ticket"] = request.ticket.map(JSONValue.string)
        values["run_url"] = request.runURL.map(JSONValue.string)
        values["triggered_by"] = request.triggeredBy.map(JSONValue.string)
        values["summary"] = request.summary.map(JSONValue.string)
        values["cost_delta_monthly"] = request.costDeltaMonthly.map(JSONValue.number)
        if !request.authors.isEmpty { values["authors"] = .array(request.authors.map(JSONValue.string)) }
        if !request.changedPaths.isEmpty { values["changed_paths"] = .array(request.changedPaths.map(JSONValue.string)) }
        if !request.labels.isEmpty { values["labels"] = .object(request.labels.mapValues(JSONValue.string)) }
        return values.mapValues { Fact(value: $0, verified: false, claimedBy: claimedBy) }
    }
}

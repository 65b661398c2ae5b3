import Foundation

/// A request to deploy one artifact of one service to one environment, and everything decided about it.
///
/// A gate is a value: the functions that change it (`recording(_:)`, `timingOut(at:)`, `cancelling(by:reason:at:)`)
/// return a new gate and leave the store to commit it in one transaction, conditionally on the gate still
/// being `pending` (invariant 1).
public struct Gate: Sendable, Equatable {
    public var id: GateID
    public var state: GateState
    /// Whether the deploy may proceed, once decided.
    public var outcome: Outcome?
    public var request: GateRequest
    /// The name of the pipeline token that opened the gate.
    public var openedBy: String
    public var plan: GatePlan
    public var votes: [Vote]
    public var createdAt: Date
    /// When the gate decides itself by `on_timeout`; `nil` for a gate that was never gated.
    public var deadline: Date?
    public var decidedAt: Date?
    /// Who decided, as the audit log names them (``AuditActor``): a person, a pipeline token (`cancel`), or `greenlight`
    /// (the deadline, or no gate needed).
    public var decidedBy: String?
    public var reason: String?
    /// Set when the gate timed out and the policy's fail-open made it approve.
    public var failOpen: Bool
    /// Set when a break-glass holder approved the gate past its quorum (and any freeze), for post-incident review.
    public var breakGlass: Bool
    /// Increases with every change, so that a watcher can tell one state of the gate from the next.
    public var version: Int

    public init(
        id: GateID,
        request: GateRequest,
        openedBy: String,
        plan: GatePlan,
        createdAt: Date
    ) {
        self.id = id
        self.request = request
        self.openedBy = openedBy
        self.plan = plan
        self.votes = []
        self.createdAt = createdAt
        self.failOpen = false
        self.breakGlass = false
        self.version = 1
        if let frozen = plan.frozen {
            // Opened inside a freeze: refused at once, with the window's name as the reason pipelines can read. A
            // freeze says when an environment may ship at all, so it stops ungated deploys too.
            self.state = .rejected
            self.outcome = .rejected
            self.decidedAt = createdAt
            self.decidedBy = AuditActor.greenlight.description
            self.reason = "frozen:\(frozen.name)"
        } else if plan.gated {
            self.state = .pending
            self.deadline = Self.stageDeadline(openedAt: createdAt, stage: plan.stages.first, plan: plan, stageOpenedAt: createdAt)
        } else {
            // Recorded, not gated: the policy says this environment needs nobody's approval.
            self.state = .approved
            self.outcome = .approved
            self.decidedAt = createdAt
            self.decidedBy = AuditActor.greenlight.description
            self.reason = "no approval needed: \(plan.rule) has gate: none"
        }
    }

    /// Progress against each rule of the open stage (of the last stage, once every stage is met).
    public var tally: Tally { stages.currentTally }

    /// Progress through the plan's stages. Approvals are replayed in the order they were cast, each counting in the
    /// stage that was open at the time, so the stored votes alone say which stage is open and since when.
    public var stages: StageProgress {
        var open = 0
        var openedAt = createdAt
        var approvers = [[String]](repeating: [], count: plan.stages.count)
        for vote in votes where vote.decision == .approve && open < plan.stages.count {
            approvers[open].append(vote.voter)
            if Tally(requirements: plan.stages[open].requirements, approvers: approvers[open]).isMet {
                open += 1
                openedAt = vote.at
            }
        }
        let tallies = plan.stages.indices.map { Tally(requirements: plan.stages[$0].requirements, approvers: approvers[$0]) }
        return StageProgress(open: open, openedAt: openedAt, tallies: tallies)
    }

    /// Whether the last vote met a stage and so opened the next (with its own timeout, reminder and escalation).
    public var lastVoteOpenedStage: Bool {
        guard let last = votes.last, last.decision == .approve else { return false }
        let staged = stages
        return staged.open > 0 && staged.openedAt == last.at
    }

    /// The gate after `vote`, or the reason the vote is refused.
    ///
    /// The checks run in the order a person would want to hear them: a decided gate first (nothing can change it),
    /// then separation of duties, then membership, then a repeated vote.
    public func recording(_ vote: Vote) throws(VoteRefusal) -> Gate {
        if state.isDecided {
            throw .gateDecided(state: state, decidedBy: decidedBy, decidedAt: decidedAt)
        }
        if let exclusion = plan.exclusion(for: vote.voter) {
            throw .separationOfDuties(person: vote.voter, role: exclusion.role)
        }
        let open = stages.current
        func eligible(_ stage: PlanStage) -> Bool { stage.requirements.contains { $0.eligible.contains(vote.voter) } }
        guard plan.stages.contains(where: eligible) else {
            throw .notAnApprover(person: vote.voter, groups: plan.requirements.map(\.group))
        }
        // A reject, the fail-safe answer, counts from anyone who may vote in any stage; an approval only in the open one.
        if vote.decision == .approve, !eligible(plan.stages[open]) {
            let theirs = plan.stages.indices.filter { eligible(plan.stages[$0]) }
            if let later = theirs.first(where: { $0 > open }) {
                throw .stageNotOpen(person: vote.voter, stage: plan.stages[later].name, openStage: plan.stages[open].name)
            }
            let earlier = theirs.last ?? open
            throw .stageMet(person: vote.voter, stage: plan.stages[earlier].name, openStage: plan.stages[open].name)
        }
        if let earlier = votes.first(where: { $0.voter == vote.voter }) {
            throw .alreadyVoted(person: vote.voter, decision: earlier.decision, at: earlier.at)
        }

        var next = self
        next.votes.append(vote)
        next.version += 1
        switch vote.decision {
        case .reject:
            next.decide(
                .rejected, outcome: .rejected, by: .person(vote.voter), at: vote.at, reason: Self.describe("rejected by \(vote.voter)", vote.comment))
        case .approve:
            let staged = next.stages
            if staged.open == plan.stages.count {
                let approvers = staged.tallies.flatMap { $0.progress.flatMap(\.approvals) }
                next.decide(
                    .approved, outcome: .approved, by: .person(vote.voter), at: vote.at, reason: "approved by \(approvers.joined(separator: ", "))")
            } else if staged.open > open {
                // The next stage opens now, with its own clock if it has one.
                next.deadline = Self.stageDeadline(openedAt: createdAt, stage: plan.stages[staged.open], plan: plan, stageOpenedAt: vote.at)
            }
        }
        return next
    }

    /// The gate approved by a break-glass holder, past its quorum and any freeze, or the reason it may not be.
    ///
    /// The daily limit is the store's to count; everything else is decided here: the gate must be pending, the person
    /// allowed by the gate's plan and not barred by separation of duties, and the reason given.
    public func breakingGlass(by person: String, reason: String, at now: Date) throws(VoteRefusal) -> Gate {
        if state.isDecided {
            throw .gateDecided(state: state, decidedBy: decidedBy, decidedAt: decidedAt)
        }
        let reason = try breakGlassReason(by: person, reason)
        var next = self
        next.version += 1
        next.breakGlass = true
        next.decide(.approved, outcome: .approved, by: .person(person), at: now, reason: "break-glass by \(person): \(reason)")
        return next
    }

    /// Whether the freeze rejected this gate at its opening: the one decided gate break-glass still applies to, by
    /// letting the same deploy through when the pipeline opens it again (the rejection itself stands: invariant 1).
    public var isFrozenOut: Bool { state == .rejected && plan.frozen != nil && votes.isEmpty }

    /// The reason, trimmed, if `person` may break glass on this gate; otherwise why not. Shared by a pending gate and
    /// a gate the freeze rejected.
    public func breakGlassReason(by person: String, _ reason: String) throws(VoteRefusal) -> String {
        guard let breakGlass = plan.breakGlass else { throw .breakGlassNotConfigured(environment: request.environment) }
        if let exclusion = plan.exclusion(for: person) {
            throw .separationOfDuties(person: person, role: exclusion.role)
        }
        guard breakGlass.eligible.contains(person) else {
            throw .breakGlassNotAllowed(person: person, groups: breakGlass.groups)
        }
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw .breakGlassReasonMissing }
        return reason
    }

    /// This gate, just opened inside a freeze, approved instead by a break-glass granted on an earlier frozen-out
    /// attempt at the same deploy.
    public func openedUnderBreakGlass(grantedBy person: String, reason: String, forGate earlier: GateID) -> Gate {
        var next = self
        next.breakGlass = true
        let freeze = plan.frozen.map { " during the freeze '\($0.name)'" } ?? ""
        next.decide(
            .approved, outcome: .approved, by: .person(person), at: createdAt,
            reason: "break-glass by \(person)\(freeze) (granted on \(earlier)): \(reason)")
        return next
    }

    /// The attempt a break-glass grant matches: the same pipeline's, at the same service, environment, artifact and
    /// commit.
    public var deployKey: String {
        [openedBy, request.service, request.environment, request.artifact, request.commit].joined(separator: "\u{1F}")
    }

    /// When a gate whose `stage` opened at `stageOpenedAt` decides itself: the gate's own timeout, or the stage's if
    /// that comes first.
    static func stageDeadline(openedAt: Date, stage: PlanStage?, plan: GatePlan, stageOpenedAt: Date) -> Date {
        let gateDeadline = openedAt.addingTimeInterval(plan.timeout.seconds)
        guard let timeout = stage?.timeout else { return gateDeadline }
        return min(gateDeadline, stageOpenedAt.addingTimeInterval(timeout.seconds))
    }

    /// The gate after its deadline passed with nobody deciding, or `nil` if it is not due (or already decided).
    public func timingOut(at now: Date) -> Gate? {
        guard state == .pending, let deadline, deadline <= now else { return nil }
        var next = self
        next.version += 1
        let staged = stages
        let tally = staged.currentTally
        var progress = "\(tally.progress.flatMap(\.approvals).count) approval(s), \(tally.missing) more needed"
        if plan.stages.count > 1 {
            progress = "stage \(staged.open + 1) of \(plan.stages.count) '\(plan.stages[staged.current].name)': \(progress)"
        }
        switch plan.onTimeout {
        case .reject:
            next.decide(
                .timedOut, outcome: .rejected, by: .greenlight, at: now, reason: "no decision before the deadline (\(progress)); on_timeout: reject")
        case .approve:
            next.failOpen = true
            let why = plan.failOpenReason.map { ": \($0)" } ?? ""
            next.decide(
                .timedOut, outcome: .approved, by: .greenlight, at: now,
                reason: "no decision before the deadline (\(progress)); on_timeout: approve (fail-open\(why))")
        }
        return next
    }

    /// The gate after its pipeline cancelled it (a superseded run), or the reason it cannot be cancelled.
    public func cancelling(by actor: AuditActor, reason: String?, at now: Date) throws(VoteRefusal) -> Gate {
        if state.isDecided {
            throw .gateDecided(state: state, decidedBy: decidedBy, decidedAt: decidedAt)
        }
        var next = self
        next.version += 1
        next.decide(.cancelled, outcome: .rejected, by: actor, at: now, reason: Self.describe("cancelled by \(actor)", reason))
        return next
    }

    private mutating func decide(_ state: GateState, outcome: Outcome, by actor: AuditActor, at date: Date, reason: String) {
        self.state = state
        self.outcome = outcome
        self.decidedBy = actor.description
        self.decidedAt = date
        self.reason = reason
    }

    private static func describe(_ what: String, _ comment: String?) -> String {
        guard let comment, !comment.isEmpty else { return what }
        return "\(what): \(comment)"
    }
}

/// Where a gate is in its stages: which is open (equal to the number of stages once all are met), since when, and the
/// progress of each.
public struct StageProgress: Sendable, Equatable {
    public var open: Int
    public var openedAt: Date
    public var tallies: [Tally]

    /// The stage the views show: the open one, or the last once every stage is met.
    public var current: Int { min(open, tallies.count - 1) }

    /// The progress of the ``current`` stage.
    public var currentTally: Tally { tallies[current] }
}

import Foundation

/// A request to deploy one artifact of one service to one environment, and everything decided about it.
///
/// A gate is a value: the functions that change it (`recording(_:)`, `timingOut(at:)`, `cancelling(by:reason:at:)`)
/// return a new gate and leave the store to commit it in one transaction, conditionally on the gate still
/// being `pending` (invariant 1).
public struct Gate: Sendable, Equatable, Codable {
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
    /// Who decided: a person, a pipeline token (`cancel`), or `greenlight` (the deadline, or no gate needed).
    public var decidedBy: String?
    public var reason: String?
    /// Set when the gate timed out and the policy's fail-open made it approve.
    public var failOpen: Bool
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
        self.version = 1
        if plan.gated {
            self.state = .pending
            self.deadline = createdAt.addingTimeInterval(plan.timeout.seconds)
        } else {
            // Recorded, not gated: the policy says this environment needs nobody's approval.
            self.state = .approved
            self.outcome = .approved
            self.decidedAt = createdAt
            self.decidedBy = "greenlight"
            self.reason = "no approval needed: \(plan.rule) has gate: none"
        }
    }

    /// Progress against each approval rule.
    public var tally: Tally {
        Tally(requirements: plan.requirements, approvers: votes.filter { $0.decision == .approve }.map(\.voter))
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
        guard plan.requirements.contains(where: { $0.eligible.contains(vote.voter) }) else {
            throw .notAnApprover(person: vote.voter, groups: plan.requirements.map(\.group))
        }
        if let earlier = votes.first(where: { $0.voter == vote.voter }) {
            throw .alreadyVoted(person: vote.voter, decision: earlier.decision, at: earlier.at)
        }

        var next = self
        next.votes.append(vote)
        next.version += 1
        switch vote.decision {
        case .reject:
            next.decide(.rejected, outcome: .rejected, by: vote.voter, at: vote.at, reason: Self.describe("rejected by \(vote.voter)", vote.comment))
        case .approve:
            let tally = next.tally
            if tally.isMet {
                let approvers = tally.progress.flatMap(\.approvals)
                next.decide(.approved, outcome: .approved, by: vote.voter, at: vote.at, reason: "approved by \(approvers.joined(separator: ", "))")
            }
        }
        return next
    }

    /// The gate after its deadline passed with nobody deciding, or `nil` if it is not due (or already decided).
    public func timingOut(at now: Date) -> Gate? {
        guard state == .pending, let deadline, deadline <= now else { return nil }
        var next = self
        next.version += 1
        let tally = tally
        let progress = "\(tally.progress.flatMap(\.approvals).count) approval(s), \(tally.missing) more needed"
        switch plan.onTimeout {
        case .reject:
            next.decide(
                .timedOut, outcome: .rejected, by: "greenlight", at: now, reason: "no decision before the deadline (\(progress)); on_timeout: reject")
        case .approve:
            next.failOpen = true
            next.decide(
                .timedOut, outcome: .approved, by: "greenlight", at: now,
                reason: "no decision before the deadline (\(progress)); on_timeout: approve (fail-open)")
        }
        return next
    }

    /// The gate after its pipeline cancelled it (a superseded run), or the reason it cannot be cancelled.
    public func cancelling(by actor: String, reason: String?, at now: Date) throws(VoteRefusal) -> Gate {
        if state.isDecided {
            throw .gateDecided(state: state, decidedBy: decidedBy, decidedAt: decidedAt)
        }
        var next = self
        next.version += 1
        next.decide(.cancelled, outcome: .rejected, by: actor, at: now, reason: Self.describe("cancelled by \(actor)", reason))
        return next
    }

    private mutating func decide(_ state: GateState, outcome: Outcome, by actor: String, at date: Date, reason: String) {
        self.state = state
        self.outcome = outcome
        self.decidedBy = actor
        self.decidedAt = date
        self.reason = reason
    }

    private static func describe(_ what: String, _ comment: String?) -> String {
        guard let comment, !comment.isEmpty else { return what }
        return "\(what): \(comment)"
    }
}

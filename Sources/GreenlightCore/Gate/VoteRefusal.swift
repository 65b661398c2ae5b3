import Foundation

/// Why a vote (or a cancel) was not recorded. Each case says what happened and what the person can do.
public enum VoteRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The gate was already decided; nothing can change it.
    case gateDecided(state: GateState, decidedBy: String?, decidedAt: Date?)
    /// Separation of duties bars this person (they wrote or triggered the change).
    case separationOfDuties(person: String, role: DutyRole)
    /// The person is in none of the groups the gate's rules name.
    case notAnApprover(person: String, groups: [String])
    /// The person already voted on this gate; votes count once.
    case alreadyVoted(person: String, decision: VoteDecision, at: Date)
    /// The person approves in a later stage, which is not open yet.
    case stageNotOpen(person: String, stage: String, openStage: String)
    /// The person approves in an earlier stage, which is met already.
    case stageMet(person: String, stage: String, openStage: String)
    /// The gate's environment has no `break_glass` in its policy.
    case breakGlassNotConfigured(environment: String)
    /// The person is not in the groups `break_glass.allowed` names.
    case breakGlassNotAllowed(person: String, groups: [String])
    /// Break-glass always needs a reason: it is what the post-incident review reads.
    case breakGlassReasonMissing
    /// The environment's break-glass uses in the last 24 hours reached `max_per_day`.
    case breakGlassLimitReached(environment: String, limit: Int)

    /// A short machine-readable code, used as the `error` of an HTTP answer and the audit event's reason.
    public var code: String {
        switch self {
        case .gateDecided: "gate_decided"
        case .separationOfDuties: "separation_of_duties"
        case .notAnApprover: "not_an_approver"
        case .alreadyVoted: "already_voted"
        case .stageNotOpen: "stage_not_open"
        case .stageMet: "stage_met"
        case .breakGlassNotConfigured: "break_glass_not_configured"
        case .breakGlassNotAllowed: "break_glass_not_allowed"
        case .breakGlassReasonMissing: "reason_required"
        case .breakGlassLimitReached: "break_glass_limit"
        }
    }

    public var description: String {
        switch self {
        case .gateDecided(let state, let decidedBy, let decidedAt):
            let who = decidedBy.map { " by \($0)" } ?? ""
            let when = decidedAt.map { " at \(Timestamp.format($0))" } ?? ""
            return "the gate is already \(state.displayName)\(who)\(when); nothing can change it now"
        case .separationOfDuties(let person, let role):
            let what = role == .author ? "an author of this change" : "the person who triggered this deploy"
            return "\(person) is \(what), and the policy's separation_of_duties bars them from deciding it; ask another approver"
        case .notAnApprover(let person, let groups):
            return "\(person) is not a member of \(groups.map { "'\($0)'" }.joined(separator: " or ")), the groups that may decide this gate"
        case .alreadyVoted(let person, let decision, let at):
            return "\(person) already voted \(decision.rawValue) at \(Timestamp.format(at)); each person's vote counts once"
        case .stageNotOpen(let person, let stage, let openStage):
            return "\(person) approves in stage '\(stage)', which opens once stage '\(openStage)' is met; vote again then"
        case .stageMet(let person, let stage, let openStage):
            return
                "\(person) approves in stage '\(stage)', which is met already; stage '\(openStage)' is open, for others to approve (a reject still counts)"
        case .breakGlassNotConfigured(let environment):
            return "the policy allows no break-glass for '\(environment)'; get the approvals the gate asks for"
        case .breakGlassNotAllowed(let person, let groups):
            let names = groups.map { "'\($0)'" }.joined(separator: " or ")
            return "\(person) may not break glass here; only members of \(names) may. Ask one of them"
        case .breakGlassReasonMissing:
            return "break-glass needs a reason (--reason \"…\"): it is what the post-incident review reads"
        case .breakGlassLimitReached(let environment, let limit):
            return
                "break-glass was already used \(limit) time(s) for '\(environment)' in the last 24 hours, the policy's max_per_day; get the approvals the gate asks for"
        }
    }
}

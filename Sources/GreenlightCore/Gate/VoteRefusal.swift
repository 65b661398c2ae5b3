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

    /// A short machine-readable code, used as the `error` of an HTTP answer and the audit event's reason.
    public var code: String {
        switch self {
        case .gateDecided: "gate_decided"
        case .separationOfDuties: "separation_of_duties"
        case .notAnApprover: "not_an_approver"
        case .alreadyVoted: "already_voted"
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
        }
    }
}

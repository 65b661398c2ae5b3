import Foundation

/// What a person says about a gate.
public enum VoteDecision: String, Sendable, Codable {
    case approve
    case reject
}

/// One person's recorded vote on a gate. A person votes at most once per gate.
public struct Vote: Sendable, Equatable, Codable {
    /// The person (a name from the policy's `people`) who voted.
    public var voter: String
    public var decision: VoteDecision
    public var comment: String?
    public var at: Date
    /// How the vote arrived: `api`, `cli`, `slack`, `web`.
    public var via: String

    public init(voter: String, decision: VoteDecision, comment: String? = nil, at: Date, via: String = "api") {
        self.voter = voter
        self.decision = decision
        self.comment = comment
        self.at = at
        self.via = via
    }
}

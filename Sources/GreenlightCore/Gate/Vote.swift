import Foundation

/// What a person says about a gate.
public enum VoteDecision: String, Sendable, Codable {
    case approve
    case reject
}

/// How a person acts, and so how their vote arrived. The raw values are stored with each vote and written in the audit
/// log (`via`): never rename one. A stored value this version does not know is an error, never a default.
public enum VoteChannel: String, Sendable, Codable, CaseIterable {
    /// The HTTP API, called directly.
    case api
    /// The `greenlight` CLI, which says so in `X-Greenlight-Client`.
    case cli
    /// The approval card's buttons in Slack.
    case slack
    /// The web page.
    case web
}

/// One person's recorded vote on a gate. A person votes at most once per gate.
public struct Vote: Sendable, Equatable, Codable {
    /// The person (a name from the policy's `people`) who voted.
    public var voter: String
    public var decision: VoteDecision
    public var comment: String?
    public var at: Date
    /// How the vote arrived.
    public var via: VoteChannel

    public init(voter: String, decision: VoteDecision, comment: String? = nil, at: Date, via: VoteChannel = .api) {
        self.voter = voter
        self.decision = decision
        self.comment = comment
        self.at = at
        self.via = via
    }
}

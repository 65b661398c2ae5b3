import Foundation
import GreenlightCore

/// A gate's columns as every store keeps them (instants as milliseconds since 1970, the request and plan as stored
/// JSON), and the one place they become a ``Gate``: what a store reads back is checked the same way whatever the
/// database — an unknown state, outcome, decision or channel is an error, never a default.
public struct StoredGateRow: Sendable {
    public var id: GateID
    public var state: String
    public var outcome: String?
    public var openedBy: String
    public var createdAt: Int64
    public var deadline: Int64?
    public var decidedAt: Int64?
    public var decidedBy: String?
    public var reason: String?
    public var failOpen: Bool
    public var breakGlass: Bool
    public var version: Int
    public var request: String
    public var plan: String
    public var recordFormat: Int

    public init(
        id: GateID, state: String, outcome: String?, openedBy: String, createdAt: Int64, deadline: Int64?, decidedAt: Int64?,
        decidedBy: String?, reason: String?, failOpen: Bool, breakGlass: Bool, version: Int, request: String, plan: String,
        recordFormat: Int
    ) {
        self.id = id
        self.state = state
        self.outcome = outcome
        self.openedBy = openedBy
        self.createdAt = createdAt
        self.deadline = deadline
        self.decidedAt = decidedAt
        self.decidedBy = decidedBy
        self.reason = reason
        self.failOpen = failOpen
        self.breakGlass = breakGlass
        self.version = version
        self.request = request
        self.plan = plan
        self.recordFormat = recordFormat
    }

    /// A vote's columns.
    public struct Vote: Sendable {
        public var voter: String
        public var decision: String
        public var comment: String?
        public var at: Int64
        public var via: String

        public init(voter: String, decision: String, comment: String?, at: Int64, via: String) {
            self.voter = voter
            self.decision = decision
            self.comment = comment
            self.at = at
            self.via = via
        }
    }

    /// The gate, with `votes` in the order they were recorded: the order the gate was decided in, which staged
    /// approvals replay. (Their timestamps were taken before the write, so two racing votes may carry them the other
    /// way round.)
    public func gate(votes: [Vote]) throws -> Gate {
        let (frozenRequest, frozenPlan) = try Self.frozenParts.value(for: id) {
            guard recordFormat == StoredFormat.recordVersion else {
                throw StoreError.corruptRow(
                    "gate \(id) is stored in record format \(recordFormat), which this version (format \(StoredFormat.recordVersion)) cannot read; "
                        + "run the Greenlight that wrote it")
            }
            return (
                try StoredFormat.decode(StoredRequest.self, self.request, what: "the request of gate \(id)").request,
                try Self.plans.value(for: self.plan) {
                    try StoredFormat.decode(StoredPlan.self, self.plan, what: "the plan of gate \(id)").plan()
                }
            )
        }
        var gate = Gate(id: id, request: frozenRequest, openedBy: openedBy, plan: frozenPlan, createdAt: Timestamp.date(milliseconds: createdAt))
        // An unknown state is an error, never a default: read as pending, a decided gate could be decided again.
        guard let known = GateState(rawValue: state) else {
            throw StoreError.corruptRow("gate \(id) has state '\(state)', which this version does not know")
        }
        gate.state = known
        if let outcome {
            guard let known = Outcome(rawValue: outcome) else {
                throw StoreError.corruptRow("gate \(id) has outcome '\(outcome)', which this version does not know")
            }
            gate.outcome = known
        }
        gate.deadline = deadline.map(Timestamp.date(milliseconds:))
        gate.decidedAt = decidedAt.map(Timestamp.date(milliseconds:))
        gate.decidedBy = decidedBy
        gate.reason = reason
        gate.failOpen = failOpen
        gate.breakGlass = breakGlass
        gate.version = version
        gate.votes = try votes.map { vote in
            guard let decision = VoteDecision(rawValue: vote.decision) else {
                throw StoreError.corruptRow("a vote on gate \(id) has decision '\(vote.decision)'")
            }
            // Like a decision, an unknown channel is an error, never a default: the audit log and the card say how
            // each vote arrived, and a guess would put words in the evidence.
            guard let via = VoteChannel(rawValue: vote.via) else {
                throw StoreError.corruptRow("a vote on gate \(id) arrived via '\(vote.via)', which this version does not know")
            }
            return GreenlightCore.Vote(
                voter: vote.voter, decision: decision, comment: vote.comment, at: Timestamp.date(milliseconds: vote.at), via: via)
        }
        return gate
    }

    /// Remembers a gate's request and plan as it is stored: a store calls this when it inserts one.
    public static func remember(_ gate: Gate) {
        frozenParts.remember((gate.request, gate.plan), for: gate.id)
    }

    /// Forgets what ``remember(_:)`` kept of the gate `id`, so that the next read decodes its stored JSON (tests of the
    /// stored format).
    public static func forget(_ id: GateID) {
        frozenParts.forget(id)
    }

    /// Decoded requests and plans by gate: both are written once, when the gate opens, and never updated, so a vote
    /// need not decode their JSON again (it was most of a vote's CPU time).
    static let frozenParts = WriteOnceMemo<GateID, (GateRequest, GatePlan)>()

    /// Decoded plans by their stored text: gates opened under the same rules for the same people have the same plan,
    /// so a vote on a gate no longer in ``frozenParts`` mostly decodes its request alone. The text is the key, so a
    /// plan read back is always the one stored.
    static let plans = WriteOnceMemo<String, GatePlan>(capacity: 1_024)
}

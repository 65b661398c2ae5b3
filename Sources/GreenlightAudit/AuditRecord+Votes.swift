import Foundation
import GreenlightCore

// The records of what people and pipelines ask of a gate: votes, cancels and break-glass, recorded or refused.

/// `vote.recorded`: a person's vote counted.
public struct VoteRecorded: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case decision, comment, via
    }

    public static let action = AuditAction.voteRecorded

    public var decision: VoteDecision
    public var comment: String?
    public var via: VoteChannel

    public init(_ vote: Vote) {
        decision = vote.decision
        comment = vote.comment
        via = vote.via
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.decision: decision.rawValue, .via: via.rawValue]
        fields[.comment] = comment
        return fields
    }
}

/// `vote.refused`: a vote was refused, by the gate's rules or before them (who may vote, or a Slack click's own checks).
public struct VoteRefused: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case decision, reason, message, via, gate
        case slackUser = "slack_user"
    }

    public static let action = AuditAction.voteRefused

    public var decision: VoteDecision
    /// The refusal's code (``VoteRefusal/code``, ``AccessRefusal/code``, or a Slack click's).
    public var reason: String
    public var message: String
    /// How the vote arrived; `nil` for a principal that is not a person (who votes through no channel).
    public var via: VoteChannel?
    /// The Slack account that clicked, for a click refused before the gate's rules.
    public var slackUser: String?
    /// The gate the attempt named, when there is no such gate for the event to be about (at most 100 characters).
    public var namedGate: String?

    /// A vote the gate's rules refused.
    public init(_ vote: Vote, _ refusal: VoteRefusal) {
        self.init(decision: vote.decision, reason: refusal.code, message: refusal.description, via: vote.via)
    }

    /// A vote the authorizer refused `principal`: a person's carries the channel and, from Slack, the account.
    public init(_ decision: VoteDecision, _ refusal: AccessRefusal, by principal: Principal) {
        let person = principal.person
        self.init(decision: decision, reason: refusal.code, message: refusal.description, via: person?.via, slackUser: person?.slackUser)
    }

    /// A vote refused before the gate's rules for a reason of the transport's own (a Slack click on no gate, or off the
    /// gate's card).
    public init(
        decision: VoteDecision, reason: String, message: String, via: VoteChannel?, slackUser: String? = nil, namedGate: String? = nil
    ) {
        self.decision = decision
        self.reason = reason
        self.message = message
        self.via = via
        self.slackUser = slackUser
        self.namedGate = namedGate.map { String($0.prefix(100)) }
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.decision: decision.rawValue, .reason: reason, .message: message]
        fields[.via] = via?.rawValue
        fields[.slackUser] = slackUser
        fields[.gate] = namedGate
        return fields
    }
}

/// `cancel.refused`: a cancel by someone other than the gate's opener, or of a decided gate.
public struct CancelRefused: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case reason, message
    }

    public static let action = AuditAction.cancelRefused

    public var reason: String
    public var message: String

    /// A cancel the gate's state refused.
    public init(_ refusal: VoteRefusal) {
        reason = refusal.code
        message = refusal.description
    }

    /// A cancel the authorizer refused.
    public init(_ refusal: AccessRefusal) {
        reason = refusal.code
        message = refusal.description
    }

    public var fields: [Key: String] { [.reason: reason, .message: message] }
}

/// `gate.break_glass`: a break-glass holder approved a pending gate past its approvals, or let a frozen-out deploy's next
/// attempt through (and that attempt, opened again, was approved).
public struct BreakGlassUsed: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case reason, bypassed, frozen
        case usesIn24h = "uses_in_24h"
        case maxPerDay = "max_per_day"
        case appliesTo = "applies_to"
        case grantedOn = "granted_on"
    }

    public static let action = AuditAction.breakGlass

    /// The reason the holder gave.
    public var reason: String
    public var use: Use

    /// What the break-glass did.
    public enum Use: Sendable, Equatable {
        /// Approved a pending gate past what its plan asked (``GatePlan/requirementsSummary``).
        case approved(bypassed: String, count: Count)
        /// Granted, on a gate the freeze `frozen` rejected, that the same deploy opened again before `expiresAt` is
        /// approved.
        case granted(frozen: String, expiresAt: Date, count: Count)
        /// The deploy opened again under the grant given on `grantedOn`, approved at once.
        case grantUsed(grantedOn: GateID, frozen: String)
    }

    /// The environment's break-glass uses against its `max_per_day`.
    public struct Count: Sendable, Equatable {
        /// Uses in the last 24 hours, this one included.
        public var usesIn24h: Int
        public var maxPerDay: Int

        public init(usesIn24h: Int, maxPerDay: Int) {
            self.usesIn24h = usesIn24h
            self.maxPerDay = maxPerDay
        }
    }

    public init(reason: String, _ use: Use) {
        self.reason = reason
        self.use = use
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.reason: reason]
        switch use {
        case .approved(let bypassed, let count):
            fields.merge(Self.fields(count)) { _, count in count }
            fields[.bypassed] = bypassed
        case .granted(let frozen, let expiresAt, let count):
            fields.merge(Self.fields(count)) { _, count in count }
            fields[.frozen] = frozen
            fields[.appliesTo] = "the same deploy opened again before \(Timestamp.format(expiresAt))"
        case .grantUsed(let grantedOn, let frozen):
            fields[.grantedOn] = grantedOn.rawValue
            fields[.frozen] = frozen
        }
        return fields
    }

    private static func fields(_ count: Count) -> [Key: String] {
        [.usesIn24h: String(count.usesIn24h), .maxPerDay: String(count.maxPerDay)]
    }
}

/// `break_glass.refused`: a break-glass was refused, by the gate's rules or the authorizer; or a frozen-out deploy's
/// next attempt found its grant's holder may no longer approve it.
public struct BreakGlassRefused: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case reason, message
        case givenReason = "given_reason"
        case grantedOn = "granted_on"
    }

    public static let action = AuditAction.breakGlassRefused

    public var reason: String
    public var message: String
    /// The reason the person gave, for a break-glass the gate's rules refused.
    public var givenReason: String?
    /// The gate the grant was given on, for a grant refused on the deploy's next attempt.
    public var grantedOn: GateID?

    /// A break-glass the gate's rules refused, with the reason the person gave.
    public init(_ refusal: VoteRefusal, givenReason: String) {
        reason = refusal.code
        message = refusal.description
        self.givenReason = givenReason
    }

    /// A grant given on `grantedOn` that the deploy's next attempt's plan refuses its holder.
    public init(_ refusal: VoteRefusal, grantedOn: GateID) {
        reason = refusal.code
        message = refusal.description
        self.grantedOn = grantedOn
    }

    /// A break-glass the authorizer refused (only people break glass).
    public init(_ refusal: AccessRefusal) {
        reason = refusal.code
        message = refusal.description
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.reason: reason, .message: message]
        fields[.givenReason] = givenReason
        fields[.grantedOn] = grantedOn?.rawValue
        return fields
    }
}

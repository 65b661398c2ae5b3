import Foundation
import GreenlightCore

// The records of a gate's life: opened (or refused), decided, reminded, escalated, and its notifications.

/// `gate.opened`: a pipeline opened a gate, under the plan it was evaluated to.
public struct GateOpened: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case commit, rule, tier, requirements, deadline, authors, excluded
        case policyHash = "policy_hash"
        case onTimeout = "on_timeout"
        case triggeredBy = "triggered_by"
        case planHash = "plan_hash"
    }

    public static let action = AuditAction.gateOpened

    public var commit: String
    public var rule: String
    public var tier: String
    public var policyHash: String
    /// What the plan asks, as ``GatePlan/requirementsSummary`` words it.
    public var requirements: String
    public var onTimeout: TimeoutAction
    /// `nil` for a gate that was never gated.
    public var deadline: Date?
    public var triggeredBy: String?
    public var authors: [String]
    /// Who separation of duties bars, and why.
    public var excluded: [Exclusion]
    /// The frozen plan's hash (``LogAgreement/planHash(_:)``): binds who may approve, and how many, to the log.
    public var planHash: String

    public init(_ gate: Gate) {
        commit = gate.request.commit
        rule = gate.plan.rule
        tier = gate.plan.tier
        policyHash = gate.plan.policyHash
        requirements = gate.plan.requirementsSummary
        onTimeout = gate.plan.onTimeout
        deadline = gate.deadline
        triggeredBy = gate.request.triggeredBy
        authors = gate.request.authors
        excluded = gate.plan.exclusions
        planHash = LogAgreement.planHash(gate.plan)
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [
            .commit: commit, .rule: rule, .tier: tier, .policyHash: policyHash, .requirements: requirements, .onTimeout: onTimeout.rawValue,
            .planHash: planHash,
        ]
        fields[.deadline] = deadline.map(Timestamp.format)
        fields[.triggeredBy] = triggeredBy
        if !authors.isEmpty { fields[.authors] = authors.joined(separator: ", ") }
        if !excluded.isEmpty { fields[.excluded] = excluded.map { "\($0.identity) (\($0.role.rawValue))" }.joined(separator: ", ") }
        return fields
    }
}

/// `gate.open_refused`: a principal was refused opening a gate (not a pipeline, or outside its token's scope).
public struct GateOpenRefused: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case reason, message
    }

    public static let action = AuditAction.gateOpenRefused

    public var refusal: AccessRefusal

    public init(_ refusal: AccessRefusal) {
        self.refusal = refusal
    }

    public var fields: [Key: String] { [.reason: refusal.code, .message: refusal.description] }
}

/// `gate.decided`: approved, rejected, timed out or cancelled.
public struct GateDecided: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case state, outcome, reason, approvals, frozen
        case failOpen = "fail_open"
        case failOpenReason = "fail_open_reason"
        case breakGlass = "break_glass"
        case freezeEndsAt = "freeze_ends_at"
    }

    public static let action = AuditAction.gateDecided

    public var state: GateState
    public var outcome: Outcome?
    public var reason: String?
    /// The policy's `fail_open_reason`, for a gate its deadline approved; `nil` when it did not fail open.
    public var failOpen: FailOpen?
    public var breakGlass: Bool
    /// The freeze window the gate was opened in, which rejected it.
    public var frozen: ActiveFreeze?
    /// The people whose approvals counted, in the order they were recorded.
    public var approvals: [String]

    /// A timeout that approved, and the reason the policy gives for failing open (if it gives one).
    public struct FailOpen: Sendable, Equatable {
        public var reason: String?
    }

    public init(_ gate: Gate) {
        state = gate.state
        outcome = gate.outcome
        reason = gate.reason
        failOpen = gate.failOpen ? FailOpen(reason: gate.plan.failOpenReason) : nil
        breakGlass = gate.breakGlass
        frozen = gate.plan.frozen
        approvals = gate.votes.filter { $0.decision == .approve }.map(\.voter)
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.state: state.rawValue, .outcome: outcome?.rawValue ?? "", .reason: reason ?? ""]
        if let failOpen {
            fields[.failOpen] = "true"
            fields[.failOpenReason] = failOpen.reason
        }
        if breakGlass { fields[.breakGlass] = "true" }
        if let frozen {
            fields[.frozen] = frozen.name
            fields[.freezeEndsAt] = Timestamp.format(frozen.endsAt)
        }
        if !approvals.isEmpty { fields[.approvals] = approvals.joined(separator: ", ") }
        return fields
    }
}

/// `gate.reminded`: a pending gate's reminder fired.
public struct GateReminded: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case due, awaiting, deadline, mention
    }

    public static let action = AuditAction.gateReminded

    public var due: Date
    /// Who could still approve.
    public var awaiting: [String]
    public var deadline: Date?
    /// Whom the policy's `remind` mentions besides.
    public var mention: [String]

    /// The reminder due at `due` of `gate`, as the gate is when it fires.
    public init(due: Date, gate: Gate) {
        self.due = due
        awaiting = gate.awaitedApprovers
        deadline = gate.deadline
        mention = gate.plan.reminder?.mention ?? []
    }

    public var fields: [Key: String] {
        var fields: [Key: String] = [.due: Timestamp.format(due), .awaiting: awaiting.joined(separator: ", ")]
        fields[.deadline] = deadline.map(Timestamp.format)
        if !mention.isEmpty { fields[.mention] = mention.joined(separator: ", ") }
        return fields
    }
}

/// `gate.escalated`: a pending gate's escalation fired.
public struct GateEscalated: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case due, to
    }

    public static let action = AuditAction.gateEscalated

    public var due: Date
    /// The groups called in.
    public var to: [String]

    /// The escalation due at `due` of `gate`.
    public init(due: Date, gate: Gate) {
        self.due = due
        to = gate.plan.escalation?.to ?? []
    }

    public var fields: [Key: String] { [.due: Timestamp.format(due), .to: to.joined(separator: ", ")] }
}

/// `gate.notified`: the gate's card was posted where its approvers are. (`Notifier.notifiedDetails(_:)` in the server's
/// delivery loop still returns these details as a dictionary; a notifier can return this record instead.)
public struct GateNotified: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case via, channel, ts
    }

    public static let action = AuditAction.gateNotified

    /// The notification channel that carried the card.
    public var via: NotificationChannel
    /// Where it was posted, and the message's id there (Slack's channel and `ts`).
    public var channel: String
    public var ts: String

    public init(via: NotificationChannel = .slack, channel: String, ts: String) {
        self.via = via
        self.channel = channel
        self.ts = ts
    }

    public var fields: [Key: String] { [.via: via.rawValue, .channel: channel, .ts: ts] }
}

/// `notification.failed`: outbound work was given up after an error retrying cannot fix.
public struct NotificationFailed: AuditRecord {
    public enum Key: String, CaseIterable, Sendable {
        case kind, method, error
    }

    public static let action = AuditAction.notificationFailed

    /// The outbox item's kind, as stored (`slack.card`, …).
    public var kind: String
    /// The call that failed (`chat.postMessage`, …).
    public var method: String
    /// What the receiver answered.
    public var error: String

    public init(kind: String, method: String, error: String) {
        self.kind = kind
        self.method = method
        self.error = error
    }

    public var fields: [Key: String] { [.kind: kind, .method: method, .error: error] }
}

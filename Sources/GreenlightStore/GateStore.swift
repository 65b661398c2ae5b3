import Foundation
import GreenlightAudit
import GreenlightCore

/// Durable state: gates, votes, tokens and the audit log, behind one protocol so that SQLite and PostgreSQL can
/// stand behind it alike.
///
/// Every method that changes a gate does so in one transaction together with the audit events that record the
/// change (invariant 2), and decides a gate only if it is still pending (invariant 1). After a change commits,
/// the store publishes the new gate on ``changes``.
public protocol GateStore: GateOutbox {
    /// Gates that changed, published after their transaction commits.
    var changes: GateChangeFeed { get }

    /// Stores a new gate and its `gate.opened` (and, when not gated, `gate.decided`) audit events.
    ///
    /// With an `idempotencyKey`, a second call by the same pipeline returns the first gate instead of opening another;
    /// the same key with a different request is refused with ``StoreError/idempotencyKeyReused(_:)``. A gate a freeze
    /// rejected is the exception: the key moves to a new gate, evaluated afresh, so that a pipeline's retry after the
    /// freeze ends or a break-glass is not handed the old rejection.
    func open(_ gate: Gate, idempotencyKey: String?) async throws -> OpenedGate

    /// The gate with `id`, or `nil`.
    func gate(_ id: GateID) async throws -> Gate?

    /// Records `vote` if the gate's frozen plan allows it, deciding the gate when the vote completes a quorum or rejects.
    /// A refused vote changes nothing but the audit log.
    func castVote(_ vote: Vote, on id: GateID) async throws -> GateChange

    /// Cancels a pending gate on behalf of `actor` (the pipeline that opened it).
    func cancel(_ id: GateID, actor: String, reason: String?, at date: Date) async throws -> GateChange

    /// Approves a pending gate at once for a break-glass holder: `person` must be allowed by the gate's plan, give a
    /// reason, and find the environment under its `max_per_day` (counted over the last 24 hours, in the same transaction,
    /// so two racing attempts cannot both take the last use). A refused attempt changes nothing but the audit log.
    func breakGlass(_ id: GateID, person: String, reason: String, at date: Date) async throws -> GateChange

    /// Decides every pending gate whose deadline is at or before `now` by its policy's `on_timeout`.
    func decideExpiredGates(at now: Date) async throws -> [Gate]

    /// The earliest deadline of any pending gate.
    func nextDeadline() async throws -> Date?

    /// Fires every reminder and escalation due at or before `now` on a pending gate: each once, with its audit event
    /// and (when Slack is set up) its message, in one transaction. Returns what fired.
    func fireDueTimers(at now: Date) async throws -> [FiredTimer]

    /// When the next reminder or escalation of a pending gate falls due.
    func nextTimerDue() async throws -> Date?

    /// Appends an audit event that records no change of state: a refused attempt, a policy load, a token issued.
    func record(_ draft: AuditDraft) async throws

    /// Stores a token's identity under the hash of its secret, with a `token.created` audit event.
    func createToken(_ token: AccessToken, secretHash: String) async throws

    /// The token whose secret hashes to `secretHash`.
    func token(secretHash: String) async throws -> AccessToken?

    /// Audit events matching `query`, oldest first.
    func auditEvents(_ query: AuditQuery) async throws -> [AuditEvent]

    /// Walks the whole audit log and checks every link and the head.
    func verifyAudit() async throws -> AuditVerification

    /// Throws if the database cannot be read (the readiness probe).
    func checkReachable() async throws
}

/// The result of ``GateStore/open(_:idempotencyKey:)``.
public enum OpenedGate: Sendable, Equatable {
    /// A new gate was stored.
    case created(Gate)
    /// The idempotency key had been used for the same request: this is the gate it opened.
    case replayed(Gate)

    public var gate: Gate {
        switch self {
        case .created(let gate), .replayed(let gate): gate
        }
    }
}

/// A reminder or escalation that fired, and the gate as it was then.
public struct FiredTimer: Sendable, Equatable {
    public var gate: Gate
    public var timer: GateTimer

    public init(gate: Gate, timer: GateTimer) {
        self.gate = gate
        self.timer = timer
    }
}

/// The result of a vote or a cancel: the changed gate, or the refusal and the gate as it still is.
public enum GateChange: Sendable, Equatable {
    case recorded(Gate)
    case refused(VoteRefusal, Gate)
}

/// Filters for reading the audit log. Every filter is optional; `after` pages through a long log.
public struct AuditQuery: Sendable, Equatable {
    public var service: String?
    public var environment: String?
    public var actor: String?
    public var gateID: String?
    public var action: String?
    public var since: Date?
    public var until: Date?
    /// Only events with a sequence greater than this.
    public var after: Int64?
    public var limit: Int

    public init(
        service: String? = nil,
        environment: String? = nil,
        actor: String? = nil,
        gateID: String? = nil,
        action: String? = nil,
        since: Date? = nil,
        until: Date? = nil,
        after: Int64? = nil,
        limit: Int = 1_000
    ) {
        self.service = service
        self.environment = environment
        self.actor = actor
        self.gateID = gateID
        self.action = action
        self.since = since
        self.until = until
        self.after = after
        self.limit = limit
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import ServiceLifecycle

// A store is persistence, not policy: it answers a few primitive queries and applies the transitions ``GateLedger``
// computes, each atomically. Its requirements are split by role, so that each consumer asks for the one it uses
// (bearer authentication needs ``TokenRecords``, the audit routes ``AuditLog``, the Slack worker ``GateOutbox``).

/// Gates: the primitive reads a transition is computed from, and the one write that applies it.
public protocol GateRecords: Sendable {
    /// Gates that changed, published after their transaction commits.
    var changes: GateChangeFeed { get }

    /// The gate with `id`, or `nil`.
    func gate(_ id: GateID) async throws -> Gate?

    /// The gate `pipeline` opened under `idempotencyKey`, with its request's fingerprint.
    func gate(openedBy pipeline: String, idempotencyKey: String) async throws -> KeyedGate?

    /// Break-glass uses in `environment` after `date`, what `max_per_day` limits: gates approved by break-glass, and
    /// grants on frozen-out deploys not yet used (a used one is counted by the gate it approved).
    func breakGlassUses(environment: String, since date: Date) async throws -> Int

    /// The oldest unused, unexpired grant at `date` for the deploy `deployKey` (``Gate/deployKey``).
    func openGrant(forDeploy deployKey: String, at date: Date) async throws -> BreakGlassGrant?

    /// Whether a break-glass was granted on the gate `id`.
    func hasGrant(on id: GateID) async throws -> Bool

    /// Applies `transition` atomically, after checking its conditions in the same transaction, and publishes its
    /// changed gates on ``changes`` once committed. Throws ``StoreError/conflict(_:)`` (and applies nothing) when a
    /// condition no longer holds.
    func apply(_ transition: GateTransition) async throws
}

/// Deadlines and the reminders and escalations of pending gates.
public protocol TimerRecords: Sendable {
    /// Pending gates whose deadline is at or before `date`, earliest first, at most `limit`.
    func expiredGates(at date: Date, limit: Int) async throws -> [GateID]

    /// The earliest deadline of any pending gate.
    func nextDeadline() async throws -> Date?

    /// Unfired reminders and escalations of pending gates due at or before `date`, earliest first, at most `limit`.
    func dueTimers(at date: Date, limit: Int) async throws -> [DueTimer]

    /// When the next reminder or escalation of a pending gate falls due.
    func nextTimerDue() async throws -> Date?
}

/// Access tokens, kept by the hash of their secret.
public protocol TokenRecords: Sendable {
    /// Stores a token's identity under the hash of its secret, with `audit` (its `token.created`) in the same
    /// transaction. Throws ``StoreError/tokenNameTaken(_:)`` when the name is in use.
    func createToken(_ token: AccessToken, secretHash: String, audit: AuditDraft) async throws

    /// The token whose secret hashes to `secretHash`.
    func token(secretHash: String) async throws -> AccessToken?
}

/// The tamper-evident audit log.
/// Every gate and token row, for `audit verify` to hold each against the log.
public protocol RecordListing: Sendable {
    /// Up to `limit` gate ids after `after` (in id order; nil: from the first).
    func gateIDs(after: GateID?, limit: Int) async throws -> [GateID]
    /// Every token, with the stored hash of its secret (never the secret).
    func allTokens() async throws -> [(token: AccessToken, secretHash: String)]
}

public protocol AuditLog: Sendable {
    /// Appends an audit event that records no change of state: a refused attempt, a policy load.
    func record(_ draft: AuditDraft) async throws

    /// Audit events matching `query`, oldest first.
    func auditEvents(_ query: AuditQuery) async throws -> [AuditEvent]

    /// Walks the whole audit log and checks every link and the head.
    func verifyAudit() async throws -> AuditVerification
}

/// One database behind every role, opened before the server starts and run as a service beside it: an async driver
/// (a connection pool that must run) runs in ``run()``; a store that needs nothing running waits there for shutdown.
/// The server's service group stops it last, after everything that writes to it.
public protocol GateStore: GateRecords, TimerRecords, TokenRecords, RecordListing, AuditLog, GateOutbox, Service {
    /// Throws if the database cannot be read (the readiness probe).
    func checkReachable() async throws
}

/// The result of ``GateLedger/open(_:idempotencyKey:)``.
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

extension AuditLog {
    /// Every event `query` matches (its `after` and `limit` aside), oldest first, however many: 1,000 a read.
    public func allEvents(_ query: AuditQuery) async throws -> [AuditEvent] {
        var query = query
        query.limit = 1_000
        var events: [AuditEvent] = []
        while true {
            query.after = events.last?.sequence
            let page = try await auditEvents(query)
            events += page
            guard page.count == query.limit else { return events }
        }
    }

    /// Every event of gate `id`, oldest first.
    public func allEvents(ofGate id: String) async throws -> [AuditEvent] { try await allEvents(AuditQuery(gateID: id)) }

    /// The events after sequence `after`, oldest first, a page of `pageSize` at a time: `body` gets each page and says
    /// whether to read on. How the tools, the checkpoint signer and the proofs read the whole log in bounded memory.
    public func forEachAuditPage(after: Int64 = 0, pageSize: Int = 5_000, _ body: ([AuditEvent]) throws -> Bool) async throws {
        var last = after
        while true {
            let page = try await auditEvents(AuditQuery(after: last, limit: pageSize))
            guard let final = page.last else { return }
            guard try body(page), page.count == pageSize else { return }
            last = final.sequence
        }
    }
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

extension AuditQuery {
    /// A filter's value, as the audit table stores it.
    public enum FilterValue: Sendable, Equatable {
        case text(String)
        case integer(Int64)
    }

    /// The query's filters as conditions on `audit_event`'s columns (instants in stored milliseconds), for a store to
    /// put into its SQL: every store filters the same way.
    public var conditions: [(column: String, op: String, value: FilterValue)] {
        var conditions: [(column: String, op: String, value: FilterValue)] = []
        for (column, value) in [("service", service), ("environment", environment), ("actor", actor), ("gate_id", gateID), ("action", action)] {
            if let value { conditions.append((column, "=", .text(value))) }
        }
        if let since { conditions.append(("at", ">=", .integer(Timestamp.milliseconds(since)))) }
        if let until { conditions.append(("at", "<", .integer(Timestamp.milliseconds(until)))) }
        if let after { conditions.append(("sequence", ">", .integer(after))) }
        return conditions
    }
}

extension GateStore {
    /// Runs `body` with the store's driver running beside it, then stops the driver: how a command that uses the
    /// store outside the server (`token create`, `audit verify`) fits a store whose connections need a running task.
    public func whileRunning<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await self.run()
                return nil
            }
            let result = try await body()
            group.cancelAll()
            return result
        }
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore

/// Everything one change of a gate writes, computed before anything is written: the new gate and the version it
/// replaces, its vote, timers, break-glass grant, audit events and outbound work.
///
/// Computed by store-neutral code (``GateLedger``) from what a store answers to a few primitive queries; a store only
/// *applies* it, atomically (all of it or none), after checking that every ``Condition`` still holds. A condition
/// that no longer holds means someone else changed what the transition was computed from: the store applies nothing
/// and throws ``StoreError/conflict(_:)``, and the ledger computes the change again from what is there now. That is
/// how one decision per gate (invariant 1) holds across writers, replicas and databases with any isolation level.
public struct GateTransition: Sendable, Equatable {
    /// A fact the transition was computed from, checked by the store inside the transaction that applies it.
    public enum Condition: Sendable, Equatable {
        /// The gate is still at `version`. (An ``Write/updateGate(_:replacing:)`` checks this by itself too.)
        case gateAt(GateID, version: Int)
        /// The pipeline's idempotency key names the gate `heldBy`, or no gate when that is `nil`.
        case idempotencyKey(openedBy: String, key: String, heldBy: GateID?)
        /// At most `atMost` break-glass uses in `environment` after `since` (``GateRecords/breakGlassUses(environment:since:)``):
        /// the count the daily limit was checked against.
        case breakGlassUses(environment: String, since: Date, atMost: Int)
        /// No break-glass was granted on the gate yet.
        case noGrant(on: GateID)
        /// The grant on the gate has not let a deploy through yet.
        case grantUnused(on: GateID)
        /// The gate's timer of `kind`, due at `due`, has not fired.
        case timerUnfired(GateID, GateTimer.Kind, due: Date)
    }

    /// One write, applied in order.
    public enum Write: Sendable, Equatable {
        /// A new gate, under the pipeline's idempotency key if it gave one; `fingerprint` tells a retried request
        /// from a different one under the same key.
        case insertGate(Gate, idempotencyKey: String?, fingerprint: String)
        /// A changed gate over the pending `version` it replaces.
        case updateGate(Gate, replacing: Int)
        /// A person's vote on a gate (one per person per gate, whatever the races).
        case insertVote(Vote, on: GateID)
        /// The gate's reminder and escalation from now on: a timer due at the same moment as before keeps its row,
        /// fired or not (so that it cannot fire twice); one not listed goes, unless it fired.
        case setTimers(GateID, [GateTimer])
        /// Marks the gate's timer of `kind` fired (its ``Condition/timerUnfired(_:_:due:)`` says it had not).
        case fireTimer(GateID, GateTimer.Kind, at: Date)
        /// The gate gives up its idempotency key, so that a new gate can take it.
        case releaseIdempotencyKey(GateID)
        /// A break-glass on a gate the freeze rejected, for the same deploy opened again.
        case grant(BreakGlassGrant)
        /// The grant on `grantedOn` lets the gate `usedBy` through.
        case useGrant(on: GateID, by: GateID)
        /// An audit event.
        case audit(AuditDraft)
        /// Outbound work.
        case notify(OutboxIntent)
    }

    public var conditions: [Condition]
    public var writes: [Write]

    public init(conditions: [Condition] = [], writes: [Write] = []) {
        self.conditions = conditions
        self.writes = writes
    }

    /// The gates this transition writes, as they will be once it is applied: what the change feed publishes.
    public var changedGates: [Gate] {
        writes.compactMap { write in
            switch write {
            case .insertGate(let gate, _, _), .updateGate(let gate, _): gate
            default: nil
            }
        }
    }

    /// Whether the transition writes anything at all.
    public var isEmpty: Bool { writes.isEmpty }

    mutating func require(_ condition: Condition) { conditions.append(condition) }
    mutating func write(_ write: Write) { writes.append(write) }
    mutating func audit(_ draft: AuditDraft) { writes.append(.audit(draft)) }
}

/// Outbound work a change causes, written in the change's transaction so that an outage of the receiver delays it but
/// never loses it (invariant 3).
public struct OutboxIntent: Sendable, Equatable {
    public var kind: OutboxKind
    public var gate: GateID?
    /// What to deliver, for kinds that say more than "the gate changed" (JSON, owned by the kind's notifier).
    public var payload: String?
    public var dueAt: Date

    public init(kind: OutboxKind, gate: GateID?, payload: String? = nil, dueAt: Date) {
        self.kind = kind
        self.gate = gate
        self.payload = payload
        self.dueAt = Timestamp.truncated(dueAt)
    }
}

/// A break-glass on a gate the freeze rejected: the same deploy opened again before `expiresAt` is approved at once.
public struct BreakGlassGrant: Sendable, Equatable {
    /// The frozen-out gate the break-glass was given on.
    public var gate: GateID
    public var environment: String
    /// ``Gate/deployKey`` of the deploy it lets through.
    public var deployKey: String
    public var person: String
    public var reason: String
    public var grantedAt: Date
    public var expiresAt: Date

    public init(gate: GateID, environment: String, deployKey: String, person: String, reason: String, grantedAt: Date, expiresAt: Date) {
        self.gate = gate
        self.environment = environment
        self.deployKey = deployKey
        self.person = person
        self.reason = reason
        self.grantedAt = Timestamp.truncated(grantedAt)
        self.expiresAt = Timestamp.truncated(expiresAt)
    }
}

/// A gate found by its pipeline's idempotency key, with the fingerprint of the request that opened it.
public struct KeyedGate: Sendable, Equatable {
    public var gate: Gate
    public var fingerprint: String

    public init(gate: Gate, fingerprint: String) {
        self.gate = gate
        self.fingerprint = fingerprint
    }
}

/// A reminder or escalation due on a pending gate.
public struct DueTimer: Sendable, Equatable {
    public var gate: GateID
    public var timer: GateTimer

    public init(gate: GateID, timer: GateTimer) {
        self.gate = gate
        self.timer = timer
    }
}

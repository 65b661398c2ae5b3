import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore

/// One unit of work for `greenlight_apply` (``PostgresWriteFunction``): operations applied in order, all or none, under
/// the write lock. A condition that fails, or a conditional write that finds nothing to change, fails the unit with
/// ``StoreError/conflict(_:)`` and nothing of it is written.
struct PostgresWriteUnit: Sendable {
    private(set) var operations: [CanonicalJSON] = []

    /// The unit as the JSON array the function reads.
    var json: [UInt8] { CanonicalJSON.array(operations).bytes }

    mutating func append(_ operation: String, _ fields: [(String, CanonicalJSON)]) {
        operations.append(.object([("op", .string(operation))] + fields))
    }

    /// Appends `draft` to the audit chain after whatever the unit appended before it.
    mutating func audit(_ draft: AuditDraft) {
        append("audit", Self.event(draft))
    }

    /// The fields of an event the function links into the chain: its stored columns, and its canonical bytes around
    /// the sequence it will get.
    static func event(_ draft: AuditDraft) -> [(String, CanonicalJSON)] {
        let parts = AuditChain.canonicalParts(of: draft)
        return [
            ("at", .integer(Timestamp.milliseconds(draft.at))), ("actor", .string(draft.actor)), ("action", .string(draft.action.rawValue)),
            ("gate_id", .text(draft.gateID)), ("service", .text(draft.service)), ("environment", .text(draft.environment)),
            ("artifact", .text(draft.artifact)), ("details", .string(AuditChain.detailsJSON(draft.details))),
            ("before", .string(Data(parts.beforeSequence).base64EncodedString())),
            ("after", .string(Data(parts.afterSequence).base64EncodedString())),
        ]
    }
}

extension CanonicalJSON {
    static func text(_ value: String?) -> CanonicalJSON { value.map(CanonicalJSON.string) ?? .null }
    static func instant(_ value: Date?) -> CanonicalJSON { value.map { .integer(Timestamp.milliseconds($0)) } ?? .null }
}

/// A ``GateTransition`` as a ``PostgresWriteUnit``: its conditions first, then its writes in order.
enum PostgresTransition {
    static func unit(_ transition: GateTransition) throws -> PostgresWriteUnit {
        var unit = PostgresWriteUnit()
        for condition in transition.conditions {
            // A transition whose first write updates the gate over that version checks it there.
            if case .gateAt(let id, let version) = condition, case .updateGate(let gate, version)? = transition.writes.first, gate.id == id {
                continue
            }
            append(condition, to: &unit)
        }
        for write in transition.writes { try append(write, to: &unit) }
        return unit
    }

    /// Whether `transition` enqueues a message (which wakes the outbox workers once committed).
    static func enqueuesMessage(_ transition: GateTransition) -> Bool {
        transition.writes.contains { write in
            guard case .notify(let intent) = write else { return false }
            return !(intent.kind.isCoalesced && intent.gate != nil)
        }
    }

    private static func append(_ condition: GateTransition.Condition, to unit: inout PostgresWriteUnit) {
        switch condition {
        case .gateAt(let id, let version):
            unit.append("gate_at", [("id", .string(id.rawValue)), ("version", .integer(Int64(version)))])
        case .idempotencyKey(let pipeline, let key, let holder):
            unit.append("key_holder", [("pipeline", .string(pipeline)), ("key", .string(key)), ("holder", .text(holder?.rawValue))])
        case .breakGlassUses(let environment, let since, let atMost):
            unit.append(
                "break_glass_uses", [("environment", .string(environment)), ("since", .instant(since)), ("at_most", .integer(Int64(atMost)))])
        case .noGrant(let id):
            unit.append("no_grant", [("id", .string(id.rawValue))])
        case .grantUnused(let id):
            unit.append("grant_unused", [("id", .string(id.rawValue))])
        case .timerUnfired(let id, let kind, let due):
            unit.append("timer_unfired", [("id", .string(id.rawValue)), ("kind", .string(kind.rawValue)), ("due", .instant(due))])
        }
    }

    private static func append(_ write: GateTransition.Write, to unit: inout PostgresWriteUnit) throws {
        switch write {
        case .insertGate(let gate, let key, let fingerprint):
            unit.append(
                "insert_gate",
                gateFields(gate) + [
                    ("service", .string(gate.request.service)), ("environment", .string(gate.request.environment)),
                    ("opened_by", .string(gate.openedBy)), ("created_at", .instant(gate.createdAt)),
                    ("request", .string(try StoredFormat.json(StoredRequest(gate.request)))),
                    ("plan", .string(try StoredFormat.json(StoredPlan(gate.plan)))), ("key", .text(key)), ("fingerprint", .string(fingerprint)),
                    ("record_format", .integer(Int64(StoredFormat.recordVersion))),
                ])
        case .updateGate(let gate, let version):
            unit.append("update_gate", gateFields(gate) + [("replacing", .integer(Int64(version)))])
        case .insertVote(let vote, let id):
            unit.append(
                "insert_vote",
                [
                    ("id", .string(id.rawValue)), ("voter", .string(vote.voter)), ("decision", .string(vote.decision.rawValue)),
                    ("comment", .text(vote.comment)), ("at", .instant(vote.at)), ("via", .string(vote.via.rawValue)),
                ])
        case .setTimers(let id, let timers):
            let listed = timers.map { CanonicalJSON.object([("kind", .string($0.kind.rawValue)), ("due", .instant($0.due))]) }
            unit.append("set_timers", [("id", .string(id.rawValue)), ("timers", .array(listed))])
        case .fireTimer(let id, let kind, let at):
            unit.append("fire_timer", [("id", .string(id.rawValue)), ("kind", .string(kind.rawValue)), ("at", .instant(at))])
        case .releaseIdempotencyKey(let id):
            unit.append("release_key", [("id", .string(id.rawValue))])
        case .grant(let grant):
            unit.append(
                "grant",
                [
                    ("id", .string(grant.gate.rawValue)), ("environment", .string(grant.environment)), ("deploy_key", .string(grant.deployKey)),
                    ("person", .string(grant.person)), ("reason", .string(grant.reason)), ("granted_at", .instant(grant.grantedAt)),
                    ("expires_at", .instant(grant.expiresAt)),
                ])
        case .useGrant(let grantedOn, let usedBy):
            unit.append("use_grant", [("id", .string(grantedOn.rawValue)), ("used_by", .string(usedBy.rawValue))])
        case .audit(let draft):
            unit.audit(draft)
        case .notify(let intent):
            let fields: [(String, CanonicalJSON)] = [
                ("id", .text(intent.gate?.rawValue)), ("kind", .string(intent.kind.rawValue)), ("channel", .string(intent.kind.channel.rawValue)),
                ("due", .instant(intent.dueAt)),
            ]
            if intent.kind.isCoalesced, intent.gate != nil {
                unit.append("enqueue_coalesced", fields)
            } else {
                unit.append("enqueue_message", fields + [("payload", .text(intent.payload))])
            }
        }
    }

    /// The columns a gate's change writes.
    private static func gateFields(_ gate: Gate) -> [(String, CanonicalJSON)] {
        [
            ("id", .string(gate.id.rawValue)), ("state", .string(gate.state.rawValue)), ("outcome", .text(gate.outcome?.rawValue)),
            ("deadline", .instant(gate.deadline)), ("decided_at", .instant(gate.decidedAt)), ("decided_by", .text(gate.decidedBy)),
            ("reason", .text(gate.reason)), ("fail_open", .boolean(gate.failOpen)), ("break_glass", .boolean(gate.breakGlass)),
            ("version", .integer(Int64(gate.version))),
        ]
    }
}

extension CanonicalJSON {
    /// Whether a string in it holds a NUL, which PostgreSQL's `text` (and so `jsonb`) cannot.
    var holdsNUL: Bool {
        switch self {
        case .string(let text): text.utf8.contains(0)
        case .array(let values): values.contains(where: \.holdsNUL)
        case .object(let fields): fields.contains { $0.1.holdsNUL }
        case .null, .integer, .boolean: false
        }
    }
}

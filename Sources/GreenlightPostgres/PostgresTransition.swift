import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging
import PostgresNIO

/// Applies a ``GateTransition`` inside the caller's transaction (which holds the write lock): its conditions first,
/// then its writes in order. A condition that fails, or a conditional write that finds nothing to change, throws
/// ``StoreError/conflict(_:)`` and the caller rolls the transaction back with nothing written.
enum PostgresTransition {
    /// Returns whether the transition enqueued a message (which wakes the outbox workers once committed).
    static func apply(_ transition: GateTransition, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        func rows(_ query: PostgresQuery) async throws -> [PostgresRow] { try await connection.query(query, logger: logger).collect() }
        for condition in transition.conditions {
            // A transition whose first write updates the gate over that version checks it there.
            if case .gateAt(let id, let version) = condition, case .updateGate(let gate, version)? = transition.writes.first, gate.id == id {
                continue
            }
            try await check(condition, rows: rows)
        }
        var messages = false
        for write in transition.writes {
            if try await apply(write, rows: rows, connection: connection, logger: logger) { messages = true }
        }
        return messages
    }

    private static func check(_ condition: GateTransition.Condition, rows: (PostgresQuery) async throws -> [PostgresRow]) async throws {
        switch condition {
        case .gateAt(let id, let version):
            let stored = try await rows("SELECT version FROM gate WHERE id = \(id.rawValue)").first?.decode(Int.self)
            guard stored == version else { throw StoreError.conflict("gate \(id) changed") }
        case .idempotencyKey(let pipeline, let key, let holder):
            let stored = try await rows("SELECT id FROM gate WHERE opened_by = \(pipeline) AND idempotency_key = \(key)").first?.decode(String.self)
            guard stored == holder?.rawValue else { throw StoreError.conflict("the Idempotency-Key was taken meanwhile") }
        case .breakGlassUses(let environment, let since, let atMost):
            let used = try await PostgresGateStore.breakGlassUses(environment: environment, since: since, rows: rows)
            guard used <= atMost else { throw StoreError.conflict("a break-glass in \(environment) was used meanwhile") }
        case .noGrant(let id):
            guard try await rows("SELECT 1 FROM break_glass_grant WHERE gate_id = \(id.rawValue)").isEmpty else {
                throw StoreError.conflict("a break-glass was granted on \(id) meanwhile")
            }
        case .grantUnused(let id):
            guard try await !rows("SELECT 1 FROM break_glass_grant WHERE gate_id = \(id.rawValue) AND used_by IS NULL").isEmpty else {
                throw StoreError.conflict("the break-glass granted on \(id) was used meanwhile")
            }
        case .timerUnfired(let id, let kind, let due):
            let unfired = try await rows(
                """
                SELECT 1 FROM gate_timer WHERE gate_id = \(id.rawValue) AND kind = \(kind.rawValue) AND due_at = \(Timestamp.milliseconds(due))
                    AND fired_at IS NULL
                """)
            guard !unfired.isEmpty else { throw StoreError.conflict("the \(kind.rawValue) timer of \(id) fired meanwhile") }
        }
    }

    /// Returns whether `write` enqueued a message.
    private static func apply(
        _ write: GateTransition.Write, rows: (PostgresQuery) async throws -> [PostgresRow], connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        switch write {
        case .insertGate(let gate, let key, let fingerprint):
            let request = try StoredFormat.json(StoredRequest(gate.request))
            let plan = try StoredFormat.json(StoredPlan(gate.plan))
            try await connection.query(
                """
                INSERT INTO gate (id, state, outcome, service, environment, opened_by, created_at, deadline, decided_at, decided_by,
                                  reason, fail_open, break_glass, version, request, plan, idempotency_key, request_fingerprint, record_format)
                VALUES (\(gate.id.rawValue), \(gate.state.rawValue), \(gate.outcome?.rawValue), \(gate.request.service),
                        \(gate.request.environment), \(gate.openedBy), \(Timestamp.milliseconds(gate.createdAt)),
                        \(gate.deadline.map(Timestamp.milliseconds)), \(gate.decidedAt.map(Timestamp.milliseconds)), \(gate.decidedBy),
                        \(gate.reason), \(gate.failOpen), \(gate.breakGlass), \(gate.version), \(request), \(plan), \(key), \(fingerprint),
                        \(StoredFormat.recordVersion))
                """, logger: logger)
            StoredGateRow.remember(gate)
        case .updateGate(let gate, let version):
            let updated = try await rows(
                """
                UPDATE gate SET state = \(gate.state.rawValue), outcome = \(gate.outcome?.rawValue),
                                deadline = \(gate.deadline.map(Timestamp.milliseconds)), decided_at = \(gate.decidedAt.map(Timestamp.milliseconds)),
                                decided_by = \(gate.decidedBy), reason = \(gate.reason), fail_open = \(gate.failOpen),
                                break_glass = \(gate.breakGlass), version = \(gate.version)
                WHERE id = \(gate.id.rawValue) AND state = 'pending' AND version = \(version)
                RETURNING 1
                """)
            guard updated.count == 1 else { throw StoreError.conflict("gate \(gate.id) changed") }
        case .insertVote(let vote, let id):
            try await connection.query(
                """
                INSERT INTO vote (gate_id, voter, decision, comment, at, via)
                VALUES (\(id.rawValue), \(vote.voter), \(vote.decision.rawValue), \(vote.comment), \(Timestamp.milliseconds(vote.at)),
                        \(vote.via.rawValue))
                """, logger: logger)
        case .setTimers(let id, let timers):
            // A timer due at the same moment as before keeps its row, fired or not, so that it cannot fire twice; one
            // not listed goes unless it fired.
            for timer in timers {
                try await connection.query(
                    """
                    INSERT INTO gate_timer (gate_id, kind, due_at) VALUES (\(id.rawValue), \(timer.kind.rawValue), \(Timestamp.milliseconds(timer.due)))
                    ON CONFLICT (gate_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at, fired_at = NULL
                        WHERE gate_timer.due_at <> EXCLUDED.due_at
                    """, logger: logger)
            }
            for kind in GateTimer.Kind.allCases where !timers.contains(where: { $0.kind == kind }) {
                try await connection.query(
                    "DELETE FROM gate_timer WHERE gate_id = \(id.rawValue) AND kind = \(kind.rawValue) AND fired_at IS NULL", logger: logger)
            }
        case .fireTimer(let id, let kind, let at):
            let fired = try await rows(
                """
                UPDATE gate_timer SET fired_at = \(Timestamp.milliseconds(at))
                WHERE gate_id = \(id.rawValue) AND kind = \(kind.rawValue) AND fired_at IS NULL RETURNING 1
                """)
            guard fired.count == 1 else { throw StoreError.conflict("the \(kind.rawValue) timer of \(id) fired meanwhile") }
        case .releaseIdempotencyKey(let id):
            try await connection.query("UPDATE gate SET idempotency_key = NULL WHERE id = \(id.rawValue)", logger: logger)
        case .grant(let grant):
            try await connection.query(
                """
                INSERT INTO break_glass_grant (gate_id, environment, deploy_key, person, reason, granted_at, expires_at)
                VALUES (\(grant.gate.rawValue), \(grant.environment), \(grant.deployKey), \(grant.person), \(grant.reason),
                        \(Timestamp.milliseconds(grant.grantedAt)), \(Timestamp.milliseconds(grant.expiresAt)))
                """, logger: logger)
        case .useGrant(let grantedOn, let usedBy):
            let used = try await rows(
                """
                UPDATE break_glass_grant SET used_by = \(usedBy.rawValue) WHERE gate_id = \(grantedOn.rawValue) AND used_by IS NULL RETURNING 1
                """)
            guard used.count == 1 else { throw StoreError.conflict("the break-glass granted on \(grantedOn) was used meanwhile") }
        case .audit(let draft):
            try await PostgresAuditLog.append(draft, on: connection, logger: logger)
        case .notify(let intent):
            if intent.kind.isCoalesced, let gate = intent.gate {
                try await PostgresOutbox.enqueueCoalesced(intent.kind, gate: gate, at: intent.dueAt, on: connection, logger: logger)
            } else {
                try await PostgresOutbox.enqueueMessage(
                    intent.kind, gate: intent.gate, payload: intent.payload, at: intent.dueAt, on: connection, logger: logger)
                return true
            }
        }
        return false
    }
}

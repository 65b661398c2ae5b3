import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightStore

/// Applies a ``GateTransition`` inside the caller's transaction: its conditions first, then its writes in order. A
/// condition that fails, or a conditional write that finds nothing to change, throws ``StoreError/conflict(_:)`` and
/// the caller's transaction (a savepoint in a group commit) rolls back with nothing written.
enum SQLiteTransition {
    static func apply(_ transition: GateTransition, db: Database, ringing feed: GateChangeFeed) throws {
        for condition in transition.conditions {
            // A transition whose first write updates the gate over that version checks it there: the conditional
            // update finds the row or throws the conflict before anything else is written.
            if case .gateAt(let id, let version) = condition, case .updateGate(let gate, version)? = transition.writes.first, gate.id == id {
                continue
            }
            try check(condition, db: db)
        }
        for write in transition.writes {
            try apply(write, db: db, ringing: feed)
        }
    }

    private static func check(_ condition: GateTransition.Condition, db: Database) throws {
        switch condition {
        case .gateAt(let id, let version):
            let stored = try Int.fetchOne(db.cachedStatement(sql: "SELECT version FROM gate WHERE id = ?"), arguments: [id.rawValue])
            guard stored == version else { throw StoreError.conflict("gate \(id) changed") }
        case .idempotencyKey(let pipeline, let key, let holder):
            let stored = try String.fetchOne(
                db, sql: "SELECT id FROM gate WHERE opened_by = ? AND idempotency_key = ?", arguments: [pipeline, key])
            guard stored == holder?.rawValue else { throw StoreError.conflict("the Idempotency-Key was taken meanwhile") }
        case .breakGlassUses(let environment, let since, let atMost):
            let used = try SQLiteGateStore.breakGlassUses(environment: environment, since: since, db: db)
            guard used <= atMost else { throw StoreError.conflict("a break-glass in \(environment) was used meanwhile") }
        case .noGrant(let id):
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM break_glass_grant WHERE gate_id = ?", arguments: [id.rawValue]) == true {
                throw StoreError.conflict("a break-glass was granted on \(id) meanwhile")
            }
        case .grantUnused(let id):
            let unused = try Bool.fetchOne(
                db, sql: "SELECT 1 FROM break_glass_grant WHERE gate_id = ? AND used_by IS NULL", arguments: [id.rawValue])
            guard unused == true else { throw StoreError.conflict("the break-glass granted on \(id) was used meanwhile") }
        case .timerUnfired(let id, let kind, let due):
            let unfired = try Bool.fetchOne(
                db, sql: "SELECT 1 FROM gate_timer WHERE gate_id = ? AND kind = ? AND due_at = ? AND fired_at IS NULL",
                arguments: [id.rawValue, kind.rawValue, SQLiteRows.millis(due)])
            guard unfired == true else { throw StoreError.conflict("the \(kind.rawValue) timer of \(id) fired meanwhile") }
        }
    }

    private static func apply(_ write: GateTransition.Write, db: Database, ringing feed: GateChangeFeed) throws {
        switch write {
        case .insertGate(let gate, let key, let fingerprint):
            try SQLiteRows.insert(gate, idempotencyKey: key, fingerprint: fingerprint, db: db)
        case .updateGate(let gate, let version):
            guard try SQLiteRows.update(gate, from: version, db: db) else { throw StoreError.conflict("gate \(gate.id) changed") }
        case .insertVote(let vote, let id):
            try SQLiteRows.insert(vote, gate: id, db: db)
        case .setTimers(let id, let timers):
            try setTimers(timers, of: id, db: db)
        case .fireTimer(let id, let kind, let at):
            try db.execute(
                sql: "UPDATE gate_timer SET fired_at = ? WHERE gate_id = ? AND kind = ? AND fired_at IS NULL",
                arguments: [SQLiteRows.millis(at), id.rawValue, kind.rawValue])
            guard db.changesCount == 1 else { throw StoreError.conflict("the \(kind.rawValue) timer of \(id) fired meanwhile") }
        case .releaseIdempotencyKey(let id):
            try db.execute(sql: "UPDATE gate SET idempotency_key = NULL WHERE id = ?", arguments: [id.rawValue])
        case .grant(let grant):
            try db.execute(
                sql: """
                    INSERT INTO break_glass_grant (gate_id, environment, deploy_key, person, reason, granted_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    grant.gate.rawValue, grant.environment, grant.deployKey, grant.person, grant.reason, SQLiteRows.millis(grant.grantedAt),
                    SQLiteRows.millis(grant.expiresAt),
                ])
        case .useGrant(let grantedOn, let usedBy):
            try db.execute(
                sql: "UPDATE break_glass_grant SET used_by = ? WHERE gate_id = ? AND used_by IS NULL",
                arguments: [usedBy.rawValue, grantedOn.rawValue])
            guard db.changesCount == 1 else { throw StoreError.conflict("the break-glass granted on \(grantedOn) was used meanwhile") }
        case .audit(let draft):
            try SQLiteAuditLog.append(draft, db: db)
        case .notify(let intent):
            if intent.kind.isCoalesced, let gate = intent.gate {
                try SQLiteOutbox.enqueueCoalesced(intent.kind, gate: gate, at: intent.dueAt, db: db)
            } else {
                try SQLiteOutbox.enqueueMessage(intent.kind, gate: intent.gate, payload: intent.payload, at: intent.dueAt, db: db, ringing: feed)
            }
        }
    }

    /// Writes the gate's timers over those it had. A timer due at the same moment as before keeps its row, fired or
    /// not, so that it cannot fire twice; one not listed goes unless it fired. Cached statements: a decided gate's
    /// timers go on every decision.
    private static func setTimers(_ timers: [GateTimer], of id: GateID, db: Database) throws {
        for timer in timers {
            try db.cachedStatement(
                sql: """
                    INSERT INTO gate_timer (gate_id, kind, due_at) VALUES (?, ?, ?)
                    ON CONFLICT (gate_id, kind) DO UPDATE SET due_at = excluded.due_at, fired_at = NULL WHERE due_at != excluded.due_at
                    """
            ).execute(arguments: [id.rawValue, timer.kind.rawValue, SQLiteRows.millis(timer.due)])
        }
        for kind in GateTimer.Kind.allCases where !timers.contains(where: { $0.kind == kind }) {
            try db.cachedStatement(sql: "DELETE FROM gate_timer WHERE gate_id = ? AND kind = ? AND fired_at IS NULL")
                .execute(arguments: [id.rawValue, kind.rawValue])
        }
    }
}

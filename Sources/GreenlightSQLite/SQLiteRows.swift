import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightStore

/// Conversions between rows and domain values. Kept in one place so that the column list and the decoding agree.
enum SQLiteRows {
    /// Milliseconds since 1970, as every instant is stored.
    ///
    /// Clamped to what an `Int64` holds (±292 million years) rather than trapping or throwing: the conversion must not
    /// be able to stop the process for any `Date`, and clamping keeps the order every query relies on (a deadline past
    /// the range is still after every real instant, a `since` before it still before every event). No instant Greenlight
    /// computes comes near the range (policy durations are at most a year), so nothing real is changed. `NaN` is not an
    /// instant; it is stored as the far future, so that a deadline that could not be computed never fires early.
    ///
    /// The one conversion the audit log, its hashes and every printed time use too (``Timestamp/milliseconds(_:)``), so
    /// that a gate's stored instant and the time shown for it are the same millisecond.
    static func millis(_ date: Date) -> Int64 { Timestamp.milliseconds(date) }

    static func date(_ millis: Int64) -> Date { Timestamp.date(milliseconds: millis) }

    /// Reads a gate and its votes, in one statement: a row per vote (one with no vote columns for a gate without
    /// votes), so that the gate and its votes are read from the same snapshot without a transaction around them.
    static func fetchGate(_ db: Database, _ id: GateID) throws -> Gate? {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT g.*, v.voter AS vote_voter, v.decision AS vote_decision, v.comment AS vote_comment, v.at AS vote_at,
                           v.via AS vote_via
                    FROM gate g LEFT JOIN vote v ON v.gate_id = g.id WHERE g.id = ? ORDER BY v.rowid
                    """),
            arguments: [id.rawValue])
        guard let row = rows.first else { return nil }
        return try gate(from: row, votes: rows)
    }

    static func gate(from row: Row, votes rows: [Row]) throws -> Gate {
        let stored = StoredGateRow(
            id: GateID(unchecked: row["id"]), state: row["state"], outcome: row["outcome"], openedBy: row["opened_by"],
            createdAt: row["created_at"], deadline: row["deadline"], decidedAt: row["decided_at"], decidedBy: row["decided_by"],
            reason: row["reason"], failOpen: row["fail_open"], breakGlass: row["break_glass"], version: row["version"],
            request: row["request"], plan: row["plan"], recordFormat: row["record_format"])
        // In rowid order: the order the votes were recorded (one writer).
        return try stored.gate(
            votes: rows.compactMap { vote in
                guard let voter = vote["vote_voter"] as String? else { return nil }  // the gate's row without votes
                return StoredGateRow.Vote(
                    voter: voter, decision: vote["vote_decision"], comment: vote["vote_comment"], at: vote["vote_at"], via: vote["vote_via"])
            })
    }

    static func insert(_ gate: Gate, idempotencyKey: String?, fingerprint: String, db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO gate (id, state, outcome, service, environment, opened_by, created_at, deadline, decided_at, decided_by,
                                  reason, fail_open, break_glass, version, request, plan, idempotency_key, request_fingerprint,
                                  record_format)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                gate.id.rawValue, gate.state.rawValue, gate.outcome?.rawValue, gate.request.service, gate.request.environment,
                gate.openedBy, millis(gate.createdAt), gate.deadline.map(millis), gate.decidedAt.map(millis), gate.decidedBy,
                gate.reason, gate.failOpen, gate.breakGlass, gate.version, try StoredFormat.json(StoredRequest(gate.request)),
                try StoredFormat.json(StoredPlan(gate.plan)), idempotencyKey, fingerprint, StoredFormat.recordVersion,
            ]
        )
        StoredGateRow.remember(gate)
    }

    /// Writes a changed gate, but only over the version it was read at and only while it is pending. Returns whether
    /// the row was updated: `false` means someone else changed it first, and the caller's transaction must not go on.
    static func update(_ gate: Gate, from previousVersion: Int, db: Database) throws -> Bool {
        try db.cachedStatement(
            sql: """
                UPDATE gate SET state = ?, outcome = ?, deadline = ?, decided_at = ?, decided_by = ?, reason = ?, fail_open = ?,
                                break_glass = ?, version = ?
                WHERE id = ? AND state = 'pending' AND version = ?
                """
        ).execute(
            arguments: [
                gate.state.rawValue, gate.outcome?.rawValue, gate.deadline.map(millis), gate.decidedAt.map(millis), gate.decidedBy, gate.reason,
                gate.failOpen, gate.breakGlass, gate.version, gate.id.rawValue, previousVersion,
            ]
        )
        return db.changesCount == 1
    }

    static func insert(_ vote: Vote, gate id: GateID, db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO vote (gate_id, voter, decision, comment, at, via) VALUES (?, ?, ?, ?, ?, ?)").execute(
            arguments: [id.rawValue, vote.voter, vote.decision.rawValue, vote.comment, millis(vote.at), vote.via.rawValue])
    }

    static func auditEvent(from row: Row) throws -> AuditEvent {
        AuditEvent(
            sequence: row["sequence"],
            at: date(row["at"]),
            actor: row["actor"],
            action: row["action"],
            gateID: row["gate_id"],
            service: row["service"],
            environment: row["environment"],
            artifact: row["artifact"],
            details: try StoredFormat.decode([String: String].self, row["details"], what: "the details of audit event \(row["sequence"] as Int64)"),
            previousHash: row["previous_hash"],
            hash: row["hash"]
        )
    }

    static func token(from row: Row) throws -> AccessToken {
        guard let kind = TokenKind(rawValue: row["kind"]) else {
            throw StoreError.corruptRow("token '\(row["name"] as String)' has unknown kind '\(row["kind"] as String)'")
        }
        return AccessToken(
            name: row["name"],
            kind: kind,
            user: row["user"],
            services: try StoredFormat.decode([String].self, row["services"], what: "the services of token '\(row["name"] as String)'"),
            environments: try StoredFormat.decode([String].self, row["environments"], what: "the environments of token '\(row["name"] as String)'"),
            createdAt: date(row["created_at"])
        )
    }

    static func grant(from row: Row) -> BreakGlassGrant {
        BreakGlassGrant(
            gate: GateID(unchecked: row["gate_id"]), environment: row["environment"], deployKey: row["deploy_key"], person: row["person"],
            reason: row["reason"], grantedAt: date(row["granted_at"]), expiresAt: date(row["expires_at"]))
    }
}

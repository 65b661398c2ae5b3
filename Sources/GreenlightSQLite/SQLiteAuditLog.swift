import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightStore

/// Appends to, reads and verifies the audit chain, always inside a transaction the caller holds.
enum SQLiteAuditLog {
    /// Appends `draft` after the current head. Called inside the transaction of the change it records, so that the
    /// change and its evidence commit together or not at all.
    static func append(_ draft: AuditDraft, db: Database) throws {
        // Cached statements: these run for every change, and compiling them each time cost more than running them.
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT sequence, hash FROM audit_head WHERE id = 1"))
        let sequence: Int64 = (head?["sequence"] ?? 0) + 1
        let event = AuditChain.link(draft, sequence: sequence, previousHash: head?["hash"] ?? AuditChain.genesisHash)
        try db.cachedStatement(
            sql: """
                INSERT INTO audit_event (sequence, at, actor, action, gate_id, service, environment, artifact, details, previous_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                event.sequence, Timestamp.milliseconds(event.at), event.actor, event.action, event.gateID, event.service,
                event.environment, event.artifact, AuditChain.detailsJSON(event.details), event.previousHash, event.hash,
            ]
        )
        try db.cachedStatement(
            sql:
                "INSERT INTO audit_head (id, sequence, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash"
        ).execute(arguments: [event.sequence, event.hash])
    }

    static func events(_ query: AuditQuery, db: Database) throws -> [AuditEvent] {
        var arguments: StatementArguments = []
        let conditions = query.conditions.map { condition in
            switch condition.value {
            case .text(let text): arguments += [text]
            case .integer(let integer): arguments += [integer]
            }
            return "\(condition.column) \(condition.op) ?"
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [query.limit]
        return try Row.fetchAll(db, sql: "SELECT * FROM audit_event \(whereClause) ORDER BY sequence LIMIT ?", arguments: arguments)
            .map(SQLiteRows.auditEvent)
    }

    static func verify(db: Database) throws -> AuditVerification {
        // Events written before schema v5 are checked with the time text they were hashed with (docs/audit.md). A
        // database whose record of that was removed is checked as a v5 log: its older events then fail, loudly.
        let storedMillisecondFrom =
            try Int64.fetchOne(db, sql: "SELECT stored_millisecond_from FROM audit_time_format WHERE id = 1") ?? 1
        var verifier = AuditVerifier(storedMillisecondFrom: storedMillisecondFrom)
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_event ORDER BY sequence")
        while let row = try cursor.next() {
            let event: AuditEvent
            do {
                event = try SQLiteRows.auditEvent(from: row)
            } catch {
                return .broken(sequence: row["sequence"], problem: "the event cannot be read (its details were edited): \(error)")
            }
            if !verifier.check(event) { break }
        }
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT sequence, hash FROM audit_head WHERE id = 1"))
            .map { (sequence: $0["sequence"] as Int64, hash: $0["hash"] as String) }
        return verifier.finish(head: head)
    }
}

import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging
import PostgresNIO

/// Reads and verifies the audit chain (`greenlight_apply` appends to it: ``PostgresWriteFunction``).
enum PostgresAuditLog {
    static let columns = "sequence, at, actor, action, gate_id, service, environment, artifact, details, previous_hash, hash"

    static func events(_ query: AuditQuery, rows: (PostgresQuery) async throws -> [PostgresRow]) async throws -> [AuditEvent] {
        var statement = Statement("SELECT \(columns) FROM audit_event")
        let conditions = query.conditions.map { condition in
            switch condition.value {
            case .text(let text): "\(condition.column) \(condition.op) \(statement.bind(text))"
            case .integer(let integer): "\(condition.column) \(condition.op) \(statement.bind(integer))"
            }
        }
        if !conditions.isEmpty { statement.append(" WHERE " + conditions.joined(separator: " AND ")) }
        statement.append(" ORDER BY sequence LIMIT \(statement.bind(Int64(query.limit)))")
        return try await rows(statement.query).map(event)
    }

    static func event(from row: PostgresRow) throws -> AuditEvent {
        let (sequence, at, actor, action, gateID, service, environment, artifact, details, previousHash, hash) = try row.decode(
            (Int64, Int64, String, String, String?, String?, String?, String?, String, String, String).self)
        return AuditEvent(
            sequence: sequence, at: Timestamp.date(milliseconds: at), actor: actor, action: action, gateID: gateID, service: service,
            environment: environment, artifact: artifact,
            details: try StoredFormat.decode([String: String].self, details, what: "the details of audit event \(sequence)"),
            previousHash: previousHash, hash: hash)
    }

    /// Walks the chain in order, inside the caller's read-only snapshot, streaming the events rather than holding them.
    static func verify(on connection: PostgresConnection, logger: Logger) async throws -> AuditVerification {
        // Events written before SQLite's schema v5, carried over by `greenlight migrate`, are checked with the time
        // text they were hashed with (docs/audit.md).
        let from =
            try await connection.query("SELECT stored_millisecond_from FROM audit_time_format WHERE id = 1", logger: logger)
            .collect().first?.decode(Int64.self) ?? 1
        var verifier = AuditVerifier(storedMillisecondFrom: from)
        // The head first: the walk may stop early, and the same snapshot gives the same head either way.
        let head = try await connection.query("SELECT sequence, hash FROM audit_head WHERE id = 1", logger: logger).collect().first
            .map { try $0.decode((Int64, String).self) }
        let rows = try await connection.query("SELECT \(unescaped: columns) FROM audit_event ORDER BY sequence", logger: logger)
        walk: for try await row in rows {
            let event: AuditEvent
            do {
                event = try Self.event(from: row)
            } catch {
                let sequence = (try? row.makeRandomAccess()["sequence"].decode(Int64.self)) ?? 0
                return .broken(sequence: sequence, problem: "the event cannot be read (its details were edited): \(error)")
            }
            if !verifier.check(event) { break walk }
        }
        return verifier.finish(head: head.map { (sequence: $0.0, hash: $0.1) })
    }
}

import Foundation
import GreenlightCore
import GreenlightStore
import Logging
import PostgresNIO

/// Conversions between rows and domain values. Kept in one place so that the column lists and the decoding agree.
enum PostgresRows {
    /// Reads a gate and its votes in one statement (a row per vote, one with no vote columns for a gate without votes),
    /// so that both come from the same snapshot without a transaction around them.
    static func fetchGate(_ id: GateID, rows: (PostgresQuery) async throws -> [PostgresRow]) async throws -> Gate? {
        let found = try await rows(
            """
            SELECT g.id, g.state, g.outcome, g.opened_by, g.created_at, g.deadline, g.decided_at, g.decided_by, g.reason, g.fail_open,
                   g.break_glass, g.version, g.request, g.plan, g.record_format,
                   v.voter, v.decision, v.comment, v.at, v.via
            FROM gate g LEFT JOIN vote v ON v.gate_id = g.id WHERE g.id = \(id.rawValue) ORDER BY v.seq
            """)
        guard let first = found.first else { return nil }
        let row = first.makeRandomAccess()
        let stored = StoredGateRow(
            id: id, state: try row["state"].decode(String.self), outcome: try row["outcome"].decode(String?.self),
            openedBy: try row["opened_by"].decode(String.self), createdAt: try row["created_at"].decode(Int64.self),
            deadline: try row["deadline"].decode(Int64?.self), decidedAt: try row["decided_at"].decode(Int64?.self),
            decidedBy: try row["decided_by"].decode(String?.self), reason: try row["reason"].decode(String?.self),
            failOpen: try row["fail_open"].decode(Bool.self), breakGlass: try row["break_glass"].decode(Bool.self),
            version: try row["version"].decode(Int.self), request: try row["request"].decode(String.self),
            plan: try row["plan"].decode(String.self), recordFormat: try row["record_format"].decode(Int.self))
        // In `seq` order: the order the votes were committed (writes are applied one at a time).
        let votes = try found.compactMap { row -> StoredGateRow.Vote? in
            let vote = row.makeRandomAccess()
            guard let voter = try vote["voter"].decode(String?.self) else { return nil }  // the gate's row without votes
            return StoredGateRow.Vote(
                voter: voter, decision: try vote["decision"].decode(String.self), comment: try vote["comment"].decode(String?.self),
                at: try vote["at"].decode(Int64.self), via: try vote["via"].decode(String.self))
        }
        return try stored.gate(votes: votes)
    }

    /// A row of `SELECT gate_id, environment, deploy_key, person, reason, granted_at, expires_at FROM break_glass_grant`.
    static func grant(from row: PostgresRow) throws -> BreakGlassGrant {
        let (gate, environment, deployKey, person, reason, grantedAt, expiresAt) = try row.decode(
            (String, String, String, String, String, Int64, Int64).self)
        return BreakGlassGrant(
            gate: GateID(unchecked: gate), environment: environment, deployKey: deployKey, person: person, reason: reason,
            grantedAt: Timestamp.date(milliseconds: grantedAt), expiresAt: Timestamp.date(milliseconds: expiresAt))
    }

    /// A row of `SELECT name, kind, "user", services, environments, created_at FROM token`.
    static func token(from row: PostgresRow) throws -> AccessToken {
        let (name, kind, user, services, environments, createdAt) = try row.decode((String, String, String?, String, String, Int64).self)
        return try token(name: name, kind: kind, user: user, services: services, environments: environments, createdAt: createdAt)
    }

    /// A token from its columns (`name, kind, "user", services, environments, created_at`).
    static func token(name: String, kind: String, user: String?, services: String, environments: String, createdAt: Int64) throws -> AccessToken {
        guard let known = TokenKind(rawValue: kind) else { throw StoreError.corruptRow("token '\(name)' has unknown kind '\(kind)'") }
        return AccessToken(
            name: name, kind: known, user: user,
            services: try StoredFormat.decode([String].self, services, what: "the services of token '\(name)'"),
            environments: try StoredFormat.decode([String].self, environments, what: "the environments of token '\(name)'"),
            createdAt: Timestamp.date(milliseconds: createdAt))
    }
}

/// A statement put together from parts, each value bound as the next `$n`: for the reads whose filters vary.
struct Statement {
    private(set) var sql = ""
    private(set) var bindings = PostgresBindings()

    init(_ sql: String = "") { self.sql = sql }

    mutating func append(_ text: String) { sql += text }

    /// Binds `value` and returns its placeholder.
    mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: bindings) }
}

extension PostgresConnection {
    /// Runs `body` in a transaction opened by `begin`: commits when it returns, rolls back when it throws. `unbounded`
    /// lifts the session's `statement_timeout` for this transaction only (the tools' long jobs).
    func inTransaction<T>(
        _ begin: String = "BEGIN", unbounded: Bool = false, logger: Logger, _ body: () async throws -> T
    ) async throws -> T {
        try await query(PostgresQuery(unsafeSQL: begin), logger: logger)
        do {
            if unbounded { try await query("SET LOCAL statement_timeout = 0", logger: logger) }
            let value = try await body()
            try await query("COMMIT", logger: logger)
            return value
        } catch {
            _ = try? await query("ROLLBACK", logger: logger)
            throw error
        }
    }
}

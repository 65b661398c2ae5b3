import GreenlightStore
import Logging
import PostgresNIO

extension PostgresGateStore {
    /// Columns that are `boolean` here and integers 0/1 in ``StoreTables``.
    private static let flags: Set<String> = ["fail_open", "break_glass", "coalesced"]

    /// At most this many parameters in one `INSERT` (the protocol's limit is 65,535).
    private static let parametersPerStatement = 30_000

    /// Writes every row of `tables` into this store, in one transaction under the write lock: all of it or none.
    /// Throws ``StoreError/targetNotEmpty(_:)`` (and writes nothing) when the database holds gates, tokens, outbox
    /// items or audit events already. Identity columns carry on after the copied rows.
    public func importTables(_ tables: StoreTables) async throws {
        let where_ = location.description
        // Unbounded: a large log takes as long as it takes, and nothing else waits on a migration's target.
        try await transaction(answerWithin: nil) { [logger] connection in
            let held =
                try await connection.query(
                    """
                    SELECT (SELECT COUNT(*) FROM gate) + (SELECT COUNT(*) FROM token) + (SELECT COUNT(*) FROM outbox)
                         + (SELECT COUNT(*) FROM audit_event)
                    """, logger: logger
                ).collect().first?.decode(Int64.self) ?? 0
            guard held == 0 else { throw StoreError.targetNotEmpty(where_) }
            // The schema's own row, replaced by the source's: from which event hashes cover the stored millisecond.
            try await connection.query("DELETE FROM audit_time_format", logger: logger)
            for table in tables.tables where !table.rows.isEmpty {
                try await Self.insert(table, on: connection, logger: logger)
            }
            try await connection.query(
                "SELECT setval(pg_get_serial_sequence('outbox', 'id'), COALESCE((SELECT MAX(id) FROM outbox), 0) + 1, false)", logger: logger)
            // Statistics for the rows just written: without them the planner takes the tables for nearly empty until
            // autovacuum gets round to them, and walks every unfired timer where one index entry would do.
            try await connection.query("ANALYZE", logger: logger)
        }
    }

    private static func insert(_ table: StoreTables.Table, on connection: PostgresConnection, logger: Logger) async throws {
        let columns = table.columns.map { "\"\($0)\"" }.joined(separator: ", ")
        // The outbox's ids are kept (a worker's claims name them); PostgreSQL makes identities unless told otherwise.
        let overriding = table.name == "outbox" ? " OVERRIDING SYSTEM VALUE" : ""
        let rowsPerStatement = max(1, parametersPerStatement / max(1, table.columns.count))
        for start in stride(from: 0, to: table.rows.count, by: rowsPerStatement) {
            var bindings = PostgresBindings()
            var values: [String] = []
            for row in table.rows[start..<min(start + rowsPerStatement, table.rows.count)] {
                guard row.count == table.columns.count else {
                    throw StoreError.corruptRow("a row of \(table.name) has \(row.count) values for \(table.columns.count) columns")
                }
                var placeholders: [String] = []
                for (column, value) in zip(table.columns, row) {
                    switch value {
                    case .null: bindings.appendNull()
                    case .integer(let integer): bindings.append(integer)
                    case .text(let text): bindings.append(text)
                    }
                    placeholders.append(flags.contains(column) ? "($\(bindings.count)::bigint <> 0)" : "$\(bindings.count)")
                }
                values.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            let sql = "INSERT INTO \(table.name) (\(columns))\(overriding) VALUES " + values.joined(separator: ", ")
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        }
    }
}

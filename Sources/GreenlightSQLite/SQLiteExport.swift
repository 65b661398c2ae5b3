import GRDB
import GreenlightStore

extension SQLiteGateStore {
    /// Every row ``StoreTables/layout`` names, read in one transaction (one consistent moment of the log and the gates
    /// it speaks of), each table in the order its rows were written. For `greenlight migrate`; the whole store is held
    /// in memory, so run it with the servers stopped.
    public func exportTables() async throws -> StoreTables {
        try await pool.read { db in
            var tables: [StoreTables.Table] = []
            for (name, columns) in StoreTables.layout {
                let quoted = columns.map { "\"\($0)\"" }.joined(separator: ", ")
                var rows: [[StoreTables.Value]] = []
                for row in try Row.fetchAll(db, sql: "SELECT \(quoted) FROM \(name) ORDER BY rowid") {
                    rows.append(
                        try columns.indices.map { index in
                            switch row[index] as DatabaseValue {
                            case let value where value.isNull: .null
                            case let value:
                                switch value.storage {
                                case .int64(let integer): .integer(integer)
                                case .string(let text): .text(text)
                                default:
                                    throw StoreError.corruptRow("\(name).\(columns[index]) holds a value that is neither an integer nor text")
                                }
                            }
                        })
                }
                tables.append(StoreTables.Table(name: name, columns: columns, rows: rows))
            }
            return StoreTables(tables: tables)
        }
    }
}

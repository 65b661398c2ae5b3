import GreenlightPostgres
import GreenlightSQLite
import GreenlightStore

extension DatabaseLocation {
    /// Opens the store at this location and brings its schema up to date; creates an SQLite file unless `mustExist`
    /// (a PostgreSQL database must exist already: its server creates it).
    func openStore(mustExist: Bool = false) async throws -> any GateStore {
        switch self {
        case .sqlite(let path): try SQLiteGateStore(path: path, create: !mustExist)
        case .postgres(let location): try await PostgresGateStore.open(location)
        }
    }
}

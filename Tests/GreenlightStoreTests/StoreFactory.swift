import Foundation
import GRDB
import GreenlightCore
import GreenlightStore
import Logging
import PostgresNIO
import Testing

@testable import GreenlightPostgres
@testable import GreenlightSQLite

/// A way to make a fresh, empty store of one kind: the conformance suite runs every store-level invariant test once per
/// factory in ``all``. A new store is done when its factory is listed here and the suite passes.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    private let body: @Sendable (_ channels: Set<NotificationChannel>) async throws -> StoreUnderTest

    init(name: String, make body: @escaping @Sendable (_ channels: Set<NotificationChannel>) async throws -> StoreUnderTest) {
        self.name = name
        self.body = body
    }

    /// A new store, and a ledger over it that enqueues work for `channels`.
    func make(notifying channels: Set<NotificationChannel> = []) async throws -> StoreUnderTest { try await body(channels) }

    var testDescription: String { name }

    /// Every store the suite runs on: SQLite always; PostgreSQL when `GREENLIGHT_TEST_POSTGRES_URL` names a server
    /// (scripts/test starts a throwaway one and sets it; CI always runs both).
    static let all: [StoreFactory] = [.sqlite] + (PostgresTestServer.url == nil ? [] : [.postgres])

    /// SQLite in a fresh temporary directory; a replica is a second store on the same file (a second process).
    static let sqlite = StoreFactory(name: "SQLite") { channels in
        let temporary = try TemporaryStore()
        let path = temporary.path
        return StoreUnderTest(
            store: temporary.store, notifying: channels, keeping: temporary,
            replica: { try SQLiteGateStore(path: path) },
            execute: { sql in try DatabaseQueue(path: path).write { db in try db.execute(sql: sql) } },
            strings: { sql in try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: sql) } })
    }

    /// A fresh database on the test server for each store; a replica is a second store (its own pool) on the same one.
    static let postgres = StoreFactory(name: "PostgreSQL") { channels in
        let location = try await PostgresTestServer.freshDatabase()
        let store = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        return StoreUnderTest(
            store: store, notifying: channels, keeping: (),
            replica: { try await PostgresGateStore.open(location, logger: PostgresTestServer.logger) },
            execute: { sql in try await PostgresTestServer.run(sql, on: location) },
            strings: { sql in try await PostgresTestServer.strings(sql, on: location) })
    }
}

/// The PostgreSQL server the tests use, from `GREENLIGHT_TEST_POSTGRES_URL`.
enum PostgresTestServer {
    static let url = ProcessInfo.processInfo.environment["GREENLIGHT_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    static let logger = Logger(label: "greenlight.test.postgres")

    /// Creates a database of its own for one test: tests run in parallel and must not see each other's rows.
    static func freshDatabase() async throws -> PostgresLocation {
        guard let url else { throw StoreError.invalidDatabaseURL("GREENLIGHT_TEST_POSTGRES_URL is not set") }
        var location = try PostgresLocation(parsing: url)
        let name = "greenlight_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        _ = try await strings("CREATE DATABASE \(name)", on: location)
        location.database = name
        return location
    }

    /// Runs `sql` on its own connection to `location`, behind any store's back: statements that end a line with `;`
    /// one after another (the extended protocol takes one at a time), in one transaction.
    static func run(_ sql: String, on location: PostgresLocation) async throws {
        let statements = sql.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
        _ = try await strings("BEGIN", on: location, then: statements + ["COMMIT"])
    }

    /// The first column of each row `sql` returns, as text.
    static func strings(_ sql: String, on location: PostgresLocation, then more: [String] = []) async throws -> [String] {
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
                tls: .disable),
            id: 1, logger: logger)
        do {
            var values: [String] = []
            for statement in [sql] + more {
                for try await row in try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) {
                    guard row.count > 0 else { continue }
                    values.append(try row.makeRandomAccess()[0].decode(String.self))
                }
            }
            try await connection.close()
            return values
        } catch {
            try? await connection.close()
            throw PostgresTestServer.Failure(sql: sql, error: error)
        }
    }

    /// A statement of the tests' own that the server refused, with what it said (PSQLError's description says nothing).
    struct Failure: Error, CustomStringConvertible {
        var sql: String
        var error: any Error
        var description: String {
            if let error = error as? PSQLError {
                return "\(sql): \(error.serverInfo?[.sqlState] ?? "") \(error.serverInfo?[.message] ?? "\(error.code)")"
            }
            return "\(sql): \(error)"
        }
    }
}

/// A store made by a ``StoreFactory``, the ledger over it, and what the tests need beside the store's own API: more
/// instances over the same database (replicas), and SQL straight to the database (to look at rows, or to tamper).
final class StoreUnderTest: Sendable {
    let store: any GateStore
    let ledger: GateLedger
    let channels: Set<NotificationChannel>
    /// Whatever keeps the database alive (a temporary directory) while the test runs.
    private let kept: any Sendable
    private let makeReplica: @Sendable () async throws -> any GateStore
    private let run: @Sendable (String) async throws -> Void
    private let fetch: @Sendable (String) async throws -> [String]

    init(
        store: any GateStore, notifying channels: Set<NotificationChannel>, keeping kept: any Sendable,
        replica: @escaping @Sendable () async throws -> any GateStore,
        execute: @escaping @Sendable (String) async throws -> Void, strings: @escaping @Sendable (String) async throws -> [String]
    ) {
        self.store = store
        self.ledger = GateLedger(store: store, notifying: channels)
        self.channels = channels
        self.kept = kept
        self.makeReplica = replica
        self.run = execute
        self.fetch = strings
    }

    /// Another store over the same database, as a second process or replica opens it, with its own ledger.
    func replica() async throws -> (store: any GateStore, ledger: GateLedger) {
        let store = try await makeReplica()
        return (store, GateLedger(store: store, notifying: channels))
    }

    /// Runs `sql` on the database, behind the store's back.
    func execute(_ sql: String) async throws { try await run(sql) }

    /// The first column of each row `sql` returns, as text.
    func strings(_ sql: String) async throws -> [String] { try await fetch(sql) }
}

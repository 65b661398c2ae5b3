import ArgumentParser
import Foundation
import GreenlightPostgres
import GreenlightSQLite
import GreenlightStore

/// `greenlight migrate`: moving up from one machine's SQLite file to a PostgreSQL that several replicas share.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy an SQLite store into a new PostgreSQL database, and check its audit chain there.",
        discussion: """
            Copies gates, votes, timers, break-glass grants, tokens, the outbox, delivery receipts and the audit log \
            (every event as stored, so that its hashes still hold), in one transaction: all of it or none. Then walks \
            the audit chain on the target and reports success only if it is intact and as long as the source's.

            Stop the servers using the source first: what they write after the copy begins is not copied. The target \
            must hold no gates, tokens, outbox items or audit events; its schema is made if it has none. The whole \
            source is read into memory.

            Example: greenlight migrate --from sqlite:///var/lib/greenlight/greenlight.db --to postgres://greenlight@db/greenlight
            """
    )

    @Option(help: ArgumentHelp("The SQLite store to copy: sqlite:///path or a file path.", valueName: "url")) var from: String
    @Option(
        help: ArgumentHelp("The new PostgreSQL database: postgres://user:password@host:port/database (PG* variables fill gaps).", valueName: "url"))
    var to: String

    func run() async throws {
        let source: String
        let target: PostgresLocation
        do {
            guard case .sqlite(let path) = try DatabaseLocation(parsing: from) else {
                throw ValidationError("--from must be an SQLite store (sqlite:///path); migrating from PostgreSQL is not supported")
            }
            guard case .postgres(let location) = try DatabaseLocation(parsing: to) else {
                throw ValidationError("--to must be a PostgreSQL database (postgres://…)")
            }
            (source, target) = (path, location)
        } catch let error as StoreError {
            throw ValidationError(error.description)
        }
        do {
            let sqlite = try SQLiteGateStore(path: source, create: false)
            let tables = try await sqlite.exportTables()
            let sourceAudit = try await sqlite.verifyAudit()
            guard case .intact(let events, let head) = sourceAudit else {
                throw Exit.fail("the source's audit chain is broken, so it is not copied: \(sourceAudit.description)", code: ExitCode(1))
            }
            let postgres = try await PostgresGateStore.open(target)
            let verified = try await postgres.whileRunning {
                try await postgres.importTables(tables)
                return try await postgres.verifyAudit()
            }
            guard case .intact(events, head) = verified else {
                throw Exit.fail(
                    "copied, but the audit chain on \(target) does not match the source's (\(events) events, head \(head)): \(verified.description)",
                    code: ExitCode(1))
            }
            let counts = ["gate", "vote", "token", "gate_timer", "outbox", "audit_event"].map { name in
                "\(tables[name]?.rows.count ?? 0) \(Self.noun[name] ?? name)"
            }
            print("copied \(counts.joined(separator: ", ")) from \(DatabaseLocation.sqlite(path: source)) to \(target)")
            print("on the target: \(verified.description)")
        } catch StoreError.databaseMissing(let path) {
            throw Exit.fail("there is no SQLite store at \(path); --from names the file `greenlight serve --database` used")
        } catch let error as StoreError {
            throw Exit.fail(error.description)
        }
    }

    private static let noun = [
        "gate": "gates", "vote": "votes", "token": "tokens", "gate_timer": "timers", "outbox": "outbox items", "audit_event": "audit events",
    ]
}

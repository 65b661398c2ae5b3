import Foundation
import GRDB
import GreenlightCore
import GreenlightStore
import Testing

@testable import GreenlightSQLite

/// A way to make a fresh, empty store of one kind: the conformance suite runs every store-level invariant test once per
/// factory in ``all``. A new store is done when its factory is listed here and the suite passes.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    private let body: @Sendable (_ channels: Set<NotificationChannel>) throws -> StoreUnderTest

    init(name: String, make body: @escaping @Sendable (_ channels: Set<NotificationChannel>) throws -> StoreUnderTest) {
        self.name = name
        self.body = body
    }

    /// A new store, and a ledger over it that enqueues work for `channels`.
    func make(notifying channels: Set<NotificationChannel> = []) throws -> StoreUnderTest { try body(channels) }

    var testDescription: String { name }

    /// Every store the suite runs on.
    static let all: [StoreFactory] = [.sqlite]

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
}

/// A store made by a ``StoreFactory``, the ledger over it, and what the tests need beside the store's own API: more
/// instances over the same database (replicas), and SQL straight to the database (to look at rows, or to tamper).
final class StoreUnderTest: Sendable {
    let store: any GateStore
    let ledger: GateLedger
    let channels: Set<NotificationChannel>
    /// Whatever keeps the database alive (a temporary directory) while the test runs.
    private let kept: any Sendable
    private let makeReplica: @Sendable () throws -> any GateStore
    private let run: @Sendable (String) throws -> Void
    private let fetch: @Sendable (String) throws -> [String]

    init(
        store: any GateStore, notifying channels: Set<NotificationChannel>, keeping kept: any Sendable,
        replica: @escaping @Sendable () throws -> any GateStore,
        execute: @escaping @Sendable (String) throws -> Void, strings: @escaping @Sendable (String) throws -> [String]
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
    func replica() throws -> (store: any GateStore, ledger: GateLedger) {
        let store = try makeReplica()
        return (store, GateLedger(store: store, notifying: channels))
    }

    /// Runs `sql` on the database, behind the store's back.
    func execute(_ sql: String) throws { try run(sql) }

    /// The first column of each row `sql` returns, as text.
    func strings(_ sql: String) throws -> [String] { try fetch(sql) }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Testing

@testable import GreenlightPostgres

@Suite("PostgreSQL locations")
struct PostgresLocationTests {
    @Test("a full URL is read part by part, percent-decoded, and printed with its password masked")
    func fullURL() throws {
        let location = try PostgresLocation(parsing: "postgres://green%40light:s%2Fcret@db.internal:6543/gates?sslmode=verify-full")
        #expect(
            location
                == PostgresLocation(host: "db.internal", port: 6543, user: "green@light", password: "s/cret", database: "gates", tls: .verifyFull))
        #expect(!location.description.contains("cret"))
        #expect(location.description == "postgres://green%40light:***@db.internal:6543/gates?sslmode=verify-full")
        #expect(
            try DatabaseLocation(parsing: " postgresql://u@h/d ", environment: [:])
                == .postgres(PostgresLocation(host: "h", user: "u", database: "d")))
    }

    @Test("what the URL leaves out comes from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and PGSSLMODE; the URL wins")
    func environment() throws {
        let environment = [
            "PGHOST": "pg.example", "PGPORT": "5433", "PGUSER": "ci", "PGPASSWORD": "pw", "PGDATABASE": "greenlight", "PGSSLMODE": "require",
        ]
        #expect(
            try PostgresLocation(parsing: "postgres://", environment: environment)
                == PostgresLocation(host: "pg.example", port: 5433, user: "ci", password: "pw", database: "greenlight", tls: .require))
        #expect(
            try PostgresLocation(parsing: "postgres://me@here:1/mine?sslmode=disable", environment: environment)
                == PostgresLocation(host: "here", port: 1, user: "me", password: "pw", database: "mine", tls: .disable))
        // libpq's defaults: localhost, 5432, the user's name as the database.
        #expect(try PostgresLocation(parsing: "postgres://me@") == PostgresLocation(host: "localhost", user: "me", database: "me"))
    }

    @Test(
        "a URL that cannot be used is refused with what is wrong, and never echoes its password",
        arguments: [
            ("postgres://u:hunter2@h:99999/d", "port"),
            ("postgres://u:hunter2@h/d?sslmode=sometimes", "sslmode 'sometimes'"),
            ("postgres://u:hunter2@h/d?application_name=x", "'application_name'"),
            ("postgres://:hunter2@h/d", "no user"),
            ("postgres://u:hunter2@h/a/b", "'/'"),
        ])
    func refused(_ url: String, _ expected: String) {
        #expect {
            try PostgresLocation(parsing: url)
        } throws: { error in
            let text = "\(error)"
            return text.contains(expected) && !text.contains("hunter2")
        }
    }
}

@Suite("The PostgreSQL store", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct PostgresStoreTests {
    @Test("replicas starting at once on a new database apply each migration once, under the advisory lock")
    func concurrentMigrations() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresGateStore.self) { group in
            for _ in 0..<6 { group.addTask { try await PostgresGateStore.open(location, logger: PostgresTestServer.logger) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 6)
        let applied = try await PostgresTestServer.strings("SELECT version::text FROM greenlight_schema ORDER BY version", on: location)
        #expect(applied == (1...PostgresSchema.migrations.count).map(String.init))
        for store in stores { try await store.checkReachable() }
    }

    @Test("a database whose schema is newer than this version is refused at open, naming both versions")
    func newerSchema() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        _ = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        let newer = PostgresSchema.migrations.count + 1
        try await PostgresTestServer.run("INSERT INTO greenlight_schema (version, name) VALUES (\(newer), 'from the future')", on: location)
        await #expect(throws: StoreError.schemaTooNew(location.description, version: newer, known: PostgresSchema.migrations.count)) {
            _ = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        }
    }

    @Test("a server that is not there is a clear error, without the password")
    func unreachable() async throws {
        // A port nothing listens on: bound and closed at once.
        let location = PostgresLocation(host: "127.0.0.1", port: 1, user: "nobody", password: "hunter2", database: "none", tls: .disable)
        await #expect {
            _ = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        } throws: { error in
            guard case StoreError.databaseUnreachable(let where_, _) = error else { return false }
            return where_.contains("127.0.0.1:1") && !"\(error)".contains("hunter2")
        }
    }
}

/// Several replicas on one database: a change committed on one reaches those waiting on another, by `NOTIFY`, or by
/// the re-check when notifications are lost.
@Suite(
    "Replicas on one PostgreSQL", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"),
    .timeLimit(.minutes(1)))
struct PostgresReplicaTests {
    /// Two stores on a fresh database, both running (relaying), and `body` given them; `a` re-checks every
    /// `recheck` seconds and `b` notifies unless `bAnnounces` is false.
    func withReplicas(
        recheck: TimeInterval = 3_600, bAnnounces: Bool = true,
        _ body: @Sendable (_ a: PostgresGateStore, _ b: PostgresGateStore) async throws -> Void
    ) async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let a = try await PostgresGateStore.open(location, recheckInterval: recheck, announcing: true, logger: PostgresTestServer.logger)
        let b = try await PostgresGateStore.open(location, recheckInterval: 3_600, announcing: bAnnounces, logger: PostgresTestServer.logger)
        try await a.whileRunning { try await b.whileRunning { try await body(a, b) } }
    }

    /// Opens a gate on `b`, subscribes to it on `a`, has alice and bob approve it on `b`, and returns the first
    /// decided state `a`'s subscriber sees.
    func decideOnB(seenBy a: PostgresGateStore, _ b: PostgresGateStore) async throws -> Gate? {
        let ledger = GateLedger(store: b, notifying: [])
        let gate = StoreFixtures.gate()
        _ = try await ledger.open(gate, idempotencyKey: nil)
        let subscription = a.changes.subscribe(to: gate.id)
        defer { subscription.cancel() }
        _ = try await ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        _ = try await ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: gate.id)
        for await seen in subscription where seen.state.isDecided { return seen }
        return nil
    }

    @Test("a decision committed on one replica reaches a waiter on another by NOTIFY, with the re-check an hour away")
    func notified() async throws {
        try await withReplicas { a, b in
            await a.relay.listened(times: 1)
            let seen = try await decideOnB(seenBy: a, b)
            #expect(seen?.state == .approved)
            #expect(seen?.votes.map(\.voter) == ["alice", "bob"])
            #expect(a.relay.snapshot.relayed >= 1)
        }
    }

    @Test("with every notification lost, the re-check of the audit log still delivers the decision")
    func lostNotifications() async throws {
        try await withReplicas(recheck: 0.2, bAnnounces: false) { a, b in
            let seen = try await decideOnB(seenBy: a, b)
            #expect(seen?.state == .approved)
        }
    }

    @Test("a LISTEN connection the server drops is made again, and notifications arrive on the new one")
    func reconnects() async throws {
        try await withReplicas { a, b in
            await a.relay.listened(times: 1)
            await b.relay.listened(times: 1)
            // A listener is a session whose last statement was its LISTEN: both replicas' are dropped.
            let terminated = try await PostgresTestServer.strings(
                """
                SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity
                WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()
                """, on: a.location)
            #expect(terminated == ["true", "true"])
            await a.relay.listened(times: 2)
            let seen = try await decideOnB(seenBy: a, b)
            #expect(seen?.state == .approved)
        }
    }

    @Test("a payload names its sender and gate ids; a replica skips its own and drops what is not a gate id")
    func payloads() {
        let id = GateID.generate()
        #expect(PostgresChangeRelay.gates(in: "r1 \(id.rawValue) nonsense", skipping: "r2") == [id])
        #expect(PostgresChangeRelay.gates(in: "r1 \(id.rawValue)", skipping: "r1") == [])
        #expect(PostgresChangeRelay.gates(in: "", skipping: "r1") == [])
    }
}

/// A database that goes away and comes back.
@Suite(
    "PostgreSQL going away", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"),
    .timeLimit(.minutes(1)))
struct PostgresAvailabilityTests {
    /// Refuses new connections to `location`'s database and drops those it has, or lets them in again.
    static func refuseConnections(_ refuse: Bool, to location: PostgresLocation) async throws {
        var server = location
        server.database = "postgres"
        _ = try await PostgresTestServer.strings("ALTER DATABASE \(location.database) ALLOW_CONNECTIONS \(!refuse)", on: server)
        if refuse {
            _ = try await PostgresTestServer.strings(
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '\(location.database)'", on: server)
        }
    }

    @Test("while the database refuses connections every call fails at once as unavailable; once it is back the store carries on by itself")
    func awayAndBack() async throws {
        let (location, store, ledger, gate) = try await OneGate.open()
        try await store.whileRunning {
            try await Self.refuseConnections(true, to: location)
            await #expect(throws: StoreError.self) { _ = try await store.gate(gate.id) }
            #expect(store.availability.away != nil)
            // Known to be away: the next calls do not wait for the pool.
            let started = ContinuousClock.now
            await #expect {
                try await store.checkReachable()
            } throws: { error in
                (error as? StoreError)?.isUnavailable == true
            }
            await #expect {
                _ = try await ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
            } throws: { error in
                (error as? StoreError)?.isUnavailable == true
            }
            #expect(ContinuousClock.now - started < .seconds(1), "answered at once, not after the pool's wait")

            try await Self.refuseConnections(false, to: location)
            await store.availability.back()
            try await store.checkReachable()
            _ = try await ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
            #expect(try await store.gate(gate.id)?.votes.map(\.voter) == ["alice"], "the vote refused while away was not recorded")
        }
    }
}

/// A PostgreSQL store on a fresh database, with one pending gate opened through its ledger.
enum OneGate {
    static func open() async throws -> (PostgresLocation, PostgresGateStore, GateLedger, Gate) {
        let location = try await PostgresTestServer.freshDatabase()
        let store = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        let ledger = GateLedger(store: store, notifying: [])
        let gate = StoreFixtures.gate()
        _ = try await ledger.open(gate, idempotencyKey: nil)
        return (location, store, ledger, gate)
    }
}

/// No store call waits on the database forever: a wedged connection or a stalled holder of the write lock would
/// otherwise hold every writer of every replica behind it.
@Suite("Bounded waits on PostgreSQL", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct PostgresBoundedWaitTests {
    @Test("a writer whose statement never answers is answered unavailable within its bound, and the writers behind it go on")
    func silentWriter() async throws {
        let (_, store, ledger, gate) = try await OneGate.open()
        try await store.whileRunning {
            // Holds the write lock and says nothing: the server's own bound, lowered here, ends the statement later.
            let started = ContinuousClock.now
            await #expect {
                try await store.transaction(answerWithin: .milliseconds(300)) { connection in
                    try await connection.query("SET LOCAL statement_timeout = '3s'", logger: PostgresTestServer.logger)
                    try await connection.query("SELECT pg_sleep(3600)", logger: PostgresTestServer.logger)
                }
            } throws: { error in
                (error as? StoreError)?.isUnavailable == true
            }
            #expect(ContinuousClock.now - started < .seconds(2), "answered on its bound, not when the statement ended")
            // The next writer waits only until the server has ended the silent one, and its vote is recorded.
            _ = try await ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
            #expect(try await store.gate(gate.id)?.votes.map(\.voter) == ["alice"])
        }
    }

    @Test("the pool's sessions end statements and quiet transactions on the server's side too")
    func sessionBounds() async throws {
        let store = try await PostgresGateStore.open(try await PostgresTestServer.freshDatabase(), logger: PostgresTestServer.logger)
        try await store.whileRunning {
            let settings = try await store.rows("SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')")
            let (statement, idle) = try #require(settings.first).decode((String, String).self)
            #expect(statement == PostgresSchema.statementTimeout)
            #expect(idle == PostgresSchema.idleInTransactionTimeout)
        }
    }
}

/// `greenlight migrate`'s two halves: every row out of SQLite, into PostgreSQL, unchanged.
@Suite("Moving a store to PostgreSQL", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct StoreMigrationTests {
    @Test("gates, votes, timers, outbox items, receipts, tokens and the audit chain read back the same on the target")
    func roundTrip() async throws {
        let source = try TemporaryStore(notifying: [.slack])
        var timed = StoreFixtures.gate(channel: "C0DEPLOYS")
        timed.plan.reminder = Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 600), mention: ["leads"])
        let decided = StoreFixtures.gate(channel: "C0DEPLOYS")
        for gate in [timed, decided] { _ = try await source.ledger.open(gate, idempotencyKey: nil) }
        _ = try await source.ledger.castVote(StoreFixtures.vote("alice"), on: timed.id)
        _ = try await source.ledger.castVote(StoreFixtures.vote("alice"), on: decided.id)
        _ = try await source.ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: decided.id)
        let posted = DeliveryReceipt(channel: .slack, value: #"{"channel":"C0DEPLOYS","ts":"1.2"}"#)
        let card = try #require(try await source.store.dueOutboxItems(at: StoreFixtures.start, limit: 1).first)
        try await source.store.completeOutboxItem(card, receipt: posted, audit: nil)
        let token = AccessToken(name: "ci", kind: .pipeline, createdAt: StoreFixtures.start)
        try await source.store.createToken(
            token, secretHash: String(repeating: "f", count: 64), audit: AuditDraft(TokenCreated(token), by: .greenlight, at: StoreFixtures.start))

        let later = StoreFixtures.start.addingTimeInterval(7_200)
        #expect(try await source.store.dueTimers(at: later, limit: 10).count == 1, "a timer to copy")
        #expect(try await !source.store.dueOutboxItems(at: later, limit: 10).isEmpty, "outbox items to copy")

        let location = try await PostgresTestServer.freshDatabase()
        let target = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        try await target.importTables(try await source.store.exportTables())

        for gate in [timed, decided] { #expect(try await target.gate(gate.id) == source.store.gate(gate.id)) }
        #expect(try await target.dueOutboxItems(at: later, limit: 10) == source.store.dueOutboxItems(at: later, limit: 10))
        #expect(try await target.deliveryReceipt(for: card.gateID!, on: .slack) == posted)
        #expect(try await target.dueTimers(at: later, limit: 10) == source.store.dueTimers(at: later, limit: 10))
        #expect(try await target.token(secretHash: String(repeating: "f", count: 64)) == token)
        #expect(try await target.auditEvents(AuditQuery()) == source.store.auditEvents(AuditQuery()))
        #expect(try await target.verifyAudit() == source.store.verifyAudit())
        // The target carries on: its next outbox item and audit event follow the copied ones.
        _ = try await GateLedger(store: target, notifying: [.slack]).castVote(StoreFixtures.vote("bob", offset: 30), on: timed.id)
        #expect(try await target.verifyAudit().isIntact)

        await #expect(throws: StoreError.targetNotEmpty(location.description)) {
            try await target.importTables(try await source.store.exportTables())
        }
    }
}

/// The outbox's fetch on PostgreSQL, planned by PostgreSQL on a grown table with its statistics: a worker's read of
/// the due items (what every claim starts from) must stay an index range per lane, never a walk of the table, however
/// many items wait or were settled before.
@Suite("Query plans of the PostgreSQL store", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct PostgresQueryPlanTests {
    @Test("with 50,000 items waiting, a worker's due read uses the lane index, not a scan of the outbox")
    func dueReadIsAnIndexRange() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let store = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        try await store.whileRunning {
            // Items of several lanes, most due long ago or far ahead: what a busy deployment's table holds.
            _ = try await PostgresTestServer.strings(
                """
                INSERT INTO outbox (kind, channel, coalesced, lane, due_at)
                SELECT k, 'slack', false, k, (i * 7919) % 100000000 FROM generate_series(1, 50000) AS i,
                       LATERAL (SELECT (ARRAY['slack.card', 'slack.remind', 'slack.escalate'])[1 + i % 3] AS k) AS kinds
                """, on: location, then: ["ANALYZE outbox"])
            let kinds: Set<OutboxKind> = [OutboxKind(.slack, .card), OutboxKind(.slack, .reminder), OutboxKind(.slack, .escalation)]
            var statement = Statement("EXPLAIN ")
            _ = PostgresOutbox.dueQuery(
                OutboxSelection(channel: .slack, kinds: kinds), at: Date(timeIntervalSince1970: 50_000), limit: 32, columns: "id",
                into: &statement)
            let plan = try await store.rows(statement.query).map { try $0.decode(String.self) }
            #expect(plan.contains { $0.contains("outbox_lane") }, "\(plan.joined(separator: "\n"))")
            #expect(!plan.contains { $0.contains("Seq Scan") }, "\(plan.joined(separator: "\n"))")
        }
    }
}

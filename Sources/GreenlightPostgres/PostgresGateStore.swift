import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// The shared store: PostgreSQL through PostgresNIO's `PostgresClient`, for several `greenlight serve` replicas on one
/// database.
///
/// Every write goes through `greenlight_apply` (``PostgresWriteFunction``), in batches (``PostgresWriteBatches``),
/// which first takes one transaction-level advisory lock (``PostgresSchema/writeLock``), so that writes from every
/// replica are applied one at a time, as SQLite's single writer applies them: a transition's conditions are checked
/// and its writes made with no other write in between, and the audit chain gets its next sequence and previous hash
/// from a head nobody else is changing — dense and gap-free, with no sequence that can skip a number when a unit rolls
/// back. The conditional gate update (`state = 'pending' AND version = …`) and the unique indexes still hold the
/// invariants by themselves; a unique violation is a ``StoreError/conflict(_:)``, which the ledger retries.
public final class PostgresGateStore: GateStore {
    /// How often a replica looks at the database for changes other replicas made, whatever their notifications: the
    /// most a lost notification delays a waiter (``PostgresChangeRelay``).
    public static let recheckInterval: TimeInterval = 1

    public let changes: GateChangeFeed
    let client: PostgresClient
    let relay: PostgresChangeRelay
    let availability: PostgresAvailability
    let writes = PostgresWriteBatches()
    /// Runs the client's pool from the moment the store opens, so that the store can be used at once, as SQLite's
    /// can (the server records its start before its services run); ``run()`` stops it.
    private let pool: Task<Void, Never>
    let location: PostgresLocation
    let logger: Logger

    /// Connects to `location`, applies the migrations its database lacks (under an advisory lock: replicas starting at
    /// once are safe) and returns the store, its connection pool running until ``run()`` ends.
    public static func open(
        _ location: PostgresLocation, logger: Logger = Logger(label: "greenlight.postgres")
    ) async throws
        -> PostgresGateStore
    {
        try await open(location, recheckInterval: recheckInterval, announcing: true, logger: logger)
    }

    /// ``open(_:logger:)`` with the relay's re-check interval, and without its notifications (tests that lose them all).
    static func open(
        _ location: PostgresLocation, recheckInterval: TimeInterval, announcing: Bool, logger: Logger
    ) async throws
        -> PostgresGateStore
    {
        let configuration = try Self.configuration(location)
        let connection = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: configuration.connectionTLS)
        // The pool starts first, so that it is running by the time the migrations are done and the store is used.
        let store = PostgresGateStore(
            location: location, configuration: configuration.client,
            relay: PostgresChangeRelay(connection: connection, recheckInterval: recheckInterval, announcing: announcing, logger: logger),
            logger: logger)
        let migrator: PostgresConnection
        do {
            migrator = try await PostgresConnection.connect(configuration: connection, id: 0, logger: logger)
        } catch {
            throw StoreError.databaseUnreachable(location.description, reason: Self.reason(error))
        }
        do {
            try await PostgresSchema.migrate(migrator, location: location.description, logger: logger)
        } catch {
            try? await migrator.close()
            throw Self.translated(error)
        }
        try? await migrator.close()
        return store
    }

    private init(location: PostgresLocation, configuration: PostgresClient.Configuration, relay: PostgresChangeRelay, logger: Logger) {
        self.location = location
        self.logger = logger
        self.relay = relay
        availability = PostgresAvailability(logger: logger)
        changes = GateChangeFeed(recheckInterval: relay.recheckInterval)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        pool = Task { await client.run() }
    }

    deinit {
        pool.cancel()
    }

    /// The client's configuration, and the same TLS for the one connection that migrates.
    private static func configuration(
        _ location: PostgresLocation
    ) throws -> (
        client: PostgresClient.Configuration, connectionTLS: PostgresConnection.Configuration.TLS
    ) {
        let clientTLS: PostgresClient.Configuration.TLS
        let connectionTLS: PostgresConnection.Configuration.TLS
        switch location.tls {
        case .disable:
            clientTLS = .disable
            connectionTLS = .disable
        case .allow, .prefer:
            clientTLS = .prefer(Self.tls(verifying: false))
            connectionTLS = .prefer(try NIOSSLContext(configuration: Self.tls(verifying: false)))
        case .require:
            clientTLS = .require(Self.tls(verifying: false))
            connectionTLS = .require(try NIOSSLContext(configuration: Self.tls(verifying: false)))
        case .verifyCA, .verifyFull:
            clientTLS = .require(Self.tls(verifying: true))
            connectionTLS = .require(try NIOSSLContext(configuration: Self.tls(verifying: true)))
        }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: clientTLS)
        configuration.options.maximumConnections = 20
        // A session that sits in a transaction without a word (its replica stalled or wedged) is ended by the server,
        // so that the write lock it holds cannot stop every replica's writes for longer than this.
        configuration.options.additionalStartupParameters = [
            ("idle_in_transaction_session_timeout", PostgresSchema.idleInTransactionTimeout),
            ("statement_timeout", PostgresSchema.statementTimeout),
        ]
        return (configuration, connectionTLS)
    }

    /// libpq's `require` encrypts without checking the certificate; `verify-full` checks it and the host name.
    private static func tls(verifying: Bool) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !verifying { tls.certificateVerification = .none }
        return tls
    }

    /// What an error from the driver says, for a person: the server's message where it sent one.
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(error)"
    }

    // MARK: Transactions

    /// Applies `unit` with this replica's next batch; returns whether it recorded a new delivery receipt. A unit that
    /// failed throws what it failed with, having written nothing.
    @discardableResult
    func perform(_ unit: PostgresWriteUnit) async throws -> Bool {
        if unit.operations.contains(where: \.holdsNUL) {
            // JSON can carry it, but no PostgreSQL text can: refused alone, before it could fail a whole batch.
            throw StoreError.databaseFailed("a value holds a NUL character, which PostgreSQL cannot store")
        }
        let outcome = try await writes.write(unit.json) { try await self.applyBatch($0) }
        switch outcome.state {
        case nil: return false
        case "recorded": return true
        case let state?: throw Self.translated(state: state, message: outcome.detail ?? "")
        }
    }

    /// One call of `greenlight_apply`: one statement, so one transaction and one flush for the lot.
    private func applyBatch(_ units: [[UInt8]]) async throws -> [PostgresWriteBatches.Outcome] {
        var json: [UInt8] = [UInt8(ascii: "[")]
        for (index, unit) in units.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            json.append(contentsOf: unit)
        }
        json.append(UInt8(ascii: "]"))
        let text = String(decoding: json, as: UTF8.self)
        let outcomes = try await withConnection { [logger] connection in
            try await connection.query("SELECT unit_state, unit_detail FROM greenlight_apply(\(text)::jsonb)", logger: logger).collect()
                .map { row in
                    let (state, detail) = try row.decode((String?, String?).self)
                    return PostgresWriteBatches.Outcome(state: state, detail: detail)
                }
        }
        guard outcomes.count == units.count else {
            throw StoreError.databaseFailed("greenlight_apply answered \(outcomes.count) outcomes for \(units.count) units")
        }
        return outcomes
    }

    /// Runs `body` in a transaction holding ``PostgresSchema/writeLock`` (a migration's import: the hot paths write
    /// through ``perform(_:)``); commits when it returns, rolls back when it throws. `answerWithin` bounds it as
    /// ``withConnection(probing:answerWithin:_:)`` does.
    @discardableResult
    func transaction<T: Sendable>(
        answerWithin: Duration? = PostgresAvailability.answerTimeout, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection(answerWithin: answerWithin) { [logger] connection in
            try await connection.inTransaction(unbounded: answerWithin == nil, logger: logger) {
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.writeLock))", logger: logger)
                return try await body(connection)
            }
        }
    }

    static func translated(_ error: any Error) -> any Error {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return error }
        return translated(state: state, message: error.serverInfo?[.message] ?? "")
    }

    /// The store's error for a statement that failed with `state` (its SQLSTATE) and `message`.
    static func translated(state: String, message: String) -> any Error {
        switch state {
        case PostgresWriteFunction.conflictState: return StoreError.conflict(message)
        case PostgresWriteFunction.tokenNameTakenState: return StoreError.tokenNameTaken(message)
        case "23505": return StoreError.conflict("a row with the same key was written meanwhile")
        case "40001", "40P01": return StoreError.conflict("another transaction wrote the same rows")
        case "57014":
            // statement_timeout: the database is there, but too slow or held up (the write lock held by a stalled
            // replica) to answer a request; worth retrying shortly, like a database that is away.
            return StoreError.databaseUnavailable("the database did not finish a statement within \(PostgresSchema.statementTimeout)")
        default: return StoreError.databaseFailed("\(state) \(message)")
        }
    }

    /// The rows of a read outside any transaction.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await rows(query, answerWithin: PostgresAvailability.answerTimeout)
    }

    /// ``rows(_:)``, with `answerWithin` as ``withConnection(probing:answerWithin:_:)`` takes it.
    func rows(_ query: PostgresQuery, answerWithin: Duration?) async throws -> [PostgresRow] {
        try await withConnection(answerWithin: answerWithin) { [logger] connection in
            guard answerWithin == nil else { return try await connection.query(query, logger: logger).collect() }
            // Unbounded on the server too, for this statement only.
            return try await connection.inTransaction("BEGIN READ ONLY", unbounded: true, logger: logger) {
                try await connection.query(query, logger: logger).collect()
            }
        }
    }

    // MARK: Gates

    public func gate(_ id: GateID) async throws -> Gate? {
        try await PostgresRows.fetchGate(id, rows: rows)
    }

    public func gate(openedBy pipeline: String, idempotencyKey: String) async throws -> KeyedGate? {
        let found = try await rows("SELECT id, request_fingerprint FROM gate WHERE opened_by = \(pipeline) AND idempotency_key = \(idempotencyKey)")
        guard let row = found.first else { return nil }
        let (id, fingerprint) = try row.decode((String, String).self)
        guard let gate = try await gate(GateID(unchecked: id)) else { return nil }
        return KeyedGate(gate: gate, fingerprint: fingerprint)
    }

    public func breakGlassUses(environment: String, since date: Date) async throws -> Int {
        try await Self.breakGlassUses(environment: environment, since: date, rows: rows)
    }

    static func breakGlassUses(environment: String, since date: Date, rows: (PostgresQuery) async throws -> [PostgresRow]) async throws -> Int {
        let since = Timestamp.milliseconds(date)
        let found = try await rows(
            """
            SELECT (SELECT COUNT(*) FROM gate WHERE break_glass AND environment = \(environment) AND decided_at > \(since))
                 + (SELECT COUNT(*) FROM break_glass_grant WHERE environment = \(environment) AND granted_at > \(since) AND used_by IS NULL)
            """)
        return try found.first?.decode(Int.self) ?? 0
    }

    public func openGrant(forDeploy deployKey: String, at date: Date) async throws -> BreakGlassGrant? {
        try await rows(
            """
            SELECT gate_id, environment, deploy_key, person, reason, granted_at, expires_at FROM break_glass_grant
            WHERE deploy_key = \(deployKey) AND used_by IS NULL AND expires_at > \(Timestamp.milliseconds(date)) ORDER BY granted_at LIMIT 1
            """
        ).first.map(PostgresRows.grant)
    }

    public func hasGrant(on id: GateID) async throws -> Bool {
        try await !rows("SELECT 1 FROM break_glass_grant WHERE gate_id = \(id.rawValue)").isEmpty
    }

    public func apply(_ transition: GateTransition) async throws {
        guard !transition.isEmpty else { return }
        try await perform(try PostgresTransition.unit(transition))
        for case .insertGate(let gate, _, _) in transition.writes { StoredGateRow.remember(gate) }
        for gate in transition.changedGates { changes.publish(gate) }
        relay.announce(transition.changedGates.map(\.id))
        // A message follows no gate change, so no published gate would wake the outbox workers.
        if PostgresTransition.enqueuesMessage(transition) { changes.ringOutbox() }
    }

    // MARK: Deadlines and timers

    public func expiredGates(at date: Date, limit: Int) async throws -> [GateID] {
        try await rows(
            "SELECT id FROM gate WHERE state = 'pending' AND deadline <= \(Timestamp.milliseconds(date)) ORDER BY deadline LIMIT \(limit)"
        ).map { GateID(unchecked: try $0.decode(String.self)) }
    }

    public func nextDeadline() async throws -> Date? {
        try await rows("SELECT MIN(deadline) FROM gate WHERE state = 'pending'").first?.decode(Int64?.self).map(Timestamp.date(milliseconds:))
    }

    public func dueTimers(at date: Date, limit: Int) async throws -> [DueTimer] {
        try await rows(
            """
            SELECT t.gate_id, t.kind, t.due_at FROM gate_timer t JOIN gate g ON g.id = t.gate_id
            WHERE t.fired_at IS NULL AND t.due_at <= \(Timestamp.milliseconds(date)) AND g.state = 'pending' ORDER BY t.due_at LIMIT \(limit)
            """
        ).map { row in
            let (gate, kind, due) = try row.decode((String, String, Int64).self)
            guard let known = GateTimer.Kind(rawValue: kind) else {
                throw StoreError.corruptRow("a timer of gate \(gate) has kind '\(kind)'")
            }
            return DueTimer(gate: GateID(unchecked: gate), timer: GateTimer(kind: known, due: Timestamp.date(milliseconds: due)))
        }
    }

    public func nextTimerDue() async throws -> Date? {
        // The first in `gate_timer_due` order whose gate is pending: an index walk that stops at it. `MIN` over the
        // join reads every unfired timer (a second a call with a hundred thousand of them).
        let first = try await rows(
            """
            SELECT t.due_at FROM gate_timer t JOIN gate g ON g.id = t.gate_id WHERE t.fired_at IS NULL AND g.state = 'pending'
            ORDER BY t.due_at LIMIT 1
            """
        ).first
        return try first.map { Timestamp.date(milliseconds: try $0.decode(Int64.self)) }
    }

    // MARK: Tokens

    public func createToken(_ token: AccessToken, secretHash: String, audit: AuditDraft) async throws {
        let services = try StoredFormat.json(token.services)
        let environments = try StoredFormat.json(token.environments)
        var unit = PostgresWriteUnit()
        unit.append(
            "insert_token",
            [
                ("secret_hash", .string(secretHash)), ("name", .string(token.name)), ("kind", .string(token.kind.rawValue)),
                ("user", .text(token.user)), ("services", .string(services)), ("environments", .string(environments)),
                ("created_at", .instant(token.createdAt)),
            ])
        unit.audit(audit)
        try await perform(unit)
    }

    public func token(secretHash: String) async throws -> AccessToken? {
        try await rows(
            """
            SELECT name, kind, "user", services, environments, created_at FROM token WHERE secret_hash = \(secretHash)
            """
        ).first.map(PostgresRows.token)
    }

    public func gateIDs(after: GateID?, limit: Int) async throws -> [GateID] {
        let after = after?.description ?? ""
        return try await rows("SELECT id FROM gate WHERE id > \(after) ORDER BY id LIMIT \(limit)").map { row in
            GateID(unchecked: try row.decode(String.self))
        }
    }

    public func allTokens() async throws -> [(token: AccessToken, secretHash: String)] {
        try await rows(#"SELECT name, kind, "user", services, environments, created_at, secret_hash FROM token ORDER BY name"#).map { row in
            let (name, kind, user, services, environments, createdAt, secretHash) = try row.decode(
                (String, String, String?, String, String, Int64, String).self)
            let token = try PostgresRows.token(
                name: name, kind: kind, user: user, services: services, environments: environments, createdAt: createdAt)
            return (token, secretHash)
        }
    }

    // MARK: Audit

    public func record(_ draft: AuditDraft) async throws {
        var unit = PostgresWriteUnit()
        unit.audit(draft)
        try await perform(unit)
    }

    public func auditEvents(_ query: AuditQuery) async throws -> [AuditEvent] {
        // Unbounded: an export of the whole log, by the command-line tool, may take longer than a request's bound; it
        // only reads, and holds up no writer.
        try await PostgresAuditLog.events(query) { try await self.rows($0, answerWithin: nil) }
    }

    public func verifyAudit() async throws -> AuditVerification {
        // One snapshot for the walk and the head, so that events appended meanwhile are neither half seen nor counted
        // against a head read later.
        try await withConnection(answerWithin: nil) { [logger] connection in
            try await connection.inTransaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", unbounded: true, logger: logger) {
                try await PostgresAuditLog.verify(on: connection, logger: logger)
            }
        }
    }

    /// Fails at once while the database is known to be away (``PostgresAvailability``), else asks it.
    public func checkReachable() async throws {
        _ = try await rows("SELECT COUNT(*) FROM audit_head")
    }

    // MARK: Lifecycle

    /// Relays changes between replicas until the server shuts down gracefully (the service group stops the store
    /// last, after everything that writes to it), then closes the connections.
    public func run() async throws {
        let relaying = Task { await relay.run(store: self) }
        let probing = Task { await probeAvailability() }
        try? await gracefulShutdown()
        relaying.cancel()
        probing.cancel()
        await relaying.value
        await probing.value
        pool.cancel()
        await pool.value
    }
}

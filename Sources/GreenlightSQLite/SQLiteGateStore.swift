import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import ServiceLifecycle

/// The embedded store: one SQLite file in WAL mode, through GRDB.
///
/// All writes go through GRDB's single writer, each in one transaction. The gate update is still conditional on
/// `state = 'pending'` and the version read, and votes are unique per (gate, voter) in the schema, so that the
/// invariants hold even when another process (a second `greenlight` on the same file) writes too.
public final class SQLiteGateStore: GateStore {
    public let changes = GateChangeFeed()
    let pool: DatabasePool
    /// Gate changes, outbox updates and audit records go through here, so that those arriving together share a commit.
    let writer: GroupCommit
    /// Keeps the write-ahead log short and bounded, beside the writers (the pool observes it while the store holds it).
    let checkpointer: WALCheckpointer
    /// Point reads on the calling thread.
    let confined: ConfinedReaders

    /// Opens the database at `path` and brings its schema up to date.
    ///
    /// - Parameter create: whether to create the database when there is none. Commands that only read evidence pass
    ///   `false`, so that a mistyped path is an error rather than an empty log that verifies.
    public convenience init(path: String, create: Bool = true) throws {
        try self.init(path: path, create: create, walSizeLimit: WALCheckpointer.defaultSizeLimit)
    }

    /// - Parameters:
    ///   - walSizeLimit: the write-ahead log's size past which it is restarted (``WALCheckpointer``); tests make it
    ///     small.
    ///   - tracing: told the SQL of every statement any connection runs (a test of the statements' query plans).
    init(path: String, create: Bool, walSizeLimit: Int, tracing: (@Sendable (String) -> Void)? = nil) throws {
        if !create, !FileManager.default.fileExists(atPath: path) { throw StoreError.databaseMissing(path) }
        var configuration = Configuration()
        configuration.label = "greenlight"
        // Another process (a CLI issuing a token while the server runs) may hold the write lock briefly.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // For every connection; on the writer GRDB then sets NORMAL when it sets up WAL mode: see below.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Checkpoints run beside the writers (WALCheckpointer), not inside a commit.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            // Savepoints (one per write in a group commit) keep their statement journals in memory, not temporary files.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            if let tracing { db.trace(options: .statement) { event in if case .statement(let statement) = event { tracing(statement.sql) } } }
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Owner-only before SQLite opens it: the log and the shared-memory file SQLite creates take the database's mode.
        try DatabaseFiles.restrictToOwner(path, create: create)
        pool = try DatabasePool(path: path, configuration: configuration)
        confined = ConfinedReaders(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { db in
            // FULL, on the connection that commits: a vote acknowledged with a 200 (or a decision returned to a
            // pipeline) survives a power cut, not just a crash — each commit fsyncs the log, and the group commit
            // makes one fsync serve every write in its batch. GRDB's DatabasePool runs `PRAGMA synchronous = NORMAL`
            // on the writer after prepareDatabase, when it sets up WAL mode; NORMAL syncs the log only at checkpoints.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            let synchronous = try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
            guard synchronous == 2 else { throw StoreError.notDurable(path: path, synchronous: synchronous) }
            // When the log is written from its beginning again, its file is cut back to this size (WALCheckpointer).
            try db.execute(sql: "PRAGMA journal_size_limit = \(walSizeLimit)")
        }
        try SQLiteSchema.migrator.migrate(pool)
        let checkpointer = try WALCheckpointer(pool: pool, sizeLimit: walSizeLimit)
        pool.add(transactionObserver: checkpointer, extent: .observerLifetime)
        self.checkpointer = checkpointer
        writer = GroupCommit(pool: pool)
    }

    deinit {
        // Before the pool's connections close: the last connection to close checkpoints the log and removes it, which
        // the read-only ones cannot.
        confined.close()
    }

    // MARK: Gates

    /// A read of a few rows by key (or of a range a rule bounds, as break-glass uses are): on the calling thread's own
    /// connection where it has one (``ConfinedReaders``: no thread hop, and no wait for a connection), else on the
    /// pool's. Reads that may step through many rows (due work, the audit log) always go to the pool: they would hold
    /// up the event loop that asked.
    func readByKey<T: Sendable>(oneStatement: Bool = false, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        if let value = try confined.read(oneStatement: oneStatement, body) { return value }
        return try await pool.read(body)
    }

    public func gate(_ id: GateID) async throws -> Gate? {
        try await readByKey(oneStatement: true) { db in try SQLiteRows.fetchGate(db, id) }
    }

    public func gate(openedBy pipeline: String, idempotencyKey: String) async throws -> KeyedGate? {
        try await readByKey { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT id, request_fingerprint FROM gate WHERE opened_by = ? AND idempotency_key = ?",
                    arguments: [pipeline, idempotencyKey])
            else { return nil }
            let id = GateID(unchecked: row["id"])
            guard let gate = try SQLiteRows.fetchGate(db, id) else { return nil }
            return KeyedGate(gate: gate, fingerprint: row["request_fingerprint"])
        }
    }

    public func breakGlassUses(environment: String, since date: Date) async throws -> Int {
        try await readByKey { db in try Self.breakGlassUses(environment: environment, since: date, db: db) }
    }

    public func openGrant(forDeploy deployKey: String, at date: Date) async throws -> BreakGlassGrant? {
        try await readByKey(oneStatement: true) { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT * FROM break_glass_grant
                    WHERE deploy_key = ? AND used_by IS NULL AND expires_at > ? ORDER BY granted_at LIMIT 1
                    """,
                arguments: [deployKey, SQLiteRows.millis(date)]
            ).map(SQLiteRows.grant)
        }
    }

    public func hasGrant(on id: GateID) async throws -> Bool {
        try await readByKey(oneStatement: true) { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM break_glass_grant WHERE gate_id = ?"), arguments: [id.rawValue]) == true
        }
    }

    public func apply(_ transition: GateTransition) async throws {
        guard !transition.isEmpty else { return }
        try await writer.write { [changes] db in try SQLiteTransition.apply(transition, db: db, ringing: changes) }
        for gate in transition.changedGates { changes.publish(gate) }
    }

    /// Break-glass uses in `environment` after `date` (``GateRecords/breakGlassUses(environment:since:)``).
    static func breakGlassUses(environment: String, since date: Date, db: Database) throws -> Int {
        let decided =
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM gate WHERE break_glass = 1 AND environment = ? AND decided_at > ?",
                arguments: [environment, SQLiteRows.millis(date)]) ?? 0
        let granted =
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM break_glass_grant WHERE environment = ? AND granted_at > ? AND used_by IS NULL",
                arguments: [environment, SQLiteRows.millis(date)]) ?? 0
        return decided + granted
    }

    // MARK: Deadlines and timers

    public func expiredGates(at date: Date, limit: Int) async throws -> [GateID] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT id FROM gate WHERE state = 'pending' AND deadline <= ? ORDER BY deadline LIMIT ?",
                arguments: [SQLiteRows.millis(date), limit]
            ).map(GateID.init(unchecked:))
        }
    }

    public func nextDeadline() async throws -> Date? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(deadline) FROM gate WHERE state = 'pending'").map(SQLiteRows.date)
        }
    }

    public func dueTimers(at date: Date, limit: Int) async throws -> [DueTimer] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT t.gate_id, t.kind, t.due_at FROM gate_timer t JOIN gate g ON g.id = t.gate_id
                    WHERE t.fired_at IS NULL AND t.due_at <= ? AND g.state = 'pending' ORDER BY t.due_at LIMIT ?
                    """,
                arguments: [SQLiteRows.millis(date), limit]
            ).map { row in
                guard let kind = GateTimer.Kind(rawValue: row["kind"]) else {
                    throw StoreError.corruptRow("a timer of gate \(row["gate_id"] as String) has kind '\(row["kind"] as String)'")
                }
                return DueTimer(gate: GateID(unchecked: row["gate_id"]), timer: GateTimer(kind: kind, due: SQLiteRows.date(row["due_at"])))
            }
        }
    }

    public func nextTimerDue() async throws -> Date? {
        try await pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(t.due_at) FROM gate_timer t JOIN gate g ON g.id = t.gate_id
                    WHERE t.fired_at IS NULL AND g.state = 'pending'
                    """
            ).map(SQLiteRows.date)
        }
    }

    // MARK: Tokens

    public func createToken(_ token: AccessToken, secretHash: String, audit: AuditDraft) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM token WHERE name = ?", arguments: [token.name]) == true {
                throw StoreError.tokenNameTaken(token.name)
            }
            try db.execute(
                sql: "INSERT INTO token (secret_hash, name, kind, user, services, environments, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    secretHash, token.name, token.kind.rawValue, token.user, try StoredFormat.json(token.services),
                    try StoredFormat.json(token.environments), SQLiteRows.millis(token.createdAt),
                ]
            )
            try SQLiteAuditLog.append(audit, db: db)
        }
    }

    public func token(secretHash: String) async throws -> AccessToken? {
        try await readByKey(oneStatement: true) { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM token WHERE secret_hash = ?"), arguments: [secretHash]).map(SQLiteRows.token)
        }
    }

    public func gateIDs(after: GateID?, limit: Int) async throws -> [GateID] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM gate WHERE id > ? ORDER BY id LIMIT ?", arguments: [after?.description ?? "", limit])
                .map { GateID(unchecked: $0) }
        }
    }

    public func allTokens() async throws -> [(token: AccessToken, secretHash: String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM token ORDER BY name").map { row in
                (try SQLiteRows.token(from: row), row["secret_hash"] as String)
            }
        }
    }

    // MARK: Audit

    public func record(_ draft: AuditDraft) async throws {
        try await writer.write { db in try SQLiteAuditLog.append(draft, db: db) }
    }

    public func auditEvents(_ query: AuditQuery) async throws -> [AuditEvent] {
        try await pool.read { db in try SQLiteAuditLog.events(query, db: db) }
    }

    public func verifyAudit() async throws -> AuditVerification {
        try await pool.read { db in try SQLiteAuditLog.verify(db: db) }
    }

    public func checkReachable() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_head") }
    }

    // MARK: Lifecycle

    /// Nothing runs beside an embedded database: the store waits for the server to shut down. Its connections close
    /// when the store goes, after the last write that holds it.
    public func run() async throws {
        try? await gracefulShutdown()
    }
}

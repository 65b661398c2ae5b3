import GreenlightAudit
import GreenlightStore
import Logging
import PostgresNIO

/// The PostgreSQL schema, as numbered migrations applied in order under an advisory lock, so that several replicas
/// starting at once apply each one once. Never edit a migration that has shipped: add a new one.
///
/// The tables are SQLite's (``GreenlightSQLite``'s schema at its v8) with PostgreSQL's types: instants are `bigint`
/// milliseconds since 1970 as there, flags are `boolean`, and order is kept by identity columns (a vote's `seq`, an
/// outbox item's `id`) where SQLite had its rowid.
enum PostgresSchema {
    /// A session-level advisory lock key: `greenlight` migrations, whatever else uses advisory locks on the database.
    static let migrationLock: Int64 = 0x6772_6565_6E6C_6967  // "greenlig"

    /// Held for the length of every writing transaction (`pg_advisory_xact_lock`): see ``PostgresGateStore``.
    static let writeLock: Int64 = 0x6772_6565_6E77_7269  // "greenwri"
    /// `idle_in_transaction_session_timeout` for the pool's sessions: how long a holder of ``writeLock`` that has gone
    /// quiet mid-transaction (its process stopped, its connection wedged) can hold up the other writers.
    static let idleInTransactionTimeout = "15s"
    /// `statement_timeout` for the pool's sessions: the server ends a statement of a request (a wait for ``writeLock``
    /// among them) that runs longer, even when its client has gone (a backend notices a closed connection only when
    /// it next reads or writes it). Shorter than ``PostgresAvailability/answerTimeout``, so that the server's own
    /// rollback normally comes first. The command-line tools' long jobs lift it for their transaction.
    static let statementTimeout = "25s"

    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1: gates, votes, timers, break-glass grants, tokens, outbox, receipts, audit chain",
            [
                """
                CREATE TABLE gate (
                    id text PRIMARY KEY,
                    state text NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'timed_out', 'cancelled')),
                    outcome text,
                    service text NOT NULL,
                    environment text NOT NULL,
                    opened_by text NOT NULL,
                    created_at bigint NOT NULL,
                    deadline bigint,
                    decided_at bigint,
                    decided_by text,
                    reason text,
                    fail_open boolean NOT NULL DEFAULT false,
                    break_glass boolean NOT NULL DEFAULT false,
                    version integer NOT NULL,
                    request text NOT NULL,
                    plan text NOT NULL,
                    idempotency_key text,
                    request_fingerprint text NOT NULL,
                    record_format integer NOT NULL
                )
                """,
                "CREATE UNIQUE INDEX gate_idempotency ON gate (opened_by, idempotency_key) WHERE idempotency_key IS NOT NULL",
                "CREATE INDEX gate_pending_deadline ON gate (deadline) WHERE state = 'pending'",
                "CREATE INDEX gate_break_glass ON gate (environment, decided_at) WHERE break_glass",
                """
                CREATE TABLE vote (
                    gate_id text NOT NULL REFERENCES gate (id),
                    voter text NOT NULL,
                    decision text NOT NULL CHECK (decision IN ('approve', 'reject')),
                    comment text,
                    at bigint NOT NULL,
                    via text NOT NULL,
                    seq bigint GENERATED ALWAYS AS IDENTITY,
                    PRIMARY KEY (gate_id, voter)
                )
                """,
                """
                CREATE TABLE gate_timer (
                    gate_id text NOT NULL REFERENCES gate (id),
                    kind text NOT NULL CHECK (kind IN ('remind', 'escalate')),
                    due_at bigint NOT NULL,
                    fired_at bigint,
                    PRIMARY KEY (gate_id, kind)
                )
                """,
                "CREATE INDEX gate_timer_due ON gate_timer (due_at) WHERE fired_at IS NULL",
                """
                CREATE TABLE break_glass_grant (
                    gate_id text PRIMARY KEY REFERENCES gate (id),
                    environment text NOT NULL,
                    deploy_key text NOT NULL,
                    person text NOT NULL,
                    reason text NOT NULL,
                    granted_at bigint NOT NULL,
                    expires_at bigint NOT NULL,
                    used_by text REFERENCES gate (id)
                )
                """,
                "CREATE INDEX break_glass_grant_open ON break_glass_grant (deploy_key, expires_at) WHERE used_by IS NULL",
                "CREATE INDEX break_glass_grant_environment ON break_glass_grant (environment, granted_at) WHERE used_by IS NULL",
                """
                CREATE TABLE token (
                    secret_hash text PRIMARY KEY,
                    name text NOT NULL UNIQUE,
                    kind text NOT NULL CHECK (kind IN ('pipeline', 'approver', 'auditor')),
                    "user" text,
                    services text NOT NULL,
                    environments text NOT NULL,
                    created_at bigint NOT NULL
                )
                """,
                """
                CREATE TABLE outbox (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    gate_id text REFERENCES gate (id),
                    kind text NOT NULL,
                    channel text NOT NULL,
                    coalesced boolean NOT NULL,
                    lane text NOT NULL,
                    due_at bigint NOT NULL,
                    attempts integer NOT NULL DEFAULT 0,
                    generation integer NOT NULL DEFAULT 1,
                    last_error text,
                    payload text,
                    -- The fencing token of the latest claim, and whether a lease holds the item (due_at is then its end).
                    claim bigint NOT NULL DEFAULT 0,
                    leased boolean NOT NULL DEFAULT false
                )
                """,
                "CREATE UNIQUE INDEX outbox_coalesced ON outbox (gate_id, kind) WHERE coalesced",
                "CREATE INDEX outbox_due ON outbox (channel, due_at)",
                "CREATE INDEX outbox_lane ON outbox (lane, due_at, id)",
                """
                CREATE TABLE delivery_receipt (
                    gate_id text NOT NULL REFERENCES gate (id),
                    channel text NOT NULL,
                    receipt text NOT NULL,
                    PRIMARY KEY (gate_id, channel)
                )
                """,
                """
                CREATE TABLE audit_event (
                    sequence bigint PRIMARY KEY,
                    at bigint NOT NULL,
                    actor text NOT NULL,
                    action text NOT NULL,
                    gate_id text,
                    service text,
                    environment text,
                    artifact text,
                    details text NOT NULL,
                    previous_hash text NOT NULL,
                    hash text NOT NULL
                )
                """,
                "CREATE INDEX audit_event_gate ON audit_event (gate_id)",
                "CREATE INDEX audit_event_at ON audit_event (at)",
                // The chain's head, apart from the events, so that cutting events off the end is detected.
                "CREATE TABLE audit_head (id integer PRIMARY KEY CHECK (id = 1), sequence bigint NOT NULL, hash text NOT NULL)",
                // From which event hashes cover the stored millisecond (docs/audit.md): every event of a database made
                // here; `greenlight migrate` carries an older SQLite log's own value over.
                "CREATE TABLE audit_time_format (id integer PRIMARY KEY CHECK (id = 1), stored_millisecond_from bigint NOT NULL)",
                "INSERT INTO audit_time_format (id, stored_millisecond_from) VALUES (1, 1)",
            ]
        ),
        ("v2: greenlight_apply, every write as one statement under the write lock", PostgresWriteFunction.migration),
    ]

    /// Applies the migrations `connection`'s database lacks, holding ``migrationLock`` meanwhile; each one in its own
    /// transaction with its row in `greenlight_schema`.
    static func migrate(_ connection: PostgresConnection, location: String, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
        do {
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS greenlight_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied = 0
            for try await version in try await connection.query("SELECT COALESCE(MAX(version), 0) FROM greenlight_schema", logger: logger)
                .decode(Int.self)
            {
                applied = version
            }
            guard applied <= migrations.count else {
                throw StoreError.schemaTooNew(location, version: applied, known: migrations.count)
            }
            for (index, migration) in migrations.enumerated().dropFirst(applied) {
                try await connection.inTransaction(logger: logger) {
                    for statement in migration.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                    try await connection.query(
                        "INSERT INTO greenlight_schema (version, name) VALUES (\(index + 1), \(migration.name))", logger: logger)
                }
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
    }
}

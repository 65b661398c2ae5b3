/// Every row of a store, table by table, as `greenlight migrate` carries them from one database to another.
///
/// The tables and their columns are the ones every store keeps (the PostgreSQL schema is SQLite's, column for
/// column), so a value travels as what it is stored as, not as a domain type: an audit event's hash covers its
/// stored bytes, and a gate's JSON must arrive exactly as written. Flags are integers 0 and 1, as SQLite keeps them.
public struct StoreTables: Sendable, Equatable {
    public var tables: [Table]

    public init(tables: [Table]) {
        self.tables = tables
    }

    /// The tables copied, parents before children, each with the columns copied in order. Only these are copied: a
    /// store's bookkeeping (its migrations, its claims) starts afresh on the target.
    public static let layout: [(name: String, columns: [String])] = [
        (
            "gate",
            [
                "id", "state", "outcome", "service", "environment", "opened_by", "created_at", "deadline", "decided_at", "decided_by",
                "reason", "fail_open", "break_glass", "version", "request", "plan", "idempotency_key", "request_fingerprint",
                "record_format",
            ]
        ),
        // In the order they were cast: the order a gate's votes are read back in.
        ("vote", ["gate_id", "voter", "decision", "comment", "at", "via"]),
        ("gate_timer", ["gate_id", "kind", "due_at", "fired_at"]),
        ("break_glass_grant", ["gate_id", "environment", "deploy_key", "person", "reason", "granted_at", "expires_at", "used_by"]),
        ("token", ["secret_hash", "name", "kind", "user", "services", "environments", "created_at"]),
        (
            "outbox",
            ["id", "gate_id", "kind", "channel", "coalesced", "lane", "due_at", "attempts", "generation", "last_error", "payload"]
        ),
        ("delivery_receipt", ["gate_id", "channel", "receipt"]),
        (
            "audit_event",
            ["sequence", "at", "actor", "action", "gate_id", "service", "environment", "artifact", "details", "previous_hash", "hash"]
        ),
        ("audit_head", ["id", "sequence", "hash"]),
        ("audit_time_format", ["id", "stored_millisecond_from"]),
    ]

    /// One table's rows, each a value per column of ``layout``.
    public struct Table: Sendable, Equatable {
        public var name: String
        public var columns: [String]
        public var rows: [[Value]]

        public init(name: String, columns: [String], rows: [[Value]]) {
            self.name = name
            self.columns = columns
            self.rows = rows
        }
    }

    /// A stored value.
    public enum Value: Sendable, Equatable {
        case null
        case integer(Int64)
        case text(String)
    }

    /// The rows of the table `name`.
    public subscript(name: String) -> Table? {
        tables.first { $0.name == name }
    }
}

import GreenlightCore

/// What the store refuses to do, each with a message a person can act on.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Whether the same request may succeed if made again at once.
    public var isRetryable: Bool {
        if case .conflict = self { return true }
        return false
    }

    /// Whether the database is away: the server answers 503 with `Retry-After` until it is back.
    public var isUnavailable: Bool {
        if case .databaseUnavailable = self { return true }
        return false
    }

    case gateNotFound(GateID)
    /// The idempotency key was used before for a different request; the first gate is named.
    case idempotencyKeyReused(GateID)
    case tokenNameTaken(String)
    case invalidDatabaseURL(String)
    /// A `postgres://` URL that cannot be used (its password masked), and why.
    case invalidPostgresURL(String, String)
    /// The PostgreSQL server could not be reached or refused the connection.
    case databaseUnreachable(String, reason: String)
    /// The database server is away (refused or dropped the connection, shutting down, or no connection to be had in
    /// time). The call wrote nothing, unless the connection was lost while it committed: a retry of the same request
    /// finds what it did (a vote counts once, an Idempotency-Key opens one gate).
    case databaseUnavailable(String)
    /// The database server refused a statement, with its SQLSTATE and message.
    case databaseFailed(String)
    /// The database's schema is newer than this version knows.
    case schemaTooNew(String, version: Int, known: Int)
    /// `greenlight migrate` was pointed at a database that holds gates, tokens, outbox items or audit events.
    case targetNotEmpty(String)
    /// There is no database at the path, and the command does not create one.
    case databaseMissing(String)
    /// A row does not hold what the schema promises: the database was edited by hand, or written by another version.
    case corruptRow(String)
    /// What a change was computed from changed before it was applied (another writer, another replica): nothing was
    /// written, and computing the change again from what is there now will do. ``GateLedger`` retries it by itself.
    case conflict(String)
    /// SQLite did not take `PRAGMA synchronous = FULL` on the connection that commits (it reports `synchronous`), so an
    /// acknowledged write could be lost in a power cut.
    case notDurable(path: String, synchronous: Int)
    /// The database file could not be created.
    case databaseFileUnavailable(path: String, reason: String)
    /// A database file other accounts may read or write (`mode`), which this account cannot tighten.
    case databaseExposed(path: String, mode: Int)

    public var description: String {
        switch self {
        case .gateNotFound(let id):
            "no gate \(id)"
        case .idempotencyKeyReused(let id):
            "this Idempotency-Key already opened gate \(id) for a different request; use a new key for a new request"
        case .tokenNameTaken(let name):
            "a token named '\(name)' already exists; choose another --name"
        case .invalidPostgresURL(let url, let why):
            "'\(url)' cannot be used: \(why)"
        case .databaseUnreachable(let location, let reason):
            "cannot reach the database \(location): \(reason); check that it is up and the URL's host, port, user and password"
        case .databaseUnavailable(let why):
            "the database is unavailable (\(why)); try again shortly"
        case .databaseFailed(let what):
            "the database refused a statement: \(what)"
        case .schemaTooNew(let location, let version, let known):
            "the database \(location) has schema version \(version), newer than this Greenlight knows (\(known)); run the version that wrote it"
        case .targetNotEmpty(let location):
            "\(location) already holds gates, tokens, outbox items or audit events; migrate into a new, empty database"
        case .invalidDatabaseURL(let url):
            "'\(url)' is not a database URL; use sqlite:///path/to/greenlight.db or a plain file path"
        case .databaseMissing(let path):
            "there is no database at \(path); pass --database (or set GREENLIGHT_DATABASE_URL) to the server's database"
        case .corruptRow(let what):
            "the database holds a row it cannot read (\(what)); restore it from a backup"
        case .conflict(let what):
            "the change could not be applied because \(what) while it was computed; try again"
        case .notDurable(let path, let synchronous):
            "SQLite runs \(path) with synchronous=\(synchronous), not FULL (2), so acknowledged votes could be lost in a power cut; "
                + "use a build of SQLite that honours PRAGMA synchronous"
        case .databaseFileUnavailable(let path, let reason):
            "cannot create the database \(path): \(reason); check that the directory exists and this account may write to it"
        case .databaseExposed(let path, let mode):
            "\(path) may be read by other accounts (mode 0\(String(mode, radix: 8))) and this account cannot change that; "
                + "run `chmod 600 \(path)` as its owner, or run greenlight as its owner"
        }
    }
}

import Foundation

/// Where the store lives, as given by `--database` or `GREENLIGHT_DATABASE_URL`.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// The default: `./greenlight.db`.
    public static let defaultLocation = DatabaseLocation.sqlite(path: "greenlight.db")

    /// Reads `sqlite:///absolute/path`, `sqlite://relative/path`, a plain path, or
    /// `postgres://user:password@host:port/database?sslmode=…` (``PostgresLocation``; what the URL leaves out comes from
    /// `environment`'s `PG*` variables, as libpq takes them).
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(parsing: trimmed, environment: environment))
        } else if trimmed.hasPrefix("sqlite://") {
            let path = String(trimmed.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw .invalidDatabaseURL(text) }
            self = .sqlite(path: path)
        } else if trimmed.contains("://") || trimmed.isEmpty {
            throw .invalidDatabaseURL(text)
        } else {
            self = .sqlite(path: trimmed)
        }
    }

    /// The location with any password masked: what logs and messages print.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        case .postgres(let location): location.description
        }
    }
}

extension DatabaseLocation {
    /// Whether the store is there already. A server's database is taken to be there: the store says so when it
    /// connects.
    public var exists: Bool {
        switch self {
        case .sqlite(let path): FileManager.default.fileExists(atPath: path)
        case .postgres: true
        }
    }
}

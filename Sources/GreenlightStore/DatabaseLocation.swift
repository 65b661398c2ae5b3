import Foundation

/// Where the store lives, as given by `--database` or `GREENLIGHT_DATABASE_URL`.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)

    /// The default: `./greenlight.db`.
    public static let defaultLocation = DatabaseLocation.sqlite(path: "greenlight.db")

    /// Reads `sqlite:///absolute/path`, `sqlite://relative/path`, or a plain path.
    public init(parsing text: String) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            throw .unsupportedDatabase(trimmed)
        }
        if trimmed.hasPrefix("sqlite://") {
            let path = String(trimmed.dropFirst("sqlite://".count))
            guard !path.isEmpty else { throw .invalidDatabaseURL(text) }
            self = .sqlite(path: path)
        } else if trimmed.contains("://") || trimmed.isEmpty {
            throw .invalidDatabaseURL(text)
        } else {
            self = .sqlite(path: trimmed)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        }
    }
}

extension DatabaseLocation {
    /// Whether the store is there already.
    public var exists: Bool {
        switch self {
        case .sqlite(let path): FileManager.default.fileExists(atPath: path)
        }
    }
}

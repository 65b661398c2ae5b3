import Foundation

/// A PostgreSQL database, from a `postgres://` URL and the `PG*` environment variables libpq reads for what the URL
/// leaves out (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`). Parsed here, with no driver, so
/// that every command reports a bad URL the same way before anything connects.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// How the connection uses TLS, with libpq's names. `verify-ca` is read as `verify-full`: the certificate and the
    /// host name are both checked, never less than asked.
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        case disable
        case allow
        case prefer
        case require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Reads `postgres://[user[:password]@][host][:port][/database][?sslmode=mode]`.
    public init(parsing text: String, environment: [String: String] = [:]) throws(StoreError) {
        func invalid(_ why: String) -> StoreError { .invalidPostgresURL(Self.masked(text), why) }
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else { throw invalid("it is not a URL of the form postgres://user:password@host:port/database") }
        let environmentPort = environment["PGPORT"].flatMap { Int($0) }
        let port = components.port ?? environmentPort ?? 5432
        guard (1...65_535).contains(port) else { throw invalid("the port \(port) is not between 1 and 65535") }
        let host = components.percentEncodedHost.flatMap { $0.removingPercentEncoding }.flatMap { $0.isEmpty ? nil : $0 }
        let path = components.percentEncodedPath.hasPrefix("/") ? String(components.percentEncodedPath.dropFirst()) : components.percentEncodedPath
        guard !path.contains("/") else { throw invalid("the database name '\(path)' holds a '/'") }
        let database = path.removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 }
        var tls = TLSMode.prefer
        if let mode = environment["PGSSLMODE"] { tls = try Self.tlsMode(mode, in: text) }
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode": tls = try Self.tlsMode(item.value ?? "", in: text)
            default: throw invalid("'\(item.name)' is not a parameter Greenlight reads (only sslmode)")
            }
        }
        let user = components.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? environment["PGUSER"]
        guard let user, !user.isEmpty else { throw invalid("it names no user (postgres://USER@host/database, or PGUSER)") }
        self.init(
            host: host ?? environment["PGHOST"] ?? "localhost", port: port, user: user,
            password: components.percentEncodedPassword.flatMap { $0.removingPercentEncoding } ?? environment["PGPASSWORD"],
            database: database ?? environment["PGDATABASE"] ?? user, tls: tls)
    }

    private static func tlsMode(_ text: String, in url: String) throws(StoreError) -> TLSMode {
        guard let mode = TLSMode(rawValue: text) else {
            throw .invalidPostgresURL(
                masked(url), "sslmode '\(text)' is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return mode
    }

    /// The URL with its password replaced by `***`: what may be printed.
    static func masked(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "postgres://…"
    }

    /// The location as a URL, its password masked: what logs and messages print.
    public var description: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        if password != nil { components.password = "***" }
        components.host = host
        components.port = port
        components.path = "/" + database
        if tls != .prefer { components.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue)] }
        return components.string ?? "postgres://\(host):\(port)/\(database)"
    }
}

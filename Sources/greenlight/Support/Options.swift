import ArgumentParser
import Foundation
import GreenlightClient
import GreenlightCore
import GreenlightSQLite
import GreenlightStore

/// `--server` and `--token`, falling back to `GREENLIGHT_SERVER` and `GREENLIGHT_TOKEN`.
struct ServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The Greenlight server's URL (or GREENLIGHT_SERVER).", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("Your token (or GREENLIGHT_TOKEN). Prefer the variable: flags show up in process lists.", valueName: "token"))
    var token: String?

    var resolvedServer: String {
        server ?? ProcessInfo.processInfo.environment["GREENLIGHT_SERVER"] ?? "http://127.0.0.1:8080"
    }

    func client() throws -> GreenlightClient {
        guard let token = token ?? ProcessInfo.processInfo.environment["GREENLIGHT_TOKEN"], !token.isEmpty else {
            throw ValidationError("no token: set GREENLIGHT_TOKEN or pass --token (create one with 'greenlight token create')")
        }
        return GreenlightClient(server: resolvedServer, token: token)
    }
}

/// `--database`, falling back to `GREENLIGHT_DATABASE_URL`, then `./greenlight.db`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "sqlite:///path, a file path, or postgres://user:password@host:port/database (or GREENLIGHT_DATABASE_URL). Default: ./greenlight.db.",
            valueName: "url"))
    var database: String?

    /// The store, which must exist already: for commands that read evidence.
    func openExistingStore() async throws -> any GateStore {
        let location = try location()
        do {
            return try await location.openStore(mustExist: true)
        } catch let error as StoreError {
            throw Exit.fail(error.description)
        }
    }

    func location() throws -> DatabaseLocation {
        guard let text = database ?? ProcessInfo.processInfo.environment["GREENLIGHT_DATABASE_URL"] else { return .defaultLocation }
        do {
            return try DatabaseLocation(parsing: text)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// `--max-wait`: how long to block at most, as a policy-style duration (or seconds), up to the longest a policy may
/// wait: no gate stays pending longer.
struct MaxWait: ExpressibleByArgument {
    let duration: Duration

    init?(argument: String) {
        guard let parsed = PolicyDurationArgument.parse(argument) else { return nil }
        duration = .seconds(parsed)
    }

    static var defaultValueDescription: String { "no limit" }
}

enum PolicyDurationArgument {
    /// Seconds (`90`, `1.5`) or a policy duration (`30m`), from zero to ``PolicyDuration/maximum``; `nil` otherwise.
    /// Bounded because `Duration.seconds(_:)` and the instant it leads to trap on what a number can spell (`1e300`,
    /// `inf`).
    static func parse(_ text: String) -> Double? {
        if let seconds = Double(text) {
            return (0...PolicyDuration.maximum.seconds).contains(seconds) ? seconds : nil
        }
        return PolicyDuration(parsing: text)?.seconds
    }
}

/// Repeated `--label key=value` options as a dictionary (the last value of a repeated key wins; `key=` is an empty
/// value). Each command's `validate()` has already refused a label without `=`.
func labelValues(_ labels: [String]) -> [String: String] {
    var values: [String: String] = [:]
    for label in labels {
        let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
        values[parts[0]] = parts.count > 1 ? parts[1] : ""
    }
    return values
}

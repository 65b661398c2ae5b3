import Foundation
import GreenlightAPI
import GreenlightCore
import Synchronization
import Testing

/// One Greenlight installation for an end-to-end test: a database, a policy file, tokens, and the server process.
final class Deployment: @unchecked Sendable {
    static let policy = """
        version: 1
        people:
          alice: { slack: U0ALICE }
          bob: { slack: U0BOB }
          carol: { slack: U0CAROL }
          mallory: { slack: U0MALLORY }
          dan: { github: dan-gh }
        groups:
          leads: { members: [alice, bob, carol] }
          finance: { members: [dan] }
          oncall: { slack_usergroup: S0ONCALL }
        environments:
          production:
            channel: C0DEPLOYS
            require: [ { group: leads, count: 2 } ]
            timeout: 4h
          quick:
            channel: C0DEPLOYS
            require: [ { group: leads, count: 1 } ]
            timeout: 2s
          hotfix:
            channel: C0DEPLOYS
            require: [ { group: oncall, count: 1 } ]
          nudge:
            channel: C0DEPLOYS
            require: [ { group: leads, count: 2 } ]
            timeout: 1h
            escalate: { after: 1s, to: [group: oncall] }
            # The reminder 5 s after the gate opens: time enough, on a machine busy with the other tests, for the
            # test's approval to land first.
            remind: { before_deadline: 3595s, mention: [group: leads] }
          frozen:
            channel: C0DEPLOYS
            require: [ { group: leads, count: 1 } ]
            freeze:
              - { name: maintenance, from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z" }
            break_glass: { allowed: [group: leads], reason: required, max_per_day: 2 }
          costly:
            stages:
              - { name: platform, require: [ { group: leads, count: 1 } ] }
              - { name: finance, require: [ { group: finance, count: 1 } ] }
        default: { require: [ { group: leads, count: 1 } ], timeout: 4h }
        """

    let directory: URL
    let database: String
    let config: String
    let port: Int
    var server: RunningCommand?
    private(set) var tokens: [String: String] = [:]

    var url: String { "http://127.0.0.1:\(port)" }

    /// - Parameter database: the `--database` every command is given; a new SQLite file in the deployment's directory
    ///   unless named.
    init(database: String? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.database = database ?? directory.appendingPathComponent("greenlight.db").path
        config = directory.appendingPathComponent("greenlight.yaml").path
        try Self.policy.write(toFile: config, atomically: true, encoding: .utf8)
        port = try FreePort.find()
        for (name, kind, user) in [
            ("ci", "pipeline", nil), ("alice", "approver", "alice"), ("bob", "approver", "bob"), ("carol", "approver", "carol"),
            ("dan", "approver", "dan"),
        ] {
            var arguments = ["token", "create", "--name", name, "--kind", kind, "--database", self.database]
            if let user { arguments += ["--user", user] }
            let created = try await RunningCommand(arguments).finished()
            try #require(created.status == 0, "token create failed: \(created.output)")
            tokens[name] = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    deinit {
        server?.signal(SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts `greenlight serve` (on `database`, else the deployment's) and returns once it listens.
    @discardableResult
    func start(environment: [String: String] = [:], logLevel: String = "warning", database: String? = nil) async throws -> RunningCommand {
        let server = try RunningCommand(
            ["serve", "--config", config, "--database", database ?? self.database, "--port", "\(port)", "--log-level", logLevel],
            environment: environment)
        self.server = server
        let banner = await server.line(containing: "listening on")
        if banner == nil {
            Issue.record("the server did not start: \(await server.finished().output)")
        }
        return server
    }

    /// Runs a client command as `token`'s holder against this server.
    func cli(_ arguments: [String], as token: String) throws -> RunningCommand {
        try RunningCommand(arguments, environment: ["GREENLIGHT_SERVER": url, "GREENLIGHT_TOKEN": tokens[token] ?? token])
    }

    /// Runs a client command to the end.
    func run(_ arguments: [String], as token: String) async throws -> RunningCommand.Finished {
        try await cli(arguments, as: token).finished()
    }

    /// `greenlight request --wait` for the shop's usual artifact and commit in `environment`.
    static func requestAndWait(_ environment: String) -> [String] {
        ["request", "--service", "shop", "--env", environment, "--artifact", "reg/shop@sha256:abc", "--commit", "0123abcd", "--wait"]
    }

    /// `greenlight audit` with `arguments` on this deployment's database, run to the end.
    func audit(_ arguments: [String]) async throws -> RunningCommand.Finished {
        try await RunningCommand(["audit"] + arguments + ["--database", database]).finished()
    }

    /// Opens a gate with `request` (no --wait) and returns it.
    func open(environment: String, triggeredBy: String? = nil) async throws -> GateResource {
        var arguments = ["request", "--service", "shop", "--env", environment, "--artifact", "reg/shop@sha256:abc", "--commit", "0123abcd", "--json"]
        if let triggeredBy { arguments += ["--triggered-by", triggeredBy] }
        let result = try await run(arguments, as: "ci")
        try #require(result.status == 0, "request failed: \(result.output)")
        return try JSONDecoder().decode(GateResource.self, from: Data(result.stdout.utf8))
    }

    /// The gate id in a line like "waiting for gate g_…: needs …".
    static func gateID(in line: String?) -> String? {
        guard let line, let range = line.range(of: #"g_[a-z2-7]{20}"#, options: .regularExpression) else { return nil }
        return String(line[range])
    }
}

/// A TCP port nobody listens on right now, so that a restarted server can come back on the same address.
///
/// Chosen below the kernel's ephemeral range (`ip_local_port_range`, 32768–60999 by default): a port from that range,
/// free when found, can be taken as the local port of any outgoing connection (the tests' own HTTP clients, the
/// simulators') before the server binds it. Below it, only another test choosing the same random one of thousands of
/// ports at the same moment could; and within this process no port is handed out twice.
enum FreePort {
    private static let handedOut = Mutex<Set<Int>>([])

    static func find() throws -> Int {
        let ephemeral =
            (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } } ?? 32_768
        let below = max(ephemeral, 2_048)
        for _ in 0..<100 {
            let port = Int.random(in: max(1_024, below - 12_000)..<below)
            if available(port), handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw POSIXError(.EADDRINUSE)
    }

    /// Whether `port` on 127.0.0.1 can be bound now.
    static func available(_ port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 }
        }
    }
}

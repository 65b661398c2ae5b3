import Foundation
import GreenlightCore
import GreenlightPolicyFile
import Testing

/// Hostile input against the real binary (issue 16): `policy check`, `serve --config` and a live reload refuse hostile
/// policies at once and a running server keeps serving the policy in force; no flag value or SIGHUP ends a process.
/// Serialized, so that its processes start one test at a time rather than all at once beside the other suites.
@Suite("Policy limits end to end", .serialized, .timeLimit(.minutes(2)))
struct PolicyLimitsEndToEndTests {
    /// Ten levels of ten aliases under `tiers[].when.any`: 10¹⁰ conditions once expanded, in 930 bytes. Unbounded, such
    /// a policy grew `policy check` past 15 GB.
    static let aliasBomb: String = {
        var lines = ["groups:", "  leads: { members: [alice, bob, carol] }", "default: { require: [ { group: leads } ] }", "tiers:"]
        lines += ["  - name: bomb", "    when:", "      any:", "        - &l0 { environment: x }"]
        for level in 1...10 {
            lines.append("        - &l\(level) { any: [ \(Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ")) ] }")
        }
        return lines.joined(separator: "\n") + "\n"
    }()

    /// Deployment's policy with one more line in its `default` rule.
    static func policy(withDefault line: String) -> String {
        Deployment.policy.replacingOccurrences(
            of: "default: { require: [ { group: leads, count: 1 } ], timeout: 4h }",
            with: "default:\n  require: [ { group: leads, count: 1 } ]\n  timeout: 4h\n\(line)")
    }

    static let hugeReminder = policy(withDefault: "  remind: { before_deadline: 99999999999999999999s }")
    static let hugeTimeout = Deployment.policy.replacingOccurrences(of: "    timeout: 4h\n  quick:", with: "    timeout: 200000000000d\n  quick:")

    static func write(_ text: String, in directory: URL, as name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("--max-wait is at most 365 days: a number past it is a usage error (64), not a trap")
    func maxWait() async throws {
        let unreachable = ["GREENLIGHT_SERVER": "http://127.0.0.1:\(try FreePort.find())", "GREENLIGHT_TOKEN": "x"]
        for value in ["1e300", "inf", "366d", "31536001"] {
            let waited = try await RunningCommand(["wait", "g_aaaaaaaaaaaaaaaaaaaa", "--max-wait", value], environment: unreachable).finished()
            #expect(waited.status == 64, "\(value): \(waited.output)")
            #expect(waited.stderr.contains("'\(value)' is invalid for '--max-wait <duration>'"), "\(waited.output)")
        }
    }

    @Test("policy check refuses durations over 365 days with file:line, instead of trapping (exit 132)")
    func checkHugeDurations() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(Self.hugeTimeout != Deployment.policy)
        for (text, expected) in [
            (Self.hugeReminder, "default.remind.before_deadline: '99999999999999999999s' is longer than 365d"),
            (Self.hugeTimeout, "environments.production.timeout: '200000000000d' is longer than 365d"),
        ] {
            let path = try Self.write(text, in: directory, as: "greenlight.yaml")
            let checked = try await RunningCommand(["policy", "check", path]).finished()
            #expect(checked.status == 64, "\(checked.output)")
            #expect(checked.stderr.contains("\(path):") && checked.stderr.contains(expected), "\(checked.output)")
        }
    }

    @Test("policy check refuses the alias bomb at once, with one line naming the limit and the line")
    func checkAliasBomb() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try Self.write(Self.aliasBomb, in: directory, as: "greenlight.yaml")
        let started = ContinuousClock.now
        let checked = try await RunningCommand(["policy", "check", path]).finished()
        // A generous bound for a loaded 2-core machine; the refusal itself takes milliseconds (the budget stops the walk
        // at 1,000,000 nodes). Before the limit, the process grew past 15 GB and never finished.
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(checked.status == 64, "\(checked.output)")
        let lines = checked.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(checked.output)")
        #expect(lines.first?.hasPrefix("\(path):") == true)
        #expect(lines.first?.contains("error: tiers: expands to more than 1000000 YAML nodes") == true, "\(checked.output)")
    }

    @Test("policy check prints the first 50 errors of thousands, then how many more")
    func checkManyErrors() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let unknown = (0..<2_000).map { "  colour\($0): blue" }.joined(separator: "\n")
        let path = try Self.write(Self.policy(withDefault: unknown), in: directory, as: "greenlight.yaml")
        let checked = try await RunningCommand(["policy", "check", path]).finished()
        #expect(checked.status == 64)
        let lines = checked.stderr.split(separator: "\n")
        #expect(lines.count == PolicyLimits.maximumDiagnostics + 1, "\(checked.stderr.prefix(500))")
        #expect(lines.last == "\(path): error: … and 1950 more errors not shown; fix the ones above first")
    }

    @Test("serve --config refuses a hostile policy at start with its errors and exit 64, instead of crashing or never listening")
    func serveRefuses() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("greenlight.db").path
        for (text, expected) in [(Self.aliasBomb, "YAML nodes"), (Self.hugeReminder, "longer than 365d"), (Self.hugeTimeout, "longer than 365d")] {
            let config = try Self.write(text, in: directory, as: "greenlight.yaml")
            let started = ContinuousClock.now
            let server = try await RunningCommand(["serve", "--config", config, "--database", database, "--port", "\(try FreePort.find())"])
                .finished()
            #expect(ContinuousClock.now - started < .seconds(10), "generous, as above: the refusal is immediate")
            #expect(server.status == 64, "\(server.output)")
            #expect(server.stderr.contains(expected), "\(server.output)")
            #expect(!server.stdout.contains("listening on"))
        }
    }

    @Test("a live reload refuses hostile edits and a deleted file, audits each once, and keeps serving; the longest timeout works")
    func liveReload() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start(logLevel: "notice")
        let inForce = Policy.hash(of: Deployment.policy)

        try Self.aliasBomb.write(toFile: deployment.config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "tiers: expands to more than 1000000 YAML nodes") != nil)
        #expect(try await deployment.open(environment: "production").policyHash == inForce)

        try Self.hugeReminder.write(toFile: deployment.config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "'99999999999999999999s' is longer than 365d") != nil)
        #expect(try await deployment.open(environment: "production").policyHash == inForce)

        try FileManager.default.removeItem(atPath: deployment.config)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "cannot read the policy file \(deployment.config): No such file or directory") != nil)
        #expect(try await deployment.open(environment: "production").policyHash == inForce)

        let refused = try await deployment.audit(["query", "--action", "policy.refused"])
        let events = refused.stdout.split(separator: "\n")
        #expect(events.count == 3, "each failure once, however often it was polled or signalled: \(refused.output)")
        #expect(events.allSatisfy { $0.contains(#""policy_hash":"\#(inForce)""#) }, "\(refused.output)")
        #expect(events.last?.contains(#""reason":"unreadable""#) == true)

        // The longest timeout a policy may write: the gate opens with its deadline a year out, and decides.
        let yearly = Deployment.policy.replacingOccurrences(of: "timeout: 2s", with: "timeout: 365d")
        try yearly.write(toFile: deployment.config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "new gates open under sha256 \(Policy.hash(of: yearly).prefix(12))") != nil)
        let gate = try await deployment.open(environment: "quick")
        let deadline = try #require(gate.deadline.flatMap(Timestamp.parse))
        #expect(abs(deadline.timeIntervalSinceNow - 365 * 86_400) < 600, "\(gate.deadline ?? "no deadline")")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["wait", gate.id, "--max-wait", "365d"], as: "ci").status == 0, "the longest --max-wait is taken")
    }

    @Test("SIGHUP to a server started without --config is logged and changes nothing; the server keeps serving")
    func hangupWithoutConfig() async throws {
        let deployment = try await Deployment()
        let server = try RunningCommand(["serve", "--database", deployment.database, "--port", "\(deployment.port)", "--log-level", "info"])
        deployment.server = server
        #expect(await server.line(containing: "listening on") != nil)
        // Logged once the handler is installed: from then on a SIGHUP cannot be missed (nor, before it, end the server).
        #expect(await server.line(containing: "SIGHUP has nothing to reload") != nil)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "SIGHUP: there is no policy file to reload") != nil)
        let gate = try await deployment.open(environment: "production")
        #expect(gate.policyHash == BuiltInPolicy.policy.hash)
        server.signal(SIGTERM)
        let finished = await server.finished()
        #expect(finished.status == 0, "\(finished.output)")
    }
}

import Foundation
import GreenlightAPI
import GreenlightSlackSimulator
import Synchronization
import Testing

/// Several `greenlight serve` replicas on one PostgreSQL, as behind a load balancer: any replica takes any request,
/// and between them every gate is decided once, every timer fires once and every Slack message is sent once.
@Suite(
    "Replicas end to end", .timeLimit(.minutes(3)),
    .enabled(if: PostgresDatabase.server != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct ReplicaEndToEndTests {
    @Test(
        "three replicas: votes and duplicated votes on random replicas, waiters on others resume; deadlines, reminders, escalations and cards happen once"
    )
    func threeReplicas() async throws {
        let slack = SlackSimulator()
        let slackURL = try await slack.start()
        defer { slack.stop() }
        let database = try await PostgresDatabase.create()
        let deployment = try await Deployment(database: database)
        let replicas = try await Replicas(
            deployment, count: 3, environment: ["SLACK_BOT_TOKEN": slack.botToken, "GREENLIGHT_SLACK_API_URL": slackURL])
        defer { replicas.stop() }

        // Gates opened on every replica: nine to approve, three that time out, three that remind and escalate.
        let approved = try await replicas.open(9, in: "production")
        let timingOut = try await replicas.open(3, in: "quick")
        let nudged = try await replicas.open(3, in: "nudge")

        // A waiter per gate on one replica; the votes on the two others, alice's twice (a client retrying).
        let waiters = try approved.enumerated().map { index, id in
            try replicas.cli(["wait", id], as: "ci", on: index % 3)
        }
        let votes = try await withThrowingTaskGroup(of: (String, Int32).self) { group in
            for (index, id) in approved.enumerated() {
                for (person, replica) in [("alice", index + 1), ("alice", index + 2), ("bob", index + 2)] {
                    group.addTask {
                        (person, try await replicas.cli(["approve", id], as: person, on: replica % 3).finished().status)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(votes.filter { $0.1 == 0 }.count == 18, "every first vote recorded: \(votes)")
        #expect(votes.filter { $0.1 == 64 }.map(\.0) == Array(repeating: "alice", count: 9), "every repeated vote refused: \(votes)")
        for waiter in waiters {
            let result = await waiter.finished()
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("approved by"), "\(result.stdout)")
        }
        for id in timingOut { #expect(try await replicas.cli(["wait", id], as: "ci", on: 2).finished().status == 2, "\(id) timed out") }

        // Fifteen cards, then a reminder and an escalation in each nudged gate's thread.
        await slack.waitForCalls(to: "chat.postMessage", count: 15 + 2 * nudged.count)
        let audit = try await deployment.audit(["query"])
        #expect(audit.status == 0, "\(audit.output)")
        let events = try audit.stdout.split(separator: "\n").map { try JSONDecoder().decode(AuditLine.self, from: Data($0.utf8)) }
        func count(_ action: String, _ gate: String) -> Int { events.filter { $0.action == action && $0.gate_id == gate }.count }
        for id in approved + timingOut { #expect(count("gate.decided", id) == 1, "\(id) decided once") }
        for id in approved { #expect(count("vote.recorded", id) == 2, "\(id): alice and bob, once each") }
        for id in nudged {
            #expect(count("gate.reminded", id) == 1, "\(id) reminded once")
            #expect(count("gate.escalated", id) == 1, "\(id) escalated once")
            #expect(count("gate.decided", id) == 0)
        }
        #expect(Set(events.map(\.sequence)).count == events.count, "no sequence twice")

        let cards = slack.calls(to: "chat.postMessage").filter { $0.arguments["thread_ts"] == nil }
        for id in approved + timingOut + nudged {
            let posts = cards.filter { call in
                String(decoding: (try? JSONEncoder().encode(call.arguments)) ?? Data(), as: UTF8.self).contains(id)
            }
            #expect(posts.count == 1, "\(id)'s card posted once, not \(posts.count) times")
        }
        let verified = try await deployment.audit(["verify"])
        #expect(verified.status == 0, "\(verified.output)")
    }

    /// The fields of an exported audit event these tests read.
    struct AuditLine: Decodable {
        var sequence: Int64
        var action: String
        var actor: String
        var gate_id: String?
    }
}

/// `count` servers of one deployment, each on its own port, on the deployment's database.
final class Replicas: Sendable {
    let deployment: Deployment
    let ports: [Int]
    private let environment: [String: String]
    private let servers: Mutex<[RunningCommand?]>
    /// Every server started, killed ones too, by replica: what each said, for a failure's message.
    private let started = Mutex<[(replica: Int, server: RunningCommand)]>([])

    init(_ deployment: Deployment, count: Int, environment: [String: String]) async throws {
        self.deployment = deployment
        self.environment = environment
        ports = try (0..<count).map { _ in try FreePort.find() }
        servers = Mutex(Array(repeating: nil, count: count))
        for replica in 0..<count { try await start(replica) }
    }

    /// Starts replica `replica` on its port and returns once it listens. A replica that exits at start (its database
    /// restarting) is started again, as a supervisor would, up to 20 times.
    func start(_ replica: Int) async throws {
        var output = ""
        for _ in 0..<20 {
            let server = try RunningCommand(
                [
                    "serve", "--config", deployment.config, "--database", deployment.database, "--port", "\(ports[replica])",
                    "--log-level", "warning",
                ], environment: environment)
            servers.withLock { $0[replica] = server }
            started.withLock { $0.append((replica, server)) }
            if await server.line(containing: "listening on") != nil { return }
            output = await server.finished().output
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("replica on \(ports[replica]) did not start: \(output)")
    }

    /// Kills replica `replica` with SIGKILL (nothing it had not acknowledged may count) and waits for it to be gone.
    func kill(_ replica: Int) async {
        guard let server = servers.withLock({ $0[replica] }) else { return }
        server.signal(SIGKILL)
        _ = await server.finished()
    }

    func url(_ replica: Int) -> String { "http://127.0.0.1:\(ports[replica])" }

    /// Runs a client command as `token`'s holder against one replica.
    func cli(_ arguments: [String], as token: String, on replica: Int) throws -> RunningCommand {
        try RunningCommand(arguments, environment: ["GREENLIGHT_SERVER": url(replica), "GREENLIGHT_TOKEN": deployment.tokens[token] ?? token])
    }

    /// Opens `count` gates in `environment`, each on the next replica, and returns their ids.
    func open(_ count: Int, in environment: String) async throws -> [String] {
        var ids: [String] = []
        for index in 0..<count {
            let result = try await open(in: environment, on: index % ports.count)
            try #require(result != nil, "request failed")
            ids.append(result!)
        }
        return ids
    }

    /// Opens a gate in `environment` on `replica`; `nil` when the request failed.
    func open(in environment: String, on replica: Int) async throws -> String? {
        let commit = String(format: "%08x", Int.random(in: 0..<Int(Int32.max)))
        let result = try await cli(
            ["request", "--service", "shop", "--env", environment, "--artifact", "reg/shop@sha256:abc", "--commit", commit, "--json"],
            as: "ci", on: replica
        ).finished()
        guard result.status == 0 else { return nil }
        return try JSONDecoder().decode(GateResource.self, from: Data(result.stdout.utf8)).id
    }

    /// What every server of the run wrote (at `--log-level warning`), in the order they started.
    var logs: String {
        started.withLock { $0 }.enumerated().map { index, started in
            "--- replica \(started.replica), server \(index + 1) (pid \(started.server.pid)):\n\(started.server.written)"
        }.joined(separator: "\n")
    }

    func stop() {
        for server in servers.withLock({ $0 }) { server?.signal(SIGKILL) }
    }
}

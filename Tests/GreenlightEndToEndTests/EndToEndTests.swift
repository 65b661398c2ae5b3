import Foundation
import GRDB
import GreenlightAPI
import GreenlightCore
import Testing

/// The real `greenlight` binary: a server process, and pipelines and people as CLI processes.
@Suite("End to end", .timeLimit(.minutes(2)))
struct EndToEndTests {
    @Test("request --wait blocks until two approvals, then exits 0")
    func approved() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        let request = try deployment.cli(
            Deployment.requestAndWait("production"), as: "ci"
        )
        let id = try #require(Deployment.gateID(in: await request.line(containing: "waiting for gate")))
        let first = try await deployment.run(["approve", id, "--comment", "looks right"], as: "alice")
        #expect(first.status == 0)
        #expect(first.stdout.contains("still needs 1 of 2 from leads (approved so far: alice)"))
        #expect(try await deployment.run(["approve", id], as: "alice").status == 64, "a repeated vote is refused")
        #expect(try await deployment.run(["approve", id], as: "bob").status == 0)
        let result = await request.finished()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("\(id) approved by bob"))
        #expect(result.stdout.contains("\(deployment.url)/v1/gates/\(id)"))
    }

    @Test("a reject makes the waiting pipeline exit 1 with the reason")
    func rejected() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        let request = try deployment.cli(
            Deployment.requestAndWait("production"), as: "ci"
        )
        let id = try #require(Deployment.gateID(in: await request.line(containing: "waiting for gate")))
        #expect(try await deployment.run(["reject", id, "--comment", "not during the sale"], as: "carol").status == 0)
        let result = await request.finished()
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.contains("rejected by carol"))
        #expect(result.stdout.contains("not during the sale"))
    }

    @Test("nobody decides before the deadline: the pipeline exits 2")
    func timedOut() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        let result = try await deployment.run(
            Deployment.requestAndWait("quick"), as: "ci"
        )
        #expect(result.status == 2, "\(result.output)")
        #expect(result.stdout.contains("timed out by greenlight"))
    }

    @Test("SIGKILL while a gate is pending: the waiting CLI reconnects and gets the decision; an overdue deadline fires on start")
    func crashAndRestart() async throws {
        let deployment = try await Deployment()
        let first = try await deployment.start()
        let pending = try await deployment.open(environment: "production")
        let overdue = try await deployment.open(environment: "quick")
        let waiting = try deployment.cli(["wait", pending.id], as: "ci")
        _ = await waiting.line(containing: "waiting for gate")

        first.signal(SIGKILL)
        #expect(await first.finished().status != 0)
        _ = await waiting.line(containing: "reconnecting in")

        // Let the quick gate's deadline pass while the server is down.
        let deadline = try #require(overdue.deadline.flatMap(Timestamp.parse))
        let remaining = deadline.timeIntervalSinceNow
        if remaining > 0 { try await Task.sleep(for: .milliseconds(Int(remaining * 1000) + 50)) }

        let restartedAt = Date()
        try await deployment.start()
        let timedOut = try await deployment.run(["wait", overdue.id, "--json"], as: "ci")
        #expect(timedOut.status == 2, "\(timedOut.output)")
        let decided = try JSONDecoder().decode(GateResource.self, from: Data(timedOut.stdout.utf8))
        let decidedAt = try #require(decided.decidedAt.flatMap(Timestamp.parse))
        #expect(decidedAt.timeIntervalSince(restartedAt) < 2, "decided \(decidedAt.timeIntervalSince(restartedAt))s after the restart")

        #expect(try await deployment.run(["approve", pending.id], as: "alice").status == 0)
        #expect(try await deployment.run(["approve", pending.id], as: "carol").status == 0)
        let result = await waiting.finished()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("approved by carol"))
    }

    @Test("SIGTERM drains, releases long-polls and exits 0")
    func gracefulShutdown() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start()
        let gate = try await deployment.open(environment: "production")
        let waiting = try deployment.cli(["wait", gate.id, "--max-wait", "10m"], as: "ci")
        _ = await waiting.line(containing: "waiting for gate")
        let signalled = Date()
        server.signal(SIGTERM)
        let stopped = await server.finished()
        #expect(stopped.status == 0, "\(stopped.output)")
        #expect(Date().timeIntervalSince(signalled) < 10, "the drain waited out the long-poll")
        waiting.signal(SIGKILL)
    }

    @Test("audit verify passes on an intact log and names the first edited event")
    func tamperedAudit() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start()
        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["reject", gate.id, "--comment", "no"], as: "bob").status == 0)
        server.signal(SIGTERM)
        _ = await server.finished()

        let missing = try await RunningCommand(["audit", "verify", "--database", deployment.database + ".typo"]).finished()
        #expect(missing.status == 64, "a mistyped path must not verify as an empty log: \(missing.output)")
        #expect(missing.stderr.contains("there is no database at"))
        #expect(!FileManager.default.fileExists(atPath: deployment.database + ".typo"))

        let intact = try await deployment.audit(["verify"])
        #expect(intact.status == 0, "\(intact.output)")
        #expect(intact.stdout.contains("audit log intact"))

        let queue = try DatabaseQueue(path: deployment.database)
        let approval = try await queue.read { db in
            try Int64.fetchOne(db, sql: "SELECT sequence FROM audit_event WHERE action = 'vote.recorded' AND actor = 'alice'")
        }
        let sequence = try #require(approval)
        try await queue.write { db in
            try db.execute(sql: "UPDATE audit_event SET actor = 'carol' WHERE sequence = ?", arguments: [sequence])
        }
        let tampered = try await deployment.audit(["verify"])
        #expect(tampered.status == 1)
        #expect(tampered.stderr.contains("broken at event \(sequence)"), "\(tampered.output)")
    }

    @Test("policy check prints file:line errors and exits 64; a good policy exits 0")
    func policyCheck() async throws {
        let deployment = try await Deployment()
        let good = try await RunningCommand(["policy", "check", deployment.config]).finished()
        #expect(good.status == 0, "\(good.output)")
        let bad = deployment.directory.appendingPathComponent("bad.yaml").path
        try "groups:\n  leads: { members: [a] }\ndefault:\n  require: [ { group: lead, count: 1 } ]\n  timeout: 4x\n".write(
            toFile: bad, atomically: true, encoding: .utf8)
        let result = try await RunningCommand(["policy", "check", bad]).finished()
        #expect(result.status == 64)
        #expect(result.stderr.contains("\(bad):4: error: default.require[0].group: group 'lead' does not exist"))
        #expect(result.stderr.contains("\(bad):5: error: default.timeout"))
    }

    @Test("a second server on a port already taken exits 69 saying so, without crashing, and the first keeps serving")
    func portTaken() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        // With Slack on, so that the stop also closes the Slack client cleanly; on a database of its own.
        let database = deployment.database + "-second.db"
        let second = try await RunningCommand(
            ["serve", "--config", deployment.config, "--database", database, "--port", "\(deployment.port)"],
            environment: ["SLACK_BOT_TOKEN": "xoxb-unused", "GREENLIGHT_SLACK_API_URL": "http://127.0.0.1:9/api/"]
        ).finished()
        #expect(second.status == 69, "\(second.output)")
        #expect(second.stderr.contains("127.0.0.1:\(deployment.port) stopped"), "\(second.output)")
        #expect(second.stderr.contains("Address already in use"), "\(second.output)")
        #expect(!second.stderr.contains("Fatal error"), "\(second.output)")
        #expect(try await deployment.open(environment: "production").state == .pending)
    }

    @Test("client errors: unknown token exits 77, unreachable server 69, bad flags 64")
    func exitCodes() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["wait", gate.id], as: "glt_wrong").status == 77)
        #expect(try await deployment.run(["approve", gate.id], as: "ci").status == 77)
        let unreachable = try await RunningCommand(
            ["wait", gate.id, "--max-wait", "1s"], environment: ["GREENLIGHT_SERVER": "http://127.0.0.1:\(FreePort.find())", "GREENLIGHT_TOKEN": "x"]
        ).finished()
        #expect(unreachable.status == 69, "\(unreachable.output)")
        #expect(try await deployment.run(["request", "--service", "shop"], as: "ci").status == 64)
        #expect(try await deployment.run(["wait", "g_aaaaaaaaaaaaaaaaaaaa"], as: "ci").status == 64)
    }

    @Test("separation of duties through the CLI: --author with white space around it still bars the author; a zero-width one is 64")
    func authorSpelling() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        let arguments = [
            "request", "--service", "shop", "--env", "production", "--artifact", "reg/shop@sha256:abc", "--commit", "0123abcd", "--json",
        ]
        let opened = try await deployment.run(arguments + ["--author", "alice \t"], as: "ci")
        try #require(opened.status == 0, "\(opened.output)")
        let gate = try JSONDecoder().decode(GateResource.self, from: Data(opened.stdout.utf8))
        let own = try await deployment.run(["approve", gate.id], as: "alice")
        #expect(own.status != 0)
        #expect(own.output.contains("an author of this change"), "\(own.output)")
        let invisible = try await deployment.run(arguments + ["--author", "ali\u{200B}ce"], as: "ci")
        #expect(invisible.status == 64, "\(invisible.output)")
        #expect(invisible.output.contains("U+200B"), "\(invisible.output)")
    }
}

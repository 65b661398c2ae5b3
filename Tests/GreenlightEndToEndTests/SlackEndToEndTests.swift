import Foundation
import GreenlightCore
import GreenlightSlackSimulator
import Testing

/// The real binary with Slack configured, against the simulator on loopback.
@Suite("Slack end to end", .timeLimit(.minutes(2)))
struct SlackEndToEndTests {
    func start(_ deployment: Deployment, _ slack: SlackSimulator) async throws {
        let url = try await slack.start()
        try await deployment.start(environment: ["SLACK_BOT_TOKEN": slack.botToken, "GREENLIGHT_SLACK_API_URL": url])
    }

    /// The block types of the message now standing at the card's address.
    func blockTypes(_ message: [String: JSONValue]?) -> [String] {
        guard case .array(let blocks)? = message?["blocks"] else { return [] }
        return blocks.compactMap { block in
            if case .object(let fields) = block { return fields["type"]?.stringValue }
            return nil
        }
    }

    @Test("each published checkpoint is posted to the webhook as JSON, and to the Slack channel at most once an interval")
    func checkpointAnnouncements() async throws {
        let slack = SlackSimulator()
        defer { slack.stop() }
        let deployment = try await Deployment()
        let url = try await slack.start()
        let server = try RunningCommand(
            [
                "serve", "--config", deployment.config, "--database", deployment.database, "--port", "\(deployment.port)", "--log-level", "warning",
                "--checkpoint-webhook", url + "checkpoint-hook", "--checkpoint-slack-channel", "C0AUDIT", "--checkpoint-slack-interval", "3600",
            ], environment: ["SLACK_BOT_TOKEN": slack.botToken, "GREENLIGHT_SLACK_API_URL": url])
        deployment.server = server
        #expect(await server.line(containing: "listening on") != nil)
        _ = try await deployment.open(environment: "production")
        await slack.waitForCalls(to: "checkpoint-hook", count: 1)
        let hook = try #require(slack.calls(to: "checkpoint-hook").last)
        let note = try #require(hook.arguments["checkpoint"]?.stringValue)
        #expect(note.hasPrefix(hook.arguments["origin"]?.stringValue ?? "?") && note.contains("\n\n— "), "\(note)")
        let audit: JSONValue = .string("C0AUDIT")
        await slack.waitForCalls(to: "chat.postMessage") { calls in calls.contains { call in call.arguments["channel"] == audit } }
        // A second gate, a second checkpoint for the webhook, and none for Slack within the hour.
        let before = slack.calls(to: "checkpoint-hook").count
        _ = try await deployment.open(environment: "production")
        await slack.waitForCalls(to: "checkpoint-hook", count: before + 1)
        let audits = slack.calls(to: "chat.postMessage").filter { call in call.arguments["channel"] == audit }
        #expect(audits.count == 1)
        #expect(audits.first?.arguments["text"]?.stringValue?.contains("Audit log checkpoint of ") == true)
    }

    @Test("a gate gets a card; each vote updates it; the decision removes the buttons, even one made from the CLI")
    func cardLifecycle() async throws {
        let slack = SlackSimulator()
        defer { slack.stop() }
        let deployment = try await Deployment()
        try await start(deployment, slack)

        let gate = try await deployment.open(environment: "production")
        await slack.waitForCalls(to: "chat.postMessage", count: 1)
        let post = try #require(slack.calls(to: "chat.postMessage").first)
        #expect(post.arguments["channel"] == .string("C0DEPLOYS"))
        let posted = String(decoding: try JSONEncoder().encode(post.arguments), as: UTF8.self)
        #expect(posted.contains("gate_approve") && posted.contains(gate.id))

        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        await slack.waitForCalls(to: "chat.update", count: 1)
        #expect(try await deployment.run(["approve", gate.id], as: "bob").status == 0)
        await slack.waitForCalls(to: "chat.update", count: 2)

        let updates = slack.calls(to: "chat.update")
        #expect(updates.first?.arguments["text"]?.stringValue?.contains("approved so far: alice") == true)
        let last = try #require(updates.last)
        #expect(last.arguments["text"]?.stringValue?.contains("approved by bob") == true)
        let channel = try #require(last.arguments["channel"]?.stringValue)
        let ts = try #require(last.arguments["ts"]?.stringValue)
        #expect(!blockTypes(slack.message(channel: channel, ts: ts)).contains("actions"), "the resolved card still has buttons")
        #expect(blockTypes(slack.message(channel: channel, ts: ts)).contains("header"))
    }

    @Test("a Slack outage (500s, then a 429) delays the card but blocks no decision and loses nothing")
    func outage() async throws {
        let slack = SlackSimulator()
        defer { slack.stop() }
        slack.inject(.serverError, into: "chat.postMessage", times: 2)
        slack.inject(.rateLimited(retryAfter: 1), into: "chat.postMessage")
        let deployment = try await Deployment()
        try await start(deployment, slack)

        let gate = try await deployment.open(environment: "production")
        // The decision goes through while Slack is failing.
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["reject", gate.id, "--comment", "not today"], as: "carol").status == 0)

        await slack.waitForCalls(to: "chat.postMessage", count: 4)
        let delivered = try #require(slack.calls(to: "chat.postMessage").last)
        let text = delivered.arguments["text"]?.stringValue ?? ""
        // The card that finally lands shows the decision, not a stale pending state.
        #expect(text.contains("rejected by carol"), "\(text)")
        let posted = String(decoding: try JSONEncoder().encode(delivered.arguments), as: UTF8.self)
        #expect(!posted.contains("gate_approve"))

        let events = try await deployment.audit(["query", "--action", "gate.notified"])
        #expect(events.stdout.split(separator: "\n").count == 1, "\(events.output)")
    }

    @Test("a break-glass is announced to the whole channel, outside the card's thread")
    func breakGlassAnnounced() async throws {
        let slack = SlackSimulator()
        defer { slack.stop() }
        let deployment = try await Deployment()
        try await start(deployment, slack)
        let frozen = try await deployment.run(
            Deployment.requestAndWait("frozen"), as: "ci")
        #expect(frozen.status == 1, "\(frozen.output)")
        let id = try #require(Deployment.gateID(in: frozen.stdout))
        #expect(try await deployment.run(["break-glass", id, "--reason", "SEV1: checkout is down"], as: "alice").status == 0)
        // The frozen gate's card, then the announcement.
        await slack.waitForCalls(to: "chat.postMessage", count: 2)
        let announcement = try #require(slack.calls(to: "chat.postMessage").last)
        let text = announcement.arguments["text"]?.stringValue ?? ""
        #expect(text.hasPrefix("<!here>"), "\(text)")
        #expect(text.contains("alice broke the freeze 'maintenance'"))
        #expect(text.contains("SEV1: checkout is down"))
        #expect(announcement.arguments["channel"] == .string("C0DEPLOYS"))
        #expect(announcement.arguments["thread_ts"] == nil)
    }

    @Test("no Slack secret reaches the log, even at --log-level trace")
    func noSecretsInLogs() async throws {
        let slack = SlackSimulator()
        let url = try await slack.start()
        defer { slack.stop() }
        let deployment = try await Deployment()
        let secret = "simulator-signing-secret"
        let server = try await deployment.start(
            environment: [
                "SLACK_BOT_TOKEN": slack.botToken, "SLACK_APP_TOKEN": slack.appToken, "SLACK_SIGNING_SECRET": secret,
                "GREENLIGHT_SLACK_API_URL": url,
            ], logLevel: "trace")
        await slack.waitForConnections(1)
        let gate = try await deployment.open(environment: "production")
        await slack.waitForCalls(to: "chat.postMessage", count: 1)
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        await slack.waitForCalls(to: "chat.update", count: 1)
        server.signal(SIGTERM)
        let log = await server.finished().output
        #expect(log.contains("debug") || log.contains("trace"), "the log ran at trace level: \(log.prefix(2_000))")
        for (name, value) in [("bot token", slack.botToken), ("app token", slack.appToken), ("signing secret", secret)] {
            #expect(!log.contains(value), "the \(name) is in the log")
        }
        for token in deployment.tokens.values { #expect(!log.contains(token), "an API token is in the log") }
    }
}

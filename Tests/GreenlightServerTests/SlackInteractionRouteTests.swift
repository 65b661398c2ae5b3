import AsyncHTTPClient
import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightPolicyFile
import GreenlightSlack
import GreenlightSlackSimulator
import GreenlightStore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightServer

/// `POST /slack/interactions` through the router: what is verified, refused, audited and queued.
@Suite("Slack interactions route")
struct SlackInteractionRouteTests {
    let simulator: SlackSimulator

    init() {
        simulator = SlackSimulator(signingSecret: "route-secret")
    }

    func integration(_ app: TestGreenlight) -> SlackIntegration {
        SlackIntegration(
            api: SlackWebAPI(token: "xoxb-unused", baseURL: "http://127.0.0.1:9/api/", http: HTTPClient.shared),
            directory: SlackDirectory(policy: app.gatekeeper.policy),
            verifier: SlackRequestVerifier(signingSecret: "route-secret", clock: app.clock))
    }

    func post(_ client: any TestClientProtocol, body: String, headers: [String: String]) async throws -> TestResponse {
        var fields = HTTPFields()
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        return try await client.execute(uri: "/slack/interactions", method: .post, headers: fields, body: ByteBuffer(string: body))
    }

    static let click = SlackSimulator.blockActions(
        user: "U0ALICE", actionID: GateCard.approveActionID, value: "g_aaaaaaaaaaaaaaaaaaaa", channel: "C1", ts: "1.1")

    @Test("a signed click is handled before the 200: a click on no gate is refused, audited, and told to the clicker")
    func accepted() async throws {
        let app = try await TestGreenlight()
        let slack = integration(app)
        let (body, headers) = try simulator.signedRequest(payload: Self.click, timestamp: app.clock.now())
        try await app.test(slack: slack) { client in
            let response = try await post(client, body: body, headers: headers)
            #expect(response.status == .ok)
            #expect(response.body.readableBytes == 0)
        }
        let refused = try await app.store.auditEvents(AuditQuery(action: AuditAction.voteRefused.rawValue))
        #expect(refused.map { $0.details["reason"] } == ["unknown_gate"])
        #expect(refused.first?.actor == "U0ALICE")
        #expect(refused.first?.details["gate"] == "g_aaaaaaaaaaaaaaaaaaaa")
        let told = try await app.store.dueOutboxItems(at: app.clock.now().addingTimeInterval(1), limit: 10)
        #expect(told.map(\.kind) == [.slackEphemeral])
        #expect(told.first?.payload?.contains("U0ALICE") == true)
    }

    @Test(
        "forged, stale, future, unsigned and tampered requests are 401, audited, and queue nothing",
        arguments: [("forged", 0.0), ("stale", -301.0), ("future", 301.0), ("unsigned", 0.0), ("tampered", 0.0)])
    func refused(kind: String, skew: Double) async throws {
        let app = try await TestGreenlight()
        let slack = integration(app)
        var (body, headers) = try simulator.signedRequest(payload: Self.click, timestamp: app.clock.now().addingTimeInterval(skew))
        switch kind {
        case "forged": headers["X-Slack-Signature"] = "v0=" + String(repeating: "ab", count: 32)
        case "unsigned": headers["X-Slack-Signature"] = nil
        case "tampered": body = body.replacingOccurrences(of: "U0ALICE", with: "U0BOSSS")
        default: break
        }
        try await app.test(slack: slack) { [body, headers] client in
            let response = try await post(client, body: body, headers: headers)
            #expect(response.status == .unauthorized)
            #expect(response.error?.error == "invalid_slack_signature")
        }
        let events = try await app.store.auditEvents(AuditQuery(action: AuditAction.slackRequestRefused.rawValue))
        let expected = ["forged": "forged", "tampered": "forged", "stale": "stale", "future": "stale", "unsigned": "unsigned"][kind]
        #expect(events.map { $0.details["reason"] } == [expected])
        #expect(try await app.store.auditEvents(AuditQuery(action: AuditAction.voteRefused.rawValue)).isEmpty, "nothing was handled")
    }

    @Test("a flood of forged requests is answered 401 throughout, but audited one by one only within the budget, and the rest as a count")
    func forgedFlood() async throws {
        let app = try await TestGreenlight()
        let slack = integration(app)
        var (body, headers) = try simulator.signedRequest(payload: Self.click, timestamp: app.clock.now())
        headers["X-Slack-Signature"] = "v0=" + String(repeating: "ab", count: 32)
        let budget = RefusalAuditBudget()
        try await app.test(slack: slack) { [body, headers] client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<(budget.perRemote + 5) { statuses.append(try await post(client, body: body, headers: headers).status) }
            app.clock.advance(by: budget.window)
            statuses.append(try await post(client, body: body, headers: headers).status)
            #expect(statuses == Array(repeating: .unauthorized, count: budget.perRemote + 6))
        }
        let events = try await app.store.auditEvents(AuditQuery(action: AuditAction.slackRequestRefused.rawValue))
        #expect(events.count == budget.perRemote + 2, "ten one by one, the count of the rest, then the next minute's refusal")
        let summary = try #require(events.first { $0.details["reason"] == "over_audit_budget" })
        #expect(summary.details["unwritten"] == "5", "the five over the budget are counted")
        #expect(events.last?.details["reason"] == "forged")
        #expect(try await app.store.verifyAudit().isIntact)
    }

    @Test("a signed body that is not an interaction is 400; a type Greenlight does not handle is acknowledged")
    func unreadable() async throws {
        let app = try await TestGreenlight()
        let slack = integration(app)
        let shortcut = JSONValue.object(["type": .string("shortcut"), "user": .object(["id": .string("U1")])])
        let (shortcutBody, shortcutHeaders) = try simulator.signedRequest(payload: shortcut, timestamp: app.clock.now())
        let garbage = "payload=%7Bnot-json"
        let timestamp = String(Int(app.clock.now().timeIntervalSince1970))
        let garbageHeaders = [
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": simulator.verifier.signature(body: Data(garbage.utf8), timestamp: timestamp),
        ]
        try await app.test(slack: slack) { client in
            let bad = try await post(client, body: garbage, headers: garbageHeaders)
            #expect(bad.status == .badRequest)
            #expect(bad.error?.message.contains("not a JSON object") == true)
            #expect(try await post(client, body: shortcutBody, headers: shortcutHeaders).status == .ok)
        }
    }

    @Test("a click that cannot be stored in time (the database locked by another process) is 503, not 200; sent again, it counts once")
    func lockedDatabase() async throws {
        let app = try await TestGreenlight(notifying: [.slack])
        let slack = integration(app)
        let gate = try await BreakGlassAPITests.open(app, environment: "quick")
        let card = try #require(try await app.store.dueOutboxItems(at: app.clock.now(), limit: 10).first { $0.kind == .slackCard })
        try await app.store.completeOutboxItem(card, posted: PostedCard(channel: "C1", ts: "1.1"), audit: nil)
        let click = SlackSimulator.blockActions(
            user: "U0CAROL", actionID: GateCard.approveActionID, value: gate.id.rawValue, channel: "C1", ts: "1.1")
        let (body, headers) = try simulator.signedRequest(payload: click, timestamp: app.clock.now())

        // Another process holds the write lock, as `sqlite3 greenlight.db` with an open transaction would.
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: app.directory.appendingPathComponent("greenlight.db").path, configuration: configuration)
        try await other.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        try await app.test(slack: slack) { client in
            async let answer = post(client, body: body, headers: headers)
            await app.clock.waitForSleepers(1)  // the click's deadline
            app.clock.advance(by: SlackApprovals.answerWithin)
            let locked = try await answer
            #expect(locked.status == .serviceUnavailable)
            #expect(locked.error?.error == "not_stored")
            #expect(try await app.store.gate(gate.id)?.votes.isEmpty == true)

            try await other.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
            // Slack's redelivery, or the same click again: counted now, and once.
            let again = try await post(client, body: body, headers: headers)
            #expect(again.status == .ok)
        }
        let stored = try #require(try await app.store.gate(gate.id))
        #expect(stored.votes.map(\.voter) == ["carol"])
        #expect(stored.state == .approved)
        #expect(try await app.store.auditEvents(AuditQuery(action: AuditAction.voteRecorded.rawValue)).count == 1)
    }

    @Test("an author the policy knows but not by Slack id may not approve from an unmapped Slack account: it may be theirs")
    func unmappedClickerOnAuthorWithoutSlackID() async throws {
        let app = try await TestGreenlight(notifying: [.slack])
        let policy = try PolicyParser(file: "p.yaml").parse(
            """
            people:
              bob: { github: bob-gh }
            groups:
              leads: { members: [alice, U0BOB] }
            default: { require: [ { group: leads, count: 1 } ], channel: C1 }
            """
        ).policy
        let gatekeeper = Gatekeeper(store: app.store, policy: policy, clock: app.clock, notifying: [.slack])
        let pipeline = Principal.pipeline(named: "ci")
        let request = GateRequest(service: "shop", environment: "production", artifact: "a@sha256:1", commit: "0123abcd", authors: ["bob-gh"])
        let gate = try await gatekeeper.open(request, by: pipeline, idempotencyKey: nil).gate
        let card = try #require(try await app.store.dueOutboxItems(at: app.clock.now(), limit: 10).first { $0.kind == .slackCard })
        try await app.store.completeOutboxItem(card, posted: PostedCard(channel: "C1", ts: "1.1"), audit: nil)
        let slack = SlackIntegration(
            api: SlackWebAPI(token: "xoxb-unused", baseURL: "http://127.0.0.1:9/api/", http: HTTPClient.shared),
            directory: SlackDirectory(policy: policy), verifier: SlackRequestVerifier(signingSecret: "route-secret", clock: app.clock))
        let click = SlackSimulator.blockActions(user: "U0BOB", actionID: GateCard.approveActionID, value: gate.id.rawValue, channel: "C1", ts: "1.1")
        let (body, headers) = try simulator.signedRequest(payload: click, timestamp: app.clock.now())
        let router = GreenlightApplication.router(
            store: app.store, gatekeeper: gatekeeper, publicURL: PublicURL("https://greenlight.example.com"), slack: slack)
        let status = try await Application(router: router).test(.router) { client in
            try await post(client, body: body, headers: headers).status
        }
        #expect(status == .ok)
        #expect(try await app.store.gate(gate.id)?.votes.isEmpty == true, "bob approved his own change from his Slack account")
        let refused = try await app.store.auditEvents(AuditQuery(action: AuditAction.voteRefused.rawValue))
        #expect(refused.map { $0.details["reason"] } == ["unverified_identity"])
    }

    @Test("without Slack set up, the route says what to set")
    func notConfigured() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let response = try await post(client, body: "payload=%7B%7D", headers: [:])
            #expect(response.status == .notFound)
            #expect(response.error?.message.contains("SLACK_SIGNING_SECRET") == true)
        }
    }

    @Test("the directory: Slack ids become people, unknown ones stay ids; mentions for people and groups")
    func directory() throws {
        let policy = try PolicyParser(file: "p.yaml").parse(
            """
            people:
              alice: { slack: U0ALICE }
            groups:
              leads: { members: [alice, bob] }
              oncall: { slack_usergroup: S0ONCALL }
            default: { require: [ { group: leads, count: 1 } ] }
            """
        ).policy
        let directory = SlackDirectory(policy: policy)
        #expect(directory.identity(forSlackUser: "U0ALICE") == "alice")
        #expect(directory.identity(forSlackUser: "U0ZED") == "U0ZED")
        #expect(directory.usergroupMembers().isEmpty, "nothing read yet")
        directory.update(usergroup: "S0ONCALL", members: ["U0ALICE", "U0ZED"])
        #expect(directory.usergroupMembers() == ["oncall": ["alice", "U0ZED"]])
        #expect(directory.mention("alice") == "<@U0ALICE>")
        #expect(directory.mention("U0ZED") == "<@U0ZED>")
        #expect(directory.mention("<bob>") == "&lt;bob&gt;")
        #expect(directory.mention(group: "oncall") == ["<!subteam^S0ONCALL>"])
        #expect(directory.mention(group: "leads") == ["<@U0ALICE>", "bob"])
    }

    @Test("a gate whose approvers live in a Slack user group not read yet is refused with 503, not opened to time out")
    func usergroupNotRead() async throws {
        let app = try await TestGreenlight()
        let policy = try PolicyParser(file: "p.yaml").parse(
            "groups:\n  oncall: { slack_usergroup: S0ONCALL }\ndefault: { require: [ { group: oncall, count: 1 } ] }"
        ).policy
        let directory = SlackDirectory(policy: policy)
        let gatekeeper = Gatekeeper(store: app.store, policy: policy, clock: app.clock, usergroupMembers: directory.usergroupMembers)
        let pipeline = Principal.pipeline(named: "ci")
        let request = GateRequest(service: "shop", environment: "production", artifact: "reg/shop@sha256:abc", commit: "0123abcd")
        await #expect(throws: APIError.self) { _ = try await gatekeeper.open(request, by: pipeline, idempotencyKey: nil) }
        do {
            _ = try await gatekeeper.open(request, by: pipeline, idempotencyKey: nil)
        } catch let error as APIError {
            #expect(error.status == .serviceUnavailable)
            #expect(error.message.contains("S0ONCALL") && error.message.contains("usergroups:read"))
        }
        directory.update(usergroup: "S0ONCALL", members: ["U0DAVE"])
        let opened = try await gatekeeper.open(request, by: pipeline, idempotencyKey: nil)
        #expect(opened.gate.plan.requirements.first?.eligible == ["U0DAVE"])
    }
}

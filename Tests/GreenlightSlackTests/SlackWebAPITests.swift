import AsyncHTTPClient
import Foundation
import GreenlightCore
import GreenlightSlack
import GreenlightSlackSimulator
import GreenlightTestSupport
import Testing

/// The Web API client against the simulator, which answers as Slack documents: success shapes, 429 with
/// `Retry-After`, 500, and `ok: false`.
@Suite("Slack Web API client", .timeLimit(.minutes(1)))
struct SlackWebAPITests {
    static let http = SlackWebAPI.makeHTTPClient()

    func withSlack(_ body: (SlackSimulator, SlackWebAPI) async throws -> Void) async throws {
        let simulator = SlackSimulator(usergroups: ["S0LEADS": ["U01ALICE", "W02BOB"]])
        let url = try await simulator.start()
        defer { simulator.stop() }
        try await body(simulator, SlackWebAPI(token: simulator.botToken, baseURL: url, http: Self.http))
    }

    static let message = SlackMessage(
        channel: "C0DEPLOYS", text: "Deploy shop → production needs approval", blocks: [.header(.plain("shop → production"))])

    @Test("postMessage returns the channel and ts; update replaces the message; the token goes only in the header")
    func postAndUpdate() async throws {
        try await withSlack { slack, api in
            let address = try await api.postMessage(Self.message)
            #expect(address.channel == "C0DEPLOYS")
            #expect(!address.ts.isEmpty)
            let posted = try #require(slack.calls(to: "chat.postMessage").first)
            #expect(posted.arguments["text"] == .string("Deploy shop → production needs approval"))
            #expect(posted.arguments["token"] == nil)
            guard case .array(let blocks)? = posted.arguments["blocks"] else { throw CancellationError() }
            #expect(blocks.count == 1)

            var resolved = Self.message
            resolved.text = "Deploy shop → production: approved by alice"
            resolved.blocks = []
            try await api.update(address, with: resolved)
            #expect(slack.message(channel: address.channel, ts: address.ts)?["text"] == .string("Deploy shop → production: approved by alice"))
            #expect(slack.message(channel: address.channel, ts: address.ts)?["blocks"] == .array([]), "an empty blocks array removes the buttons")
        }
    }

    @Test("429 is rate limited with Retry-After's seconds; 500 is a server error; both retryable")
    func transientFailures() async throws {
        try await withSlack { slack, api in
            slack.inject(.rateLimited(retryAfter: 7), into: "chat.postMessage")
            await #expect(throws: SlackAPIError.rateLimited(retryAfter: 7)) { try await api.postMessage(Self.message) }
            slack.inject(.serverError, into: "chat.postMessage")
            await #expect(throws: SlackAPIError.server(status: 500)) { try await api.postMessage(Self.message) }
            #expect(SlackAPIError.rateLimited(retryAfter: 7).isRetryable)
            #expect(SlackAPIError.server(status: 500).isRetryable)
            _ = try await api.postMessage(Self.message)
            #expect(slack.calls(to: "chat.postMessage").count == 3)
        }
    }

    @Test("ok: false is an API error; most cannot succeed by retrying")
    func apiErrors() async throws {
        try await withSlack { slack, api in
            slack.inject(.error("channel_not_found"), into: "chat.postMessage")
            await #expect(throws: SlackAPIError.api("channel_not_found")) { try await api.postMessage(Self.message) }
            #expect(!SlackAPIError.api("channel_not_found").isRetryable)
            #expect(SlackAPIError.api("internal_error").isRetryable)
            await #expect(throws: SlackAPIError.api("message_not_found")) {
                try await api.update(.init(channel: "C0DEPLOYS", ts: "1.2"), with: Self.message)
            }
            let wrongToken = SlackWebAPI(token: "xoxb-wrong", baseURL: api.baseURL, http: Self.http)
            await #expect(throws: SlackAPIError.api("invalid_auth")) { try await wrongToken.postMessage(Self.message) }
        }
    }

    @Test("user group members, and an unknown group")
    func usergroups() async throws {
        try await withSlack { slack, api in
            let members = try await api.usergroupMembers("S0LEADS")
            #expect(members == ["U01ALICE", "W02BOB"])
            await #expect(throws: SlackAPIError.api("no_such_subteam")) { try await api.usergroupMembers("S0NOPE") }
            #expect(slack.calls(to: "usergroups.users.list").first?.arguments["usergroup"] == .string("S0LEADS"))
        }
    }

    @Test("an unreachable Slack is a transport error, retryable")
    func unreachable() async throws {
        let api = SlackWebAPI(token: "xoxb", baseURL: "http://127.0.0.1:1/api/", http: Self.http)
        do {
            _ = try await api.postMessage(Self.message)
            Issue.record("posting to a closed port succeeded")
        } catch {
            guard case .transport = error else { throw error }
            #expect(error.isRetryable)
        }
    }

    @Test("the simulator signs interactions the way the verifier checks them")
    func signedInteractions() throws {
        let clock = ManualWallClock()
        let slack = SlackSimulator(signingSecret: "s3cret", clock: clock)
        let payload = SlackSimulator.blockActions(user: "U01ALICE", actionID: "gate_approve", value: "g_x", channel: "C0DEPLOYS", ts: "1.2")
        let (body, headers) = try slack.signedRequest(payload: payload, timestamp: clock.now())
        #expect(body.hasPrefix("payload=%7B%22"))
        try slack.verifier.verify(body: Data(body.utf8), timestamp: headers["X-Slack-Request-Timestamp"], signature: headers["X-Slack-Signature"])
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data((body.dropFirst("payload=".count).removingPercentEncoding ?? "").utf8))
        #expect(decoded == payload)
    }
}

import Foundation
import GreenlightCore
import GreenlightSlack
import GreenlightSlackSimulator
import GreenlightTestSupport
import Logging
import Synchronization
import Testing
import WSClient

/// Socket Mode: the frames of protocols.md 4.2 decoded, and the client against the simulator's `/link` WebSocket:
/// acknowledgements, delivery, reconnecting after `disconnect` and after a dropped socket, a refused token,
/// rate limits and cancellation. Every wait is on an event, never on a sleep.
@Suite("Slack Socket Mode", .timeLimit(.minutes(1)))
struct SocketModeTests {
    static let http = SlackWebAPI.makeHTTPClient()

    static var quietLogger: Logger {
        var logger = Logger(label: "socket-mode-test")
        logger.logLevel = .critical
        return logger
    }

    // MARK: Frames

    @Test("hello: the doc's example (its missing colon restored) and the SDK fixture")
    func hello() throws {
        let doc = """
            { "type": "hello", "connection_info": { "app_id": "A1234" }, "num_connections": 1,
              "debug_info": { "host": "applink-…", "started": "2020-10-11 12:12:12.120", "build_number": 54, "approximate_connection_time": 3600 } }
            """
        #expect(try SocketModeMessage.decode(doc) == .hello(.init(appID: "A1234", numConnections: 1, approximateConnectionTime: 3600)))
        let sdk = #"""
            {"type":"hello","num_connections":2,"debug_info":{"host":"applink-111-xxx","build_number":10,"approximate_connection_time":18060},"connection_info":{"app_id":"A111"}}
            """#
        #expect(try SocketModeMessage.decode(sdk) == .hello(.init(appID: "A111", numConnections: 2, approximateConnectionTime: 18060)))
        #expect(try SocketModeMessage.decode(#"{"type":"hello"}"#) == .hello(.init()))
    }

    @Test("disconnect: every documented reason, and the SDKs' too_many_websockets")
    func disconnect() throws {
        for reason in ["link_disabled", "warning", "refresh_requested"] {
            let frame = #"{ "type": "disconnect", "reason": "\#(reason)", "debug_info": { "host": "wss-111.slack.com" } }"#
            #expect(try SocketModeMessage.decode(frame) == .disconnect(reason: reason))
        }
        let sdk = #"""
            {"type":"disconnect","reason":"too_many_websockets","num_connections":2,"debug_info":{"host":"applink-111-xxx"},"connection_info":{"app_id":"A111"}}
            """#
        #expect(try SocketModeMessage.decode(sdk) == .disconnect(reason: "too_many_websockets"))
    }

    @Test("envelopes: an interactive button click and a retried events_api event; the ack is {\"envelope_id\":…}")
    func envelopes() throws {
        let interactive = #"""
            {"payload": {"type": "block_actions", "user": {"id": "U123APPROVER"}, "actions": [{"action_id": "deploy_approve", "value": "gate-42"}]},
             "envelope_id": "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545", "type": "interactive", "accepts_response_payload": true}
            """#
        guard case .envelope(let id, let type, let payload, let accepts) = try SocketModeMessage.decode(interactive) else {
            Issue.record("not an envelope")
            return
        }
        #expect(id == "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545")
        #expect(type == "interactive")
        #expect(accepts)
        guard case .object(let fields) = payload, case .buttonClick(let click) = try SlackInteraction.decode(payload: fields) else {
            Issue.record("the payload is not a click: \(payload)")
            return
        }
        #expect(click.userID == "U123APPROVER")
        #expect(SocketModeMessage.ack(envelopeID: id) == #"{"envelope_id":"dbdd0ef3-1543-4f94-bfb4-133d0e6c1545"}"#)

        let event = #"""
            {"payload":{"event":{"type":"app_mention"}},"envelope_id":"e-1","type":"events_api","accepts_response_payload":false,"retry_attempt":1,"retry_reason":"timeout"}
            """#
        #expect(
            try SocketModeMessage.decode(event)
                == .envelope(
                    id: "e-1", type: "events_api", payload: .object(["event": .object(["type": .string("app_mention")])]),
                    acceptsResponsePayload: false))
    }

    @Test("garbage is a typed error, never a crash")
    func garbage() {
        let cases: [(String, SocketModeMessageError)] = [
            ("", .notJSONObject),
            ("not json", .notJSONObject),
            ("[1, 2]", .notJSONObject),
            (#""hello""#, .notJSONObject),
            (#"{"type": "surprise"}"#, .unknownType("surprise")),
            (#"{"reason": "warning"}"#, .missingField("type")),
            (#"{"envelope_id": "e-1", "payload": {}}"#, .missingField("type")),
            (#"{"envelope_id": 7, "type": "interactive"}"#, .missingField("envelope_id")),
            (#"{"envelope_id": "", "type": "interactive"}"#, .missingField("envelope_id")),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text)") { try SocketModeMessage.decode(text) }
        }
    }

    // MARK: apps.connections.open

    @Test("apps.connections.open takes the app-level token and hands out a new single-use URL each time")
    func openConnection() async throws {
        let slack = SlackSimulator()
        let base = try await slack.start()
        defer { slack.stop() }
        let api = SlackWebAPI(token: slack.appToken, baseURL: base, http: Self.http)
        let first = try await api.openSocketModeConnection()
        let second = try await api.openSocketModeConnection()
        #expect(first.hasPrefix("ws://127.0.0.1:"))
        #expect(first.contains("/link/?ticket="))
        #expect(first != second)
        #expect(slack.calls(to: "apps.connections.open").first?.arguments == [:], "the token travels in the header, not the body")
        let botToken = SlackWebAPI(token: slack.botToken, baseURL: base, http: Self.http)
        await #expect(throws: SlackAPIError.api("invalid_auth")) { try await botToken.openSocketModeConnection() }
    }

    @Test("the simulator takes node's ack form too ({\"envelope_id\",\"payload\":{}}), and refuses a used ticket")
    func simulatorAckForms() async throws {
        let slack = SlackSimulator()
        let base = try await slack.start()
        defer { slack.stop() }
        let url = try await SlackWebAPI(token: slack.appToken, baseURL: base, http: Self.http).openSocketModeConnection()
        let logger = Self.quietLogger
        let reader = Task {
            _ = try await WebSocketClient.connect(url: url, logger: logger) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard case .text(let hello)? = try await messages.next() else { return }
                #expect(try SocketModeMessage.decode(hello) == .hello(.init(appID: "A0SIM", numConnections: 1, approximateConnectionTime: 18060)))
                guard case .text(let text)? = try await messages.next(), case .envelope(let id, _, _, _) = try SocketModeMessage.decode(text)
                else { return }
                try await outbound.write(.text(#"{"envelope_id":"\#(id)","payload":{}}"#))
                _ = try await messages.next()
            }
        }
        await slack.waitForConnections(1)
        let id = try await slack.sendInteraction(Self.click("U01ALICE"))
        await slack.waitForAck(id)
        #expect(slack.acks == [id])
        await slack.dropSockets()
        _ = try? await reader.value

        await #expect(throws: (any Error).self, "a ticket is good for one connection") {
            try await WebSocketClient.connect(url: url, logger: logger) { _, _, _ in }
        }
        #expect(slack.connectionCount == 1)
    }

    // MARK: The client

    /// A running client and what it delivered, for one test.
    struct Harness {
        let slack: SlackSimulator
        let clock: any WallClock
        let task: Task<Void, any Error>
        var delivered: AsyncStream<[String: JSONValue]>.Iterator

        /// The next payload handed to `onInteraction`.
        mutating func nextInteraction() async throws -> SlackInteraction {
            let next = await delivered.next()
            let payload = try #require(next, "run ended before delivering")
            return try SlackInteraction.decode(payload: payload)
        }
    }

    /// Starts the simulator and a client with `appToken`; cancels the client afterwards and checks `run` returns.
    /// `handled` says which payloads the handler reports as handled (and so acknowledged).
    func withClient(
        appToken: String? = nil, clock: any WallClock = SystemWallClock(), before: (SlackSimulator) -> Void = { _ in },
        handled: @escaping @Sendable ([String: JSONValue]) -> Bool = { _ in true },
        _ body: (inout Harness) async throws -> Void
    ) async throws {
        let slack = SlackSimulator()
        let base = try await slack.start()
        defer { slack.stop() }
        before(slack)
        let logger = Self.quietLogger
        let client = SocketModeClient(
            api: SlackWebAPI(token: appToken ?? slack.appToken, baseURL: base, http: Self.http), clock: clock, logger: logger,
            backoff: Backoff(initial: 0.05, maximum: 0.2))
        let (delivered, deliver) = AsyncStream.makeStream(of: [String: JSONValue].self)
        let task = Task {
            try await client.run {
                deliver.yield($0)
                return handled($0)
            }
        }
        var harness = Harness(slack: slack, clock: clock, task: task, delivered: delivered.makeAsyncIterator())
        do {
            try await body(&harness)
        } catch {
            task.cancel()
            throw error
        }
        task.cancel()
        try await task.value
    }

    static func click(_ user: String) -> JSONValue {
        SlackSimulator.blockActions(user: user, actionID: "gate_approve", value: "g_1", channel: "C0DEPLOYS", ts: "1700000000.000101")
    }

    @Test("an interactive envelope is acknowledged and delivered; other envelopes and garbage are acknowledged or skipped")
    func deliversInteractions() async throws {
        try await withClient { client in
            let slack = client.slack
            await slack.waitForConnections(1)
            try await slack.sendText("this is not JSON")
            let event = try await slack.sendEnvelope(type: "events_api", payload: .object(["event": .object(["type": .string("app_mention")])]))
            let command = try await slack.sendEnvelope(type: "slash_commands", payload: .object(["command": .string("/deploy")]))
            let id = try await slack.sendInteraction(Self.click("U01ALICE"))
            await slack.waitForAck(event)
            await slack.waitForAck(command)
            await slack.waitForAck(id)
            guard case .buttonClick(let click) = try await client.nextInteraction() else {
                Issue.record("not a click")
                return
            }
            #expect(click.userID == "U01ALICE", "the first delivery is the interaction: events and commands are not delivered")
            #expect(slack.acks == [event, command, id])
            #expect(slack.connectionCount == 1, "garbage does not cost the connection")
            #expect(slack.calls(to: "apps.connections.open").count == 1)
        }
    }

    @Test("an interaction the handler could not handle (not stored) is left unacknowledged; the next one is acknowledged")
    func unhandledIsNotAcknowledged() async throws {
        let unstored: @Sendable ([String: JSONValue]) -> Bool = { payload in
            guard case .object(let user)? = payload["user"] else { return true }
            return user["id"] != .string("U0LOCKED")
        }
        try await withClient(handled: unstored) { client in
            let slack = client.slack
            await slack.waitForConnections(1)
            let refused = try await slack.sendInteraction(Self.click("U0LOCKED"))
            _ = try await client.nextInteraction()
            let next = try await slack.sendInteraction(Self.click("U01ALICE"))
            _ = try await client.nextInteraction()
            await slack.waitForAck(next)
            #expect(slack.acks == [next], "the unhandled envelope \(refused) must not be acknowledged")
        }
    }

    @Test("after disconnect (refresh_requested) the client opens a new URL and envelopes keep arriving")
    func reconnectsOnDisconnect() async throws {
        try await withClient { client in
            let slack = client.slack
            await slack.waitForConnections(1)
            _ = try await client.nextInteractionAfterSending(Self.click("U01ALICE"))
            await slack.disconnectSockets(reason: "refresh_requested")
            await slack.waitForConnections(2)
            #expect(slack.calls(to: "apps.connections.open").count == 2, "a new URL for every connection: tickets are single-use")
            let click = try await client.nextInteractionAfterSending(Self.click("W02BOB"))
            #expect(click.userID == "W02BOB")
        }
    }

    @Test("after a dropped socket the client reconnects with backoff and envelopes keep arriving")
    func reconnectsAfterDrop() async throws {
        try await withClient { client in
            let slack = client.slack
            await slack.waitForConnections(1)
            // An ack first proves the client is reading: a drop racing its WebSocket upgrade goes unnoticed until the
            // next ping (30 s), which is the client's safety net, not what this test is about.
            _ = try await client.nextInteractionAfterSending(Self.click("U01ALICE"))
            await slack.dropSockets()
            await slack.waitForConnections(2)
            let click = try await client.nextInteractionAfterSending(Self.click("W02BOB"))
            #expect(click.userID == "W02BOB")
            #expect(slack.calls(to: "apps.connections.open").count == 2)
        }
    }

    @Test("a refused app token ends run with an error that says what to fix")
    func refusedToken() async throws {
        let slack = SlackSimulator(appToken: "xapp-right")
        let base = try await slack.start()
        defer { slack.stop() }
        let logger = Self.quietLogger
        let client = SocketModeClient(api: SlackWebAPI(token: "xapp-wrong", baseURL: base, http: Self.http), clock: ManualWallClock(), logger: logger)
        await #expect(throws: SocketModeError.appTokenRefused(code: "invalid_auth")) { try await client.run { _ in true } }
        #expect(slack.calls(to: "apps.connections.open").count == 1, "no retry: only a person can fix the token")
        #expect(SocketModeError.appTokenRefused(code: "invalid_auth").description.contains("SLACK_APP_TOKEN"))
        #expect(SocketModeError.appTokenRefused(code: "invalid_auth").description.contains("connections:write"))

        slack.inject(.error("account_inactive"), into: "apps.connections.open")
        await #expect(throws: SocketModeError.appTokenRefused(code: "account_inactive")) { try await client.run { _ in true } }
    }

    @Test("a rate-limited apps.connections.open waits Retry-After on the clock; a 500 is retried with backoff")
    func rateLimited() async throws {
        let clock = ManualWallClock()
        try await withClient(
            clock: clock,
            before: {
                $0.inject(.rateLimited(retryAfter: 30), into: "apps.connections.open")
                $0.inject(.serverError, into: "apps.connections.open")
            }
        ) { client in
            await clock.waitForSleepers(1)
            #expect(client.slack.connectionCount == 0)
            clock.advance(by: 29)
            #expect(client.slack.calls(to: "apps.connections.open").count == 1, "still waiting out Retry-After")
            clock.advance(by: 1)
            await client.slack.waitForCalls(to: "apps.connections.open", count: 2)
            await clock.waitForSleepers(1)
            clock.advance(by: 1)
            await client.slack.waitForConnections(1)
            let click = try await client.nextInteractionAfterSending(Self.click("U01ALICE"))
            #expect(click.userID == "U01ALICE")
        }
    }

    @Test("cancelling ends run promptly, connected or waiting")
    func cancellation() async throws {
        // Connected: withClient cancels the task as the body returns, and awaits run's return. Timed from the cancel
        // only, so that a machine busy starting the simulator and connecting does not count: a run that waited for
        // its socket's next ping or read (a minute) would not return within the bound; one that closes (3 s) does.
        let cancelled = Mutex<ContinuousClock.Instant?>(nil)
        try await withClient { client in
            await client.slack.waitForConnections(1)
            cancelled.withLock { $0 = ContinuousClock.now }
        }
        let since = try #require(cancelled.withLock { $0 })
        #expect(ContinuousClock.now - since < .seconds(10))

        // Waiting out a rate limit.
        let clock = ManualWallClock()
        try await withClient(clock: clock, before: { $0.inject(.rateLimited(retryAfter: 600), into: "apps.connections.open") }) { _ in
            await clock.waitForSleepers(1)
        }
    }
}

extension SocketModeTests.Harness {
    /// Sends `payload` as an interactive envelope, waits for its ack, and returns the click delivered.
    mutating func nextInteractionAfterSending(_ payload: JSONValue) async throws -> SlackInteraction.ButtonClick {
        let id = try await slack.sendInteraction(payload)
        await slack.waitForAck(id)
        guard case .buttonClick(let click) = try await nextInteraction() else { throw SlackInteractionError.unsupportedType("not a click") }
        return click
    }
}

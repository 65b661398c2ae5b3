import Foundation
import GreenlightCore
import GreenlightSlack
import GreenlightSlackSimulator
import Logging
import Testing

/// Socket Mode: the frames of protocols.md 4.2 decoded, and the client against the simulator's `/link` WebSocket:
/// acknowledgements, delivery, reconnecting after `disconnect` and after a dropped socket, a refused token,
/// rate limits and cancellation. Every wait is on an event, never on a sleep.
@Suite("Slack Socket Mode", .timeLimit(.minutes(1)))
struct SocketModeTests {
    static let http = SlackWebAPI.makeHTTPClient()

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
}

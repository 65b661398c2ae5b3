import Foundation
import GreenlightCore
import GreenlightSlack
import Hummingbird
import HummingbirdWebSocket
import Logging
import Synchronization

/// A stand-in for Slack on loopback, for tests and demos: it serves the Web API methods Greenlight calls with the
/// response shapes Slack documents (protocols.md 2.6–2.8), records every call, fails on request (429 with
/// `Retry-After`, 500, `ok: false`), and produces interaction requests signed the way Slack signs them. It also speaks
/// Socket Mode (`SlackSimulator+SocketMode.swift`).
public final class SlackSimulator: Sendable {
    /// One call as the simulator received it.
    public struct Call: Sendable, Equatable {
        public var method: String
        public var arguments: [String: JSONValue]
    }

    /// A failure to serve instead of the method's normal answer.
    public enum Fault: Sendable, Equatable {
        /// HTTP 429 with `Retry-After: seconds` and `{"ok":false,"error":"ratelimited"}`.
        case rateLimited(retryAfter: Int)
        /// HTTP 500 with no JSON.
        case serverError
        /// HTTP 200 with `{"ok": false, "error": code}`.
        case error(String)
    }

    private struct State {
        var calls: [Call] = []
        var faults: [String: [Fault]] = [:]
        var messages: [String: [String: JSONValue]] = [:]
        var nextTS = 100
        /// Calls answered so far, by method.
        var answered: [String: Int] = [:]
    }

    public let botToken: String
    /// The `xapp-` token `apps.connections.open` must carry (Socket Mode).
    public let appToken: String
    public let verifier: SlackRequestVerifier
    private let usergroups: [String: [String]]
    private let state = Mutex(State())
    private let server = Mutex<Task<Void, any Error>?>(nil)
    /// Tests waiting for calls, acknowledgements and connections.
    let waiters = Waiters()
    /// Socket Mode connections, tickets and acknowledgements (`SlackSimulator+SocketMode.swift`).
    let socketMode = SocketModeHub()

    /// - Parameters:
    ///   - botToken: the `xoxb-` token calls must carry.
    ///   - signingSecret: the secret interaction requests are signed with.
    ///   - usergroups: user group id → member user ids, for `usergroups.users.list`.
    ///   - appToken: the `xapp-` token `apps.connections.open` must carry.
    public init(
        botToken: String = "xoxb-simulator", signingSecret: String = "simulator-signing-secret", usergroups: [String: [String]] = [:],
        clock: any WallClock = SystemWallClock(), appToken: String = "xapp-simulator"
    ) {
        self.botToken = botToken
        self.appToken = appToken
        self.verifier = SlackRequestVerifier(signingSecret: signingSecret, clock: clock)
        self.usergroups = usergroups
    }

    /// Starts serving on a free loopback port; returns the Web API base URL (`http://127.0.0.1:PORT/api/`).
    public func start() async throws -> String {
        let router = Router()
        router.post("api/:method") { request, context in try await self.handle(request, context: context) }
        router.get("api/:method") { request, context in try await self.handle(request, context: context) }
        var logger = Logger(label: "slack-simulator")
        logger.logLevel = .critical
        let (ports, announce) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: .init()) { request, channel, _ in self.socketModeUpgrade(request, channel: channel) },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { announce.yield($0.localAddress?.port ?? 0) }, logger: logger)
        server.withLock { $0 = Task { try await app.run() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        socketMode.state.withLock { $0.port = port }
        return "http://127.0.0.1:\(port)/api/"
    }

    /// Stops serving.
    public func stop() {
        server.withLock { $0?.cancel() }
    }

    /// Every call so far, oldest first.
    public var calls: [Call] { state.withLock { $0.calls } }

    public func calls(to method: String) -> [Call] { calls.filter { $0.method == method } }

    /// Answers the next `times` calls to `method` with `fault`.
    public func inject(_ fault: Fault, into method: String, times: Int = 1) {
        state.withLock { $0.faults[method, default: []] += Array(repeating: fault, count: times) }
    }

    /// Returns once `method` has been called at least `count` times in all (failed calls included) and answered, or
    /// when the task is cancelled (a test's time limit), so that a call that never comes fails the test, not hangs it.
    public func waitForCalls(to method: String, count: Int) async {
        await waiters.wait { self.state.withLock { $0.answered[method, default: 0] >= count } }
    }

    /// Returns once the calls to `method` so far satisfy `condition` (every gate's card posted, say), or when the task
    /// is cancelled. For a count that retried calls would satisfy too early, where ``waitForCalls(to:count:)`` would not do.
    public func waitForCalls(to method: String, satisfying condition: @escaping @Sendable ([Call]) -> Bool) async {
        await waiters.wait { condition(self.calls(to: method)) }
    }

    /// The message as it now stands in `channel` at `ts` (after every `chat.update`).
    public func message(channel: String, ts: String) -> [String: JSONValue]? {
        state.withLock { $0.messages["\(channel)/\(ts)"] }
    }

    /// Every message standing in the workspace (as last posted or updated), with its address.
    public var postedMessages: [(channel: String, ts: String, arguments: [String: JSONValue])] {
        state.withLock { state in
            state.messages.map { key, arguments in
                let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
                return (parts[0], parts[1], arguments)
            }.sorted { $0.ts < $1.ts }
        }
    }

    // MARK: Interactions

    /// A `block_actions` payload for `user` clicking `actionID` (value `value`) on the message at `channel`/`ts`.
    public static func blockActions(
        user: String, actionID: String, value: String, channel: String, ts: String, triggerID: String = "111.222.trigger"
    ) -> JSONValue {
        .object([
            "type": .string("block_actions"),
            "user": .object(["id": .string(user), "username": .string(user.lowercased()), "team_id": .string("T0SIM")]),
            "api_app_id": .string("A0SIM"),
            "container": .object([
                "type": .string("message"), "message_ts": .string(ts), "channel_id": .string(channel), "is_ephemeral": .bool(false),
            ]),
            "trigger_id": .string(triggerID),
            "team": .object(["id": .string("T0SIM"), "domain": .string("simulator")]),
            "channel": .object(["id": .string(channel), "name": .string("deploys")]),
            "message": .object(["type": .string("message"), "ts": .string(ts), "text": .string("Deploy approval")]),
            "response_url": .string("https://hooks.slack.com/actions/T0SIM/1/simulated"),
            "actions": .array([
                .object([
                    "action_id": .string(actionID), "block_id": .string("gate"), "value": .string(value), "type": .string("button"),
                    "text": .object(["type": .string("plain_text"), "text": .string(actionID)]), "action_ts": .string("1700000001.000200"),
                ])
            ]),
        ])
    }

    /// The form body and headers Slack would POST for `payload` at `timestamp`: `payload=<url-encoded JSON>`, signed.
    public func signedRequest(payload: JSONValue, timestamp: Date) throws -> (body: String, headers: [String: String]) {
        let json = String(decoding: try SlackJSON.encode(payload), as: UTF8.self)
        let body = "payload=" + (json.addingPercentEncoding(withAllowedCharacters: Self.formSafe) ?? "")
        let seconds = String(Int(timestamp.timeIntervalSince1970))
        return (
            body,
            [
                "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": seconds,
                "X-Slack-Signature": verifier.signature(body: Data(body.utf8), timestamp: seconds),
            ]
        )
    }

    /// The characters a form value may carry unencoded (as Python's `quote(safe='')` leaves them).
    static let formSafe = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

    // MARK: Web API

    private func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let method = context.parameters.get("method") ?? ""
        var arguments: [String: JSONValue] = [:]
        for (key, value) in request.uri.queryParameters { arguments[String(key)] = .string(String(value)) }
        let body = try await request.body.collect(upTo: 4 << 20)
        if body.readableBytes > 0 {
            if request.headers[.contentType]?.hasPrefix("application/json") == true {
                guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(body.readableBytesView)) else {
                    return Self.answer(["ok": .bool(false), "error": .string("invalid_json")])
                }
                arguments.merge(object) { $1 }
            } else {
                for pair in String(buffer: body).split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                    arguments[parts[0]] = .string(parts.count > 1 ? parts[1] : "")
                }
            }
        }
        let fault = state.withLock { state -> Fault? in
            state.calls.append(Call(method: method, arguments: arguments))
            return state.faults[method]?.isEmpty == false ? state.faults[method]?.removeFirst() : nil
        }
        // Waiters are told once the call has been answered (and a posted message stored), not merely received.
        defer {
            state.withLock { $0.answered[method, default: 0] += 1 }
            waiters.check()
        }
        switch fault {
        case .rateLimited(let seconds)?:
            return Self.answer(
                ["ok": .bool(false), "error": .string("ratelimited")], status: .tooManyRequests, headers: [.retryAfter: String(seconds)])
        case .serverError?:
            return Response(status: .internalServerError)
        case .error(let code)?:
            return Self.answer(["ok": .bool(false), "error": .string(code)])
        case nil:
            break
        }
        guard let authorization = request.headers[.authorization] else { return Self.answer(["ok": .bool(false), "error": .string("not_authed")]) }
        // apps.connections.open takes the app-level token; every other method the bot token.
        guard authorization == "Bearer \(method == "apps.connections.open" ? appToken : botToken)" else {
            return Self.answer(["ok": .bool(false), "error": .string("invalid_auth")])
        }
        return Self.answer(serve(method, arguments))
    }

    private func serve(_ method: String, _ arguments: [String: JSONValue]) -> [String: JSONValue] {
        func failure(_ code: String) -> [String: JSONValue] { ["ok": .bool(false), "error": .string(code)] }
        switch method {
        case "chat.postMessage":
            guard let channel = arguments["channel"]?.stringValue, !channel.isEmpty else { return failure("channel_not_found") }
            guard arguments["text"] != nil || arguments["blocks"] != nil else { return failure("no_text") }
            let ts = state.withLock { state -> String in
                state.nextTS += 1
                let ts = "1700000000.\(String(format: "%06d", state.nextTS))"
                state.messages["\(channel)/\(ts)"] = arguments
                return ts
            }
            return [
                "ok": .bool(true), "channel": .string(channel), "ts": .string(ts),
                "message": .object([
                    "type": .string("message"), "ts": .string(ts), "bot_id": .string("B0SIM"), "text": arguments["text"] ?? .string(""),
                ]),
            ]
        case "chat.update":
            guard let channel = arguments["channel"]?.stringValue, let ts = arguments["ts"]?.stringValue else { return failure("message_not_found") }
            if let text = arguments["text"]?.stringValue, text.count > 4_000 { return failure("msg_too_long") }
            let found = state.withLock { state -> Bool in
                guard state.messages["\(channel)/\(ts)"] != nil else { return false }
                state.messages["\(channel)/\(ts)"] = arguments
                return true
            }
            guard found else { return failure("message_not_found") }
            return ["ok": .bool(true), "channel": .string(channel), "ts": .string(ts), "text": arguments["text"] ?? .string("")]
        case "chat.postEphemeral":
            guard arguments["channel"]?.stringValue != nil, arguments["user"]?.stringValue != nil else { return failure("user_not_in_channel") }
            return ["ok": .bool(true), "message_ts": .string("1700000001.000001")]
        case "views.open":
            guard arguments["trigger_id"]?.stringValue != nil, arguments["view"] != nil else { return failure("invalid_arguments") }
            return ["ok": .bool(true), "view": .object(["id": .string("V0SIM")])]
        case "apps.connections.open":
            return openSocketModeConnection()
        case "usergroups.users.list":
            guard let group = arguments["usergroup"]?.stringValue, let users = usergroups[group] else { return failure("no_such_subteam") }
            return ["ok": .bool(true), "users": .array(users.map(JSONValue.string))]
        default:
            return failure("unknown_method")
        }
    }

    private static func answer(_ object: [String: JSONValue], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        let data = (try? SlackJSON.encode(object)) ?? Data()
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

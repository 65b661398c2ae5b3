import AsyncHTTPClient
import Foundation
import GreenlightCore
import NIOCore
import NIOHTTP1

/// Why a Slack Web API call did not succeed, sorted by what the caller should do about it.
public enum SlackAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// HTTP 429: wait `retryAfter` seconds (from `Retry-After`) before calling this method again.
    case rateLimited(retryAfter: Double)
    /// A 5xx answer: Slack is having trouble; try again later.
    case server(status: Int)
    /// No answer (connection refused, timed out, reset).
    case transport(String)
    /// `ok: false` with Slack's error code (`channel_not_found`, `invalid_auth`, …).
    case api(String)
    /// The answer was not the JSON Slack sends.
    case invalidResponse(String)

    /// Slack error codes that describe a passing condition rather than a bad request.
    static let transientCodes: Set<String> = ["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"]

    /// Whether the same call may succeed later. `ok: false` errors such as `channel_not_found` never will.
    public var isRetryable: Bool {
        switch self {
        case .rateLimited, .server, .transport: true
        case .api(let code): Self.transientCodes.contains(code)
        case .invalidResponse: false
        }
    }

    public var description: String {
        switch self {
        case .rateLimited(let seconds): "rate limited by Slack; retry after \(seconds) s"
        case .server(let status): "Slack answered HTTP \(status)"
        case .transport(let message): "Slack could not be reached: \(message)"
        case .api(let code): "Slack refused the call: \(code)"
        case .invalidResponse(let message): "unexpected answer from Slack: \(message)"
        }
    }
}

/// The Slack Web API methods Greenlight uses, one attempt per call: retries, backoff and waiting out rate limits are
/// the outbox's job, so that they survive a restart.
public struct SlackWebAPI: Sendable {
    /// Slack's own endpoint; `GREENLIGHT_SLACK_API_URL` points elsewhere (the simulator) in tests.
    public static let defaultBaseURL = "https://slack.com/api/"

    public let baseURL: String
    private let token: String
    private let http: HTTPClient

    /// An HTTP client for Slack calls: a failed connection is reported at once (the outbox retries with backoff and
    /// records each attempt) and connecting gives up after 5 seconds. The caller owns it and must shut it down.
    public static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public init(token: String, baseURL: String = defaultBaseURL, http: HTTPClient) {
        self.token = token
        self.baseURL = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
        self.http = http
    }

    /// Where a posted message lives: the key for `chat.update`.
    public struct MessageAddress: Sendable, Equatable, Codable {
        public var channel: String
        public var ts: String

        public init(channel: String, ts: String) {
            self.channel = channel
            self.ts = ts
        }
    }

    /// `chat.postMessage`.
    public func postMessage(_ message: SlackMessage, threadTS: String? = nil) async throws(SlackAPIError) -> MessageAddress {
        var body = try object(message)
        body["thread_ts"] = threadTS.map(JSONValue.string)
        let answer = try await post("chat.postMessage", body)
        guard let channel = answer["channel"]?.stringValue, let ts = answer["ts"]?.stringValue else {
            throw .invalidResponse("chat.postMessage answered without channel and ts")
        }
        return MessageAddress(channel: channel, ts: ts)
    }

    /// `chat.update`: replaces the message's text and blocks (an empty `blocks` removes them).
    public func update(_ address: MessageAddress, with message: SlackMessage) async throws(SlackAPIError) {
        var body = try object(message)
        body["channel"] = .string(address.channel)
        body["ts"] = .string(address.ts)
        _ = try await post("chat.update", body)
    }

    /// `chat.postEphemeral`: a message only `user` sees.
    public func postEphemeral(channel: String, user: String, text: String) async throws(SlackAPIError) {
        _ = try await post("chat.postEphemeral", ["channel": .string(channel), "user": .string(user), "text": .string(text)])
    }

    /// `views.open`: shows a modal to the person whose click gave `triggerID` (valid for three seconds, once).
    public func openView(triggerID: String, view: JSONValue) async throws(SlackAPIError) {
        // The trigger is dead after three seconds anyway; waiting longer would only delay the fallback.
        _ = try await post("views.open", ["trigger_id": .string(triggerID), "view": view], timeout: .milliseconds(2_500))
    }

    /// `usergroups.users.list`: the members of a user group (`S…`).
    public func usergroupMembers(_ usergroup: String) async throws(SlackAPIError) -> [String] {
        let answer = try await get("usergroups.users.list", ["usergroup": usergroup])
        guard case .array(let users)? = answer["users"] else { throw .invalidResponse("usergroups.users.list answered without users") }
        return users.compactMap(\.stringValue)
    }

    /// `apps.connections.open`: a fresh, single-use Socket Mode WebSocket URL (`wss://…`).
    ///
    /// Call it on a `SlackWebAPI` made with the **app-level** token (`xapp-…`, scope `connections:write`), not the bot
    /// token. Slack wants the token in the `Authorization` header and a form POST with an empty body (protocols.md 4.1).
    public func openSocketModeConnection() async throws(SlackAPIError) -> String {
        let answer = try await postEmptyForm("apps.connections.open")
        guard let url = answer["url"]?.stringValue, !url.isEmpty else { throw .invalidResponse("apps.connections.open answered without url") }
        return url
    }

    // MARK: Transport

    private func object(_ message: SlackMessage) throws(SlackAPIError) -> [String: JSONValue] {
        do {
            return try JSONDecoder().decode([String: JSONValue].self, from: SlackJSON.encode(message))
        } catch {
            throw .invalidResponse("could not encode the message: \(error)")
        }
    }

    /// A JSON POST, as Slack's SDKs send the chat methods.
    func post(_ method: String, _ body: [String: JSONValue], timeout: TimeAmount = .seconds(15)) async throws(SlackAPIError) -> [String: JSONValue] {
        var request = HTTPClientRequest(url: baseURL + method)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        do {
            request.body = .bytes(ByteBuffer(bytes: try SlackJSON.encode(body)))
        } catch {
            throw .invalidResponse("could not encode the request: \(error)")
        }
        return try await send(request, timeout: timeout)
    }

    /// A form POST (`application/x-www-form-urlencoded`) with no fields, as Slack documents `apps.connections.open`:
    /// the token goes in the header, never in the body.
    func postEmptyForm(_ method: String) async throws(SlackAPIError) -> [String: JSONValue] {
        var request = HTTPClientRequest(url: baseURL + method)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer())
        return try await send(request)
    }

    /// A GET with query parameters, as Slack's SDKs send the read methods.
    func get(_ method: String, _ query: [String: String]) async throws(SlackAPIError) -> [String: JSONValue] {
        var components = URLComponents(string: baseURL + method)
        components?.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        var request = HTTPClientRequest(url: components?.string ?? baseURL + method)
        request.method = .GET
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest, timeout: TimeAmount = .seconds(15)) async throws(SlackAPIError) -> [String: JSONValue] {
        var request = request
        // The token travels only in this header; it is never logged.
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let status: Int
        let retryAfter: String?
        let bytes: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: timeout)
            status = Int(response.status.code)
            retryAfter = response.headers.first(name: "Retry-After")
            bytes = try await response.body.collect(upTo: 4 << 20)
        } catch {
            throw .transport(String(describing: error))
        }
        if status == 429 {
            throw .rateLimited(retryAfter: retryAfter.flatMap(Double.init).map { max(0, $0) } ?? 1)
        }
        if status >= 500 { throw .server(status: status) }
        guard let answer = try? JSONDecoder().decode([String: JSONValue].self, from: Data(bytes.readableBytesView)) else {
            throw .invalidResponse("HTTP \(status), not a JSON object")
        }
        guard case .bool(true)? = answer["ok"] else {
            throw .api(answer["error"]?.stringValue ?? "unknown_error")
        }
        return answer
    }
}

/// Printed without its token, whatever prints it: a service group describing its services at debug level, `dump`, or
/// string interpolation in a log line. Only where it calls Slack is shown.
extension SlackWebAPI: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SlackWebAPI(baseURL: \(baseURL), token: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["baseURL": baseURL, "token": "<redacted>"], displayStyle: .struct) }
}

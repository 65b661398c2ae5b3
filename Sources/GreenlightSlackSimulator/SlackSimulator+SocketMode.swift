import Foundation
import GreenlightCore
import GreenlightSlack
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import Synchronization

/// Socket Mode on the simulator (protocols.md 4): `apps.connections.open` hands out single-use
/// `ws://127.0.0.1:PORT/link/?ticket=N` URLs; each WebSocket at `/link` gets a `hello`, then whatever envelopes and
/// `disconnect` messages the test sends, and the simulator records the acknowledgements the client sends back.
extension SlackSimulator {
    /// Why the simulator could not send an envelope.
    public enum SocketModeSimulatorError: Error, Sendable, CustomStringConvertible {
        /// No client is connected: await `waitForConnections(_:)` first.
        case noOpenSocket

        public var description: String { "no Socket Mode client is connected; await waitForConnections(_:) before sending" }
    }

    /// Sends an `interactive` envelope carrying `payload` (e.g. `blockActions(…)`) to the newest open socket and
    /// returns its fresh `envelope_id`.
    @discardableResult
    public func sendInteraction(_ payload: JSONValue) async throws -> String {
        try await sendEnvelope(type: "interactive", payload: payload)
    }

    /// Sends an envelope of any `type` (`interactive`, `events_api`, `slash_commands`) to the newest open socket and
    /// returns its fresh `envelope_id`.
    @discardableResult
    public func sendEnvelope(type: String, payload: JSONValue) async throws -> String {
        let id = UUID().uuidString.lowercased()
        var envelope: [String: JSONValue] = [
            "envelope_id": .string(id), "type": .string(type), "payload": payload, "accepts_response_payload": .bool(type != "events_api"),
        ]
        if type == "events_api" {
            envelope["retry_attempt"] = .number(0)
            envelope["retry_reason"] = .string("")
        }
        try await sendText(Self.json(envelope))
        return id
    }

    /// Sends `text` as it is (garbage included) to the newest open socket.
    public func sendText(_ text: String) async throws {
        guard let socket = socketMode.state.withLock({ $0.open.max { $0.key < $1.key }?.value }) else {
            throw SocketModeSimulatorError.noOpenSocket
        }
        try await socket.outbound.write(.text(text))
    }

    /// Returns once the client has acknowledged `envelopeID`, or when the task is cancelled (a test's time limit).
    public func waitForAck(_ envelopeID: String) async {
        await waiters.wait { [socketMode] in socketMode.state.withLock { $0.acks.contains(envelopeID) } }
    }

    /// Every envelope id acknowledged so far, oldest first.
    public var acks: [String] { socketMode.state.withLock { $0.acks } }

    /// How many Socket Mode connections have been opened so far (closed ones included).
    public var connectionCount: Int { socketMode.state.withLock { $0.connectionCount } }

    /// How many Socket Mode connections are open now.
    public var openSocketCount: Int { socketMode.state.withLock { $0.open.count } }

    /// Returns once `count` Socket Mode connections have been opened in all (each has been sent its `hello`), or when
    /// the task is cancelled (a test's time limit).
    public func waitForConnections(_ count: Int) async {
        await waiters.wait { [socketMode] in socketMode.state.withLock { $0.connectionCount >= count } }
    }

    /// Sends `{"type":"disconnect","reason":reason}` to every open socket, as Slack does before closing one.
    public func disconnectSockets(reason: String) async {
        let message = Self.json(["type": .string("disconnect"), "reason": .string(reason), "debug_info": .object(["host": .string("simulator")])])
        for socket in socketMode.state.withLock({ Array($0.open.values) }) {
            try? await socket.outbound.write(.text(message))
        }
    }

    /// Closes every open socket's TCP connection without a word, as a network failure would.
    public func dropSockets() async {
        for socket in socketMode.state.withLock({ Array($0.open.values) }) {
            try? await socket.channel.close()
        }
    }

    // MARK: Serving

    /// The `apps.connections.open` answer: a URL with a ticket good for one connection, as Slack's are.
    func openSocketModeConnection() -> [String: JSONValue] {
        let (port, ticket) = socketMode.state.withLock { state -> (Int, Int) in
            state.nextTicket += 1
            state.unusedTickets.insert(state.nextTicket)
            return (state.port, state.nextTicket)
        }
        return ["ok": .bool(true), "url": .string("ws://127.0.0.1:\(port)/link/?ticket=\(ticket)")]
    }

    /// Upgrades `/link/?ticket=N` requests carrying an unused ticket; anything else stays HTTP (and gets a 404).
    func socketModeUpgrade(
        _ request: HTTPRequest, channel: any Channel
    ) -> ShouldUpgradeResult<
        WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>
    > {
        guard let path = request.path, path.hasPrefix("/link"),
            let ticket = URLComponents(string: path)?.queryItems?.first(where: { $0.name == "ticket" })?.value.flatMap(Int.init),
            socketMode.state.withLock({ $0.unusedTickets.remove(ticket) != nil })
        else { return .dontUpgrade }
        return .upgrade([:]) { inbound, outbound, _ in
            let hello = Self.json([
                "type": .string("hello"), "num_connections": .number(1), "connection_info": .object(["app_id": .string("A0SIM")]),
                "debug_info": .object([
                    "host": .string("applink-simulator"), "build_number": .number(1), "approximate_connection_time": .number(18060),
                ]),
            ])
            try await outbound.write(.text(hello))
            // Registered only after the hello, so that a test's first envelope never overtakes it.
            self.socketMode.state.withLock { state in
                state.open[ticket] = SocketModeHub.Socket(outbound: outbound, channel: channel)
                state.connectionCount += 1
            }
            self.waiters.check()
            defer { self.socketMode.state.withLock { _ = $0.open.removeValue(forKey: ticket) } }
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message else { continue }
                self.receivedOnSocket(text)
            }
        }
    }

    /// Records an acknowledgement: `{"envelope_id":…}`, with or without a `payload` (node's SDK always adds one).
    private func receivedOnSocket(_ text: String) {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8)),
            let id = object["envelope_id"]?.stringValue
        else { return }
        socketMode.state.withLock { $0.acks.append(id) }
        waiters.check()
    }

    private static func json(_ object: [String: JSONValue]) -> String {
        String(decoding: (try? SlackJSON.encode(object)) ?? Data(), as: UTF8.self)
    }
}

/// The simulator's Socket Mode state: its port, the tickets handed out, the open sockets and what tests wait for.
final class SocketModeHub: Sendable {
    struct Socket: Sendable {
        let outbound: WebSocketOutboundWriter
        let channel: any Channel
    }

    struct State {
        var port = 0
        var nextTicket = 0
        var unusedTickets: Set<Int> = []
        /// Open sockets by ticket: the highest ticket is the newest connection.
        var open: [Int: Socket] = [:]
        var connectionCount = 0
        var acks: [String] = []
    }

    let state = Mutex(State())
}

import Foundation
import GreenlightCore
import Logging
import Synchronization
import WSClient

/// Receives Slack interactions over Socket Mode (protocols.md 4), so that Greenlight needs no public URL for
/// `POST /slack/interactions`: it opens a WebSocket to Slack with `apps.connections.open` and keeps one open.
///
/// `interactive` payloads go to the handler, each in its own task, so that a slow handler never delays the next
/// envelope, and are acknowledged when the handler says they are handled — within Slack's 3 seconds, since the handler
/// answers by then — so that an acknowledgement means stored, as a 200 does over HTTP: one the handler could not store
/// is left unacknowledged, and Slack shows the clicker an error (or delivers it again). `events_api` and
/// `slash_commands` envelopes are acknowledged at once and ignored: Greenlight subscribes to neither.
public struct SocketModeClient: Sendable {
    /// The largest message accepted from Slack: interaction payloads carry the whole message with its blocks.
    static let maxMessageSize = 4 << 20

    private let api: SlackWebAPI
    private let clock: any WallClock
    private let logger: Logger
    private let backoff: Backoff

    /// - Parameters:
    ///   - api: a Web API client made with the **app-level** token (`xapp-…`, scope `connections:write`).
    ///   - clock: what reconnect delays and rate-limit waits sleep on.
    ///   - logger: where connections, reconnects and odd frames are reported. Tokens and socket URLs are never logged.
    ///   - backoff: delays between failed connection attempts; reset once a connection says `hello`.
    public init(api: SlackWebAPI, clock: any WallClock, logger: Logger, backoff: Backoff = Backoff(initial: 1, maximum: 30)) {
        self.api = api
        self.clock = clock
        self.logger = logger
        self.backoff = backoff
    }

    /// Stays connected until the task is cancelled, then returns (without throwing) promptly: the server's graceful
    /// shutdown cancels it. Reconnects on its own after a `disconnect` message, a dropped socket, a failed connection
    /// or a rate limit.
    ///
    /// - Parameter onInteraction: called with each `interactive` envelope's payload (the object
    ///   `SlackInteraction.decode(payload:)` reads); returns whether it was handled, and so is acknowledged. Calls may
    ///   overlap; each should return within Slack's three seconds.
    /// - Throws: `SocketModeError.appTokenRefused` when Slack refuses the app-level token: only a person can fix that.
    public func run(onInteraction: @escaping @Sendable ([String: JSONValue]) async -> Bool) async throws {
        let (deliveries, deliver) = AsyncStream.makeStream(of: Delivery.self)
        let logger = logger
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                defer { deliver.finish() }
                try await self.stayConnected(deliver: deliver)
            }
            // Ends when the connection loop finishes the stream, or at once when the task is cancelled.
            for await delivery in deliveries {
                group.addTask {
                    guard await onInteraction(delivery.payload) else {
                        logger.warning("left a Socket Mode interaction unacknowledged: it was not handled")
                        return
                    }
                    await delivery.acknowledge()
                }
            }
        }
    }

    /// An interactive envelope's payload, and the acknowledgement to send once it is handled.
    struct Delivery: Sendable {
        let payload: [String: JSONValue]
        let acknowledge: @Sendable () async -> Void
    }

    /// Opens connection after connection until cancelled (returns) or refused for good (throws).
    private func stayConnected(deliver: AsyncStream<Delivery>.Continuation) async throws(SocketModeError) {
        var backoff = self.backoff
        while !Task.isCancelled {
            let url: String
            do {
                url = try await api.openSocketModeConnection()
            } catch {
                if Task.isCancelled { return }  // stopping, not failing
                switch error {
                case .api(let code) where SocketModeError.unrecoverableCodes.contains(code):
                    let refusal = SocketModeError.appTokenRefused(code: code)
                    logger.error("Socket Mode stopped: \(refusal)")
                    throw refusal
                case .rateLimited(let seconds):
                    logger.warning("apps.connections.open is rate limited; trying again in \(seconds) s")
                    guard await pause(seconds) else { return }
                default:
                    let delay = backoff.next()
                    logger.warning("could not open a Socket Mode connection (\(error)); trying again in \(Self.format(delay)) s")
                    guard await pause(delay) else { return }
                }
                continue
            }
            let ending = await session(url: url, deliver: deliver)
            // `link_disabled`: Socket Mode was switched off in the app. Reconnecting at once would only be told the same,
            // so that one backs off like a failure until someone switches it back on.
            let disabled = ending.disconnectReason == "link_disabled"
            if ending.saidHello, !disabled { backoff.reset() }
            if let reason = ending.disconnectReason, ending.saidHello, !disabled {
                // A planned refresh: the URL is single-use, so the loop asks apps.connections.open for a new one now.
                logger.info("Slack asked to reconnect (\(reason)); opening a new Socket Mode connection")
                continue
            }
            let delay = backoff.next()
            let cause = ending.failure ?? ending.disconnectReason.map { "disconnect before hello: \($0)" } ?? "closed by Slack"
            logger.warning("the Socket Mode connection ended (\(cause)); reconnecting in \(Self.format(delay)) s")
            guard await pause(delay) else { return }
        }
    }

    /// How one connection ended.
    private struct Ending {
        var saidHello = false
        var disconnectReason: String?
        var failure: String?
    }

    /// Where the WebSocket handler (an escaping closure, which cannot capture a `Mutex` itself) records the ending.
    private final class EndingRecord: Sendable {
        let value = Mutex(Ending())
    }

    /// Connects to `url` and reads it until Slack says `disconnect`, the socket drops or the task is cancelled.
    private func session(url: String, deliver: AsyncStream<Delivery>.Continuation) async -> Ending {
        let ending = EndingRecord()
        let logger = self.logger
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = Self.maxMessageSize
        // Pings find a socket that died without a FIN (a laptop asleep, a NAT timeout) within a minute.
        configuration.autoPing = .enabled(timePeriod: .seconds(30))
        configuration.closeTimeout = .seconds(3)
        do {
            // `wss://` from Slack gets TLS with the system's trust roots; `ws://` (the simulator) gets none.
            try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, outbound, _ in
                for try await frame in inbound.messages(maxSize: Self.maxMessageSize) {
                    guard case .text(let text) = frame else { continue }
                    let message: SocketModeMessage
                    do {
                        message = try SocketModeMessage.decode(text)
                    } catch {
                        logger.warning("ignored a Socket Mode frame: \(error)")
                        continue
                    }
                    switch message {
                    case .hello(let hello):
                        ending.value.withLock { $0.saidHello = true }
                        logger.info(
                            "Socket Mode connected",
                            metadata: ["slack.connections": "\(hello.numConnections.map(String.init) ?? "?")"])
                    case .disconnect(let reason):
                        ending.value.withLock { $0.disconnectReason = reason }
                        return
                    case .envelope(let id, let type, let payload, _):
                        let ack = SocketModeMessage.ack(envelopeID: id)
                        guard type == "interactive", case .object(let fields) = payload else {
                            // Nothing to store: acknowledged at once, so that Slack does not send it again.
                            try await outbound.write(.text(ack))
                            logger.debug("acknowledged and ignored a Socket Mode envelope", metadata: ["slack.envelope_type": "\(type)"])
                            continue
                        }
                        deliver.yield(
                            Delivery(payload: fields) {
                                // The socket may have closed meanwhile: then Slack, having no acknowledgement, retries.
                                do {
                                    try await outbound.write(.text(ack))
                                } catch {
                                    logger.info("a Socket Mode acknowledgement could not be sent: the connection closed")
                                }
                            })
                    }
                }
            }
        } catch {
            ending.value.withLock { $0.failure = String(describing: error) }
        }
        return ending.value.withLock { $0 }
    }

    /// Sleeps `seconds` on the clock; false when cancelled.
    private func pause(_ seconds: Double) async -> Bool {
        do {
            try await clock.sleep(until: clock.now().addingTimeInterval(seconds))
            return !Task.isCancelled
        } catch {
            return false
        }
    }

    private static func format(_ seconds: Double) -> String { String(format: "%.1f", seconds) }
}

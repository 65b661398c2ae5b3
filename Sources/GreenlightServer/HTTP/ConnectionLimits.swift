import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// How long a connection may sit idle or take to send a request, and how many may be open at once: what keeps a
/// client that connects and sends nothing (or half a header, or a body one byte at a time) from holding a socket and a
/// file descriptor forever, until the server can accept nobody — its own health checks included.
public struct ConnectionLimits: Sendable, Equatable {
    /// A keep-alive connection with no request in progress is closed after this long; so is one that has not finished
    /// sending a request's head this long after it opened or after its last response. A long-poll whose request has
    /// arrived is not idle: it stays open until its `wait` answers it.
    public var idleTimeout: TimeAmount
    /// A request's body must have arrived this long after its head, or the connection is closed.
    public var requestTimeout: TimeAmount
    /// Connections open at once. At the limit the server stops accepting (new ones wait in the listen backlog) and
    /// says so in the log, once, until connections close.
    public var maximumConnections: Int

    public init(idleTimeout: TimeAmount = .seconds(30), requestTimeout: TimeAmount = .seconds(30), maximumConnections: Int? = nil) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.maximumConnections = maximumConnections ?? Self.defaultMaximumConnections()
    }

    /// The limits in whole seconds, as `serve`'s flags give them.
    public init(idleSeconds: Int, requestSeconds: Int, maximumConnections: Int? = nil) {
        self.init(idleTimeout: .seconds(Int64(idleSeconds)), requestTimeout: .seconds(Int64(requestSeconds)), maximumConnections: maximumConnections)
    }

    /// Descriptors kept free of connections, for the database, its WAL, the Slack client and the log.
    static let reservedDescriptors = 64

    /// 10,000 connections (long-polling pipelines among them), or fewer if the process may not open that many files.
    static func defaultMaximumConnections() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_000 }
        let open = Int(clamping: limit.rlim_cur)  // RLIM_INFINITY is UInt64.max: clamped to Int.max
        return max(16, min(10_000, open - reservedDescriptors))
    }

    /// Raises the soft limit on open files to the hard limit, as servers that hold many connections do (Go's runtime
    /// does it at start): the common soft limit of 1,024 is for programs that open a few files, not for a server.
    /// Returns the soft limit in force afterwards.
    @discardableResult
    public static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// The HTTP/1.1 server with these limits, each connection on its own event loop, its long-polls parked by
    /// `parking` (``HTTPServerBuilder/http1OnEventLoop(configuration:parking:)``).
    func server(parking: LongPollParking? = nil) -> HTTPServerBuilder {
        let requestTimeout = requestTimeout
        return .http1OnEventLoop(
            configuration: HTTP1Channel.Configuration(
                additionalChannelHandlers: [RequestReadDeadline(timeout: requestTimeout)], idleTimeout: idleTimeout),
            parking: parking)
    }
}

/// Counts open connections and stops accepting at the limit, saying so once each time it is reached.
struct ConnectionLimit: AvailableConnectionsDelegate {
    let maximum: Int
    let logger: Logger
    private var open = 0
    private var warned = false

    init(maximum: Int, logger: Logger) {
        self.maximum = maximum
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        if open == maximum, !warned {
            // Once until the count falls well below the limit: churn at the limit must not log a line per connection.
            warned = true
            logger.warning(
                "\(maximum) connections are open, the most this server accepts: new connections wait until some close (idle ones close by themselves); raise --max-connections if these are real clients"
            )
        }
    }

    mutating func connectionClosed() {
        open -= 1
        if warned, open <= maximum - max(1, maximum / 10) {
            warned = false
            logger.notice("well below the connection limit again (\(open) of \(maximum) open)")
        }
    }

    func isAcceptingNewConnections() -> Bool { open < maximum }
}

/// Closes a connection whose request body has not arrived within `timeout` of its head (a body sent a byte at a time
/// keeps the idle timer from firing, since every byte is activity), or that has not taken a response for `timeout`
/// (a client that stops reading while its responses pile up: the idle timer does nothing while a response is in
/// progress). Its head's own deadline is the idle timeout.
final class RequestReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Armed while the socket's send buffer is full.
    private var writeDeadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let channel = context.channel
            deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writeDeadline?.cancel()
        writeDeadline = nil
        if !context.channel.isWritable {
            let channel = context.channel
            writeDeadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadlines()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadlines()
    }

    private func cancelDeadlines() {
        deadline?.cancel()
        deadline = nil
        writeDeadline?.cancel()
        writeDeadline = nil
    }
}

@available(*, unavailable)
extension RequestReadDeadline: Sendable {}

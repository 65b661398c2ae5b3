import Foundation
import GreenlightCore
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

@testable import GreenlightServer

/// Connections that send nothing, half a header or a body a byte at a time are closed; a long-poll is not.
@Suite("Connection limits over real HTTP", .timeLimit(.minutes(1)))
struct ConnectionLimitsTests {
    /// A raw TCP client: what it received, and whether the server closed it.
    final class RawConnection: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        private struct State {
            var text = ""
            var waiters: [(String, CheckedContinuation<Void, Never>)] = []
        }
        private let state = Mutex(State())
        let closed: EventLoopFuture<Void>
        let channel: any Channel

        static func connect(port: Int) async throws -> RawConnection {
            let handlerBox = Mutex<RawConnection?>(nil)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = RawConnection(channel: channel)
                    handlerBox.withLock { $0 = connection }
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }.connect(host: "127.0.0.1", port: port).get()
            _ = channel
            return try #require(handlerBox.withLock { $0 })
        }

        init(channel: any Channel) {
            self.channel = channel
            self.closed = channel.closeFuture
        }

        var text: String { state.withLock { $0.text } }

        /// Returns once the server has sent `expected` (or closed the connection).
        func received(_ expected: String) async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.text.contains(expected) || !channel.isActive { return true }
                    state.waiters.append((expected, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        }
        var isOpen: Bool { channel.isActive }

        func send(_ text: String) async throws {
            try await channel.writeAndFlush(ByteBuffer(string: text)).get()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let due = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.text += String(buffer: buffer)
                let text = state.text
                let due = state.waiters.filter { text.contains($0.0) }.map(\.1)
                state.waiters.removeAll { text.contains($0.0) }
                return due
            }
            for waiter in due { waiter.resume() }
        }

        func channelInactive(context: ChannelHandlerContext) {
            let all = state.withLock { state in
                defer { state.waiters = [] }
                return state.waiters.map(\.1)
            }
            for waiter in all { waiter.resume() }
        }
    }

    /// Runs the whole application (its real HTTP server) with `limits` until `body` returns.
    func withServer(
        _ app: TestGreenlight, limits: ConnectionLimits, _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        // A handler that keeps metadata (Hummingbird reads the request id from it), quiet below errors.
        var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .error
        let group = GreenlightApplication.services(
            store: app.store, gatekeeper: app.gatekeeper, settings: ServerSettings(host: "127.0.0.1", port: 0, connections: limits), logger: logger
        ) { url in
            listening.yield(Int(url.split(separator: ":").last ?? "") ?? 0)
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            defer { Task { await group.triggerGracefulShutdown() } }
            try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("half a header, an idle keep-alive and a trickled body are closed; a long-poll older than all of them stays open and is answered")
    func stalledConnectionsClose() async throws {
        let app = try await TestGreenlight()
        let gate = try await BreakGlassAPITests.open(app, environment: "quick")
        // Short, but long enough that a loaded test machine sends each request before its connection's timer fires.
        let limits = ConnectionLimits(idleTimeout: .seconds(3), requestTimeout: .seconds(3), maximumConnections: 100)
        let token = try #require(app.secrets["ci"])
        try await withServer(app, limits: limits) { port in
            let longPoll = try await RawConnection.connect(port: port)
            try await longPoll.send("GET /v1/gates/\(gate.id)?wait=300 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\n\r\n")

            let halfHeader = try await RawConnection.connect(port: port)
            try await halfHeader.send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            let idle = try await RawConnection.connect(port: port)
            try await idle.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            let trickle = try await RawConnection.connect(port: port)
            try await trickle.send("POST /v1/gates HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nAuthorization: Bearer \(token)\r\n\r\n{")

            try await halfHeader.closed.get()
            try await idle.closed.get()
            #expect(idle.text.hasPrefix("HTTP/1.1 200"), "the idle connection was answered before it was closed")
            // A byte every 100 ms keeps the idle timer from firing; the request's own deadline closes it.
            while trickle.isOpen {
                try? await trickle.send(" ")
                try? await Task.sleep(for: .milliseconds(100))  // the client's pace, not a wait for the server
            }
            #expect(!trickle.text.contains("201"))

            #expect(longPoll.isOpen, "a long-poll is not idle")
            #expect(longPoll.text.isEmpty)
            _ = try await app.gatekeeper.castVote(.approve, comment: nil, on: gate.id, by: .approver("carol"))
            await longPoll.received("\"state\":\"approved\"")
            #expect(longPoll.text.hasPrefix("HTTP/1.1 200"))
        }
    }

    /// On an embedded channel with its own clock: filling a real socket's buffers takes tens of thousands of responses,
    /// whose work would starve every other test in the process.
    @Test("a connection whose socket stays unwritable for the request timeout is closed; one that drains in time is not")
    func unwritableCloses() throws {
        let channel = EmbeddedChannel(handler: RequestReadDeadline(timeout: .seconds(3)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(channel.isActive)
        channel.isWritable = true  // the client read: writable again in time
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(channel.isActive, "a socket that drained in time is left open")
        channel.isWritable = false  // and now it stops reading for good
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!channel.isActive, "closed once unwritable for the request timeout")
    }

    @Test("at the connection limit the server stops accepting, and accepts again when one closes")
    func connectionCap() async throws {
        let app = try await TestGreenlight()
        let limits = ConnectionLimits(idleTimeout: .seconds(30), requestTimeout: .seconds(30), maximumConnections: 2)
        try await withServer(app, limits: limits) { port in
            let first = try await RawConnection.connect(port: port)
            let second = try await RawConnection.connect(port: port)
            for connection in [first, second] {
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            }
            await first.received("200 OK")
            await second.received("200 OK")
            // The kernel completes the third handshake, but the server does not accept it, so it is not answered. An
            // absence can only be watched for a while: 300 ms is ample on loopback, where the others took a millisecond.
            let third = try await RawConnection.connect(port: port)
            try await third.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            try await Task.sleep(for: .milliseconds(300))
            #expect(third.text.isEmpty, "answered beyond the connection limit")
            try await first.channel.close()
            await third.received("200 OK")
            #expect(third.text.hasPrefix("HTTP/1.1 200"))
        }
    }
}

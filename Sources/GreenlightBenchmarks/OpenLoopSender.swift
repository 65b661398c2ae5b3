import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 load generator: pre-encoded requests sent open-loop, each at its appointed time, over a fixed
/// set of keep-alive connections, all on one event loop.
///
/// The benchmark's server and its load run on the same two cores, so every microsecond the load generator spends is
/// taken from the server it measures; Slack's own senders are elsewhere. A general client (AsyncHTTPClient, a task per
/// request) spends more per request than the server's handling of a click. This sender does nothing but write bytes
/// and read responses: no task and no thread hop per request.
///
/// A request's clock starts at its appointed time, not when a connection is free, so a queue in the sender counts
/// against the server (no coordinated omission). All state is touched only on `loop`.
final class OpenLoopSender: @unchecked Sendable {
    /// One request: its key in the timings, its head and its body.
    typealias Request = (key: String, head: HTTPRequestHead, body: ByteBuffer)

    let loop: any EventLoop
    private let sent: Timings
    private let answered: Timings
    private var idle: [any Channel] = []
    private var backlog: [Request] = []
    private var inFlight: [ObjectIdentifier: String] = [:]
    private var outstanding = 0
    private var finished: EventLoopPromise<Void>?

    /// - Parameters:
    ///   - sent: where each request's appointed time is recorded.
    ///   - answered: where each request's `200 OK` is recorded (other answers are not).
    init(loop: any EventLoop, sent: Timings, answered: Timings) {
        self.loop = loop
        self.sent = sent
        self.answered = answered
    }

    /// Opens `count` connections to `host:port`.
    func connect(host: String, port: Int, count: Int) async throws {
        for _ in 0..<count {
            let channel = try await ClientBootstrap(group: loop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseHandler(sender: self))
                    }
                }
                .connect(host: host, port: port).get()
            try await loop.submit { self.idle.append(channel) }.get()
        }
    }

    /// Sends `requests[i]` at `start + interval × i`, recording that appointed time as its sending time. Returns once
    /// every request has been answered, its connection lost, or `patience` has passed after the last appointed time;
    /// the requests then unanswered are simply not recorded in `answered`.
    func send(_ requests: [Request], start: ContinuousClock.Instant, interval: Duration, patience: Duration = .seconds(30)) async throws {
        // NIO schedules on its own monotonic clock: the same instants, offset once.
        let offset = NIODeadline.now() + TimeAmount(start - ContinuousClock.now)
        let deadline: @Sendable (Duration) -> NIODeadline = { offset + TimeAmount($0) }
        try await loop.flatSubmit { () -> EventLoopFuture<Void> in
            let finished = self.loop.makePromise(of: Void.self)
            self.finished = finished
            self.outstanding = requests.count
            for (index, request) in requests.enumerated() {
                let appointed = interval * index
                self.loop.scheduleTask(deadline: deadline(appointed)) { self.dispatch(request, appointed: start + appointed) }
            }
            self.loop.scheduleTask(deadline: deadline(interval * requests.count + patience)) { self.finish() }
            if requests.isEmpty { self.finish() }
            return finished.futureResult
        }.get()
    }

    private func dispatch(_ request: Request, appointed: ContinuousClock.Instant) {
        // The appointed time, not now: a send that this loop could not make on time (busy with the server's own
        // connections) counts against the server's latency.
        sent.record(request.key, at: appointed)
        guard let channel = idle.popLast() else {
            backlog.append(request)
            return
        }
        write(request, on: channel)
    }

    private func write(_ request: Request, on channel: any Channel) {
        inFlight[ObjectIdentifier(channel)] = request.key
        channel.write(HTTPClientRequestPart.head(request.head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(request.body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    fileprivate func answered(_ status: HTTPResponseStatus, on channel: any Channel) {
        guard let key = inFlight.removeValue(forKey: ObjectIdentifier(channel)) else { return }
        if status == .ok { answered.record(key) }
        if backlog.isEmpty {
            idle.append(channel)
        } else {
            write(backlog.removeFirst(), on: channel)
        }
        done()
    }

    fileprivate func lost(_ channel: any Channel) {
        idle.removeAll { $0 === channel }
        if inFlight.removeValue(forKey: ObjectIdentifier(channel)) != nil { done() }
        // With no connection left, nothing queued will be sent.
        if inFlight.isEmpty && idle.isEmpty {
            for _ in backlog { done() }
            backlog.removeAll()
        }
    }

    private func done() {
        outstanding -= 1
        if outstanding == 0 { finish() }
    }

    private func finish() {
        finished?.succeed()
        finished = nil
    }

    /// Reports each response's status to the sender once the whole response has been read.
    private final class ResponseHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart

        let sender: OpenLoopSender
        private var status: HTTPResponseStatus = .ok

        init(sender: OpenLoopSender) {
            self.sender = sender
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = head.status
            case .body: break
            case .end: sender.answered(status, on: context.channel)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            sender.lost(context.channel)
            context.fireChannelInactive()
        }
    }
}

extension OpenLoopSender {
    /// An HTTP/1.1 POST with the given headers and body, kept alive.
    static func post(key: String, path: String, host: String, headers: [String: String], body: String) -> Request {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head.headers.add(name: name, value: value) }
        return (key, head, ByteBuffer(string: body))
    }
}

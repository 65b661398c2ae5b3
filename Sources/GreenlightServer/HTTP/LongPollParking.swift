import Foundation
import GreenlightCore
import GreenlightStore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// Keeps what a waiting long-poll holds small: a connection that waits for a decision holds a few kilobytes, not the
/// frames of every layer a request passes through.
///
/// Each connection is a task, and a task keeps every slab of memory its deepest call ever needed until the task ends:
/// the Swift task allocator reuses slabs, it never frees them early. A request that waits deep in the router (its
/// middlewares, its route, the wait) makes its connection hold about 40 KiB for as long as the connection stays open.
/// So every request is handled in a short-lived child task, whose slabs go when its response is written; and a
/// long-poll (`GET /v1/gates/{id}?wait=N` on a pending gate the caller may read) waits up here, in the connection's
/// own task, before the router sees it: once the gate is decided, or the wait has passed, or the server begins to
/// drain, or its client hangs up (``ClientHangUp``), the request goes to the router with `wait=0` and is answered as it
/// always is. Anything that is not such a long-poll, or that the check here refuses (no token, a gate the caller may
/// not read, a malformed `wait`), goes to the router at once, which answers it — errors included — exactly as before.
struct LongPollParking: Sendable {
    let gatekeeper: Gatekeeper
    let tokens: any TokenRecords

    /// `responder`, with long-polls parked and every request in a child task of its own.
    func responder(wrapping responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        { request, writer, channel in
            var request = request
            if let poll = Poll(request) {
                // Subscribed before `admit` reads the gate, so that a decision committed in between is not missed.
                let watch = gatekeeper.watchDecision(of: poll.id)
                let headers = request.headers
                if let deadline = await Self.inChildTask({ await admit(poll, headers: headers) }) {
                    // A client that hangs up stops the wait: nobody is left to answer, and what it held is freed now,
                    // not at its deadline minutes later.
                    let hangUp = try? await channel.pipeline.handler(type: ClientHangUp.self).get()
                    let forget = hangUp?.onHangUp { [waiter = watch.waiter] in waiter.finish() }
                    // The deadline on the connection's event loop: a timer there costs no task.
                    let (loop, clock) = (channel.eventLoop, gatekeeper.clock)
                    await gatekeeper.wait(for: watch, until: deadline) { at, action in
                        // Within 0…maximumWait seconds of the gatekeeper's now (`admit` said so), so the nanoseconds
                        // fit an Int64.
                        let seconds = min(max(at.timeIntervalSince(clock.now()), 0), Gatekeeper.maximumWait)
                        let scheduled = loop.scheduleTask(in: .nanoseconds(Int64((seconds * 1e9).rounded(.up)))) { action() }
                        return { scheduled.cancel() }
                    }
                    forget?()
                    request = poll.answeringNow(request)
                }
                watch.cancel()
            }
            try await Self.answer(request, Handover(writer), channel, with: responder)
        }
    }

    /// Answers `request` through `responder` in a child task, whose frames go when the response is written. A function
    /// of its own: an async function's frame holds every local it has across all its suspension points, and the
    /// frame a long-poll waits in need not hold these.
    private static func answer(
        _ request: Request, _ writer: Handover, _ channel: any Channel, with responder: @escaping HTTPChannelHandler.Responder
    ) async throws {
        try await inChildTask { try await responder(request, writer.take(), channel) }
    }

    /// When a long-poll of a gate the caller may read should stop waiting, or `nil` when it should not wait here
    /// (the router then answers it: with the gate if it is decided, with the error if the request is refused).
    func admit(_ poll: Poll, headers: HTTPFields) async -> Date? {
        guard let (_, principal, _) = try? await BearerAuthentication.authenticate(headers, store: tokens),
            let gate = try? await gatekeeper.gate(poll.id, for: principal), !gate.state.isDecided
        else { return nil }
        return gatekeeper.clock.now().addingTimeInterval(poll.seconds)
    }

    /// A request to wait for a gate's decision: `GET /v1/gates/{id}?wait=N` with `N` a number of seconds the route
    /// accepts, more than zero.
    struct Poll: Sendable {
        let id: GateID
        let seconds: Double

        init?(_ request: Request) {
            guard request.method == .get else { return nil }
            let path = request.uri.path
            let prefix = "/v1/gates/"
            guard path.hasPrefix(prefix), let id = GateID(String(path.dropFirst(prefix.count))) else { return nil }
            guard let wait = request.uri.queryParameters.get("wait"), let seconds = Double(wait), seconds.isFinite,
                seconds > 0, seconds <= Gatekeeper.maximumWait
            else { return nil }
            self.id = id
            self.seconds = seconds
        }

        /// The same request, asking for the gate as it is now: the waiting is done.
        func answeringNow(_ request: Request) -> Request {
            var head = request.head
            head.path = "/v1/gates/\(id.rawValue)?wait=0"
            return Request(head: head, body: request.body)
        }
    }

    /// Runs `body` in a child task, so that the frames it needs are freed when it returns, not kept by this task.
    static func inChildTask<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            // One child: it returns a value or throws.
            return try await group.next()!
        }
    }

    static func inChildTask<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        await withTaskGroup(of: T.self) { group in
            group.addTask { await body() }
            return await group.next()!
        }
    }

    /// Carries the connection's response writer (which may not be copied) into the child task that answers.
    final class Handover: @unchecked Sendable {
        // Taken once, by the one child task that answers; never touched by two tasks at once.
        private var writer: ResponseWriter?

        init(_ writer: consuming ResponseWriter) {
            self.writer = .some(writer)
        }

        func take() -> ResponseWriter {
            writer.take()!
        }
    }
}

/// Tells a parked long-poll that its client has gone: the connection closed, or its client's side did (a FIN).
///
/// Hummingbird allows half-closed connections, so a client that closes its socket while its long-poll waits leaves a
/// half-open channel whose `closeFuture` fires only once the response is written, minutes later. The first handler of
/// every connection's pipeline, it sees the end of the input before the HTTP handlers do. A client that only shuts
/// down its sending side is taken to have gone too: it is answered at once, with the gate as it is.
final class ClientHangUp: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private struct State {
        var hungUp = false
        var action: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    /// Calls `action` once the client hangs up (at once if it has); returns what forgets it.
    func onHangUp(_ action: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let now = state.withLock { state -> Bool in
            if state.hungUp { return true }
            state.action = action
            return false
        }
        if now { action() }
        return { [weak self] in self?.state.withLock { $0.action = nil } }
    }

    private func hangUp() {
        state.withLock { state -> (@Sendable () -> Void)? in
            state.hungUp = true
            defer { state.action = nil }
            return state.action
        }?()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { hangUp() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        hangUp()
        context.fireChannelInactive()
    }
}

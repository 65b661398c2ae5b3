import HummingbirdCore
import Logging
import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1.1, with each connection's requests handled on the connection's own event loop thread.
    ///
    /// Hummingbird runs a connection's handler as a task on the global concurrent executor, so every request crosses
    /// threads twice: from the event loop that read it to a pool thread, and back to write the response. On a small
    /// machine those wake-ups cost more than the work of a short request (a Slack click is mostly waiting for its
    /// commit). Preferring the event loop as the task's executor keeps the request on the thread that read it. The
    /// handlers await their I/O (the store's reads and writes run on its own queues) and do no synchronous I/O; their
    /// CPU work (verifying, decoding, encoding a page of JSON) now holds up the other connections on the same loop
    /// while it runs, as NIO's own handlers do.
    ///
    /// The event loop group must outlive the server: a job sent to a loop that has shut down is dropped, and its task
    /// would never resume. The server runs on NIO's singleton group, which never shuts down.
    ///
    /// With `parking`, every request is answered in a child task of the connection's, and long-polls wait in the
    /// connection's own task (``LongPollParking``).
    static func http1OnEventLoop(configuration: HTTP1Channel.Configuration = .init(), parking: LongPollParking? = nil) -> HTTPServerBuilder {
        .init { responder in
            let responder = parking.map { $0.responder(wrapping: responder) } ?? responder
            return EventLoopAffineChildChannel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// A child channel whose `handle` runs with the channel's event loop as the preferred task executor.
struct EventLoopAffineChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Reads start at 512 bytes, not NIO's 2 KiB, and grow for bigger requests: the decoder keeps the last read's
        // buffer for as long as the connection is open, and most connections (long-polls, health checks) send a few
        // hundred bytes.
        try? channel.syncOptions?.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536))
        // First in the pipeline, ahead of the HTTP handlers, so that it sees the client's side close.
        do {
            try channel.pipeline.syncOperations.addHandler(ClientHangUp(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// Runs a task's jobs on a NIO event loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

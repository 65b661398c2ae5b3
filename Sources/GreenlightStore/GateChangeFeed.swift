import GreenlightCore
import Synchronization

/// Announces committed changes to gates, in process, to whoever waits on them: long-polling clients, the deadline
/// timer, the Slack outbox worker, server-sent events.
///
/// Subscribers get an `AsyncStream`; observers (``observeAll(_:)``) get a synchronous call; nothing polls. Subscribe
/// or observe *before* reading the gate's current state, so that a change committed between the read and the
/// subscription is not missed.
public final class GateChangeFeed: Sendable {
    private struct Subscribers {
        var byGate: [GateID: [UInt64: AsyncStream<Gate>.Continuation]] = [:]
        var all: [UInt64: AsyncStream<Gate>.Continuation] = [:]
        var outbox: [UInt64: AsyncStream<Void>.Continuation] = [:]
        var changeObservers: [UInt64: @Sendable (Gate) -> Void] = [:]
        var outboxObservers: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
    }

    private let subscribers = Mutex(Subscribers())

    public init() {}

    /// Changes to one gate, from now on. Cancel the subscription when done with it: the feed holds it until then.
    public func subscribe(to id: GateID) -> GateSubscription {
        let (stream, continuation) = AsyncStream<Gate>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let token = subscribers.withLock { state -> UInt64 in
            state.nextID += 1
            state.byGate[id, default: [:]][state.nextID] = continuation
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { state in
                state.byGate[id]?[token] = nil
                if state.byGate[id]?.isEmpty == true { state.byGate[id] = nil }
            }
        }
        return GateSubscription(stream: stream, continuation: continuation)
    }

    /// Changes to every gate, from now on.
    public func subscribeToAll() -> AsyncStream<Gate> {
        register(in: \.all, buffering: 1_024)
    }

    /// Calls `onChange` with every change from now on, on the thread that published it, until the observation is
    /// cancelled.
    ///
    /// For a worker that only needs to know that something changed (to ring its wake signal): a stream wakes its
    /// consumer's task for every change, a thread hop per vote under load, where this costs the publisher a function
    /// call. `onChange` must return at once and must not call the store: it runs on whichever thread publishes
    /// (several at once), before the change's writer gets its answer.
    public func observeAll(_ onChange: @escaping @Sendable (Gate) -> Void) -> FeedObservation {
        observe(in: \.changeObservers, onChange)
    }

    /// Calls `onRing` on every ``ringOutbox()`` from now on, on the ringing thread, until the observation is cancelled.
    /// `onRing` must return at once and must not call the store: the store rings from its writer's queue, as a
    /// transaction commits.
    public func observeOutboxRings(_ onRing: @escaping @Sendable () -> Void) -> FeedObservation {
        observe(in: \.outboxObservers, onRing)
    }

    /// Tells every subscriber and observer of `gate` (and of all gates) its new state. Call only after the change
    /// committed.
    public func publish(_ gate: Gate) {
        let (targets, observers) = subscribers.withLock { state in
            (Array(state.byGate[gate.id]?.values ?? [:].values) + Array(state.all.values), Array(state.changeObservers.values))
        }
        for continuation in targets { continuation.yield(gate) }
        for observer in observers { observer(gate) }
    }

    /// Rings after outbox work that follows no gate change was enqueued (telling a person why a click was refused, a
    /// reminder) or a card was posted, so that the outbox worker looks again; gate changes reach it through
    /// ``observeAll(_:)``.
    public func ringOutbox() {
        let (streams, observers) = subscribers.withLock { (Array($0.outbox.values), Array($0.outboxObservers.values)) }
        for continuation in streams { continuation.yield() }
        for observer in observers { observer() }
    }

    /// Every ``ringOutbox()`` from now on.
    public func outboxRings() -> AsyncStream<Void> {
        register(in: \.outbox, buffering: 1)
    }

    /// A stream kept in `list` until its consumer ends it, keeping the newest `buffering` elements a slow consumer has
    /// not read.
    private func register<Element>(
        in list: any WritableKeyPath<Subscribers, [UInt64: AsyncStream<Element>.Continuation]> & Sendable, buffering: Int
    ) -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream<Element>.makeStream(bufferingPolicy: .bufferingNewest(buffering))
        let token = subscribers.withLock { state -> UInt64 in
            state.nextID += 1
            state[keyPath: list][state.nextID] = continuation
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { _ = $0[keyPath: list].removeValue(forKey: token) }
        }
        return stream
    }

    private func observe<Handler>(
        in list: any WritableKeyPath<Subscribers, [UInt64: Handler]> & Sendable, _ handler: Handler
    ) -> FeedObservation {
        let token = subscribers.withLock { state -> UInt64 in
            state.nextID += 1
            state[keyPath: list][state.nextID] = handler
            return state.nextID
        }
        return FeedObservation { [weak self] in
            self?.subscribers.withLock { _ = $0[keyPath: list].removeValue(forKey: token) }
        }
    }

    /// How many subscribers are waiting on one gate (for tests).
    public func subscriberCount(for id: GateID) -> Int {
        subscribers.withLock { $0.byGate[id]?.count ?? 0 }
    }
}

/// An observer registered with ``GateChangeFeed/observeAll(_:)`` or ``GateChangeFeed/observeOutboxRings(_:)``, called
/// until ``cancel()``.
public struct FeedObservation: Sendable {
    let remove: @Sendable () -> Void

    /// Stops the calls and releases the observer. A publish already under way when this is called may still make its
    /// call.
    public func cancel() {
        remove()
    }
}

/// The changes to one gate, as an async sequence, until ``cancel()``.
///
/// A subscription that is never iterated to its end must be cancelled explicitly: the feed keeps it alive (so that it
/// can deliver to it) and would otherwise keep it forever.
public struct GateSubscription: AsyncSequence, Sendable {
    public typealias Element = Gate
    let stream: AsyncStream<Gate>
    let continuation: AsyncStream<Gate>.Continuation

    public func makeAsyncIterator() -> AsyncStream<Gate>.Iterator {
        stream.makeAsyncIterator()
    }

    /// Ends the subscription and removes it from the feed.
    public func cancel() {
        continuation.finish()
    }
}

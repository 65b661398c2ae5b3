import Foundation
import GreenlightCore
import Synchronization

/// Announces committed changes to gates, in process, to whoever waits on them: long-polling clients, the deadline
/// timer, the Slack outbox worker, server-sent events.
///
/// A gate's subscribers (long-polls, server-sent events) get an `AsyncStream`; observers of every change and of the
/// outbox's rings (the workers) get a synchronous call; nothing polls. Subscribe or observe *before* reading the gate's
/// current state, so that a change committed between the read and the subscription is not missed.
public final class GateChangeFeed: Sendable {
    private struct Subscribers {
        var byGate: [GateID: [UInt64: AsyncStream<Gate>.Continuation]] = [:]
        var callbacksByGate: [GateID: [UInt64: @Sendable (Gate) -> Void]] = [:]
        var changeObservers: [UInt64: @Sendable (Gate) -> Void] = [:]
        var outboxObservers: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
    }

    private let subscribers = Mutex(Subscribers())

    /// How often whoever waits on this feed must look at the store again, or `nil` when every change is published
    /// here. A store shared by several processes (replicas on PostgreSQL) learns of the others' changes by
    /// notifications, which can be lost: the deadline timer and the outbox workers then wake at least this often, and
    /// the store itself re-checks for the gates waiters wait on.
    public let recheckInterval: TimeInterval?

    public init(recheckInterval: TimeInterval? = nil) {
        self.recheckInterval = recheckInterval
    }

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

    /// Tells `gate`'s subscribers and every observer its new state. Call only after the change committed.
    public func publish(_ gate: Gate) {
        let (targets, callbacks, observers) = subscribers.withLock { state in
            (
                Array(state.byGate[gate.id]?.values ?? [:].values), Array(state.callbacksByGate[gate.id]?.values ?? [:].values),
                Array(state.changeObservers.values)
            )
        }
        for continuation in targets { continuation.yield(gate) }
        for callback in callbacks { callback(gate) }
        for observer in observers { observer(gate) }
    }

    /// Calls `onChange` with every change to the gate `id` from now on, on the publishing thread, until the observation
    /// is cancelled: a subscription with no stream and no task, for a long-poll that waits on one continuation (10,000
    /// waiting clients are 10,000 of these, not 10,000 streams and the tasks reading them).
    public func observe(_ id: GateID, _ onChange: @escaping @Sendable (Gate) -> Void) -> FeedObservation {
        let token = subscribers.withLock { state -> UInt64 in
            state.nextID += 1
            state.callbacksByGate[id, default: [:]][state.nextID] = onChange
            return state.nextID
        }
        return FeedObservation { [weak self] in
            self?.subscribers.withLock { state in
                state.callbacksByGate[id]?[token] = nil
                if state.callbacksByGate[id]?.isEmpty == true { state.callbacksByGate[id] = nil }
            }
        }
    }

    /// Rings after outbox work that follows no gate change was enqueued (telling a person why a click was refused, a
    /// reminder) or a card was posted, so that the outbox worker looks again; gate changes reach it through
    /// ``observeAll(_:)``.
    public func ringOutbox() {
        for observer in subscribers.withLock({ Array($0.outboxObservers.values) }) { observer() }
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
        subscribers.withLock { ($0.byGate[id]?.count ?? 0) + ($0.callbacksByGate[id]?.count ?? 0) }
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

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging
import ServiceLifecycle

/// Delivers one channel's outbox items through its ``Notifier``, for as long as the server runs.
///
/// The receiver is a view (invariant 3): the loop reads committed gates and never changes one. A rate limit is waited
/// out for its operation as long as the notifier says, and the work needing that operation is left unread meanwhile;
/// retryable failures back off (0.5 s doubling to 5 minutes, jittered); permanent ones are given up with an audit
/// event. An outage delays the messages; the outbox keeps them until the receiver answers.
struct DeliveryLoop<Channel: Notifier>: Service {
    let notifier: Channel
    let store: any GateOutbox & GateRecords
    let clock: any WallClock
    let logger: Logger
    /// The shortest time between two passes over the outbox.
    static var coalescing: TimeInterval { 0.1 }
    /// The most items one pass reads: a storm of decisions is worked through a few hundred at a time.
    static var passLimit: Int { 200 }
    /// An item waiting for its gate's first delivery waits this many attempts (backing off to 5 minutes: about 2
    /// hours in all, longer than a gate usually waits), then is given up with an audit event.
    static var firstDeliveryAttempts: Int { 30 }
    /// How long a pass holds the items it claimed: what a replica killed mid-pass held is delivered by another this
    /// long after its claim.
    static var lease: TimeInterval { 60 }
    /// An item is not sent with less of its lease left than this (a send's own time limit, with room): it is left for
    /// the next claim, so that a slow pass never sends what its lease no longer covers.
    static var leaseMargin: TimeInterval { 20 }

    func run() async throws {
        let wake = WakeSignal()
        // Every committed change enqueued its work in its transaction, and messages ring the outbox: look again.
        let changes = store.changes.observeAll { _ in wake.ring() }
        let rings = store.changes.observeOutboxRings { wake.ring() }
        defer {
            changes.cancel()
            rings.cancel()
        }
        await cancelWhenGracefulShutdown {
            await loop(wake: wake)
        }
    }

    private func loop(wake: WakeSignal) async {
        var blockedUntil: [String: Date] = [:]
        while !Task.isCancelled {
            var next: Date?
            let passStarted = clock.now()
            do {
                let now = clock.now()
                // Work for an operation waiting out a rate limit is not read at all (it stays due, unwritten), so that
                // work for the other operations goes at once, and a pass costs what can be sent, not the backlog.
                var selection = self.selection(blockedUntil, at: now)
                while !Task.isCancelled {
                    // Claimed, so that the workers of other replicas on the same database leave them alone.
                    let due = try await store.claimOutboxItems(
                        selection, at: now, limit: Self.passLimit, until: now.addingTimeInterval(Self.lease))
                    var unsent: [OutboxItem] = []
                    for item in due {
                        let sent = Task.isCancelled ? false : try await deliver(item, blockedUntil: &blockedUntil)
                        if !sent { unsent.append(item) }
                    }
                    // What the pass claimed and left (held by a limit, too little lease, stopping) is due again as it
                    // was, for this worker's next pass or another replica's, not only when the lease ends.
                    try await Task { [store, unsent] in try await store.releaseOutboxItems(unsent) }.value
                    // An operation limited during this pass: what the pass's limit left unread for the others is read now.
                    let narrowed = self.selection(blockedUntil, at: now)
                    guard narrowed != selection, due.count == Self.passLimit else { break }
                    selection = narrowed
                }
                selection = self.selection(blockedUntil, at: now)
                let freed = blockedUntil.values.filter { $0 > now }.min()
                next = [try await store.nextOutboxDue(selection), freed].compactMap { $0 }.min()
            } catch {
                // Stopping (the server shuts down): not a failure; what was not delivered stays in the outbox.
                if Task.isCancelled { return }
                logger.error("delivering \(notifier.channel) messages failed", metadata: ["error": "\(error)"])
                next = clock.now().addingTimeInterval(5)
            }
            // At most one pass per `coalescing` interval however many changes ring: under a storm of decisions, a pass per
            // vote would read the outbox a thousand times a second; a tenth of a second is nothing on a card.
            let earliest = passStarted.addingTimeInterval(Self.coalescing)
            // Another replica's work (its own, once it was killed holding it) is seen at the feed's re-check.
            let recheck = store.changes.recheckInterval ?? 3_600
            let until = max(min(next ?? .distantFuture, clock.now().addingTimeInterval(recheck)), earliest)
            if until > clock.now() { await wake.sleep(until: until, on: clock) }
            if earliest > clock.now() { try? await clock.sleep(until: earliest) }
        }
    }

    /// This channel's items, less those whose operations in `blockedUntil` still wait out their limits at `now`.
    func selection(_ blockedUntil: [String: Date], at now: Date) -> OutboxSelection {
        notifier.held(whileLimited: Set(blockedUntil.filter { $0.value > now }.keys))
    }

    /// Delivers `item`, or settles it without sending; returns `false` when it left the item as it was (its operation
    /// waits out a limit, or too little of its lease is left to be sure of sending under it).
    private func deliver(_ item: OutboxItem, blockedUntil: inout [String: Date]) async throws -> Bool {
        let now = clock.now()
        if let leasedUntil = item.leasedUntil, now.addingTimeInterval(Self.leaseMargin) > leasedUntil { return false }
        // The receipt of the gate's first delivery on this channel: read once, here.
        let receipt = try await item.gateID.asyncMap { try await store.deliveryReceipt(for: $0, on: notifier.channel) } ?? nil
        // An item whose operation began waiting out a limit in this pass is left due before its gate is read: under a
        // storm of decisions, reading every gate only to leave it would cost more than the votes.
        if let operation = notifier.operation(for: item, delivered: receipt != nil), let until = blockedUntil[operation], until > now {
            return false
        }
        let gate = try await item.gateID.asyncMap { try await store.gate($0) } ?? nil
        let operation: String
        let send: @Sendable () async throws -> DeliveryReceipt?
        switch notifier.render(item, gate: gate, receipt: receipt) {
        case .nothing:
            try await store.completeOutboxItem(item, receipt: nil, audit: nil)
            return true
        case .waitForFirstDelivery(let operation, let givenUp):
            if item.attempts >= Self.firstDeliveryAttempts {
                try await abandon(item, gate: gate, operation: operation, error: givenUp)
            } else {
                try await store.rescheduleOutboxItem(
                    item, at: now.addingTimeInterval(Backoff.delay(afterFailures: item.attempts, initial: 0.5, maximum: 300)),
                    error: "waiting for the gate's first delivery")
            }
            return true
        case .send(let name, let deliver):
            operation = name
            send = deliver
        }
        if let until = blockedUntil[operation], until > now { return false }
        do {
            let delivered = try await send()
            var audit: AuditDraft?
            if let delivered, let gate {
                audit = AuditDraft(notifier.notified(delivered), by: .greenlight, at: clock.now(), gate: gate)
            }
            // Sent: the record of it must survive a shutdown that cancels this worker (a cancelled write is dropped),
            // or the message would be sent again and a first delivery's receipt and `gate.notified` lost.
            try await Task { [store] in try await store.completeOutboxItem(item, receipt: delivered, audit: audit) }.value
        } catch {
            switch notifier.classify(error) {
            case .rateLimited(let seconds):
                let until = now.addingTimeInterval(seconds)
                blockedUntil[operation] = until
                logger.notice("\(notifier.channel) rate limit", metadata: ["operation": "\(operation)", "retry_after": "\(seconds)"])
                try await store.rescheduleOutboxItem(item, at: until, error: "\(error)")
            case .retryable:
                logger.warning(
                    "\(notifier.channel) delivery failed; retrying",
                    metadata: ["kind": "\(item.kind)", "operation": "\(operation)", "attempt": "\(item.attempts + 1)", "error": "\(error)"])
                try await store.rescheduleOutboxItem(
                    item, at: now.addingTimeInterval(Backoff.delay(afterFailures: item.attempts, initial: 0.5, maximum: 300)),
                    error: "\(error)")
            case .permanent:
                try await abandon(item, gate: gate, operation: operation, error: "\(error)")
            }
        }
        return true
    }

    private func abandon(_ item: OutboxItem, gate: Gate?, operation: String, error: String) async throws {
        logger.error(
            "\(notifier.channel) refused a message; giving it up",
            metadata: ["kind": "\(item.kind.rawValue)", "gate": "\(gate?.id.rawValue ?? "-")", "error": "\(error)"])
        let failed = NotificationFailed(kind: item.kind.rawValue, method: operation, error: error)
        let audit =
            gate.map { AuditDraft(failed, by: .greenlight, at: clock.now(), gate: $0) } ?? AuditDraft(failed, by: .greenlight, at: clock.now())
        try await store.abandonOutboxItem(item, audit: audit)
    }
}

extension Optional {
    /// `map` with an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
import GreenlightStore
import Logging
import ServiceLifecycle

/// Delivers the outbox's Slack cards: posts a gate's card once, then brings it up to date with `chat.update` after
/// every change, including decisions made from the CLI, the API or the deadline.
///
/// Slack is a view (invariant 3): this worker reads committed gates and never changes one. A 429 is waited out for
/// that method (Slack's limits are per method) as long as `Retry-After` says; network errors and 5xx are retried
/// with backoff (0.5 s doubling to 5 minutes, jittered); `ok: false` errors that cannot succeed are given up with an audit event. An outage delays cards; the
/// outbox keeps them until Slack answers.
struct SlackCardWorker: Service {
    let store: any GateStore
    let slack: SlackWebAPI
    let clock: any WallClock
    let publicURL: PublicURL
    let logger: Logger

    func run() async throws {
        let changes = store.changes.subscribeToAll()
        let wake = WakeSignal()
        try await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Every committed change enqueued a card in its transaction: look at the outbox again.
                    for await _ in changes { wake.ring() }
                }
                group.addTask { await loop(wake: wake) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func loop(wake: WakeSignal) async {
        var blockedUntil: [String: Date] = [:]
        while !Task.isCancelled {
            var next: Date?
            do {
                for item in try await store.dueOutboxItems(at: clock.now(), limit: 50) where !Task.isCancelled {
                    try await deliver(item, blockedUntil: &blockedUntil)
                }
                next = try await store.nextOutboxDue()
            } catch {
                logger.error("delivering Slack cards failed", metadata: ["error": "\(error)"])
                next = clock.now().addingTimeInterval(5)
            }
            let until = min(next ?? .distantFuture, clock.now().addingTimeInterval(3_600))
            if until > clock.now() { await wake.sleep(until: until, on: clock) }
        }
    }

    private func deliver(_ item: OutboxItem, blockedUntil: inout [String: Date]) async throws {
        guard let gate = try await store.gate(item.gateID), let channel = gate.plan.channel else {
            try await store.completeOutboxItem(item, posted: nil, audit: nil)
            return
        }
        let posted = try await store.postedCard(for: gate.id)
        let method = posted == nil ? "chat.postMessage" : "chat.update"
        let now = clock.now()
        if let until = blockedUntil[method], until > now {
            try await store.rescheduleOutboxItem(item, at: until, error: "waiting out Slack's rate limit on \(method)")
            return
        }
        let message = GateCard.message(for: gate, channel: channel, url: "\(publicURL.value)/v1/gates/\(gate.id)")
        do {
            if let posted {
                try await slack.update(.init(channel: posted.channel, ts: posted.ts), with: message)
                try await store.completeOutboxItem(item, posted: nil, audit: nil)
            } else {
                let address = try await slack.postMessage(message)
                let audit = AuditDraft(
                    at: clock.now(), actor: "greenlight", action: .gateNotified, gate: gate,
                    details: ["via": "slack", "channel": address.channel, "ts": address.ts])
                try await store.completeOutboxItem(item, posted: PostedCard(channel: address.channel, ts: address.ts), audit: audit)
            }
        } catch let error as SlackAPIError {
            switch error {
            case .rateLimited(let seconds):
                let until = now.addingTimeInterval(seconds)
                blockedUntil[method] = until
                logger.notice("Slack rate limit", metadata: ["method": "\(method)", "retry_after": "\(seconds)"])
                try await store.rescheduleOutboxItem(item, at: until, error: error.description)
            case _ where error.isRetryable:
                try await store.rescheduleOutboxItem(
                    item, at: now.addingTimeInterval(Backoff.delay(afterFailures: item.attempts, initial: 0.5, maximum: 300)),
                    error: error.description)
            default:
                logger.error("Slack refused a card; giving it up", metadata: ["gate": "\(gate.id)", "error": "\(error)"])
                let audit = AuditDraft(
                    at: now, actor: "greenlight", action: .notificationFailed, gate: gate,
                    details: ["kind": item.kind.rawValue, "method": method, "error": error.description])
                try await store.abandonOutboxItem(item, audit: audit)
            }
        }
    }

}

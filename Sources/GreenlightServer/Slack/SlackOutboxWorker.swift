import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
import GreenlightStore
import Logging
import ServiceLifecycle

/// Delivers the outbox's Slack work: posts a gate's card once and brings it up to date with `chat.update` after every
/// change (including decisions made from the CLI, the API or the deadline); tells refused clickers why
/// (`chat.postEphemeral`); posts reminders and escalations in the card's thread.
///
/// Slack is a view (invariant 3): this worker reads committed gates and never changes one. A 429 is waited out for
/// that method (Slack's limits are per method) as long as `Retry-After` says; network errors and 5xx are retried
/// with backoff (0.5 s doubling to 5 minutes, jittered); `ok: false` errors that cannot succeed are given up with an
/// audit event. An outage delays the messages; the outbox keeps them until Slack answers.
struct SlackOutboxWorker: Service {
    let store: any GateOutbox & GateRecords
    let slack: SlackWebAPI
    let directory: SlackDirectory
    let clock: any WallClock
    let publicURL: PublicURL
    let logger: Logger
    /// The shortest time between two passes over the outbox.
    static let coalescing: TimeInterval = 0.1
    /// The most items one pass reads: a storm of decisions is worked through a few hundred at a time.
    static let passLimit = 200
    /// A thread message waits for its card this many attempts (backing off to 5 minutes: about 2 hours in all, longer
    /// than a gate usually waits), then is given up with an audit event.
    static let threadAttempts = 30

    func run() async throws {
        let wake = WakeSignal()
        // Every committed change enqueued a card in its transaction, and messages ring the outbox: look again.
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
                // Work for a method waiting out a 429 is not read at all (it stays due, unwritten), so that work for the
                // other methods — a refused clicker's ephemeral behind thousands of card updates — goes at once, and a
                // pass costs what can be sent, not the backlog.
                var hold = Self.hold(blockedUntil, at: now)
                while !Task.isCancelled {
                    let due = try await store.dueOutboxItems(at: now, limit: Self.passLimit, holding: hold)
                    for item in due where !Task.isCancelled {
                        try await deliver(item, blockedUntil: &blockedUntil)
                    }
                    // A method limited during this pass: what the pass's limit left unread for the others is read now.
                    let held = Self.hold(blockedUntil, at: now)
                    guard held != hold, due.count == Self.passLimit else { break }
                    hold = held
                }
                hold = Self.hold(blockedUntil, at: now)
                let freed = blockedUntil.values.filter { $0 > now }.min()
                next = [try await store.nextOutboxDue(holding: hold), freed].compactMap { $0 }.min()
            } catch {
                // Stopping (the server shuts down): not a failure; what was not delivered stays in the outbox.
                if Task.isCancelled { return }
                logger.error("delivering Slack messages failed", metadata: ["error": "\(error)"])
                next = clock.now().addingTimeInterval(5)
            }
            // At most one pass per `coalescing` interval however many changes ring: under a storm of decisions, a pass per
            // vote would read the outbox a thousand times a second; a tenth of a second is nothing on a Slack card.
            let earliest = passStarted.addingTimeInterval(Self.coalescing)
            let until = max(min(next ?? .distantFuture, clock.now().addingTimeInterval(3_600)), earliest)
            if until > clock.now() { await wake.sleep(until: until, on: clock) }
            if earliest > clock.now() { try? await clock.sleep(until: earliest) }
        }
    }

    /// One Web API call for `item`, and what the store must remember of it.
    private enum Delivery {
        /// Nothing to send (the gate has no channel, or a thread message for a decided gate): done.
        case nothing
        /// The thread message's card is not posted yet: try again later.
        case waitForCard
        case call(method: String, send: () async throws(SlackAPIError) -> PostedCard?)
    }

    /// What the outbox must leave unread while the methods in `blockedUntil` wait out their 429s.
    static func hold(_ blockedUntil: [String: Date], at now: Date) -> OutboxHold {
        var hold = OutboxHold()
        for (method, until) in blockedUntil where until > now {
            switch method {
            case "chat.update": hold.postedCards = true
            case "chat.postMessage":
                hold.unpostedCards = true
                hold.kinds.formUnion([.slackReminder, .slackEscalation, .slackBreakGlass])
            case "chat.postEphemeral": hold.kinds.insert(.slackEphemeral)
            default: break
            }
        }
        return hold
    }

    private func deliver(_ item: OutboxItem, blockedUntil: inout [String: Date]) async throws {
        let now = clock.now()
        // Where the gate's card is, for the kinds that need it: read once, here.
        let needsCard = item.kind != .slackEphemeral && item.kind != .slackBreakGlass  // those two post outside the card's thread
        let card = needsCard ? try await item.gateID.asyncMap { try await store.postedCard(for: $0) } ?? nil : nil
        // A card whose method began waiting out a 429 in this pass is left due before its gate is read: under a storm
        // of decisions, reading every gate only to leave it would cost more than the votes.
        let cardMethod = card == nil ? "chat.postMessage" : "chat.update"
        if item.kind == .slackCard, let until = blockedUntil[cardMethod], until > now { return }
        let gate = try await item.gateID.asyncMap { try await store.gate($0) } ?? nil
        let delivery = plan(item, gate: gate, card: card)
        let method: String
        let send: () async throws(SlackAPIError) -> PostedCard?
        switch delivery {
        case .nothing:
            try await store.completeOutboxItem(item, posted: nil, audit: nil)
            return
        case .waitForCard:
            if item.attempts >= Self.threadAttempts {
                try await abandon(item, gate: gate, method: "chat.postMessage", error: "the gate's card was never posted")
            } else {
                try await store.rescheduleOutboxItem(
                    item, at: now.addingTimeInterval(Backoff.delay(afterFailures: item.attempts, initial: 0.5, maximum: 300)),
                    error: "waiting for the gate's card to be posted")
            }
            return
        case .call(let name, let call):
            method = name
            send = call
        }
        if let until = blockedUntil[method], until > now { return }
        do {
            let posted = try await send()
            var audit: AuditDraft?
            if let posted, let gate {
                audit = AuditDraft(
                    at: clock.now(), actor: "greenlight", action: .gateNotified, gate: gate,
                    details: ["via": "slack", "channel": posted.channel, "ts": posted.ts])
            }
            // Sent: the record of it must survive a shutdown that cancels this worker (a cancelled write is dropped),
            // or the message would be sent again and a posted card's address and `gate.notified` lost.
            try await Task { [store] in try await store.completeOutboxItem(item, posted: posted, audit: audit) }.value
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
                try await abandon(item, gate: gate, method: method, error: error.description)
            }
        }
    }

    /// What delivering `item` takes, given its gate as it now stands and where its card was posted.
    private func plan(_ item: OutboxItem, gate: Gate?, card: PostedCard?) -> Delivery {
        switch item.kind {
        case .slackEphemeral:
            guard let notice = EphemeralNotice.decode(item.payload) else { return .nothing }
            return .call(method: "chat.postEphemeral") { () throws(SlackAPIError) in
                try await slack.postEphemeral(channel: notice.channel, user: notice.user, text: notice.text)
                return nil
            }
        case .slackCard:
            guard let gate, let channel = gate.plan.channel else { return .nothing }
            let message = GateCard.message(for: gate, channel: channel, url: "\(publicURL.value)/v1/gates/\(gate.id)")
            if let posted = card {
                return .call(method: "chat.update") { () throws(SlackAPIError) in
                    try await slack.update(.init(channel: posted.channel, ts: posted.ts), with: message)
                    return nil
                }
            }
            return .call(method: "chat.postMessage") { () throws(SlackAPIError) in
                let address = try await slack.postMessage(message)
                return PostedCard(channel: address.channel, ts: address.ts)
            }
        case .slackBreakGlass:
            // In the channel itself, not the thread: a break-glass is everyone's business.
            guard let gate, let channel = gate.plan.channel else { return .nothing }
            // Who and why, as the person gave them (items queued before the payload existed fall back to the gate's reason).
            let notice = item.payload.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
            let text: String
            if gate.breakGlass {
                text = ThreadMessage.breakGlass(for: gate, reason: notice?["reason"])
            } else if gate.isFrozenOut, let notice {
                text = ThreadMessage.breakGlassGrant(for: gate, person: notice["person"] ?? "someone", reason: notice["reason"] ?? "")
            } else {
                return .nothing
            }
            let message = SlackMessage(channel: channel, text: text, blocks: nil)
            return .call(method: "chat.postMessage") { () throws(SlackAPIError) in
                _ = try await slack.postMessage(message)
                return nil
            }
        case .slackReminder, .slackEscalation:
            // A reminder for a gate decided since it fired would only be noise.
            guard let gate, gate.state == .pending, gate.plan.channel != nil else { return .nothing }
            guard let card else { return .waitForCard }
            let text =
                item.kind == .slackReminder
                ? ThreadMessage.reminder(for: gate, mentions: reminderMentions(gate))
                : ThreadMessage.escalation(for: gate, mentions: (gate.plan.escalation?.to ?? []).flatMap(directory.mention(group:)))
            let message = SlackMessage(channel: card.channel, text: text, blocks: nil)
            return .call(method: "chat.postMessage") { () throws(SlackAPIError) in
                _ = try await slack.postMessage(message, threadTS: card.ts)
                return nil
            }
        }
    }

    /// Who a reminder mentions: those who can still approve, within the `mention` groups when the policy names some.
    private func reminderMentions(_ gate: Gate) -> [String] {
        var awaited = gate.awaitedApprovers
        if let groups = gate.plan.reminder?.mention, !groups.isEmpty {
            let named = Set(gate.plan.requirements.filter { groups.contains($0.group) }.flatMap(\.eligible))
            awaited = awaited.filter(named.contains)
        }
        return awaited.map(directory.mention)
    }

    private func abandon(_ item: OutboxItem, gate: Gate?, method: String, error: String) async throws {
        logger.error(
            "Slack refused a message; giving it up",
            metadata: ["kind": "\(item.kind.rawValue)", "gate": "\(gate?.id.rawValue ?? "-")", "error": "\(error)"])
        let details = ["kind": item.kind.rawValue, "method": method, "error": error]
        let audit =
            gate.map { AuditDraft(at: clock.now(), actor: "greenlight", action: .notificationFailed, gate: $0, details: details) }
            ?? AuditDraft(at: clock.now(), actor: "greenlight", action: .notificationFailed, details: details)
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

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
import GreenlightStore
import Logging

extension OutboxEvent {
    /// A message only one Slack user sees (`chat.postEphemeral`): why their click was refused. The payload says to
    /// whom, where and what.
    static let ephemeral = OutboxEvent("ephemeral")
}

extension OutboxKind {
    /// Post the gate's Slack card, or bring the posted card up to date: one item per gate, whatever the changes.
    static let slackCard = OutboxKind(.slack, .card)
    /// Tell one Slack user something only they see.
    static let slackEphemeral = OutboxKind(.slack, .ephemeral)
    /// Post the gate's reminder in its card's thread, mentioning who can still approve.
    static let slackReminder = OutboxKind(.slack, .reminder)
    /// Post the gate's escalation in its card's thread, mentioning the escalation groups.
    static let slackEscalation = OutboxKind(.slack, .escalation)
    /// Announce a break-glass in the gate's channel itself (not the thread), with `@here`: nobody should miss one.
    static let slackBreakGlass = OutboxKind(.slack, .breakGlass)
}

/// Where a gate's Slack card was posted: Slack's delivery receipt, the key for `chat.update` and for telling a click
/// on the card from one on another message.
public struct PostedCard: Sendable, Equatable, Codable {
    public var channel: String
    public var ts: String

    public init(channel: String, ts: String) {
        self.channel = channel
        self.ts = ts
    }

    /// The card's address as the outbox keeps it.
    public var receipt: DeliveryReceipt { DeliveryReceipt(channel: .slack, value: StoredFormat.json(["channel": channel, "ts": ts])) }

    /// The card's address in a Slack receipt; `nil` for a receipt that is not one.
    public init?(_ receipt: DeliveryReceipt) {
        guard receipt.channel == .slack, let card = try? JSONDecoder().decode(PostedCard.self, from: Data(receipt.value.utf8)) else { return nil }
        self = card
    }
}

extension GateOutbox {
    /// Where the gate's Slack card was posted, if it was.
    public func postedCard(for gate: GateID) async throws -> PostedCard? {
        try await deliveryReceipt(for: gate, on: .slack).flatMap(PostedCard.init)
    }

    /// Marks `item` done, remembering where its card was posted.
    public func completeOutboxItem(_ item: OutboxItem, posted: PostedCard?, audit: AuditDraft?) async throws {
        try await completeOutboxItem(item, receipt: posted?.receipt, audit: audit)
    }
}

/// Slack's delivery: posts a gate's card once and brings it up to date with `chat.update` after every change
/// (including decisions made from the CLI, the API or the deadline); tells refused clickers why
/// (`chat.postEphemeral`); posts reminders and escalations in the card's thread and break-glass in the channel.
///
/// Slack's limits are per Web API method: a 429 holds that method's work only. `ok: false` errors that retrying
/// cannot fix are given up.
struct SlackNotifier: Notifier {
    let slack: SlackWebAPI
    let directory: SlackDirectory
    let publicURL: PublicURL

    var channel: NotificationChannel { .slack }

    var kinds: Set<OutboxKind> { [.slackCard, .slackEphemeral, .slackReminder, .slackEscalation, .slackBreakGlass] }

    func operation(for item: OutboxItem, delivered: Bool) -> String? {
        switch item.kind {
        case .slackCard: delivered ? "chat.update" : "chat.postMessage"
        case .slackEphemeral: "chat.postEphemeral"
        default: "chat.postMessage"
        }
    }

    func held(whileLimited operations: Set<String>) -> OutboxSelection {
        var kinds = self.kinds
        var selection = OutboxSelection(channel: .slack, kinds: nil)
        for operation in operations {
            switch operation {
            case "chat.update": selection.holdingUpdates = true
            case "chat.postMessage":
                selection.holdingFirstDeliveries = true
                kinds.subtract([.slackReminder, .slackEscalation, .slackBreakGlass])
            case "chat.postEphemeral": kinds.remove(.slackEphemeral)
            default: break
            }
        }
        if selection.holdingUpdates, selection.holdingFirstDeliveries { kinds.remove(.slackCard) }
        selection.kinds = kinds
        return selection
    }

    func classify(_ error: any Error) -> DeliveryFailure {
        guard let error = error as? SlackAPIError else { return .retryable }
        switch error {
        case .rateLimited(let seconds): return .rateLimited(seconds: seconds)
        case _ where error.isRetryable: return .retryable
        default: return .permanent
        }
    }

    func notified(_ receipt: DeliveryReceipt) -> GateNotified {
        let card = PostedCard(receipt)
        return GateNotified(via: .slack, channel: card?.channel ?? "", ts: card?.ts ?? "")
    }

    func render(_ item: OutboxItem, gate: Gate?, receipt: DeliveryReceipt?) -> Rendering {
        let card = receipt.flatMap(PostedCard.init)
        switch item.kind {
        case .slackEphemeral:
            guard let notice = EphemeralNotice.decode(item.payload) else { return .nothing }
            return .send(operation: "chat.postEphemeral") { [slack] in
                try await slack.postEphemeral(channel: notice.channel, user: notice.user, text: notice.text)
                return nil
            }
        case .slackCard:
            guard let gate, let channel = gate.plan.address(on: .slack) else { return .nothing }
            let message = GateCard.message(for: gate, channel: channel, url: "\(publicURL.value)/v1/gates/\(gate.id)")
            if let posted = card {
                return .send(operation: "chat.update") { [slack] in
                    try await slack.update(.init(channel: posted.channel, ts: posted.ts), with: message)
                    return nil
                }
            }
            return .send(operation: "chat.postMessage") { [slack] in
                let address = try await slack.postMessage(message)
                return PostedCard(channel: address.channel, ts: address.ts).receipt
            }
        case .slackBreakGlass:
            // In the channel itself, not the thread: a break-glass is everyone's business.
            guard let gate, let channel = gate.plan.address(on: .slack) else { return .nothing }
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
            return .send(operation: "chat.postMessage") { [slack] in
                _ = try await slack.postMessage(message)
                return nil
            }
        case .slackReminder, .slackEscalation:
            // A reminder for a gate decided since it fired would only be noise.
            guard let gate, gate.state == .pending, gate.plan.address(on: .slack) != nil else { return .nothing }
            guard let card else { return .waitForFirstDelivery(operation: "chat.postMessage", givenUp: "the gate's card was never posted") }
            let text =
                item.kind == .slackReminder
                ? ThreadMessage.reminder(for: gate, mentions: reminderMentions(gate))
                : ThreadMessage.escalation(for: gate, mentions: (gate.plan.escalation?.to ?? []).flatMap(directory.mention(group:)))
            let message = SlackMessage(channel: card.channel, text: text, blocks: nil)
            return .send(operation: "chat.postMessage") { [slack] in
                _ = try await slack.postMessage(message, threadTS: card.ts)
                return nil
            }
        default:
            return .nothing
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
}

extension DeliveryLoop where Channel == SlackNotifier {
    /// The loop that delivers the outbox's Slack work through the bot's Web API.
    init(
        store: any GateOutbox & GateRecords, slack: SlackWebAPI, directory: SlackDirectory, clock: any WallClock, publicURL: PublicURL, logger: Logger
    ) {
        self.init(notifier: SlackNotifier(slack: slack, directory: directory, publicURL: publicURL), store: store, clock: clock, logger: logger)
    }
}

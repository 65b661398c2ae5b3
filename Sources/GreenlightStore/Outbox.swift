import Foundation
import GreenlightAudit
import GreenlightCore

/// What the outbox delivers. The raw values are stored: never rename one.
public enum OutboxKind: String, Sendable, Codable, CaseIterable {
    /// Post the gate's Slack card, or bring the posted card up to date. One item per gate, whatever the changes.
    case slackCard = "slack.card"
    /// Tell one Slack user something only they see (`chat.postEphemeral`): why their click was refused.
    /// The payload says to whom, where and what.
    case slackEphemeral = "slack.ephemeral"
    /// Post the gate's reminder in its card's thread, mentioning who can still approve.
    case slackReminder = "slack.remind"
    /// Post the gate's escalation in its card's thread, mentioning the escalation groups.
    case slackEscalation = "slack.escalate"
    /// Announce a break-glass in the gate's channel itself (not the thread), with `@here`: nobody should miss one.
    case slackBreakGlass = "slack.break_glass"

    /// The kinds a store enqueues by itself, in the transaction of a gate's change, when Slack is set up.
    public static let slack: Set<OutboxKind> = [.slackCard, .slackReminder, .slackEscalation, .slackBreakGlass]
}

/// One piece of outbound work, due at `dueAt`.
public struct OutboxItem: Sendable, Equatable {
    public var id: Int64
    /// The gate the work is about; `nil` for a refusal about a gate that does not exist.
    public var gateID: GateID?
    public var kind: OutboxKind
    public var dueAt: Date
    /// Failed attempts so far (for backoff).
    public var attempts: Int
    /// Bumped by every change to the gate; a completion for an older generation leaves the item due.
    public var generation: Int
    /// What to deliver, for kinds that say more than "the gate changed" (JSON, owned by whoever enqueued it).
    public var payload: String?

    public init(id: Int64, gateID: GateID?, kind: OutboxKind, dueAt: Date, attempts: Int, generation: Int, payload: String? = nil) {
        self.id = id
        self.gateID = gateID
        self.kind = kind
        self.dueAt = dueAt
        self.attempts = attempts
        self.generation = generation
        self.payload = payload
    }
}

/// Where a gate's Slack card was posted.
public struct PostedCard: Sendable, Equatable {
    public var channel: String
    public var ts: String

    public init(channel: String, ts: String) {
        self.channel = channel
        self.ts = ts
    }
}

/// Outbox work to leave unread for now: what needs a Slack method that is waiting out a 429. Slack's limits are per
/// method, so work for a method that is not limited must not queue behind work for one that is, and the held work is
/// neither read nor rewritten until its method is free again: it simply stays due.
public struct OutboxHold: Sendable, Equatable {
    /// Message kinds held.
    public var kinds: Set<OutboxKind>
    /// Cards already posted, whose update is held (`chat.update`).
    public var postedCards: Bool
    /// Cards not posted yet (`chat.postMessage`).
    public var unpostedCards: Bool

    public init(kinds: Set<OutboxKind> = [], postedCards: Bool = false, unpostedCards: Bool = false) {
        self.kinds = kinds
        self.postedCards = postedCards
        self.unpostedCards = unpostedCards
    }

    /// Nothing held.
    public static let nothing = OutboxHold()
}

/// The durable outbox: outbound work enqueued in the same transaction as the gate change that causes it, so that an
/// outage of the receiver (Slack) delays it but never loses it, and never holds up a decision (invariant 3).
public protocol GateOutbox: Sendable {
    /// Items due at or before `now`, oldest first, less those `hold` names.
    func dueOutboxItems(at now: Date, limit: Int, holding hold: OutboxHold) async throws -> [OutboxItem]

    /// When the next item that `hold` does not name falls due.
    func nextOutboxDue(holding hold: OutboxHold) async throws -> Date?

    /// Marks `item` done (unless the gate changed since it was read), remembering where a card was posted and
    /// appending `audit` in the same transaction.
    func completeOutboxItem(_ item: OutboxItem, posted: PostedCard?, audit: AuditDraft?) async throws

    /// Tries `item` again at `date`, after `error`.
    func rescheduleOutboxItem(_ item: OutboxItem, at date: Date, error: String) async throws

    /// Gives `item` up (an error retrying cannot fix), with an audit event saying why.
    func abandonOutboxItem(_ item: OutboxItem, audit: AuditDraft) async throws

    /// Where the gate's card was posted, if it was.
    func postedCard(for gate: GateID) async throws -> PostedCard?

    /// Enqueues one message of `kind` with its `payload`, due at `date`: work that follows no gate change, such as
    /// telling a person why their click was refused.
    func enqueueOutboxMessage(_ kind: OutboxKind, gate: GateID?, payload: String, at date: Date) async throws
}

extension GateOutbox {
    /// Every item due at or before `now`, oldest first.
    public func dueOutboxItems(at now: Date, limit: Int) async throws -> [OutboxItem] {
        try await dueOutboxItems(at: now, limit: limit, holding: .nothing)
    }

    /// When the next item falls due.
    public func nextOutboxDue() async throws -> Date? {
        try await nextOutboxDue(holding: .nothing)
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore

/// What a piece of outbound work is about, whatever the channel: the ledger enqueues these for every target of a
/// gate's plan; a channel's notifier may add events of its own (Slack's `ephemeral`). Stored in the kind: never
/// rename one.
public struct OutboxEvent: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    /// The gate's view on the channel (a Slack card), delivered once and brought up to date after every change: one
    /// item per gate, whatever the changes (coalesced).
    public static let card = OutboxEvent("card")
    /// The gate's reminder, naming who can still approve.
    public static let reminder = OutboxEvent("remind")
    /// The gate's escalation, to the escalation groups.
    public static let escalation = OutboxEvent("escalate")
    /// A break-glass, announced to everyone who watches the gate's channel.
    public static let breakGlass = OutboxEvent("break_glass")
}

/// What the outbox delivers: an event on a channel. Stored as `channel.event` (`slack.card`).
public struct OutboxKind: Hashable, Sendable, CustomStringConvertible {
    public var channel: NotificationChannel
    public var event: OutboxEvent

    public init(_ channel: NotificationChannel, _ event: OutboxEvent) {
        self.channel = channel
        self.event = event
    }

    /// Reads a stored kind; `nil` when it is not `channel.event`.
    public init?(rawValue: String) {
        guard let dot = rawValue.firstIndex(of: "."), dot != rawValue.startIndex, rawValue.index(after: dot) != rawValue.endIndex else {
            return nil
        }
        self.init(NotificationChannel(String(rawValue[..<dot])), OutboxEvent(String(rawValue[rawValue.index(after: dot)...])))
    }

    public var rawValue: String { "\(channel.rawValue).\(event.rawValue)" }
    public var description: String { rawValue }

    /// Whether later changes bump the gate's one item of this kind instead of adding items: the gate's view is
    /// rendered from the gate as it is when delivered, so one delivery shows every change.
    public var isCoalesced: Bool { event == .card }
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
    /// The fencing token of the claim this item was read under (``GateOutbox/claimOutboxItems(_:at:limit:until:)``):
    /// bumped by every claim, so that a worker whose lease passed and another took the item over settles nothing.
    /// `0` for an item read without a claim (``GateOutbox/dueOutboxItems(_:at:limit:)``: tools and tests).
    public var claim: Int64
    /// When the claim's lease ends; `nil` without a claim.
    public var leasedUntil: Date?

    public init(
        id: Int64, gateID: GateID?, kind: OutboxKind, dueAt: Date, attempts: Int, generation: Int, payload: String? = nil, claim: Int64 = 0,
        leasedUntil: Date? = nil
    ) {
        self.id = id
        self.gateID = gateID
        self.kind = kind
        self.dueAt = dueAt
        self.attempts = attempts
        self.generation = generation
        self.payload = payload
        self.claim = claim
        self.leasedUntil = leasedUntil
    }

    public var channel: NotificationChannel { kind.channel }
}

/// What a channel remembers of a gate's first delivery, to deliver its updates (Slack: the card's channel and `ts`,
/// for `chat.update`). Opaque to the store; the channel's notifier writes and reads it. Written once per gate and
/// channel: the first one recorded stays.
public struct DeliveryReceipt: Sendable, Equatable {
    public var channel: NotificationChannel
    public var value: String

    public init(channel: NotificationChannel, value: String) {
        self.channel = channel
        self.value = value
    }
}

/// The outbox items one worker reads: its channel's kinds, less what waits out a rate limit. A channel's limits are
/// per operation, so work for an operation that is not limited must not queue behind work for one that is, and the
/// held work is neither read nor rewritten until its operation is free again: it simply stays due.
public struct OutboxSelection: Sendable, Equatable {
    /// The channel read; `nil` reads every channel (tests and tools, never a worker).
    public var channel: NotificationChannel?
    /// The kinds read: those the channel's notifier delivers, so that items a newer version wrote are left alone.
    /// `nil` reads every kind.
    public var kinds: Set<OutboxKind>?
    /// Coalesced items already delivered once (their gate has a receipt) are left unread: their update is limited.
    public var holdingUpdates: Bool
    /// Coalesced items not delivered yet are left unread: their first delivery is limited.
    public var holdingFirstDeliveries: Bool

    public init(channel: NotificationChannel?, kinds: Set<OutboxKind>?, holdingUpdates: Bool = false, holdingFirstDeliveries: Bool = false) {
        self.channel = channel
        self.kinds = kinds
        self.holdingUpdates = holdingUpdates
        self.holdingFirstDeliveries = holdingFirstDeliveries
    }

    /// Every item of every channel.
    public static let everything = OutboxSelection(channel: nil, kinds: nil)

    /// The lanes this selection reads, when it names its kinds (a worker's always does): a message kind is a lane, a
    /// coalesced kind two (`:first` and `:update`, by whether the gate was delivered once), each left out while its
    /// operation is held. Every store keeps an item's lane in a column with an index by lane and due time, so that a
    /// worker reads one index range per lane and never steps over what a held lane holds.
    public var lanes: [String]? {
        guard let kinds else { return nil }
        var lanes: [String] = []
        for kind in kinds.sorted(by: { $0.rawValue < $1.rawValue }) where channel == nil || kind.channel == channel {
            if kind.isCoalesced {
                if !holdingFirstDeliveries { lanes.append(kind.rawValue + ":first") }
                if !holdingUpdates { lanes.append(kind.rawValue + ":update") }
            } else {
                lanes.append(kind.rawValue)
            }
        }
        return lanes
    }
}

/// The durable outbox: outbound work enqueued in the same transaction as the gate change that causes it, so that an
/// outage of the receiver delays it but never loses it, and never holds up a decision (invariant 3). Shared by every
/// channel: each worker reads and settles only its own channel's items.
///
/// Workers on several replicas share one outbox: a worker *claims* the items it delivers, each under a lease and a
/// fencing token (``OutboxItem/claim``). A claimed item is not due for anyone until its lease ends, so that two
/// workers never deliver it at once; a worker killed holding it loses it to whoever claims it after the lease; and a
/// worker that stalled past its lease settles nothing (complete, reschedule and abandon check the token), so that it
/// cannot undo what the worker that took over did.
public protocol GateOutbox: Sendable {
    /// Items `selection` reads that are due at or before `now`, oldest first, without claiming them (tools and tests).
    func dueOutboxItems(_ selection: OutboxSelection, at now: Date, limit: Int) async throws -> [OutboxItem]

    /// Claims the items ``dueOutboxItems(_:at:limit:)`` would read, for the caller alone until `leaseUntil`, and
    /// returns them oldest first, each with its new fencing token. An item another worker is claiming at this moment
    /// is skipped, not waited for. While the lease lasts, the item is due for nobody; a change to its gate does not
    /// bring it forward (completing the older generation does).
    func claimOutboxItems(_ selection: OutboxSelection, at now: Date, limit: Int, until leaseUntil: Date) async throws -> [OutboxItem]

    /// When the next item `selection` reads falls due.
    func nextOutboxDue(_ selection: OutboxSelection) async throws -> Date?

    /// Gives claimed `items` back unsent (a pass that stopped early, an operation waiting out a rate limit): each is
    /// due again when it was, for anyone, unless its claim was taken over meanwhile.
    func releaseOutboxItems(_ items: [OutboxItem]) async throws

    /// Marks `item` done (unless the gate changed since it was read: then it is due again at once), remembering the
    /// receipt of a first delivery and appending `audit` in the same transaction. When `item`'s claim was taken over,
    /// the receipt and `audit` (what was delivered) are still recorded, and the item is left to its new claimant.
    func completeOutboxItem(_ item: OutboxItem, receipt: DeliveryReceipt?, audit: AuditDraft?) async throws

    /// Tries `item` again at `date`, after `error`; nothing when its claim was taken over.
    func rescheduleOutboxItem(_ item: OutboxItem, at date: Date, error: String) async throws

    /// Gives `item` up (an error retrying cannot fix), with an audit event saying why; nothing when its claim was
    /// taken over.
    func abandonOutboxItem(_ item: OutboxItem, audit: AuditDraft) async throws

    /// What `channel` remembered of the gate's first delivery, if it was delivered.
    func deliveryReceipt(for gate: GateID, on channel: NotificationChannel) async throws -> DeliveryReceipt?

    /// Enqueues one message of `kind` with its `payload`, due at `date`: work that follows no gate change, such as
    /// telling a person why their click was refused.
    func enqueueOutboxMessage(_ kind: OutboxKind, gate: GateID?, payload: String, at date: Date) async throws
}

extension GateOutbox {
    /// Every item of every channel due at or before `now`, oldest first.
    public func dueOutboxItems(at now: Date, limit: Int) async throws -> [OutboxItem] {
        try await dueOutboxItems(.everything, at: now, limit: limit)
    }

    /// When the next item of any channel falls due.
    public func nextOutboxDue() async throws -> Date? {
        try await nextOutboxDue(.everything)
    }
}

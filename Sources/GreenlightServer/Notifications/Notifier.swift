import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore

/// One channel's delivery of outbox items: what an item takes to deliver, and what a failure means. The
/// ``DeliveryLoop`` does the rest for every channel alike: reads only this channel's items, coalesces passes, waits
/// out each operation's rate limit, backs off, puts off and gives up with an audit event.
///
/// To add a channel (e-mail, webhooks): conform a type to this protocol, give the ledger its channel (so that gate
/// changes enqueue work for the targets plans name on it) and run a ``DeliveryLoop`` over it.
public protocol Notifier: Sendable {
    /// The channel whose items this notifier delivers.
    var channel: NotificationChannel { get }

    /// The kinds it delivers: items of other kinds on its channel (a newer version's) are left for that version.
    var kinds: Set<OutboxKind> { get }

    /// The operation that would deliver `item`, given whether its gate was delivered on this channel before: known
    /// before the gate is read, so that an item whose operation waits out a rate limit is left without reading it.
    func operation(for item: OutboxItem, delivered: Bool) -> String?

    /// What delivering `item` takes now, given its gate as it stands and the receipt of the gate's first delivery.
    func render(_ item: OutboxItem, gate: Gate?, receipt: DeliveryReceipt?) -> Rendering

    /// The items to leave unread while `operations` wait out their rate limits.
    func held(whileLimited operations: Set<String>) -> OutboxSelection

    /// What a failed delivery means.
    func classify(_ error: any Error) -> DeliveryFailure

    /// The `gate.notified` audit record of a gate's first delivery: where it went, and its id there.
    func notified(_ receipt: DeliveryReceipt) -> GateNotified
}

/// What delivering one item takes.
public enum Rendering: Sendable {
    /// Nothing to send (no target on this channel, or a reminder for a gate decided since): the item is done.
    case nothing
    /// The item needs the gate's first delivery (a message in a card's thread): put off, and given up after many
    /// attempts, audited as a failure of `operation` for the reason `givenUp`.
    case waitForFirstDelivery(operation: String, givenUp: String)
    /// One call of `operation`, returning a receipt when it is a gate's first delivery.
    case send(operation: String, deliver: @Sendable () async throws -> DeliveryReceipt?)
}

/// What a failed delivery means, as the notifier reads its channel's error.
public enum DeliveryFailure: Sendable, Equatable {
    /// The operation is limited for `seconds`: the item and everything else needing the operation wait.
    case rateLimited(seconds: Double)
    /// Worth trying again with backoff (the receiver is down or overloaded).
    case retryable
    /// Retrying cannot help (a channel that does not exist, a token without the scope): give the item up, audited.
    case permanent
}

import GreenlightSlack

/// Interactions accepted from Slack (verified, acknowledged) and waiting to be acted on.
///
/// Slack wants its 200 within three seconds and shows the clicker an error otherwise, so the HTTP route (and the Socket
/// Mode connection) only verify, decode and hand the interaction over here; ``SlackApprovals`` does the rest. The
/// queue is bounded: past `capacity` waiting interactions the route answers 503, which Slack shows the clicker, rather
/// than accept a click it might never get to.
public final class SlackInteractionInbox: Sendable {
    let stream: AsyncStream<SlackInteraction>
    private let continuation: AsyncStream<SlackInteraction>.Continuation

    public init(capacity: Int = 10_000) {
        (stream, continuation) = AsyncStream.makeStream(of: SlackInteraction.self, bufferingPolicy: .bufferingOldest(capacity))
    }

    /// Queues `interaction`; `false` when the queue is full (or closed at shutdown).
    public func submit(_ interaction: SlackInteraction) -> Bool {
        if case .enqueued = continuation.yield(interaction) { return true }
        return false
    }

    /// Stops accepting interactions; those queued are still handed out.
    func close() {
        continuation.finish()
    }
}

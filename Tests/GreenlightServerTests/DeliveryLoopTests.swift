import AsyncHTTPClient
import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
import GreenlightSlackSimulator
import GreenlightStore
import GreenlightTestSupport
import Logging
import Synchronization
import Testing

@testable import GreenlightServer

/// A second channel beside Slack, as e-mail or webhooks will be: it records what it delivers.
private struct RecordingNotifier: Notifier {
    static let channel = NotificationChannel("test")
    let delivered: AsyncStream<GateID>.Continuation

    var channel: NotificationChannel { Self.channel }
    var kinds: Set<OutboxKind> { [OutboxKind(Self.channel, .card)] }

    func operation(for item: OutboxItem, delivered: Bool) -> String? { "post" }

    func render(_ item: OutboxItem, gate: Gate?, receipt: DeliveryReceipt?) -> Rendering {
        guard let gate, gate.plan.address(on: Self.channel) != nil else { return .nothing }
        return .send(operation: "post") { [delivered] in
            delivered.yield(gate.id)
            return receipt == nil ? DeliveryReceipt(channel: Self.channel, value: "message-1") : nil
        }
    }

    func held(whileLimited operations: Set<String>) -> OutboxSelection {
        OutboxSelection(channel: Self.channel, kinds: operations.contains("post") ? [] : kinds)
    }

    func classify(_ error: any Error) -> DeliveryFailure { .retryable }

    func notified(_ receipt: DeliveryReceipt) -> GateNotified { GateNotified(via: Self.channel, channel: "inbox", ts: receipt.value) }
}

@Suite("Delivery loop", .timeLimit(.minutes(1)))
struct DeliveryLoopTests {
    @Test("two notifiers share one outbox: each delivers its own channel's items and leaves the other's untouched")
    func twoChannels() async throws {
        let app = try await TestGreenlight()
        let ledger = GateLedger(store: app.store, notifying: [.slack, RecordingNotifier.channel])
        var template = StoreFixtures.gate(channel: "C1")
        template.plan.notify.append(NotificationTarget(channel: RecordingNotifier.channel, address: "inbox"))
        let gate = try await ledger.open(template, idempotencyKey: nil).gate
        let due = try await app.store.dueOutboxItems(at: app.clock.now(), limit: 10)
        #expect(Set(due.map(\.kind.rawValue)) == ["slack.card", "test.card"])
        var logger = Logger(label: "test")
        logger.logLevel = .error
        // A first delivery's receipt, once committed, rings the outbox: each loop is stopped only after its ring.
        let (rung, ring) = AsyncStream.makeStream(of: Void.self)
        let rings = app.store.changes.observeOutboxRings { ring.yield() }
        defer { rings.cancel() }
        var committed = rung.makeAsyncIterator()

        // Slack first: its card is posted, the test channel's item stays as it was.
        let slack = SlackSimulator()
        let url = try await slack.start()
        defer { slack.stop() }
        let slackLoop = DeliveryLoop(
            store: app.store, slack: SlackWebAPI(token: slack.botToken, baseURL: url, http: HTTPClient.shared),
            directory: SlackDirectory(policy: app.gatekeeper.policy), clock: app.clock, publicURL: PublicURL("https://greenlight.example.com"),
            logger: logger)
        let slackRun = Task { try await slackLoop.run() }
        await committed.next()
        slackRun.cancel()
        try await slackRun.value
        let left = try await app.store.dueOutboxItems(at: app.clock.now(), limit: 10)
        #expect(left.map(\.kind.rawValue) == ["test.card"])
        #expect(left == due.filter { $0.kind.channel == RecordingNotifier.channel }, "untouched: not rescheduled, not rewritten")
        #expect(try await app.store.postedCard(for: gate.id) != nil)
        #expect(try await app.store.deliveryReceipt(for: gate.id, on: RecordingNotifier.channel) == nil)

        // Then the other channel: its own item only, and Slack's receipt stays Slack's.
        let (delivered, recorder) = AsyncStream.makeStream(of: GateID.self)
        let testLoop = DeliveryLoop(notifier: RecordingNotifier(delivered: recorder), store: app.store, clock: app.clock, logger: logger)
        let testRun = Task { try await testLoop.run() }
        var deliveries = delivered.makeAsyncIterator()
        #expect(await deliveries.next() == gate.id)
        await committed.next()
        testRun.cancel()
        try await testRun.value
        #expect(try await app.store.dueOutboxItems(at: app.clock.now(), limit: 10).isEmpty)
        #expect(try await app.store.deliveryReceipt(for: gate.id, on: RecordingNotifier.channel)?.value == "message-1")
        #expect(try await app.store.postedCard(for: gate.id)?.channel == slack.calls(to: "chat.postMessage").first?.arguments["channel"]?.stringValue)
        let notified = try await app.store.auditEvents(AuditQuery(gateID: gate.id.rawValue, action: "gate.notified"))
        #expect(notified.map { $0.details["via"] } == ["slack", "test"])
        #expect(slack.calls(to: "chat.postMessage").count == 1, "Slack's loop never saw the other channel's item")
    }
}

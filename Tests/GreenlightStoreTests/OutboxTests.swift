import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Testing

@Suite("Outbox")
struct OutboxTests {
    let later = StoreFixtures.start.addingTimeInterval(3_600)

    @Test("a gate change enqueues its card in the same transaction; later changes bump the same item", arguments: StoreFactory.all)
    func enqueue(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let gate = StoreFixtures.gate(channel: "C0DEPLOYS")
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let first = try #require(try await fixture.store.dueOutboxItems(at: later, limit: 10).first)
        #expect(first.gateID == gate.id)
        #expect(first.kind == OutboxKind(.slack, .card))
        #expect(first.dueAt == StoreFixtures.start)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        let items = try await fixture.store.dueOutboxItems(at: later, limit: 10)
        #expect(items.count == 1)
        #expect(items.first?.generation == first.generation + 1)
    }

    @Test("no channel, or no Slack configured: nothing is enqueued", arguments: StoreFactory.all)
    func nothingToDo(_ factory: StoreFactory) async throws {
        let withoutChannel = try await factory.make(notifying: [.slack])
        _ = try await withoutChannel.ledger.open(StoreFixtures.gate(), idempotencyKey: nil)
        #expect(try await withoutChannel.store.dueOutboxItems(at: later, limit: 10).isEmpty)
        let withoutSlack = try await factory.make()
        _ = try await withoutSlack.ledger.open(StoreFixtures.gate(channel: "C0DEPLOYS"), idempotencyKey: nil)
        #expect(try await withoutSlack.store.nextOutboxDue() == nil)
    }

    @Test("completing an item the gate has changed since leaves it due, so no change goes unshown", arguments: StoreFactory.all)
    func staleCompletion(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let gate = StoreFixtures.gate(channel: "C0DEPLOYS")
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let read = try #require(try await fixture.store.dueOutboxItems(at: later, limit: 10).first)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        let posted = DeliveryReceipt(channel: .slack, value: #"{"channel":"C0DEPLOYS","ts":"1700000000.000100"}"#)
        try await fixture.store.completeOutboxItem(read, receipt: posted, audit: nil)
        #expect(try await fixture.store.deliveryReceipt(for: gate.id, on: .slack) == posted)
        let again = try #require(try await fixture.store.dueOutboxItems(at: later, limit: 10).first)
        try await fixture.store.completeOutboxItem(again, receipt: nil, audit: nil)
        #expect(try await fixture.store.dueOutboxItems(at: later, limit: 10).isEmpty)
    }

    @Test("a rescheduled item waits; an abandoned one is gone and audited", arguments: StoreFactory.all)
    func rescheduleAndAbandon(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let gate = StoreFixtures.gate(channel: "C0DEPLOYS")
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let item = try #require(try await fixture.store.dueOutboxItems(at: later, limit: 10).first)
        let retryAt = StoreFixtures.start.addingTimeInterval(30)
        try await fixture.store.rescheduleOutboxItem(item, at: retryAt, error: "rate limited")
        #expect(try await fixture.store.dueOutboxItems(at: retryAt.addingTimeInterval(-1), limit: 10).isEmpty)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        #expect(try await fixture.store.nextOutboxDue() == retryAt, "a change must not cut a backoff short")
        let retried = try #require(try await fixture.store.dueOutboxItems(at: retryAt, limit: 10).first)
        #expect(retried.attempts == 1)
        #expect(try await fixture.store.nextOutboxDue() == retryAt)

        let audit = AuditDraft(at: retryAt, actor: "greenlight", action: .notificationFailed, gate: gate, details: ["error": "channel_not_found"])
        try await fixture.store.abandonOutboxItem(retried, audit: audit)
        #expect(try await fixture.store.nextOutboxDue() == nil)
        #expect(try await fixture.store.auditEvents(AuditQuery(action: "notification.failed")).count == 1)
        #expect(try await fixture.store.verifyAudit().isIntact)
    }

    @Test("each channel reads only its own items, and the gate's receipts are per channel", arguments: StoreFactory.all)
    func channels(_ factory: StoreFactory) async throws {
        let email = NotificationChannel("email")
        let fixture = try await factory.make(notifying: [.slack, email])
        var template = StoreFixtures.gate(channel: "C0DEPLOYS")
        template.plan.notify.append(NotificationTarget(channel: email, address: "deploys@example.com"))
        let gate = try await fixture.ledger.open(template, idempotencyKey: nil).gate
        let later = StoreFixtures.start.addingTimeInterval(1)
        let slackOnly = OutboxSelection(channel: .slack, kinds: [OutboxKind(.slack, .card)])
        let emailOnly = OutboxSelection(channel: email, kinds: nil)
        let slackItems = try await fixture.store.dueOutboxItems(slackOnly, at: later, limit: 10)
        let emailItems = try await fixture.store.dueOutboxItems(emailOnly, at: later, limit: 10)
        #expect(slackItems.map(\.kind.rawValue) == ["slack.card"])
        #expect(emailItems.map(\.kind.rawValue) == ["email.card"])
        // A kind the reader does not deliver (a newer version's) is neither read nor waited for.
        let unknown = OutboxSelection(channel: .slack, kinds: [OutboxKind(.slack, .reminder)])
        #expect(try await fixture.store.dueOutboxItems(unknown, at: later, limit: 10).isEmpty)
        #expect(try await fixture.store.nextOutboxDue(unknown) == nil)

        let receipt = DeliveryReceipt(channel: email, value: "<message-id@example.com>")
        try await fixture.store.completeOutboxItem(try #require(emailItems.first), receipt: receipt, audit: nil)
        #expect(try await fixture.store.deliveryReceipt(for: gate.id, on: email) == receipt)
        #expect(try await fixture.store.deliveryReceipt(for: gate.id, on: .slack) == nil)
        // Holding first deliveries holds Slack's unposted card, not the e-mail channel's updates.
        var held = slackOnly
        held.holdingFirstDeliveries = true
        #expect(try await fixture.store.dueOutboxItems(held, at: later, limit: 10).isEmpty)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        var emailHeld = emailOnly
        emailHeld.holdingFirstDeliveries = true
        #expect(try await fixture.store.dueOutboxItems(emailHeld, at: later.addingTimeInterval(60), limit: 10).map(\.kind.rawValue) == ["email.card"])
        emailHeld.holdingUpdates = true
        #expect(try await fixture.store.dueOutboxItems(emailHeld, at: later.addingTimeInterval(60), limit: 10).isEmpty)
    }
}

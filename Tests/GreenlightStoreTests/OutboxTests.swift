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
        let fixture = try factory.make(outbox: [.slackCard])
        let gate = StoreFixtures.gate(channel: "C0DEPLOYS")
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let first = try #require(try await fixture.store.dueOutboxItems(at: later, limit: 10).first)
        #expect(first.gateID == gate.id)
        #expect(first.kind == .slackCard)
        #expect(first.dueAt == StoreFixtures.start)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        let items = try await fixture.store.dueOutboxItems(at: later, limit: 10)
        #expect(items.count == 1)
        #expect(items.first?.generation == first.generation + 1)
    }

    @Test("no channel, or no Slack configured: nothing is enqueued", arguments: StoreFactory.all)
    func nothingToDo(_ factory: StoreFactory) async throws {
        let withoutChannel = try factory.make(outbox: [.slackCard])
        _ = try await withoutChannel.ledger.open(StoreFixtures.gate(), idempotencyKey: nil)
        #expect(try await withoutChannel.store.dueOutboxItems(at: later, limit: 10).isEmpty)
        let withoutSlack = try factory.make()
        _ = try await withoutSlack.ledger.open(StoreFixtures.gate(channel: "C0DEPLOYS"), idempotencyKey: nil)
        #expect(try await withoutSlack.store.nextOutboxDue() == nil)
    }

    @Test("completing an item the gate has changed since leaves it due, so no change goes unshown", arguments: StoreFactory.all)
    func staleCompletion(_ factory: StoreFactory) async throws {
        let fixture = try factory.make(outbox: [.slackCard])
        let gate = StoreFixtures.gate(channel: "C0DEPLOYS")
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let read = try #require(try await fixture.store.dueOutboxItems(at: later, limit: 10).first)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        let posted = PostedCard(channel: "C0DEPLOYS", ts: "1700000000.000100")
        try await fixture.store.completeOutboxItem(read, posted: posted, audit: nil)
        #expect(try await fixture.store.postedCard(for: gate.id) == posted)
        let again = try #require(try await fixture.store.dueOutboxItems(at: later, limit: 10).first)
        try await fixture.store.completeOutboxItem(again, posted: nil, audit: nil)
        #expect(try await fixture.store.dueOutboxItems(at: later, limit: 10).isEmpty)
    }

    @Test("a rescheduled item waits; an abandoned one is gone and audited", arguments: StoreFactory.all)
    func rescheduleAndAbandon(_ factory: StoreFactory) async throws {
        let fixture = try factory.make(outbox: [.slackCard])
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
}

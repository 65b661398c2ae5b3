import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Testing

/// Claims: the workers of several replicas share one outbox, and each item is delivered by one of them at a time,
/// taken over once a lease passes, and settled only under the claim it was read with.
@Suite("Outbox claims")
struct OutboxClaimTests {
    let now = StoreFixtures.start.addingTimeInterval(60)
    var leaseEnd: Date { now.addingTimeInterval(60) }
    let card = OutboxSelection(channel: .slack, kinds: [OutboxKind(.slack, .card)])

    /// A store whose one gate's card is due, and a replica over the same database.
    func cardDue(_ factory: StoreFactory) async throws -> (StoreUnderTest, replica: any GateStore, gate: Gate) {
        let fixture = try await factory.make(notifying: [.slack])
        let gate = StoreFixtures.gate(channel: "C0DEPLOYS")
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        return (fixture, try await fixture.replica().store, gate)
    }

    @Test("a claimed item is due for nobody until its lease ends; then another worker claims it with a higher token", arguments: StoreFactory.all)
    func lease(_ factory: StoreFactory) async throws {
        let (fixture, replica, gate) = try await cardDue(factory)
        let first = try await fixture.store.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd)
        #expect(first.map(\.gateID) == [gate.id])
        #expect(first.first?.dueAt == StoreFixtures.start, "the item keeps the time it fell due")
        #expect(first.first?.leasedUntil == leaseEnd)
        #expect(try await replica.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd).isEmpty)
        #expect(try await replica.dueOutboxItems(card, at: now, limit: 10).isEmpty)
        #expect(try await replica.nextOutboxDue(card) == leaseEnd, "due again when the lease ends")

        let takenOver = try await replica.claimOutboxItems(card, at: leaseEnd, limit: 10, until: leaseEnd.addingTimeInterval(60))
        #expect(takenOver.map(\.id) == first.map(\.id))
        #expect(try #require(takenOver.first).claim > first[0].claim)
    }

    @Test(
        "a worker whose claim was taken over settles nothing: its completion, retry and give-up leave the item to the new claimant",
        arguments: StoreFactory.all)
    func fencing(_ factory: StoreFactory) async throws {
        let (fixture, replica, gate) = try await cardDue(factory)
        let stale = try #require(try await fixture.store.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd).first)
        let current = try #require(try await replica.claimOutboxItems(card, at: leaseEnd, limit: 10, until: leaseEnd.addingTimeInterval(60)).first)
        let failed = NotificationFailed(kind: "slack.card", method: "chat.postMessage", error: "channel_not_found")

        try await fixture.store.rescheduleOutboxItem(stale, at: now, error: "timed out")
        try await fixture.store.abandonOutboxItem(stale, audit: AuditDraft(failed, by: .greenlight, at: now, gate: gate))
        let posted = DeliveryReceipt(channel: .slack, value: #"{"channel":"C0DEPLOYS","ts":"1700000000.000100"}"#)
        try await fixture.store.completeOutboxItem(stale, receipt: posted, audit: nil)
        // Still held by the new claim, unchanged; what the stale worker did deliver is remembered.
        #expect(try await replica.nextOutboxDue(card) == leaseEnd.addingTimeInterval(60))
        #expect(try await replica.deliveryReceipt(for: gate.id, on: .slack) == posted)
        #expect(try await fixture.store.auditEvents(AuditQuery(action: "notification.failed")).isEmpty, "no give-up recorded")

        try await replica.completeOutboxItem(current, receipt: nil, audit: nil)
        #expect(try await replica.nextOutboxDue(card) == nil, "the new claimant's completion settles it")
    }

    @Test(
        "a change during a lease does not bring the item forward; completing the older generation makes it due at once", arguments: StoreFactory.all)
    func changeDuringLease(_ factory: StoreFactory) async throws {
        let (fixture, replica, gate) = try await cardDue(factory)
        let claimed = try #require(try await fixture.store.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd).first)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        #expect(try await replica.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd).isEmpty, "no second delivery while the first runs")
        try await fixture.store.completeOutboxItem(claimed, receipt: nil, audit: nil)
        let again = try await replica.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd)
        #expect(again.map(\.generation) == [claimed.generation + 1])
    }

    @Test("a claimed item given back unsent is due as it was, for any worker; one taken over meanwhile is not touched", arguments: StoreFactory.all)
    func release(_ factory: StoreFactory) async throws {
        let (fixture, replica, _) = try await cardDue(factory)
        let claimed = try await fixture.store.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd)
        try await fixture.store.releaseOutboxItems(claimed)
        let again = try await replica.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd)
        #expect(again.map(\.dueAt) == [StoreFixtures.start])
        try await fixture.store.releaseOutboxItems(claimed)
        #expect(try await replica.nextOutboxDue(card) == leaseEnd, "the stale release left the new claim alone")
    }

    @Test("a retry under the claim waits for its time and frees the lease", arguments: StoreFactory.all)
    func rescheduleUnderClaim(_ factory: StoreFactory) async throws {
        let (fixture, _, _) = try await cardDue(factory)
        let claimed = try #require(try await fixture.store.claimOutboxItems(card, at: now, limit: 10, until: leaseEnd).first)
        let retryAt = now.addingTimeInterval(5)
        try await fixture.store.rescheduleOutboxItem(claimed, at: retryAt, error: "rate limited")
        #expect(try await fixture.store.nextOutboxDue(card) == retryAt)
        let retried = try await fixture.store.claimOutboxItems(card, at: retryAt, limit: 10, until: retryAt.addingTimeInterval(60))
        #expect(retried.map(\.attempts) == [1])
    }

    @Test("workers of three replicas claiming at once get each item once", arguments: StoreFactory.all)
    func concurrentClaims(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        for _ in 0..<60 { _ = try await fixture.ledger.open(StoreFixtures.gate(channel: "C0DEPLOYS"), idempotencyKey: nil) }
        var replicas: [any GateStore] = [fixture.store]
        for _ in 0..<2 { replicas.append(try await fixture.replica().store) }
        let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for round in 0..<6 {
                let store = replicas[round % replicas.count]
                group.addTask { [card, now, leaseEnd] in
                    // Claims until nothing is due: an empty claim while another's is still committing is tried again.
                    var mine: [Int64] = []
                    while true {
                        let got = try await store.claimOutboxItems(card, at: now, limit: 7, until: leaseEnd)
                        mine += got.map(\.id)
                        if got.isEmpty, try await store.dueOutboxItems(card, at: now, limit: 1).isEmpty { return mine }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == 60)
        #expect(Set(claimed).count == 60, "no item claimed twice")
    }
}

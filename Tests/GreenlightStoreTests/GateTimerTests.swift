import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSQLite
import GreenlightStore
import GreenlightTestSupport
import Synchronization
import Testing

/// Reminders and escalations: stored with the gate, fired once, only while the gate waits (invariant 8).
@Suite("Reminder and escalation timers")
struct GateTimerTests {
    func gate(channel: String? = "C0DEPLOYS") -> Gate {
        var gate = StoreFixtures.gate(channel: channel)
        gate.plan.reminder = Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 600), mention: ["leads"])
        gate.plan.escalation = Policy.Escalation(after: PolicyDuration(seconds: 1_200), to: ["oncall"])
        return gate
    }

    @Test("each fires once when due, with its audit event and its Slack message", arguments: StoreFactory.all)
    func firesOnce(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let (store, ledger) = (fixture.store, fixture.ledger)
        let gate = gate()
        _ = try await ledger.open(gate, idempotencyKey: nil)
        #expect(try await ledger.nextTimerDue() == StoreFixtures.start.addingTimeInterval(1_200))
        #expect(try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(1_199)).isEmpty)

        let escalated = try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(1_200))
        #expect(escalated.map(\.timer.kind) == [.escalation])
        #expect(try await ledger.nextTimerDue() == StoreFixtures.start.addingTimeInterval(3_000))
        let reminded = try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(3_100))
        #expect(reminded.map(\.timer.kind) == [.reminder])
        #expect(try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(3_200)).isEmpty)
        #expect(try await ledger.nextTimerDue() == nil)

        let events = try await store.auditEvents(AuditQuery(gateID: gate.id.rawValue))
        #expect(events.filter { $0.action == AuditAction.gateEscalated.rawValue }.first?.details["to"] == "oncall")
        let reminder = try #require(events.first { $0.action == AuditAction.gateReminded.rawValue })
        #expect(reminder.details["awaiting"] == "alice, bob, carol")
        let items = try await store.dueOutboxItems(at: StoreFixtures.start.addingTimeInterval(4_000), limit: 10)
        #expect(
            items.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [
                OutboxKind(.slack, .card), OutboxKind(.slack, .escalation), OutboxKind(.slack, .reminder),
            ])
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("a decided gate's timers never fire", arguments: StoreFactory.all)
    func decided(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let gate = gate()
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice", .reject), on: gate.id)
        #expect(try await fixture.ledger.nextTimerDue() == nil)
        #expect(try await fixture.ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(3_500)).isEmpty)
    }

    @Test("two replicas on one file fire each timer once", arguments: StoreFactory.all)
    func twoReplicas(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let other = try await fixture.replica()
        let gate = gate()
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let due = StoreFixtures.start.addingTimeInterval(3_500)
        async let first = fixture.ledger.fireDueTimers(at: due)
        async let second = other.ledger.fireDueTimers(at: due)
        let fired = try await first + second
        #expect(fired.count == 2, "the reminder and the escalation, once each: \(fired.map(\.timer.kind))")
        #expect(Set(fired.map(\.timer.kind)) == [.reminder, .escalation])
        let events = try await fixture.store.auditEvents(AuditQuery(gateID: gate.id.rawValue))
        #expect(events.filter { $0.action == AuditAction.gateReminded.rawValue }.count == 1)
    }

    @Test("without Slack, timers still fire and are audited, and nothing is enqueued", arguments: StoreFactory.all)
    func withoutSlack(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = gate()
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        #expect(try await fixture.ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(3_500)).count == 2)
        #expect(try await fixture.store.nextOutboxDue() == nil)
    }

    @Test("messages are items of their own, several per gate or none, and a posted card rings the outbox", arguments: StoreFactory.all)
    func messages(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let (store, ledger) = (fixture.store, fixture.ledger)
        let gate = gate()
        _ = try await ledger.open(gate, idempotencyKey: nil)
        let rings = Mutex(0)
        let observation = store.changes.observeOutboxRings { rings.withLock { $0 += 1 } }
        defer { observation.cancel() }
        try await store.enqueueOutboxMessage(
            OutboxKind(.slack, OutboxEvent("ephemeral")), gate: gate.id, payload: #"{"text":"one"}"#, at: StoreFixtures.start)
        try await store.enqueueOutboxMessage(
            OutboxKind(.slack, OutboxEvent("ephemeral")), gate: gate.id, payload: #"{"text":"two"}"#, at: StoreFixtures.start)
        try await store.enqueueOutboxMessage(
            OutboxKind(.slack, OutboxEvent("ephemeral")), gate: nil, payload: #"{"text":"no gate"}"#, at: StoreFixtures.start)
        #expect(rings.withLock { $0 } > 0)
        let rungBefore = rings.withLock { $0 }
        let items = try await store.dueOutboxItems(at: StoreFixtures.start, limit: 10)
        #expect(
            items.filter { $0.kind == OutboxKind(.slack, OutboxEvent("ephemeral")) }.compactMap(\.payload).sorted() == [
                #"{"text":"no gate"}"#, #"{"text":"one"}"#, #"{"text":"two"}"#,
            ])
        #expect(items.contains { $0.kind == OutboxKind(.slack, OutboxEvent("ephemeral")) && $0.gateID == nil })
        let card = try #require(items.first { $0.kind == OutboxKind(.slack, .card) })
        try await store.completeOutboxItem(card, receipt: DeliveryReceipt(channel: .slack, value: #"{"channel":"C0DEPLOYS","ts":"1.2"}"#), audit: nil)
        #expect(rings.withLock { $0 } > rungBefore)
        #expect(try await store.deliveryReceipt(for: gate.id, on: .slack)?.value == #"{"channel":"C0DEPLOYS","ts":"1.2"}"#)
    }

    /// Leads first, then finance (with `financeTimeout`, if any); a reminder 10 minutes before the deadline.
    func stagedGate(financeTimeout: Double? = nil) -> Gate {
        var gate = gate()
        gate.plan.escalation = nil
        gate.plan.stages = [
            PlanStage(name: "leads", requirements: [ApprovalRequirement(group: "leads", count: 1, eligible: ["alice", "bob"])]),
            PlanStage(
                name: "finance", requirements: [ApprovalRequirement(group: "finance", count: 1, eligible: ["erin"])],
                timeout: financeTimeout.map(PolicyDuration.init(seconds:))),
        ]
        return Gate(id: .generate(), request: gate.request, openedBy: "ci", plan: gate.plan, createdAt: StoreFixtures.start)
    }

    @Test(
        "a stage that opens keeps a reminder already fired when its time is unchanged, even for a vote stamped before it fired",
        arguments: StoreFactory.all)
    func stageKeepsFiredReminder(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let (store, ledger) = (fixture.store, fixture.ledger)
        let gate = stagedGate()
        _ = try await ledger.open(gate, idempotencyKey: nil)
        #expect(try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(3_001)).map(\.timer.kind) == [.reminder])
        // Stamped a moment before the reminder was due, written just after it fired: the stage opens, its reminder is due
        // at the same moment (the stage has no timeout of its own), and it must not fire again (invariant 8).
        let late = Vote(voter: "alice", decision: .approve, at: StoreFixtures.start.addingTimeInterval(2_999))
        guard case .recorded(let staged) = try await ledger.castVote(late, on: gate.id) else {
            Issue.record("alice approves the first stage")
            return
        }
        #expect(staged.stages.open == 1)
        #expect(try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(3_002)).isEmpty)
        let reminders = try await store.auditEvents(AuditQuery(gateID: gate.id.rawValue, action: AuditAction.gateReminded.rawValue))
        #expect(reminders.count == 1)
    }

    @Test("a stage with its own deadline gets its own reminder in place of the first stage's, and it fires once", arguments: StoreFactory.all)
    func stageGetsItsOwnReminder(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make(notifying: [.slack])
        let (store, ledger) = (fixture.store, fixture.ledger)
        let gate = stagedGate(financeTimeout: 1_200)
        _ = try await ledger.open(gate, idempotencyKey: nil)
        #expect(try await ledger.nextTimerDue() == StoreFixtures.start.addingTimeInterval(3_000))
        _ = try await ledger.castVote(Vote(voter: "alice", decision: .approve, at: StoreFixtures.start.addingTimeInterval(1_000)), on: gate.id)
        // Finance has until 1,000 + 1,200 s (before the gate's own hour); its reminder is due 600 s before that.
        #expect(try await ledger.nextTimerDue() == StoreFixtures.start.addingTimeInterval(1_600))
        #expect(try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(1_600)).map(\.timer.kind) == [.reminder])
        #expect(try await ledger.fireDueTimers(at: StoreFixtures.start.addingTimeInterval(3_100)).isEmpty, "the first stage's reminder is gone")
        #expect(try await store.verifyAudit().isIntact)
    }
}

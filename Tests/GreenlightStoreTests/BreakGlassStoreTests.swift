import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSQLite
import GreenlightStore
import GreenlightTestSupport
import Testing

@Suite("Break-glass in the store")
struct BreakGlassStoreTests {
    static func gate(commit: String = "0123456789abcdef", frozen: Bool = false, at offset: TimeInterval = 0, limit: Int = 2) -> Gate {
        var template = StoreFixtures.gate(commit: commit, channel: "C0DEPLOYS")
        template.plan.breakGlass = PlanBreakGlass(groups: ["sre-admins"], eligible: ["dan", "frank"], maxPerDay: limit)
        if frozen { template.plan.frozen = ActiveFreeze(name: "holidays", endsAt: StoreFixtures.start.addingTimeInterval(86_400 * 10)) }
        return Gate(
            id: .generate(), request: template.request, openedBy: "ci", plan: template.plan, createdAt: StoreFixtures.start.addingTimeInterval(offset)
        )
    }

    @Test(
        "a break-glass approves a pending gate once, audited and announced; a refused attempt changes nothing but the log",
        arguments: StoreFactory.all)
    func approves(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make(notifying: [.slack])
        let (store, ledger) = (temporary.store, temporary.ledger)
        let gate = try await ledger.open(Self.gate(), idempotencyKey: nil).gate
        let at = StoreFixtures.start.addingTimeInterval(60)

        guard case .refused(let refusal, _) = try await ledger.breakGlass(gate.id, person: "alice", reason: "SEV1", at: at) else {
            Issue.record("alice is not allowed to break glass")
            return
        }
        #expect(refusal.code == "break_glass_not_allowed")
        #expect(try await store.gate(gate.id)?.state == .pending)

        guard case .recorded(let broken) = try await ledger.breakGlass(gate.id, person: "dan", reason: "SEV1: checkout down", at: at) else {
            Issue.record("dan may break glass")
            return
        }
        #expect(broken.state == .approved)
        #expect(broken.breakGlass)
        let stored = try #require(try await store.gate(gate.id))
        #expect(stored.breakGlass)
        #expect(stored.decidedBy == "dan")

        let events = try await store.auditEvents(AuditQuery(gateID: gate.id.rawValue))
        #expect(events.map(\.action).suffix(3) == ["break_glass.refused", "gate.break_glass", "gate.decided"])
        #expect(events.last?.details["break_glass"] == "true")
        let listed = try await store.auditEvents(AuditQuery(action: AuditAction.breakGlass.rawValue))
        #expect(listed.map(\.actor) == ["dan"])
        #expect(listed.first?.details["reason"] == "SEV1: checkout down")
        #expect(try await store.dueOutboxItems(at: at.addingTimeInterval(1), limit: 10).map(\.kind).contains(OutboxKind(.slack, .breakGlass)))
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("max_per_day counts the environment's uses over a rolling 24 hours", arguments: StoreFactory.all)
    func dailyLimit(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make()
        let (store, ledger) = (temporary.store, temporary.ledger)
        var gates: [Gate] = []
        for index in 0..<3 { gates.append(try await ledger.open(Self.gate(commit: "c\(index)abcdef"), idempotencyKey: nil).gate) }
        let at = StoreFixtures.start.addingTimeInterval(60)
        for gate in gates.prefix(2) {
            guard case .recorded = try await ledger.breakGlass(gate.id, person: "dan", reason: "SEV1", at: at) else {
                Issue.record("under the limit")
                return
            }
        }
        guard case .refused(let refusal, _) = try await ledger.breakGlass(gates[2].id, person: "frank", reason: "SEV1", at: at) else {
            Issue.record("the third use in a day must be refused")
            return
        }
        #expect(refusal == .breakGlassLimitReached(environment: "production", limit: 2))
        #expect(try await store.gate(gates[2].id)?.state == .pending)
        // A day after the first two, the count has room again (the gate's own deadline is far off).
        let later = try await ledger.open(Self.gate(commit: "d0abcdef", at: 86_000), idempotencyKey: nil).gate
        guard case .recorded = try await ledger.breakGlass(later.id, person: "frank", reason: "SEV2", at: at.addingTimeInterval(86_401)) else {
            Issue.record("the 24 hours have passed")
            return
        }
    }

    @Test("break-glass on a deploy the freeze rejected lets the same deploy through when it is opened again, once", arguments: StoreFactory.all)
    func frozenRetry(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make()
        let (store, ledger) = (temporary.store, temporary.ledger)
        let frozen = try await ledger.open(Self.gate(frozen: true), idempotencyKey: nil).gate
        #expect(frozen.state == .rejected)
        #expect(frozen.reason == "frozen:holidays")

        // Without a break-glass, the retry is frozen out like the first attempt.
        let retried = try await ledger.open(Self.gate(frozen: true, at: 30), idempotencyKey: nil).gate
        #expect(retried.state == .rejected)

        guard
            case .recorded(let unchanged) = try await ledger.breakGlass(
                frozen.id, person: "dan", reason: "hotfix for SEV1", at: StoreFixtures.start.addingTimeInterval(60))
        else {
            Issue.record("dan may break glass on a frozen-out deploy")
            return
        }
        #expect(unchanged.state == .rejected)  // decided once: the rejection stands

        // A different deploy is not let through.
        let other = try await ledger.open(Self.gate(commit: "fedcba9876543210", frozen: true, at: 90), idempotencyKey: nil).gate
        #expect(other.state == .rejected)

        let through = try await ledger.open(Self.gate(frozen: true, at: 120), idempotencyKey: nil).gate
        #expect(through.state == .approved)
        #expect(through.breakGlass)
        #expect(through.decidedBy == "dan")
        #expect(through.reason?.contains("hotfix for SEV1") == true)

        // The grant is used up.
        let again = try await ledger.open(Self.gate(frozen: true, at: 180), idempotencyKey: nil).gate
        #expect(again.state == .rejected)

        // A second break-glass on the same frozen gate is refused.
        guard
            case .refused = try await ledger.breakGlass(frozen.id, person: "frank", reason: "again", at: StoreFixtures.start.addingTimeInterval(200))
        else {
            Issue.record("one grant per frozen gate")
            return
        }
        let actions = try await store.auditEvents(AuditQuery(action: AuditAction.breakGlass.rawValue)).map(\.gateID)
        #expect(actions == [frozen.id.rawValue, through.id.rawValue])
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("a retry under the same idempotency key after a break-glass gets the deploy through, not the old rejection", arguments: StoreFactory.all)
    func retryWithSameKey(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make()
        let (store, ledger) = (temporary.store, temporary.ledger)
        let frozen = try await ledger.open(Self.gate(frozen: true), idempotencyKey: "run:42").gate
        _ = try await ledger.breakGlass(frozen.id, person: "dan", reason: "hotfix", at: StoreFixtures.start.addingTimeInterval(60))
        guard case .created(let through) = try await ledger.open(Self.gate(frozen: true, at: 120), idempotencyKey: "run:42") else {
            Issue.record("a frozen-out gate is not replayed")
            return
        }
        #expect(through.state == .approved)
        #expect(through.breakGlass)
        // From now on the key is the new gate's.
        guard case .replayed(let replayed) = try await ledger.open(Self.gate(frozen: true, at: 180), idempotencyKey: "run:42") else {
            Issue.record("an approved gate is replayed")
            return
        }
        #expect(replayed.id == through.id)
        // A pending or decided gate that no freeze rejected is replayed as before.
        let normal = try await ledger.open(Self.gate(commit: "abcdef0123"), idempotencyKey: "run:43").gate
        guard case .replayed(let same) = try await ledger.open(Self.gate(commit: "abcdef0123", at: 10), idempotencyKey: "run:43") else {
            Issue.record("replayed")
            return
        }
        #expect(same.id == normal.id)
    }

    @Test("a grant expires after an hour", arguments: StoreFactory.all)
    func grantExpires(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make()
        let (store, ledger) = (temporary.store, temporary.ledger)
        let frozen = try await ledger.open(Self.gate(frozen: true), idempotencyKey: nil).gate
        _ = try await ledger.breakGlass(frozen.id, person: "dan", reason: "hotfix", at: StoreFixtures.start.addingTimeInterval(60))
        let late = try await ledger.open(Self.gate(frozen: true, at: 60 + 3_600), idempotencyKey: nil).gate
        #expect(late.state == .rejected)
    }

    @Test(
        "a grant does not let through an attempt its holder may not approve (here: they triggered it), and that is audited",
        arguments: StoreFactory.all)
    func grantChecksTheNewGate(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make()
        let (store, ledger) = (temporary.store, temporary.ledger)
        let frozen = try await ledger.open(Self.gate(frozen: true), idempotencyKey: nil).gate
        _ = try await ledger.breakGlass(frozen.id, person: "dan", reason: "hotfix", at: StoreFixtures.start.addingTimeInterval(60))
        var retry = Self.gate(frozen: true, at: 120)
        retry.plan.exclusions = [Exclusion(identity: "dan", role: .triggerer)]
        let refused = try await ledger.open(retry, idempotencyKey: nil).gate
        #expect(refused.state == .rejected)
        #expect(!refused.breakGlass)
        let events = try await store.auditEvents(AuditQuery(gateID: refused.id.rawValue)).map(\.action)
        #expect(events == ["gate.opened", "break_glass.refused", "gate.decided"])
        // The grant is still there for an attempt dan may approve.
        let through = try await ledger.open(Self.gate(frozen: true, at: 180), idempotencyKey: nil).gate
        #expect(through.state == .approved)
    }

    @Test(
        "two replicas opening the same frozen-out deploy at once: the grant lets exactly one attempt through (invariant 1)",
        arguments: StoreFactory.all)
    func grantRacesOnReplicas(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make()
        let other = try await temporary.replica()
        let frozen = try await temporary.ledger.open(Self.gate(frozen: true), idempotencyKey: nil).gate
        _ = try await temporary.ledger.breakGlass(frozen.id, person: "dan", reason: "SEV1", at: StoreFixtures.start.addingTimeInterval(60))
        async let first = temporary.ledger.open(Self.gate(frozen: true, at: 120), idempotencyKey: nil).gate
        async let second = other.ledger.open(Self.gate(frozen: true, at: 120), idempotencyKey: nil).gate
        let attempts = try await [first, second]
        #expect(attempts.filter { $0.state == .approved }.count == 1, "\(attempts.map(\.state))")
        let uses = try await temporary.store.auditEvents(AuditQuery(action: AuditAction.breakGlass.rawValue))
        #expect(uses.map(\.gateID) == [frozen.id.rawValue] + attempts.filter(\.breakGlass).map(\.id.rawValue))
        #expect(try await temporary.store.verifyAudit().isIntact)
    }

    @Test("a break-glass racing the deciding vote on another replica: the gate is decided once (invariant 1)", arguments: StoreFactory.all)
    func racesAVote(_ factory: StoreFactory) async throws {
        let temporary = try await factory.make()
        let other = try await temporary.replica()
        var template = Self.gate()
        template.plan.stages[0].requirements[0].count = 1
        let gate = try await temporary.ledger.open(template, idempotencyKey: nil).gate
        async let broken = temporary.ledger.breakGlass(gate.id, person: "dan", reason: "SEV1", at: StoreFixtures.start.addingTimeInterval(60))
        async let voted = other.ledger.castVote(StoreFixtures.vote("alice", offset: 60), on: gate.id)
        let outcomes = try await [broken, voted]
        let recorded = outcomes.filter { if case .recorded = $0 { true } else { false } }
        #expect(recorded.count == 1, "\(outcomes)")
        let decided = try await temporary.store.auditEvents(AuditQuery(gateID: gate.id.rawValue, action: AuditAction.gateDecided.rawValue))
        #expect(decided.count == 1)
        #expect(try await temporary.store.verifyAudit().isIntact)
    }
}

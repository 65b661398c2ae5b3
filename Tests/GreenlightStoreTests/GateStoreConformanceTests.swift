import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightSQLite
import GreenlightStore
import GreenlightTestSupport
import Testing

@Suite("Gate store conformance")
struct SQLiteGateStoreTests {
    @Test("a gate reads back as it was stored, with its plan and claimed facts", arguments: StoreFactory.all)
    func roundTrip(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = StoreFixtures.gate()
        #expect(try await fixture.ledger.open(gate, idempotencyKey: nil) == .created(gate))
        #expect(try await fixture.store.gate(gate.id) == gate)
        #expect(try await fixture.store.gate(.generate()) == nil)
    }

    @Test("the same Idempotency-Key returns the same gate; with a different request it is refused", arguments: StoreFactory.all)
    func idempotency(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let first = StoreFixtures.gate()
        #expect(try await fixture.ledger.open(first, idempotencyKey: "run-42") == .created(first))
        var retry = first
        retry.id = .generate()
        #expect(try await fixture.ledger.open(retry, idempotencyKey: "run-42") == .replayed(first))
        let other = StoreFixtures.gate(commit: "fedcba9876543210")
        await #expect(throws: StoreError.idempotencyKeyReused(first.id)) { try await fixture.ledger.open(other, idempotencyKey: "run-42") }
        let opened = try await fixture.store.auditEvents(AuditQuery(action: AuditAction.gateOpened.rawValue))
        #expect(opened.count == 1)
    }

    @Test("a vote that completes the quorum decides the gate, with vote and decision in the audit log", arguments: StoreFactory.all)
    func quorum(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = StoreFixtures.gate()
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        guard case .recorded(let pending) = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id) else {
            Issue.record("alice's vote was refused")
            return
        }
        #expect(pending.state == .pending)
        guard case .recorded(let approved) = try await fixture.ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: gate.id) else {
            Issue.record("bob's vote was refused")
            return
        }
        #expect(approved.state == .approved)
        #expect(try await fixture.store.gate(gate.id) == approved)
        let actions = try await fixture.store.auditEvents(AuditQuery(gateID: gate.id.rawValue)).map(\.action)
        #expect(actions == ["gate.opened", "vote.recorded", "vote.recorded", "gate.decided"])
    }

    @Test("a refused vote changes nothing but is an audit event", arguments: StoreFactory.all)
    func refusal(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = StoreFixtures.gate(exclusions: [Exclusion(identity: "alice", role: .author)])
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let change = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        #expect(change == .refused(.separationOfDuties(person: "alice", role: .author), gate))
        #expect(try await fixture.store.gate(gate.id) == gate)
        let refused = try #require(try await fixture.store.auditEvents(AuditQuery(action: "vote.refused")).first)
        #expect(refused.actor == "alice")
        #expect(refused.details["reason"] == "separation_of_duties")
        #expect(refused.gateID == gate.id.rawValue)
    }

    @Test("many approvers racing on one gate: exactly one decision, exactly the quorum's votes", arguments: StoreFactory.all)
    func racingVotes(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let people = (1...40).map { "person\($0)" }
        let gate = StoreFixtures.gate(members: people, count: 3)
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let (store, ledger) = (fixture.store, fixture.ledger)
        let results = await withTaskGroup(of: GateChange?.self) { group in
            for person in people {
                // Each click delivered twice, as a retried Slack delivery would be.
                for _ in 0..<2 {
                    group.addTask { try? await ledger.castVote(StoreFixtures.vote(person), on: gate.id) }
                }
            }
            return await group.reduce(into: [GateChange?]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 != nil }, "a vote threw instead of being recorded or refused")
        let refusals = results.compactMap { change -> String? in
            if case .refused(let refusal, _) = change { return refusal.code }
            return nil
        }
        #expect(refusals.count == 77)
        #expect(Set(refusals).isSubset(of: ["already_voted", "gate_decided"]))
        let recorded = results.compactMap { change -> Gate? in
            if case .recorded(let gate) = change { return gate }
            return nil
        }
        #expect(recorded.count == 3)
        #expect(recorded.filter { $0.state == .approved }.count == 1)
        let final = try #require(try await store.gate(gate.id))
        #expect(final.state == .approved)
        #expect(final.votes.count == 3)
        #expect(try await store.auditEvents(AuditQuery(action: "gate.decided")).count == 1)
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("two stores on one file (two processes) racing: one decision, and the chain stays whole", arguments: StoreFactory.all)
    func twoWriters(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let second = try await fixture.replica()
        let gate = StoreFixtures.gate(members: ["alice", "bob"], count: 1)
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        async let viaFirst = fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        async let viaSecond = second.ledger.castVote(StoreFixtures.vote("bob", .reject), on: gate.id)
        let changes = try await [viaFirst, viaSecond]
        let decided = changes.filter {
            if case .recorded(let gate) = $0 { return gate.state.isDecided }
            return false
        }
        #expect(decided.count == 1)
        #expect(try await second.store.auditEvents(AuditQuery(action: "gate.decided")).count == 1)
        #expect(try await second.store.verifyAudit().isIntact)
    }

    @Test("two replicas' timers racing on one overdue gate decide it once (invariant 8)", arguments: StoreFactory.all)
    func timersRacing(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let replica = try await fixture.replica()
        let gate = StoreFixtures.gate(timeout: 60)
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let now = StoreFixtures.start.addingTimeInterval(120)
        async let first = fixture.ledger.decideExpiredGates(at: now)
        async let second = replica.ledger.decideExpiredGates(at: now)
        let decided = try await first + second
        #expect(decided.map(\.id) == [gate.id])
        #expect(try await replica.store.auditEvents(AuditQuery(action: "gate.decided")).count == 1)
    }

    @Test("a gate past its deadline is decided by on_timeout; one before it is left alone", arguments: StoreFactory.all)
    func deadlines(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let soon = StoreFixtures.gate(timeout: 60)
        let later = StoreFixtures.gate(timeout: 3_600, onTimeout: .approve)
        _ = try await fixture.ledger.open(soon, idempotencyKey: nil)
        _ = try await fixture.ledger.open(later, idempotencyKey: nil)
        #expect(try await fixture.ledger.nextDeadline() == soon.deadline)

        #expect(try await fixture.ledger.decideExpiredGates(at: StoreFixtures.start.addingTimeInterval(59)).isEmpty)
        let decided = try await fixture.ledger.decideExpiredGates(at: StoreFixtures.start.addingTimeInterval(60))
        #expect(decided.map(\.id) == [soon.id])
        #expect(decided.first?.state == .timedOut)
        #expect(decided.first?.outcome == .rejected)
        #expect(try await fixture.ledger.nextDeadline() == later.deadline)

        let failOpen = try await fixture.ledger.decideExpiredGates(at: StoreFixtures.start.addingTimeInterval(7_200))
        #expect(failOpen.first?.outcome == .approved)
        #expect(failOpen.first?.failOpen == true)
        let event = try #require(try await fixture.store.auditEvents(AuditQuery(gateID: later.id.rawValue, action: "gate.decided")).first)
        #expect(event.details["fail_open"] == "true")
        #expect(try await fixture.ledger.nextDeadline() == nil)
    }

    @Test("a vote or cancel after the deadline finds the gate timed out, even before the timer runs", arguments: StoreFactory.all)
    func lateVote(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = StoreFixtures.gate(members: ["alice"], count: 1, timeout: 60)
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        let changes = fixture.store.changes.subscribe(to: gate.id)
        defer { changes.cancel() }
        let late = try await fixture.ledger.castVote(StoreFixtures.vote("alice", offset: 60), on: gate.id)
        guard case .refused(.gateDecided(let state, let decidedBy, _), let decided) = late else {
            Issue.record("a vote at the deadline was not refused: \(late)")
            return
        }
        #expect(state == .timedOut)
        #expect(decidedBy == "greenlight")
        #expect(decided.votes.isEmpty)
        #expect(try await fixture.store.gate(gate.id)?.state == .timedOut)
        var iterator = changes.makeAsyncIterator()
        #expect(await iterator.next()?.state == .timedOut, "the timeout was not published")
        let actions = try await fixture.store.auditEvents(AuditQuery(gateID: gate.id.rawValue)).map(\.action)
        #expect(actions == ["gate.opened", "gate.decided", "vote.refused"])

        let other = StoreFixtures.gate(timeout: 60)
        _ = try await fixture.ledger.open(other, idempotencyKey: nil)
        let cancel = try await fixture.ledger.cancel(other.id, actor: .pipeline("ci"), reason: nil, at: StoreFixtures.start.addingTimeInterval(61))
        guard case .refused(.gateDecided(.timedOut, _, _), _) = cancel else {
            Issue.record("a cancel after the deadline was not refused: \(cancel)")
            return
        }
    }

    @Test("changes are published after they commit", arguments: StoreFactory.all)
    func changeFeed(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = StoreFixtures.gate(count: 1)
        let changes = fixture.store.changes.subscribe(to: gate.id)
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        var iterator = changes.makeAsyncIterator()
        #expect(await iterator.next()?.state == .pending)
        let decided = await iterator.next()
        #expect(decided?.state == .approved)
        #expect(try await fixture.store.gate(gate.id) == decided)
    }

    @Test("tokens are found by the hash of their secret, and names are unique", arguments: StoreFactory.all)
    func tokens(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let token = AccessToken(name: "ci", kind: .pipeline, services: ["shop"], environments: ["production"], createdAt: StoreFixtures.start)
        try await fixture.store.createToken(token, secretHash: TokenSecret.hash("glt_secret"))
        #expect(try await fixture.store.token(secretHash: TokenSecret.hash("glt_secret")) == token)
        #expect(try await fixture.store.token(secretHash: TokenSecret.hash("glt_other")) == nil)
        await #expect(throws: StoreError.tokenNameTaken("ci")) {
            try await fixture.store.createToken(token, secretHash: TokenSecret.hash("glt_another"))
        }
        let stored = try await fixture.strings("SELECT secret_hash FROM token")
        #expect(stored == [TokenSecret.hash("glt_secret")])
    }

    @Test("audit queries filter by service, environment, actor and time", arguments: StoreFactory.all)
    func auditFilters(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = StoreFixtures.gate(count: 1)
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice", offset: 100), on: gate.id)
        #expect(try await fixture.store.auditEvents(AuditQuery(actor: "alice")).map(\.action) == ["vote.recorded", "gate.decided"])
        #expect(try await fixture.store.auditEvents(AuditQuery(service: "shop", environment: "production")).count == 3)
        #expect(try await fixture.store.auditEvents(AuditQuery(service: "other")).isEmpty)
        let since = StoreFixtures.start.addingTimeInterval(50)
        #expect(try await fixture.store.auditEvents(AuditQuery(since: since)).count == 2)
        #expect(try await fixture.store.auditEvents(AuditQuery(until: since)).count == 1)
        #expect(try await fixture.store.auditEvents(AuditQuery(after: 1, limit: 1)).map(\.sequence) == [2])
    }

    @Test("a transition whose condition no longer holds is refused as a conflict and writes nothing", arguments: StoreFactory.all)
    func conflict(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let gate = try await fixture.ledger.open(StoreFixtures.gate(), idempotencyKey: nil).gate
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        let before = try await fixture.store.auditEvents(AuditQuery()).count
        // Computed from the gate as it was opened (version 1); alice's vote has changed it since.
        var stale = gate
        stale.version += 1
        stale.votes = [StoreFixtures.vote("bob")]
        let transition = GateTransition(
            conditions: [.gateAt(gate.id, version: gate.version)],
            writes: [
                .updateGate(stale, replacing: gate.version), .insertVote(StoreFixtures.vote("bob"), on: gate.id),
                .audit(AuditDraft(at: StoreFixtures.start, actor: "bob", action: .voteRecorded, gate: gate)),
            ])
        await #expect { try await fixture.store.apply(transition) } throws: { error in (error as? StoreError)?.isRetryable == true }
        #expect(try await fixture.store.auditEvents(AuditQuery()).count == before)
        #expect(try await fixture.store.gate(gate.id)?.votes.map(\.voter) == ["alice"])
        #expect(try await fixture.store.verifyAudit().isIntact)
    }

    @Test(
        "a ledger that last saw a gate before another process changed it computes the change again from the store (invariant 1)",
        arguments: StoreFactory.all)
    func staleRecentGate(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        // The first ledger keeps the gate as it opened it (version 1); another process's vote moves it on.
        let gate = try await fixture.ledger.open(StoreFixtures.gate(), idempotencyKey: nil).gate
        let other = try await fixture.replica()
        _ = try await other.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        // By what the first ledger last saw, alice has not voted; by the store she has.
        guard case .refused(let refusal, let seen) = try await fixture.ledger.castVote(StoreFixtures.vote("alice", offset: 20), on: gate.id)
        else {
            Issue.record("a second vote by alice was recorded from a stale gate")
            return
        }
        #expect(refusal.code == "already_voted")
        #expect(seen.version == 2)
        guard case .recorded(let decided) = try await fixture.ledger.castVote(StoreFixtures.vote("bob", offset: 30), on: gate.id) else {
            Issue.record("bob's approval completes the quorum")
            return
        }
        #expect(decided.state == .approved)
        #expect(try await fixture.store.auditEvents(AuditQuery(action: "gate.decided")).count == 1)
        #expect(try await fixture.store.verifyAudit().isIntact)
    }
}

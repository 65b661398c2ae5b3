import Foundation
import GreenlightAPI
import GreenlightCore
import GreenlightStore
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightServer

/// The manual clock never moves by itself, so a long-poll that returns before the clock is advanced can only have
/// been woken by the decision.
@Suite("Long-poll", .timeLimit(.minutes(1)))
struct LongPollTests {
    @Test("a waiting request returns the moment the deciding vote commits")
    func wakesOnDecision() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            async let waited = client.longPoll(app, gate.id, seconds: 300)
            await app.clock.waitForSleepers(1)
            #expect(try await client.vote(app, gate.id, as: "carol", "reject", comment: "not today").status == .ok)
            let result = try await waited
            #expect(result.state == .rejected)
            #expect(result.decidedBy == "carol")
            #expect(app.store.changes.subscriberCount(for: GateID(unchecked: gate.id)) == 0)
        }
    }

    @Test("a vote that does not decide leaves the request waiting; the wait ends with the gate as it is")
    func waitEnds() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app, json: #"{"service":"shop","environment":"production","artifact":"a","commit":"0123abcd"}"#)
            async let waited = client.longPoll(app, gate.id, seconds: 30)
            await app.clock.waitForSleepers(1)
            #expect(try await client.vote(app, gate.id, as: "alice").status == .ok)
            app.clock.advance(by: 30)
            let result = try await waited
            #expect(result.state == .pending)
            #expect(result.requirements.first?.approvals == ["alice"])
        }
    }

    @Test("a decided gate answers at once; wait must be 0 to 300 seconds")
    func decidedAndInvalid() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app, json: TestGreenlight.gateJSON.replacingOccurrences(of: "production", with: "staging"))
            let immediate = try await client.execute(uri: "/v1/gates/\(gate.id)?wait=300", method: .get, headers: app.headers("ci")) {
                try $0.decode(GateResource.self)
            }
            #expect(immediate.state == .approved)
            #expect(app.store.changes.subscriberCount(for: GateID(unchecked: gate.id)) == 0, "a finished long-poll left its subscription behind")
            for wait in ["301", "-1", "soon", "nan"] {
                try await client.execute(uri: "/v1/gates/\(gate.id)?wait=\(wait)", method: .get, headers: app.headers("ci")) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.error?.error == "invalid_wait")
                }
            }
        }
    }

    @Test("shutting down releases every waiting request with the gate's current state")
    func releasedOnShutdown() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            async let waited = client.longPoll(app, gate.id, seconds: 300)
            await app.clock.waitForSleepers(1)
            app.gatekeeper.releaseWaiters()
            #expect(try await waited.state == .pending)
        }
    }
}

@Suite("Deadline timer", .timeLimit(.minutes(1)))
struct DeadlineTimerTests {
    @Test("the timer decides a gate at its deadline, and wakes early for a new gate with an earlier one")
    func decidesAtDeadline() async throws {
        let app = try await TestGreenlight()
        let (decisions, publish) = AsyncStream<Gate>.makeStream()
        let observation = app.store.changes.observeAll { publish.yield($0) }
        defer { observation.cancel() }
        let timer = Task { try await DeadlineTimer(gatekeeper: app.gatekeeper, logger: .init(label: "test")).run() }
        defer { timer.cancel() }
        let ci = Principal.pipeline(named: "ci")
        let production = try await app.gatekeeper.open(
            GateRequest(service: "shop", environment: "production", artifact: "a", commit: "0123abcd"), by: ci, idempotencyKey: nil
        ).gate
        await app.clock.waitForSleepers(1)
        let quick = try await app.gatekeeper.open(
            GateRequest(service: "shop", environment: "quick", artifact: "a", commit: "0123abcd"), by: ci, idempotencyKey: nil
        ).gate
        app.clock.advance(by: 60)
        var iterator = decisions.makeAsyncIterator()
        while let gate = await iterator.next() {
            if gate.id == quick.id, gate.state.isDecided { break }
        }
        let decided = try await app.store.gate(quick.id)
        #expect(decided?.state == .timedOut)
        #expect(decided?.outcome == .rejected)
        #expect(try await app.store.gate(production.id)?.state == .pending)
    }

    @Test("a vote that opens a stage wakes the timer for the stage's own, earlier deadline (invariant 8)")
    func wakesForOpenedStage() async throws {
        let app = try await TestGreenlight()
        let ci = Principal.pipeline(named: "ci")
        let gate = try await app.gatekeeper.open(
            GateRequest(service: "shop", environment: "staged", artifact: "a", commit: "0123abcd"), by: ci, idempotencyKey: nil
        ).gate
        // Started after the gate opened, so that nothing but the vote below can wake it.
        let timer = Task { try await DeadlineTimer(gatekeeper: app.gatekeeper, logger: .init(label: "test")).run() }
        defer { timer.cancel() }
        await app.clock.waitForSleepers(1)  // asleep until the gate's deadline, two hours away
        let changes = app.store.changes.subscribe(to: gate.id)
        let alice = Principal.approver("alice")
        _ = try await app.gatekeeper.vote(VoteBody(decision: .approve), on: gate.id, by: alice)
        // Without a wake, the timer would sleep on until the gate's own deadline and this wait would never end.
        app.clock.advance(by: 60)
        var iterator = changes.makeAsyncIterator()
        while let changed = await iterator.next(), !changed.state.isDecided {}
        let decided = try await app.store.gate(gate.id)
        #expect(decided?.state == .timedOut)
        #expect(decided?.reason?.contains("stage 2 of 2 'sre'") == true)
    }

    @Test("a deadline that passed while the server was down is decided as soon as the timer starts")
    func decidesOverdueAtStart() async throws {
        let app = try await TestGreenlight()
        let ci = Principal.pipeline(named: "ci")
        let gate = try await app.gatekeeper.open(
            GateRequest(service: "shop", environment: "quick", artifact: "a", commit: "0123abcd"), by: ci, idempotencyKey: nil
        ).gate
        app.clock.advance(by: 3_600)
        let changes = app.store.changes.subscribe(to: gate.id)
        let timer = Task { try await DeadlineTimer(gatekeeper: app.gatekeeper, logger: .init(label: "test")).run() }
        defer { timer.cancel() }
        var iterator = changes.makeAsyncIterator()
        let decided = await iterator.next()
        #expect(decided?.state == .timedOut)
        #expect(decided?.reason?.contains("on_timeout: reject") == true)
    }
}

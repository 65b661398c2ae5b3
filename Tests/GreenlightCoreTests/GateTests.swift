import Foundation
import Testing

@testable import GreenlightCore

@Suite("Gate state machine")
struct GateTests {
    @Test("a quorum of two from one group approves on the second approval")
    func quorum() throws {
        let gate = Fixtures.gate(Fixtures.plan([("leads", 2, ["alice", "bob", "carol"])]))
        let first = try gate.recording(Fixtures.approve("alice"))
        #expect(first.state == .pending)
        #expect(first.tally.missing == 1)
        let second = try first.recording(Fixtures.approve("bob"))
        #expect(second.state == .approved)
        #expect(second.outcome == .approved)
        #expect(second.decidedBy == "bob")
        #expect(second.reason == "approved by alice, bob")
        #expect(second.version == gate.version + 2)
    }

    @Test("every group's rule must be met")
    func severalGroups() throws {
        let gate = Fixtures.gate(Fixtures.plan([("leads", 1, ["alice", "bob"]), ("finance", 1, ["erin"])]))
        let leadsOnly = try gate.recording(Fixtures.approve("alice"))
        #expect(leadsOnly.state == .pending)
        #expect(leadsOnly.tally.progress.map(\.isMet) == [true, false])
        #expect(try leadsOnly.recording(Fixtures.approve("erin")).state == .approved)
    }

    @Test("a person in two groups fills one seat, not both")
    func oneSeatPerPerson() throws {
        let gate = Fixtures.gate(Fixtures.plan([("leads", 1, ["alice", "erin"]), ("finance", 1, ["erin"])]))
        let erin = try gate.recording(Fixtures.approve("erin"))
        #expect(erin.state == .pending)
        #expect(erin.tally.missing == 1)
        // Alice takes the leads seat; the matching moves erin to finance, whatever the order.
        let both = try erin.recording(Fixtures.approve("alice"))
        #expect(both.state == .approved)
        #expect(both.tally.progress.map(\.approvals) == [["alice"], ["erin"]])
    }

    @Test("one authorized reject rejects, with the comment in the reason")
    func reject() throws {
        let gate = Fixtures.gate(Fixtures.plan([("leads", 2, ["alice", "bob"])]))
        let approved = try gate.recording(Fixtures.approve("alice"))
        let rejected = try approved.recording(Fixtures.reject("bob", comment: "migration not reviewed"))
        #expect(rejected.state == .rejected)
        #expect(rejected.outcome == .rejected)
        #expect(rejected.decidedBy == "bob")
        #expect(rejected.reason == "rejected by bob: migration not reviewed")
    }

    @Test("a person's second vote is refused and changes nothing")
    func repeatedVote() throws {
        let gate = try Fixtures.gate(Fixtures.plan([("leads", 2, ["alice", "bob"])])).recording(Fixtures.approve("alice"))
        #expect(throws: VoteRefusal.alreadyVoted(person: "alice", decision: .approve, at: Fixtures.start.addingTimeInterval(60))) {
            try gate.recording(Fixtures.approve("alice", at: 120))
        }
        #expect(throws: VoteRefusal.self) { try gate.recording(Fixtures.reject("alice")) }
    }

    @Test("someone outside the required groups cannot vote, not even to reject")
    func notAnApprover() {
        let gate = Fixtures.gate(Fixtures.plan([("leads", 1, ["alice"])]))
        #expect(throws: VoteRefusal.notAnApprover(person: "mallory", groups: ["leads"])) { try gate.recording(Fixtures.approve("mallory")) }
        #expect(throws: VoteRefusal.notAnApprover(person: "mallory", groups: ["leads"])) { try gate.recording(Fixtures.reject("mallory")) }
    }

    @Test("separation of duties bars the author and the triggerer, case-insensitively")
    func separationOfDuties() {
        let plan = Fixtures.plan(
            [("leads", 1, ["alice", "bob", "carol"])],
            exclusions: [Exclusion(identity: "Alice", role: .author), Exclusion(identity: "bob", role: .triggerer)]
        )
        let gate = Fixtures.gate(plan)
        #expect(throws: VoteRefusal.separationOfDuties(person: "alice", role: .author)) { try gate.recording(Fixtures.approve("alice")) }
        #expect(throws: VoteRefusal.separationOfDuties(person: "bob", role: .triggerer)) { try gate.recording(Fixtures.approve("bob")) }
        #expect(plan.approvers == ["carol"])
    }

    @Test("a decided gate refuses every further vote and says who decided and when")
    func decidedGate() throws {
        let gate = try Fixtures.gate(Fixtures.plan([("leads", 1, ["alice", "bob"])])).recording(Fixtures.approve("alice"))
        let refusal = VoteRefusal.gateDecided(state: .approved, decidedBy: "alice", decidedAt: Fixtures.start.addingTimeInterval(60))
        #expect(throws: refusal) { try gate.recording(Fixtures.reject("bob")) }
        #expect(refusal.description.contains("already approved by alice at 2027-01-15T08:01:00.000Z"))
        #expect(throws: VoteRefusal.self) { try gate.cancelling(by: .pipeline("ci"), reason: nil, at: Fixtures.start) }
    }

    @Test("the deadline rejects by default and approves only when fail-open is written")
    func timeout() throws {
        let gate = Fixtures.gate(Fixtures.plan([("leads", 1, ["alice"])]))
        let deadline = try #require(gate.deadline)
        #expect(gate.timingOut(at: deadline.addingTimeInterval(-0.001)) == nil)
        let timedOut = try #require(gate.timingOut(at: deadline))
        #expect(timedOut.state == .timedOut)
        #expect(timedOut.outcome == .rejected)
        #expect(!timedOut.failOpen)
        #expect(timedOut.decidedBy == "greenlight")

        let failOpen = try #require(Fixtures.gate(Fixtures.plan([("leads", 1, ["alice"])], onTimeout: .approve)).timingOut(at: deadline))
        #expect(failOpen.state == .timedOut)
        #expect(failOpen.outcome == .approved)
        #expect(failOpen.failOpen)
        #expect(timedOut.timingOut(at: deadline.addingTimeInterval(10)) == nil)
    }

    @Test("cancel decides a pending gate as cancelled, never to proceed")
    func cancel() throws {
        let gate = Fixtures.gate(Fixtures.plan([("leads", 1, ["alice"])]))
        let cancelled = try gate.cancelling(by: .pipeline("ci"), reason: "superseded by run 42", at: Fixtures.start)
        #expect(cancelled.state == .cancelled)
        #expect(cancelled.outcome == .rejected)
        #expect(cancelled.reason == "cancelled by pipeline:ci: superseded by run 42")
    }

    @Test("a gate the policy does not gate is recorded as approved at once")
    func notGated() {
        let gate = Fixtures.gate(Fixtures.plan([], gated: false))
        #expect(gate.state == .approved)
        #expect(gate.deadline == nil)
        #expect(gate.decidedBy == "greenlight")
    }

    @Test("gate ids are well formed and random")
    func gateIDs() {
        let ids = (0..<100).map { _ in GateID.generate() }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { GateID($0.rawValue) == $0 })
        #expect(GateID("g_short") == nil)
        #expect(GateID("x_abcdefghijklmnopqrst") == nil)
    }
}

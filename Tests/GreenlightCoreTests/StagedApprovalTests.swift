import Foundation
import GreenlightAPI
import Testing

@testable import GreenlightCore

@Suite("Staged approvals, break-glass and fail-open")
struct StagedApprovalTests {
    /// Leads first (one of alice, bob), then finance (erin) within 30 minutes of the leads' approval; 2 hours in all.
    static func twoStages(onTimeout: TimeoutAction = .reject, failOpenReason: String? = nil, breakGlass: PlanBreakGlass? = nil) -> GatePlan {
        GatePlan(
            gated: true, rule: "tiers.costly", tier: "costly",
            stages: [
                PlanStage(name: "leads", requirements: [ApprovalRequirement(group: "leads", count: 1, eligible: ["alice", "bob"])]),
                PlanStage(
                    name: "finance", requirements: [ApprovalRequirement(group: "finance", count: 1, eligible: ["erin"])],
                    timeout: PolicyDuration(seconds: 1_800)),
            ],
            exclusions: [Exclusion(identity: "bob", role: .author)], timeout: PolicyDuration(seconds: 7_200), onTimeout: onTimeout,
            failOpenReason: failOpenReason, channel: nil, policyHash: "hash", breakGlass: breakGlass)
    }

    @Test("stage 2 is asked only after stage 1 is met, and the gate approves when the last stage is")
    func progression() throws {
        let gate = Fixtures.gate(Self.twoStages())
        #expect(gate.stages.open == 0)
        #expect(throws: VoteRefusal.stageNotOpen(person: "erin", stage: "finance", openStage: "leads")) {
            try gate.recording(Fixtures.approve("erin"))
        }
        let leads = try gate.recording(Fixtures.approve("alice", at: 600))
        #expect(leads.state == .pending)
        #expect(leads.stages.open == 1)
        #expect(leads.stages.openedAt == Fixtures.start.addingTimeInterval(600))
        // The finance stage's own 30 minutes start now, and come before the gate's two hours.
        #expect(leads.deadline == Fixtures.start.addingTimeInterval(600 + 1_800))
        #expect(throws: VoteRefusal.self) { try leads.recording(Fixtures.approve("alice", at: 700)) }
        let done = try leads.recording(Fixtures.approve("erin", at: 900))
        #expect(done.state == .approved)
        #expect(done.reason == "approved by alice, erin")
    }

    @Test("separation of duties holds in every stage; a person outside every stage is not an approver")
    func refusals() throws {
        let gate = Fixtures.gate(Self.twoStages())
        #expect(throws: VoteRefusal.separationOfDuties(person: "bob", role: .author)) { try gate.recording(Fixtures.approve("bob")) }
        #expect(throws: VoteRefusal.notAnApprover(person: "mallory", groups: ["leads", "finance"])) {
            try gate.recording(Fixtures.approve("mallory"))
        }
    }

    @Test("a stage's timeout decides the gate by on_timeout, and the reason says which stage was waiting")
    func stageTimeout() throws {
        let leads = try Fixtures.gate(Self.twoStages()).recording(Fixtures.approve("alice", at: 600))
        #expect(leads.timingOut(at: Fixtures.start.addingTimeInterval(600 + 1_799)) == nil)
        let timedOut = try #require(leads.timingOut(at: Fixtures.start.addingTimeInterval(600 + 1_800)))
        #expect(timedOut.state == .timedOut)
        #expect(timedOut.outcome == .rejected)
        #expect(timedOut.reason?.contains("stage 2 of 2 'finance'") == true)
    }

    @Test("fail-open is marked on the gate, in its reason and in its JSON, with the policy's reason")
    func failOpen() throws {
        let gate = Fixtures.gate(Self.twoStages(onTimeout: .approve, failOpenReason: "staging has no customer data"))
        let timedOut = try #require(gate.timingOut(at: Fixtures.start.addingTimeInterval(7_200)))
        #expect(timedOut.state == .timedOut)
        #expect(timedOut.outcome == .approved)
        #expect(timedOut.failOpen)
        #expect(timedOut.reason?.hasSuffix("on_timeout: approve (fail-open: staging has no customer data)") == true)
        let json = GateResource(timedOut, baseURL: "http://x")
        #expect(json.failOpen)
        #expect(json.failOpenReason == "staging has no customer data")
        #expect(!GateResource(Fixtures.gate(Self.twoStages()), baseURL: "http://x").failOpen)
    }

    @Test("the gate JSON shows every stage and which one is open")
    func json() throws {
        let leads = try Fixtures.gate(Self.twoStages()).recording(Fixtures.approve("alice", at: 600))
        let json = GateResource(leads, baseURL: "http://x")
        #expect(json.openStage == "finance")
        #expect(json.stages.map(\.state) == ["met", "open"])
        #expect(json.stages.map(\.name) == ["leads", "finance"])
        #expect(json.requirements.map(\.group) == ["finance"])
        #expect(json.stages[0].requirements[0].approvals == ["alice"])
        let decided = try leads.recording(Fixtures.approve("erin", at: 700))
        #expect(GateResource(decided, baseURL: "http://x").openStage == nil)
    }

    @Test("reminders and escalations follow the open stage")
    func timersPerStage() throws {
        var plan = Self.twoStages()
        plan.reminder = Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 600))
        plan.escalation = Policy.Escalation(after: PolicyDuration(seconds: 900), to: ["sre"])
        let gate = Fixtures.gate(plan)
        #expect(gate.nextReminderAt == Fixtures.start.addingTimeInterval(7_200 - 600))
        #expect(gate.escalatesAt == Fixtures.start.addingTimeInterval(900))
        let leads = try gate.recording(Fixtures.approve("alice", at: 600))
        #expect(leads.nextReminderAt == Fixtures.start.addingTimeInterval(600 + 1_800 - 600))
        #expect(leads.escalatesAt == Fixtures.start.addingTimeInterval(600 + 900))
        let json = GateResource(leads, baseURL: "http://x")
        #expect(json.nextReminderAt == Timestamp.format(Fixtures.start.addingTimeInterval(1_800)))
        #expect(json.escalatesAt == Timestamp.format(Fixtures.start.addingTimeInterval(1_500)))
    }

    @Test("break-glass: only an allowed person who is not barred, with a reason, on a pending gate")
    func breakGlass() throws {
        let allowed = PlanBreakGlass(groups: ["sre-admins"], eligible: ["dan", "bob"], maxPerDay: 1)
        let gate = Fixtures.gate(Self.twoStages(breakGlass: allowed))
        let now = Fixtures.start.addingTimeInterval(60)
        #expect(throws: VoteRefusal.breakGlassNotAllowed(person: "alice", groups: ["sre-admins"])) {
            try gate.breakingGlass(by: "alice", reason: "SEV1", at: now)
        }
        #expect(throws: VoteRefusal.separationOfDuties(person: "bob", role: .author)) { try gate.breakingGlass(by: "bob", reason: "SEV1", at: now) }
        #expect(throws: VoteRefusal.breakGlassReasonMissing) { try gate.breakingGlass(by: "dan", reason: "  ", at: now) }
        #expect(throws: VoteRefusal.breakGlassNotConfigured(environment: "production")) {
            try Fixtures.gate(Self.twoStages()).breakingGlass(by: "dan", reason: "SEV1", at: now)
        }
        let broken = try gate.breakingGlass(by: "dan", reason: " SEV1: checkout down ", at: now)
        #expect(broken.state == .approved)
        #expect(broken.breakGlass)
        #expect(broken.decidedBy == "dan")
        #expect(broken.reason == "break-glass by dan: SEV1: checkout down")
        #expect(throws: VoteRefusal.self) { try broken.breakingGlass(by: "dan", reason: "again", at: now) }
    }

    @Test("a gate opened inside a freeze is rejected at once with reason frozen:<name>")
    func frozen() {
        var plan = Self.twoStages()
        plan.frozen = ActiveFreeze(name: "holidays", endsAt: Fixtures.start.addingTimeInterval(86_400))
        let gate = Fixtures.gate(plan)
        #expect(gate.state == .rejected)
        #expect(gate.reason == "frozen:holidays")
        #expect(gate.deadline == nil)
        #expect(gate.isFrozenOut)
        #expect(gate.timers.isEmpty)
        #expect(GateResource(gate, baseURL: "http://x").frozen?.name == "holidays")
    }

    @Test("plans stored before stages existed still decode, as one stage")
    func legacyPlan() throws {
        let json = """
            {"exclusions":[],"gated":true,"onTimeout":"reject","policyHash":"h","requirements":[{"count":1,"eligible":["a"],"group":"g"}],\
            "rule":"default","tier":"default","timeout":"1m"}
            """
        let plan = try JSONDecoder().decode(GatePlan.self, from: Data(json.utf8))
        #expect(plan.stages.map(\.name) == ["approval"])
        #expect(plan.requirements.map(\.group) == ["g"])
    }

    @Test("a reject counts from anyone who may vote in any stage; an approval from a met stage's person is refused as such")
    func rejectsFromAnyStage() throws {
        let gate = Fixtures.gate(Self.twoStages())
        let early = try gate.recording(Fixtures.reject("erin"))
        #expect(early.state == .rejected)
        let leads = try gate.recording(Fixtures.approve("alice", at: 600))
        let plan = Self.twoStages()
        var withCarol = plan
        withCarol.stages[0].requirements[0].eligible.append("carol")
        let staged = try Fixtures.gate(withCarol).recording(Fixtures.approve("alice", at: 600))
        #expect(throws: VoteRefusal.stageMet(person: "carol", stage: "leads", openStage: "finance")) {
            try staged.recording(Fixtures.approve("carol", at: 700))
        }
        #expect(try staged.recording(Vote(voter: "carol", decision: .reject, at: Fixtures.start.addingTimeInterval(700))).state == .rejected)
        #expect(leads.state == .pending)
    }

    @Test("a freeze stops ungated deploys too")
    func freezeStopsUngated() {
        var plan = Fixtures.plan([("leads", 1, ["alice"])], gated: false)
        plan.frozen = ActiveFreeze(name: "holidays", endsAt: Fixtures.start.addingTimeInterval(3_600))
        let gate = Fixtures.gate(plan)
        #expect(gate.state == .rejected)
        #expect(gate.reason == "frozen:holidays")
    }
}

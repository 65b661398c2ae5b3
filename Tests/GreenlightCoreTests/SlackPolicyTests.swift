import Foundation
import Testing

@testable import GreenlightCore
@testable import GreenlightPolicyFile

/// The policy's Slack keys (`people.*.slack`, `groups.*.slack_usergroup`) and the waiting-gate keys (`remind`,
/// `escalate`), and the timers gates get from them.
@Suite("Policy: Slack, reminders and escalation")
struct SlackPolicyTests {
    static let yaml = """
        people:
          alice: { slack: U0ALICE }
          bob: { slack: W0BOB }
        groups:
          leads: { members: [alice, bob, carol] }
          oncall: { slack_usergroup: S0ONCALL }
          both: { members: [dan], slack_usergroup: S0BOTH }
        environments:
          production:
            require: [ { group: leads, count: 2 } ]
            timeout: 4h
            remind: { before_deadline: 1h, mention: [group: leads] }
            escalate: { after: 2h, to: [group: oncall] }
          staging: { require: [ { group: oncall, count: 3 } ] }
        default:
          require: [ { group: leads, count: 1 } ]
          timeout: 1h
          remind: { before_deadline: 10m }
        """

    func parse(_ yaml: String) throws -> Policy {
        try PolicyParser(file: "greenlight.yaml").parse(yaml).policy
    }

    func errors(_ yaml: String) -> [String] {
        do {
            _ = try PolicyParser(file: "greenlight.yaml").parse(yaml)
            return []
        } catch {
            return error.diagnostics.filter { $0.severity == .error }.map(\.description)
        }
    }

    @Test("the keys read as written; an environment inherits default's reminder; a user group lifts the count check")
    func reads() throws {
        let policy = try parse(Self.yaml)
        #expect(policy.person(slackUserID: "W0BOB")?.name == "bob")
        #expect(policy.person(slackUserID: "U0NOBODY") == nil)
        #expect(policy.groups["oncall"]?.slackUsergroup == "S0ONCALL")
        #expect(policy.groups["both"]?.members == ["dan"])
        let production = try #require(policy.environments["production"])
        #expect(production.remind == Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 3_600), mention: ["leads"]))
        #expect(production.escalate == Policy.Escalation(after: PolicyDuration(seconds: 7_200), to: ["oncall"]))
        // 3 of a group whose members live in Slack cannot be checked when the policy is read.
        #expect(policy.environments["staging"]?.require == [Policy.ApprovalRule(group: "oncall", count: 3)])
        let staging = policy.plan(for: Fixtures.request(environment: "staging"))
        #expect(staging.reminder?.beforeDeadline == PolicyDuration(seconds: 600), "staging inherits default's reminder")
    }

    @Test("user group members join the listed ones, once each, and are frozen into the plan")
    func usergroupMembers() throws {
        let policy = try parse(Self.yaml)
        let plan = policy.plan(
            for: Fixtures.request(environment: "staging"), usergroupMembers: ["oncall": ["alice", "U0ERIN", "alice"], "leads": ["U0X"]])
        #expect(plan.requirements.first?.eligible == ["alice", "U0ERIN"])
        #expect(policy.members(of: "both", usergroupMembers: ["both": ["dan", "U0FRED"]]) == ["dan", "U0FRED"])
    }

    @Test(
        "each mistake is an error naming the key",
        arguments: [
            (
                "people:\n  a: { slack: alice }\ngroups:\n  g: { members: [a] }\ndefault: { require: [ { group: g } ] }", "people.a.slack",
                "not a Slack user id"
            ),
            (
                "people:\n  a: { slack: U1 }\n  b: { slack: U1 }\ngroups:\n  g: { members: [a] }\ndefault: { require: [ { group: g } ] }",
                "slack", "already the Slack id of"
            ),
            (
                "groups:\n  g: { slack_usergroup: team }\ndefault: { require: [ { group: g } ] }", "groups.g.slack_usergroup",
                "not a Slack user group id"
            ),
            ("groups:\n  g: {}\ndefault: { require: [ { group: g } ] }", "groups.g", "'members: [name, …]' or 'slack_usergroup"),
            (
                "groups:\n  g: { members: [a] }\ndefault:\n  require: [ { group: g } ]\n  remind: { before_deadline: soon }",
                "default.remind.before_deadline", "not a duration"
            ),
            (
                "groups:\n  g: { members: [a] }\ndefault:\n  require: [ { group: g } ]\n  remind: { mention: [group: g] }",
                "default.remind.before_deadline", "missing"
            ),
            (
                "groups:\n  g: { members: [a] }\ndefault:\n  require: [ { group: g } ]\n  escalate: { after: 1h, to: [group: sre] }",
                "default.escalate.to[0].group", "group 'sre' does not exist"
            ),
            (
                "groups:\n  g: { members: [a] }\ndefault:\n  require: [ { group: g } ]\n  escalate: { after: 1h }", "default.escalate.to",
                "whom to call in"
            ),
            (
                "groups:\n  g: { members: [a] }\ndefault:\n  require: [ { group: g } ]\n  escalate: { after: 1h, to: [g] }", "default.escalate.to[0]",
                "expected a mapping"
            ),
        ])
    func mistakes(yaml: String, key: String, message: String) {
        let found = errors(yaml)
        #expect(found.contains { $0.contains(key) && $0.contains(message) }, "\(found)")
    }

    @Test("a reminder at or before the gate opens is a warning, not an error")
    func pointlessReminder() throws {
        let (_, warnings) = try PolicyParser(file: "p.yaml").parse(
            "groups:\n  g: { members: [a] }\ndefault:\n  require: [ { group: g } ]\n  timeout: 1h\n  remind: { before_deadline: 2h }")
        #expect(warnings.contains { $0.key == "default.remind.before_deadline" && $0.message.contains("no reminder will be sent") })
    }

    @Test("a gate's timers come from its frozen plan; those outside (opened, deadline) are left out")
    func timers() {
        var plan = Fixtures.plan([("leads", 2, ["alice", "bob", "carol"])])
        plan.reminder = Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 600))
        plan.escalation = Policy.Escalation(after: PolicyDuration(seconds: 1_800), to: ["oncall"])
        let gate = Fixtures.gate(plan)
        #expect(
            gate.timers == [
                GateTimer(kind: .reminder, due: Fixtures.start.addingTimeInterval(3_000)),
                GateTimer(kind: .escalation, due: Fixtures.start.addingTimeInterval(1_800)),
            ])
        plan.reminder = Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 3_600))
        plan.escalation = Policy.Escalation(after: PolicyDuration(seconds: 3_600), to: ["oncall"])
        #expect(Fixtures.gate(plan).timers.isEmpty)
        #expect(Fixtures.gate(Fixtures.plan([("leads", 1, ["alice"])], gated: false)).timers.isEmpty)
    }

    @Test("awaited approvers: eligible for an unmet rule, not barred, not voted")
    func awaited() throws {
        let plan = Fixtures.plan(
            [("leads", 2, ["alice", "bob", "carol"]), ("finance", 1, ["erin"])], exclusions: [Exclusion(identity: "carol", role: .author)])
        var gate = try Fixtures.gate(plan).recording(Fixtures.approve("alice"))
        #expect(gate.awaitedApprovers == ["bob", "erin"])
        gate = try gate.recording(Fixtures.approve("erin"))
        #expect(gate.awaitedApprovers == ["bob"])
    }
}

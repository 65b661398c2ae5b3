import Testing

@testable import GreenlightCore
@testable import GreenlightPolicyFile

@Suite("Policy file")
struct PolicyParserTests {
    private func parse(_ yaml: String) throws(PolicyValidationError) -> Policy {
        try PolicyParser(file: "greenlight.yaml").parse(yaml).policy
    }

    /// The errors of a policy that must not parse, as `line: key: message` lines.
    private func errors(_ yaml: String) -> [PolicyDiagnostic] {
        do {
            _ = try parse(yaml)
            Issue.record("the policy parsed, but it should not")
            return []
        } catch {
            return error.diagnostics.filter { $0.severity == .error }
        }
    }

    @Test("the design's example policy reads as written")
    func example() throws {
        let policy = try parse(Fixtures.policyYAML)
        #expect(policy.people["alice"]?.github == "alice-gh")
        #expect(policy.groups["platform-leads"]?.members == ["alice", "bob", "carol", "dan"])
        #expect(policy.environments["staging"]?.gated == false)
        #expect(policy.environments["production"]?.require == [.init(group: "platform-leads", count: 2), .init(group: "finance", count: 1)])
        #expect(policy.environments["production"]?.timeout == PolicyDuration(seconds: 1_800))
        #expect(policy.environments["production"]?.channel == "C0DEPLOYS")
        #expect(policy.defaultRule.timeout == PolicyDuration(seconds: 14_400))
        #expect(policy.hash == Policy.hash(of: Fixtures.policyYAML))
        #expect(policy.hash.count == 64)
    }

    @Test("the built-in policy parses and gates everything behind admins")
    func builtIn() throws {
        let policy = BuiltInPolicy.policy
        let plan = policy.plan(for: Fixtures.request(environment: "anything"))
        #expect(plan.gated)
        #expect(plan.requirements == [ApprovalRequirement(group: "admins", count: 1, eligible: ["admin"])])
        #expect(plan.timeout.seconds == 4 * 3_600)
        #expect(plan.onTimeout == .reject)
    }

    @Test(
        "each mistake is an error naming the line and the key",
        arguments: [
            (
                "default: { require: [ { group: ops, count: 1 } ] }\nenvironments:\n  prod: { gate: none, colour: blue }", 3,
                "environments.prod.colour", "unknown key"
            ),
            (
                "groups:\n  ops: { members: [a] }\ndefault:\n  require: [ { group: sre, count: 1 } ]", 4, "default.require[0].group",
                "group 'sre' does not exist"
            ),
            (
                "groups:\n  ops: { members: [a, b] }\ndefault:\n  require:\n    - { group: ops, count: 3 }", 5, "default.require[0].count",
                "3 is more than the 2 member(s)"
            ),
            (
                "groups:\n  ops: { members: [a] }\ndefault:\n  require: [ { group: ops } ]\n  timeout: 4x", 5, "default.timeout",
                "'4x' is not a duration"
            ),
            (
                "groups:\n  ops: { members: [a] }\ndefault:\n  require: [ { group: ops } ]\n  on_timeout: maybe", 5, "default.on_timeout",
                "'maybe' is not a timeout action"
            ),
            (
                "groups:\n  ops: { members: [a] }\nenvironments:\n  prod:\n    freeze: {}\ndefault: { require: [ { group: ops } ] }", 5,
                "environments.prod.freeze", "expected a list of windows"
            ),
            (
                "groups:\n  ops: { members: [a] }\ndefault: { require: [ { group: ops } ], gate: none }", 3, "default.gate",
                "default may not be 'gate: none'"
            ),
            ("groups:\n  ops: { members: [a] }\n  ops: { members: [b] }\ndefault: { require: [ { group: ops } ] }", 2, "", "'ops' appears twice"),
            ("groups:\n  ops: { members: [a] }\ndefault:\n  require: []", 4, "default.require", "is empty"),
            ("groups:\n  ops: { members: [a] }\nenvironments:\n  prod: { timeout: 1h }\n", 1, "default", "missing"),
            ("groups:\n  ops: { members: [a] }\ndefault:\n  timeout: 4h", 3, "default.require", "default must say whose approval"),
            ("version: 2\ngroups:\n  ops: { members: [a] }\ndefault: { require: [ { group: ops } ] }", 1, "version", "policy version 1"),
        ]
    )
    func mistakes(yaml: String, line: Int, key: String, message: String) {
        let found = errors(yaml)
        #expect(found.contains { $0.line == line && $0.key == key && $0.message.contains(message) }, "got: \(found)")
    }

    @Test("every error is reported at once, formatted file:line: error: key: message")
    func allErrors() {
        let found = errors("groups:\n  ops: { members: [a] }\ndefault:\n  require: [ { group: nope } ]\n  timeout: soon\n")
        #expect(found.count == 2)
        #expect(found.first?.description == "greenlight.yaml:4: error: default.require[0].group: group 'nope' does not exist (known groups: ops)")
    }

    @Test("a YAML syntax error names its line")
    func syntax() {
        let found = errors("groups:\n  ops: { members: [a\ndefault: {}\n")
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("not valid YAML") == true)
        #expect(found.first?.line != nil)
    }

    @Test("durations", arguments: [("90s", 90.0), ("30m", 1_800), ("4h", 14_400), ("2d", 172_800), ("1h30m", 5_400)])
    func durations(text: String, seconds: Double) {
        #expect(PolicyDuration(parsing: text)?.seconds == seconds)
    }

    @Test("bad durations", arguments: ["", "4", "h", "0s", "-1h", "1.5h", "4 h", "4x"])
    func badDurations(text: String) {
        #expect(PolicyDuration(parsing: text) == nil)
    }
}

@Suite("Policy evaluation")
struct PolicyPlanTests {
    let policy = try! PolicyParser(file: "greenlight.yaml").parse(Fixtures.policyYAML).policy

    @Test("a named environment gets its own rule, frozen with the group's members")
    func namedEnvironment() {
        let plan = policy.plan(for: Fixtures.request(environment: "production"))
        #expect(plan.rule == "environments.production")
        #expect(plan.gated)
        #expect(plan.requirements.map(\.group) == ["platform-leads", "finance"])
        #expect(plan.requirements[0].eligible == ["alice", "bob", "carol", "dan"])
        #expect(plan.timeout.seconds == 1_800)
        #expect(plan.policyHash == policy.hash)
    }

    @Test("an environment the policy does not name falls to default: gated, never passed")
    func unnamedEnvironment() {
        let plan = policy.plan(for: Fixtures.request(environment: "prod-eu"))
        #expect(plan.rule == "default")
        #expect(plan.gated)
        #expect(plan.requirements == [ApprovalRequirement(group: "platform-leads", count: 1, eligible: ["alice", "bob", "carol", "dan"])])
        #expect(plan.timeout.seconds == 14_400)
        #expect(plan.onTimeout == .reject)
    }

    @Test("gate: none is recorded, not gated")
    func ungated() {
        #expect(!policy.plan(for: Fixtures.request(environment: "staging")).gated)
    }

    @Test("keys an environment leaves out come from default; fail-open only where written")
    func inheritance() {
        let plan = policy.plan(for: Fixtures.request(environment: "sandbox"))
        #expect(plan.requirements.map(\.group) == ["platform-leads"])
        #expect(plan.timeout.seconds == 90)
        #expect(plan.onTimeout == .approve)
        #expect(policy.plan(for: Fixtures.request(environment: "production")).onTimeout == .reject)
    }

    @Test("separation of duties recognises people by GitHub login, e-mail or Slack id")
    func identities() {
        let plan = policy.plan(for: Fixtures.request(authors: ["alice-gh"], triggeredBy: "bob-gh"))
        #expect(plan.exclusion(for: "alice")?.role == .author)
        #expect(plan.exclusion(for: "bob")?.role == .triggerer)
        #expect(plan.exclusion(for: "carol") == nil)
        #expect(plan.approvers == ["carol", "dan", "erin"])
        let byEmail = policy.plan(for: Fixtures.request(authors: ["ALICE@example.com"]))
        #expect(byEmail.exclusion(for: "alice") != nil)
    }

    @Test("an author named one way is barred under every identity the policy knows for them")
    func everyIdentity() {
        let plan = policy.plan(for: Fixtures.request(authors: ["alice"]))
        for identity in ["alice", "alice-gh", "U01ALICE", "alice@example.com"] {
            #expect(plan.exclusion(for: identity)?.role == .author, "\(identity) is not barred")
        }
        #expect(plan.exclusion(for: "bob-gh") == nil)
    }

    @Test("separation of duties is on unless the policy turns it off")
    func separationByDefault() throws {
        let yaml = "groups:\n  ops: { members: [a, b] }\ndefault: { require: [ { group: ops } ] }\nenvironments:\n  lab: { separation_of_duties: [] }"
        let policy = try PolicyParser(file: "p.yaml").parse(yaml).policy
        #expect(policy.plan(for: Fixtures.request(environment: "prod", authors: ["a"])).exclusion(for: "a") != nil)
        #expect(policy.plan(for: Fixtures.request(environment: "lab", authors: ["a"])).exclusion(for: "a") == nil)
    }
}

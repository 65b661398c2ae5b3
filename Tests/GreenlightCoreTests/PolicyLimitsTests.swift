import Foundation
import Testing
import Yams

@testable import GreenlightCore
@testable import GreenlightPolicyFile

/// Hostile or mistaken policies (issue 16): each is refused with a message naming the limit and the line, and reading it
/// costs a bounded amount of work. A test that regressed to unbounded work would not finish within its time limit.
/// Serialized: several walk a million nodes without suspending, and side by side on two cores they starved the
/// timing-sensitive tests running beside them.
@Suite("Policy limits", .serialized, .timeLimit(.minutes(1)))
struct PolicyLimitsTests {
    private func errors(_ yaml: String) -> [PolicyDiagnostic] {
        do {
            _ = try PolicyParser(file: "greenlight.yaml").parse(yaml)
            Issue.record("the policy parsed, but it should not")
            return []
        } catch {
            return error.diagnostics.filter { $0.severity == .error }
        }
    }

    /// A valid policy with `rule` as its default's extra keys (indented under `default:`).
    private func policy(default rule: String) -> String {
        "groups:\n  ops: { members: [a, b] }\ndefault:\n  require: [ { group: ops } ]\n\(rule)"
    }

    // MARK: Diagnostics

    @Test("at most 50 errors are kept; one more line counts the rest")
    func diagnosticsCap() throws {
        let unknown = (0..<1_000).map { "  colour\($0): blue" }.joined(separator: "\n")
        do {
            _ = try PolicyParser(file: "greenlight.yaml").parse(policy(default: unknown + "\n"))
            Issue.record("1,000 unknown keys must not parse")
        } catch {
            #expect(error.diagnostics.count == PolicyLimits.maximumDiagnostics + 1)
            #expect(error.diagnostics.last?.description == "greenlight.yaml: error: … and 950 more errors not shown; fix the ones above first")
        }
    }

    @Test("an error keeps its message short however long the value it quotes")
    func longValues() throws {
        let found = errors(policy(default: "  on_timeout: " + String(repeating: "x", count: 100_000) + "\n"))
        let error = try #require(found.first)
        #expect(error.message.count < 200, "\(error.message.prefix(300))")
        let groups = (0..<5_000).map { "  g\($0): { members: [a] }" }.joined(separator: "\n")
        let unknown = errors("groups:\n\(groups)\ndefault: { require: [ { group: nope } ] }\n")
        #expect(unknown.first?.message.contains("(5000 in all)") == true)
        #expect((unknown.first?.message.count ?? 0) < 300)
    }

    // MARK: Durations

    @Test("the longest duration is 365 days, in any spelling")
    func maximumDuration() throws {
        #expect(PolicyDuration.maximum.description == "365d")
        for text in ["365d", "8760h", "525600m", "31536000s", "364d23h59m60s"] {
            #expect(try PolicyDuration(validating: text) == .maximum, "\(text)")
        }
    }

    @Test(
        "a duration over 365 days is refused, however many digits it has, without overflowing",
        arguments: ["366d", "8761h", "31536001s", "99999999999999999999s", "200000000000d", String(repeating: "9", count: 1_000) + "s", "365d1s"])
    func overMaximum(text: String) {
        #expect(throws: PolicyDuration.ParseError.overMaximum) { try PolicyDuration(validating: text) }
        #expect(PolicyDuration(parsing: text) == nil)
    }

    @Test("a malformed duration is malformed, not over the maximum", arguments: ["1e3s", "9" + String(repeating: "9", count: 400), "inf", "-1d", ""])
    func malformed(text: String) {
        #expect(throws: PolicyDuration.ParseError.malformed) { try PolicyDuration(validating: text) }
    }

    @Test("a duration no policy can write still describes itself instead of trapping, and is stored as what it is")
    func describesAnything() throws {
        #expect(PolicyDuration(seconds: 1e300).description == "1e+300s")
        #expect(PolicyDuration(seconds: .infinity).description == "infs")
        #expect(PolicyDuration(seconds: -.infinity).description == "-infs")
        #expect(PolicyDuration(seconds: .nan).description == "nans")
        for seconds in [1e300, 0.5, 0, 14_400] {
            let stored = try JSONEncoder().encode(PolicyDuration(seconds: seconds))
            #expect(try JSONDecoder().decode(PolicyDuration.self, from: stored).seconds == seconds)
        }
        // A plan stored by an earlier version with a longer timeout stays readable.
        #expect(try JSONDecoder().decode(PolicyDuration.self, from: Data(#""400d""#.utf8)).seconds == 400 * 86_400)
    }

    @Test(
        "every duration key refuses more than 365 days at its own line",
        arguments: [
            ("  remind: { before_deadline: 99999999999999999999s }", 5, "default.remind.before_deadline"),
            ("  timeout: 200000000000d", 5, "default.timeout"),
            ("  escalate: { after: 400d, to: [group: ops] }", 5, "default.escalate.after"),
        ])
    func durationKeys(rule: String, line: Int, key: String) {
        let found = errors(policy(default: rule))
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.line == line)
        #expect(found.first?.key == key)
        #expect(found.first?.message.contains("is longer than 365d") == true, "\(found)")
    }

    @Test("a stage's timeout is held to the same maximum")
    func stageTimeout() {
        let found = errors(
            "groups:\n  ops: { members: [a] }\ndefault:\n  stages:\n    - { name: one, require: [ { group: ops } ], timeout: 9999999d }\n")
        #expect(found.map(\.key) == ["default.stages[0].timeout"])
        #expect(found.first?.line == 5)
    }

    // MARK: Counts

    @Test(
        "counts at and past Int's limits are refused with the bound, not trapped on",
        arguments: [
            ("  require: [ { group: ops, count: 9223372036854775807 } ]", "default.require[0].count", "at most 100"),
            ("  require: [ { group: ops, count: 99999999999999999999 } ]", "default.require[0].count", "too large"),
            ("  require: [ { group: ops, count: -9223372036854775808 } ]", "default.require[0].count", "at least 1"),
            (
                "  require: [ { group: ops } ]\n  break_glass: { allowed: [group: ops], reason: required, max_per_day: 9223372036854775807 }",
                "default.break_glass.max_per_day", "at most 100"
            ),
            (
                "  require: [ { group: ops } ]\n  break_glass: { allowed: [group: ops], reason: required, max_per_day: 99999999999999999999 }",
                "default.break_glass.max_per_day", "too large"
            ),
        ])
    func counts(rule: String, key: String, message: String) {
        let found = errors("groups:\n  ops: { members: [a, b] }\ndefault:\n\(rule)\n")
        #expect(found.contains { $0.key == key && $0.message.contains(message) }, "\(found)")
    }

    @Test("a cost bound that is not a finite amount is refused")
    func costBounds() {
        let found = errors(policy(default: "tiers:\n  - { name: t, when: { cost_delta_monthly: { gt: 1e400 } }, gate: none }\n"))
        #expect(found.contains { $0.key == "tiers.t.when.cost_delta_monthly.gt" }, "\(found)")
    }

    // MARK: Many people

    @Test("10,000 people are read, and a Slack id used twice names its first holder")
    func manyPeople() {
        // Every person but the last is read without error, and the last is caught by the lookup that replaced a scan of
        // all the people before it (quadratic: 40,000 people took 7 s, as issue 16 measured).
        var people = (0..<10_000).map { "  p\($0): { slack: U\($0), github: p\($0)-gh, email: p\($0)@example.com }" }
        people.append("  again: { slack: U17 }")
        let found = errors("people:\n\(people.joined(separator: "\n"))\n" + policy(default: ""))
        #expect(found.map(\.message) == ["'U17' is already the Slack id of 'p17'; one Slack account is one person"])
        #expect(found.first?.line == 10_002)
    }

    // MARK: Aliases and the node budget

    /// Ten levels of ten aliases under `tiers[0].when.any`: 10¹⁰ conditions once expanded, in under 2 KB.
    static let aliasBomb: String = {
        var lines = [
            "groups:", "  ops: { members: [a] }", "default: { require: [ { group: ops } ] }", "tiers:", "  - name: bomb", "    when:", "      any:",
        ]
        lines.append("        - &l0 { environment: x }")
        for level in 1...10 {
            lines.append("        - &l\(level) { any: [ \(Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ")) ] }")
        }
        return lines.joined(separator: "\n") + "\n"
    }()

    @Test("an alias bomb is refused by the node budget, naming the limit and where, with one error")
    func aliasBomb() throws {
        #expect(Self.aliasBomb.utf8.count < 2_000)
        let found = errors(Self.aliasBomb)
        #expect(found.count == 1, "\(found)")
        let error = try #require(found.first)
        #expect(error.key == "tiers")
        #expect(error.message.contains("more than \(PolicyLimits.maximumNodes) YAML nodes once its aliases"))
        #expect((8...18).contains(error.line ?? 0), "the line is inside the anchors the bomb repeats: \(error)")
    }

    @Test("the walk that counts nodes stops at the budget, and counts what aliases repeat each time")
    func nodeBudget() throws {
        let bomb = try #require(try Yams.compose(yaml: Self.aliasBomb))
        #expect(PolicyParser.Reader.nodeBeyondBudget(in: bomb) != nil)
        let example = try #require(try Yams.compose(yaml: Fixtures.policyYAML))
        #expect(PolicyParser.Reader.nodeBeyondBudget(in: example) == nil)
        // 1,100 aliases of a 1,000-item list: fewer than 5,000 nodes written, 1.1 million walked.
        let list = "[" + Array(repeating: "x", count: 1_000).joined(separator: ", ") + "]"
        let repeated = try #require(
            try Yams.compose(yaml: "a: &a \(list)\nb: [" + Array(repeating: "*a", count: 1_100).joined(separator: ", ") + "]\n"))
        #expect(PolicyParser.Reader.nodeBeyondBudget(in: repeated)?.key == "b")
    }

    @Test("merge keys (<<: *a) are walked like any other value, so a merge bomb is refused too")
    func mergeBomb() {
        var lines = ["groups:", "  ops: { members: [a] }", "default: { require: [ { group: ops } ] }", "environments:"]
        lines.append("  e0: &e0 { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10 }")
        for level in 1...8 {
            let merges = (0..<10).map { "m\($0): { <<: *e\(level - 1) }" }.joined(separator: ", ")
            lines.append("  e\(level): &e\(level) { \(merges) }")
        }
        let found = errors(lines.joined(separator: "\n") + "\n")
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.key == "environments")
        #expect(found.first?.message.contains("YAML nodes") == true)
    }

    @Test("aliases for values still work")
    func aliasedValues() throws {
        let policy = try PolicyParser(file: "greenlight.yaml").parse(
            """
            groups:
              ops: { members: [a, b] }
            environments:
              production: { require: &two [ { group: ops, count: 2 } ], timeout: &long 8h }
              dr: { require: *two, timeout: *long }
            default: { require: [ { group: ops } ] }
            """
        ).policy
        #expect(policy.environments["dr"]?.require == [.init(group: "ops", count: 2)])
        #expect(policy.environments["dr"]?.timeout == PolicyDuration(seconds: 8 * 3_600))
    }

    // MARK: Keys Yams would hash whole

    @Test(
        "a key that is not a plain name is refused before Yams composes (and hashes) it",
        arguments: [
            ("a: &x [1, 2]\n*x : y\n", 2, "an alias (*name) is used as a key"),
            ("a: &x [1, 2]\nb: { *x: y }\n", 2, "an alias (*name) is used as a key"),
            ("a: &x [1, 2]\nb: { *x }\n", 2, "an alias (*name) is used as a key"),
            ("a: &x [1, 2]\nb: { c: d, *x }\n", 2, "an alias (*name) is used as a key"),
            ("a: &x [1, 2]\nb: [ *x: y ]\n", 2, "an alias (*name) is used as a key"),
            ("a: &x [1, 2]\n[*x]: y\n", 2, "a list or mapping is used as a key"),
            ("a: &x [1, 2]\nb: { [*x]: y }\n", 2, "a list or mapping is used as a key"),
            ("a: &x [1, 2]\nb: { {c: *x}: y }\n", 2, "a list or mapping is used as a key"),
            ("a: &x [1, 2]\n? *x\n: y\n", 2, "an explicit key"),
            ("a: &x [1, 2]\nb:\n  - c: d\n    *x : y\n", 4, "an alias (*name) is used as a key"),
            // A plain scalar's continuation line starting with a quote must not hide the line after it.
            ("a: &x [1, 2]\nb: c\n  'd\n*x : y\n", 4, "an alias (*name) is used as a key"),
            // Nor may a block scalar's end be misread: the next key is less indented than its content.
            ("a: &x [1, 2]\nb:\n  - c: |\n      text\n    *x : y\n", 5, "an alias (*name) is used as a key"),
        ])
    func nonScalarKeys(yaml: String, line: Int, message: String) throws {
        // Each is YAML that Yams accepts: the pass refuses what would be composed, not what would fail anyway.
        #expect(try Yams.compose(yaml: yaml) != nil)
        let problem = try #require(YAMLPrescan.firstProblem(in: yaml))
        #expect(problem.line == line, "\(problem)")
        #expect(problem.message.contains(message), "\(problem)")
    }

    @Test("an alias bomb used as a key is refused before composing, which would hash all of it")
    func aliasBombAsKey() {
        let found = errors(Self.aliasBomb + "? *l10\n: x\n")
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains("explicit key") == true)
        let flow = errors(Self.aliasBomb + "x: { *l10 }\n")
        #expect(flow.first?.message.contains("an alias (*name) is used as a key") == true, "\(flow)")
    }

    @Test(
        "what merely looks like a key or an alias passes",
        arguments: [
            "a: \"*x: y\"\nb: '[c]: d'\n",
            "a: |\n  *x: y\n  [c]: d\n  ? e\nb: c\n",
            "a: >-\n    *x: y\n\n    more\nb: c\n",
            "# *x: y\na: b # [c]: d\n",
            "a: b *x c\n",
            "a: it's *not an alias\n",
            "a: [\"b\", 'c']\nd: {\"e\":\"f\", g: [h, i]}\n",
            "a: db/**\nb: \"**/*.sql\"\n",
            "a: &x [1]\nb: *x\nc: [*x, *x]\nd: { e: *x }\n",
            "a: b\n  'c\nd: e\n",
            "- a: 1\n  b: [2]\n- - c\n  - d\n",
        ])
    func lookalikes(yaml: String) throws {
        #expect(YAMLPrescan.firstProblem(in: yaml) == nil)
    }

    @Test("nesting is bounded before Yams recurses into it")
    func nesting() throws {
        let deep = "a: " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "\n"
        let problem = try #require(YAMLPrescan.firstProblem(in: deep))
        #expect(problem.message.contains("nest more than \(PolicyLimits.maximumNesting) deep"))
        var block = ""
        for level in 0...70 { block += String(repeating: " ", count: level) + "k\(level):\n" }
        #expect(YAMLPrescan.firstProblem(in: block)?.line == PolicyLimits.maximumNesting + 1)
        #expect(YAMLPrescan.firstProblem(in: "a: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60)) == nil)
    }

    @Test("more than 10,000 aliases are refused at the one past the limit")
    func aliasCount() throws {
        let yaml = "a: &x 1\nb:\n" + String(repeating: "  - *x\n", count: PolicyLimits.maximumAliases + 1)
        let problem = try #require(YAMLPrescan.firstProblem(in: yaml))
        #expect(problem.line == PolicyLimits.maximumAliases + 3)
    }

    // MARK: Size and the number of conditions

    @Test("a policy over 4 MiB is refused as a whole, with one error")
    func documentSize() {
        let found = errors("# " + String(repeating: "x", count: PolicyLimits.maximumDocumentBytes) + "\n")
        #expect(found.count == 1)
        #expect(found.first?.message.contains("at most \(PolicyLimits.maximumDocumentBytes) bytes") == true)
    }

    @Test("the tiers may hold 10,000 conditions; past that, one error says so and the rest is not read")
    func conditionCount() {
        let tiers = (0..<2_001).map {
            "  - { name: t\($0), when: { environment: [e], service: s, labels: { a: b }, changed_paths: [p], any: [ { environment: f } ] }, gate: required }"
        }
        let found = errors(policy(default: "tiers:\n" + tiers.joined(separator: "\n") + "\n"))
        #expect(found.count == 1, "\(found.prefix(3))")
        #expect(found.first?.message.contains("more than \(PolicyLimits.maximumConditions) conditions") == true)
    }

    @Test("any and all nest at most 16 deep")
    func conditionNesting() {
        let nested = (0..<17).reduce("{ environment: production }") { inner, _ in "{ any: [ \(inner) ] }" }
        let found = errors(policy(default: "tiers:\n  - { name: deep, when: \(nested), gate: required }\n"))
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.message.contains("nest more than 16 deep") == true)
        let shallower = (0..<16).reduce("{ environment: production }") { inner, _ in "{ any: [ \(inner) ] }" }
        #expect(throws: Never.self) { try PolicyParser(file: "p").parse(policy(default: "tiers:\n  - { name: ok, when: \(shallower) }\n")) }
    }
}

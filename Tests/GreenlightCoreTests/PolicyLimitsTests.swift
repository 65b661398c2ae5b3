import Foundation
import Testing
import Yams

@testable import GreenlightCore

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
}

import Foundation
import GreenlightCore
import Yams

/// Test cases for a policy, written in YAML beside it (`*.test.yaml`) and run by `greenlight policy test`, so that a
/// policy change is reviewed like code: the pull request shows which cases it breaks.
///
/// ```yaml
/// cases:
///   - name: a schema migration needs two platform leads
///     given: { service: shop, environment: production, changed_paths: [db/migrations/0042.sql], author: alice }
///     expect: { tier: schema-migration, may_approve: [bob, carol, dan], may_not_approve: [alice] }
///   - name: nothing ships on Friday afternoon
///     given: { service: shop, environment: production, at: "2026-12-04T15:00:00-05:00" }
///     expect: { frozen: friday-pm }
/// ```
public struct PolicyTestSuite: Sendable {
    /// A request and what the policy must say about it.
    public struct Case: Sendable {
        public var name: String
        public var file: String
        public var line: Int?
        public var request: GateRequest
        /// When the request is made; freezes are only evaluated for a case that says.
        public var at: Date?
        public var expect: Expectation
    }

    /// What a case expects; keys left out are not checked.
    public struct Expectation: Sendable {
        public var tier: String?
        public var rule: String?
        public var gated: Bool?
        /// Stage names in order (`[approval]` for a rule with plain `require:`).
        public var stages: [String]?
        /// Exactly who may approve in some stage (order does not matter).
        public var mayApprove: [String]?
        /// People who must not be able to approve (separation of duties, or not in a group).
        public var mayNotApprove: [String]?
        /// `false`, `true`, or the name of the freeze window expected to reject the request.
        public var frozen: Frozen?
        public var timeout: String?
        public var onTimeout: TimeoutAction?

        public enum Frozen: Sendable, Equatable {
            case no
            case yes
            case by(String)
        }
    }

    /// One case's outcome: what differed from the expectation, if anything.
    public struct Result: Sendable {
        public var name: String
        public var place: String
        public var failures: [String]
        public var passed: Bool { failures.isEmpty }
    }

    public var cases: [Case]

    /// Reads the cases of one test file, or every problem with it (file:line, like a policy's).
    public init(parsing text: String, file: String) throws(PolicyValidationError) {
        var reader = PolicyParser.Reader(file: file)
        let top = try reader.document(text, ifEmpty: "the file is empty; write 'cases: [ … ]'")
        reader.allowOnly(["cases"], in: top, at: "")
        var cases: [Case] = []
        if let entry = top["cases"], case .sequence(let items) = entry.node {
            for (index, item) in items.enumerated() {
                if let testCase = reader.testCase(item, at: "cases[\(index)]", file: file) { cases.append(testCase) }
            }
        } else {
            reader.error(line: top["cases"]?.line ?? top.line, key: "cases", "expected a list of cases, each with name, given and expect")
        }
        if reader.hasErrors { throw PolicyValidationError(diagnostics: reader.report) }
        self.cases = cases
    }

    /// Runs every case against `policy`.
    public func run(against policy: Policy) -> [Result] {
        cases.map { testCase in
            let plan = policy.plan(for: testCase.request, at: testCase.at)
            let expect = testCase.expect
            var failures: [String] = []
            func check<T: Equatable>(_ what: String, _ expected: T?, _ actual: T, _ show: (T) -> String) {
                if let expected, expected != actual { failures.append("\(what): expected \(show(expected)), got \(show(actual))") }
            }
            check("tier", expect.tier, plan.tier) { "'\($0)'" }
            check("rule", expect.rule, plan.rule) { "'\($0)'" }
            check("gated", expect.gated, plan.gated) { "\($0)" }
            check("stages", expect.stages, plan.stages.map(\.name)) { "[\($0.joined(separator: ", "))]" }
            check("timeout", expect.timeout, plan.timeout.description) { $0 }
            check("on_timeout", expect.onTimeout, plan.onTimeout) { $0.rawValue }
            if let expected = expect.mayApprove {
                let actual = plan.gated ? plan.approvers : []
                if Set(expected) != Set(actual) {
                    failures.append(
                        "may_approve: expected [\(expected.sorted().joined(separator: ", "))], got [\(actual.sorted().joined(separator: ", "))]")
                }
            }
            for person in expect.mayNotApprove ?? [] where plan.gated && plan.approvers.contains(person) {
                failures.append("may_not_approve: \(person) may approve")
            }
            if let frozen = expect.frozen {
                let actual = plan.frozen?.name
                switch frozen {
                case .no where actual != nil: failures.append("frozen: expected not frozen, got frozen by '\(actual!)'")
                case .yes where actual == nil: failures.append("frozen: expected frozen, got not frozen")
                case .by(let name) where actual != name:
                    failures.append("frozen: expected '\(name)', got \(actual.map { "'\($0)'" } ?? "not frozen")")
                default: break
                }
            }
            return Result(name: testCase.name, place: testCase.line.map { "\(testCase.file):\($0)" } ?? testCase.file, failures: failures)
        }
    }
}

extension PolicyParser.Reader {
    mutating func testCase(_ node: Node, at path: String, file: String) -> PolicyTestSuite.Case? {
        guard let fields = mapping(node, at: path) else { return nil }
        allowOnly(["name", "given", "expect"], in: fields, at: path)
        let name = fields["name"].flatMap { string($0.node, at: "\(path).name") } ?? path
        guard let given = fields["given"].flatMap({ mapping($0.node, at: "\(path).given") }) else {
            if fields["given"] == nil {
                error(line: fields.line, key: "\(path).given", "missing: the request, e.g. {service: shop, environment: production}")
            }
            return nil
        }
        guard let expect = fields["expect"].flatMap({ mapping($0.node, at: "\(path).expect") }) else {
            if fields["expect"] == nil { error(line: fields.line, key: "\(path).expect", "missing: what the policy must say, e.g. {tier: standard}") }
            return nil
        }
        let givenPath = "\(path).given"
        allowOnly(
            ["service", "environment", "env", "changed_paths", "cost_delta_monthly", "labels", "author", "authors", "triggered_by", "at"], in: given,
            at: givenPath)
        let service = given["service"].flatMap { string($0.node, at: "\(givenPath).service") }
        let environment = (given["environment"] ?? given["env"]).flatMap { string($0.node, at: "\(givenPath).environment") }
        if service == nil, given["service"] == nil { error(line: given.line, key: "\(givenPath).service", "missing") }
        if environment == nil, given["environment"] == nil, given["env"] == nil {
            error(line: given.line, key: "\(givenPath).environment", "missing")
        }
        var request = GateRequest(service: service ?? "-", environment: environment ?? "-", artifact: "policy-test", commit: "0000000")
        request.changedPaths = given["changed_paths"].map { strings($0.node, at: "\(givenPath).changed_paths") } ?? []
        request.authors =
            (given["authors"].map { strings($0.node, at: "\(givenPath).authors") } ?? [])
            + (given["author"].flatMap { string($0.node, at: "\(givenPath).author") }.map { [$0] } ?? [])
        request.triggeredBy = given["triggered_by"].flatMap { string($0.node, at: "\(givenPath).triggered_by") }
        if let cost = given["cost_delta_monthly"] {
            if case .scalar(let scalar) = cost.node, let value = Double(scalar.string), value.isFinite {
                request.costDeltaMonthly = value
            } else {
                error(line: cost.line, key: "\(givenPath).cost_delta_monthly", "expected an amount such as 750")
            }
        }
        if let labels = given["labels"].flatMap({ mapping($0.node, at: "\(givenPath).labels") }) {
            for (key, value, _) in labels.entries { request.labels[key] = string(value, at: "\(givenPath).labels.\(key)") }
        }
        var at: Date?
        if let entry = given["at"], let text = string(entry.node, at: "\(givenPath).at") {
            at = Timestamp.parse(text)
            if at == nil {
                error(
                    line: entry.line, key: "\(givenPath).at", "'\(Self.abbreviated(text))' is not an RFC 3339 time like \"2026-12-04T15:00:00-05:00\""
                )
            }
        }

        let expectPath = "\(path).expect"
        allowOnly(
            ["tier", "rule", "gated", "stages", "may_approve", "may_not_approve", "frozen", "timeout", "on_timeout"], in: expect, at: expectPath)
        var expectation = PolicyTestSuite.Expectation()
        expectation.tier = expect["tier"].flatMap { string($0.node, at: "\(expectPath).tier") }
        expectation.rule = expect["rule"].flatMap { string($0.node, at: "\(expectPath).rule") }
        expectation.gated = expect["gated"].flatMap { bool($0.node, at: "\(expectPath).gated") }
        expectation.stages = expect["stages"].map { strings($0.node, at: "\(expectPath).stages") }
        expectation.mayApprove = expect["may_approve"].map { strings($0.node, at: "\(expectPath).may_approve") }
        expectation.mayNotApprove = expect["may_not_approve"].map { strings($0.node, at: "\(expectPath).may_not_approve") }
        expectation.timeout = expect["timeout"].flatMap { string($0.node, at: "\(expectPath).timeout") }
            .map { PolicyDuration(parsing: $0)?.description ?? $0 }
        if let entry = expect["on_timeout"], let text = string(entry.node, at: "\(expectPath).on_timeout") {
            expectation.onTimeout = TimeoutAction(rawValue: text)
            if expectation.onTimeout == nil { error(line: entry.line, key: "\(expectPath).on_timeout", "use reject or approve") }
        }
        if let entry = expect["frozen"], let text = string(entry.node, at: "\(expectPath).frozen") {
            switch text {
            case "false", "no": expectation.frozen = .no
            case "true", "yes": expectation.frozen = .yes
            default: expectation.frozen = .by(text)
            }
            if at == nil {
                error(line: entry.line, key: "\(expectPath).frozen", "freezes depend on the time: add 'at: \"2026-12-04T15:00:00-05:00\"' to given")
            }
        }
        return PolicyTestSuite.Case(name: name, file: file, line: fields.line, request: request, at: at, expect: expectation)
    }

    mutating func bool(_ node: Node, at path: String) -> Bool? {
        guard case .scalar(let scalar) = node, let value = ["true": true, "false": false][scalar.string] else {
            error(line: node.mark?.line, key: path, "expected true or false")
            return nil
        }
        return value
    }
}

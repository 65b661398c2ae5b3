import Foundation
import Testing

@testable import GreenlightCore
@testable import GreenlightPolicyFile

@Suite("Policy tests (greenlight policy test)")
struct PolicyTestSuiteTests {
    @Test("a case passes when the policy says what it expects, and each difference is named when it does not")
    func results() throws {
        let policy = try PolicyParser(file: "tiers.yaml").parse(TierTests.policyYAML).policy
        let suite = try PolicyTestSuite(
            parsing: """
                cases:
                  - name: right
                    given: { service: shop, environment: production, changed_paths: [db/migrations/1.sql] }
                    expect: { tier: schema-migration, stages: [approval], may_approve: [alice, bob, carol, dora], gated: true }
                  - name: wrong
                    given: { service: shop, env: production, cost_delta_monthly: 900, author: alice }
                    expect: { tier: production, stages: [leads], may_not_approve: [alice, erin] }
                """, file: "t.test.yaml")
        let results = suite.run(against: policy)
        #expect(results.map(\.passed) == [true, false])
        #expect(
            results[1].failures == [
                "tier: expected 'production', got 'costly'", "stages: expected [leads], got [leads, finance]", "may_not_approve: erin may approve",
            ])
        #expect(results[1].place == "t.test.yaml:5")
    }

    @Test(
        "a malformed test file is refused with file:line errors",
        arguments: [
            ("cases:\n  - { name: a, expect: { tier: x } }", 2, "cases[0].given", "missing"),
            ("cases:\n  - { name: a, given: { service: s, environment: e }, expect: { colour: x } }", 2, "cases[0].expect.colour", "unknown key"),
            ("cases:\n  - { name: a, given: { service: s, environment: e }, expect: { frozen: holidays } }", 2, "cases[0].expect.frozen", "add 'at"),
            ("cases:\n  - { name: a, given: { environment: e }, expect: { gated: maybe } }", 2, "cases[0].expect.gated", "true or false"),
            ("cases:\n  - { name: a, given: { service: s, environment: e, at: soon }, expect: {} }", 2, "cases[0].given.at", "RFC 3339"),
            ("tests: []", 1, "tests", "unknown key"),
        ])
    func malformed(yaml: String, line: Int, key: String, message: String) {
        do {
            _ = try PolicyTestSuite(parsing: yaml, file: "t.test.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.diagnostics.contains { $0.line == line && $0.key == key && $0.message.contains(message) }, "got: \(error.diagnostics)")
        }
    }
}

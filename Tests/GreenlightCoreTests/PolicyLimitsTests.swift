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
}

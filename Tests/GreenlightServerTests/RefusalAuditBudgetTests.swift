import Foundation
import Testing

@testable import GreenlightServer

/// The audit budget for refused Slack requests: each refusal is audited up to the budget, and those beyond it are
/// counted and handed back as one summary with the first refusal after their minute.
@Suite("Audit budget for refused Slack requests")
struct RefusalAuditBudgetTests {
    /// The start of a minute (1,800,000,000 is a multiple of 60).
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("per address: the first refusals of a minute are audited, the rest counted and summed up once, after the minute")
    func perAddress() throws {
        let budget = RefusalAuditBudget(perRemote: 3, total: 100, window: 60)
        let first = (0..<5).map { budget.admit(remote: "203.0.113.9", at: start.addingTimeInterval(Double($0))) }
        #expect(first.map(\.admission) == [.audit, .audit, .audit, .suppress(firstInWindow: true), .suppress(firstInWindow: false)])
        #expect(first.allSatisfy { $0.due == nil })
        #expect(budget.admit(remote: "198.51.100.7", at: start.addingTimeInterval(10)).admission == .audit, "another address has its own budget")

        let next = budget.admit(remote: "198.51.100.7", at: start.addingTimeInterval(60))
        #expect(next.admission == .audit)
        let summary = try #require(next.due)
        #expect(summary.unwritten == 2)
        #expect(summary.addresses == 1)
        #expect(summary.from == start)
        #expect(summary.to == start.addingTimeInterval(60))
        #expect(summary.details["top"] == "203.0.113.9 ×2")
        #expect(summary.details["reason"] == "over_audit_budget")
        #expect(budget.admit(remote: "203.0.113.9", at: start.addingTimeInterval(61)).due == nil, "the summary is handed out once")
    }

    @Test("all addresses together: the total caps the audited refusals of a minute")
    func total() throws {
        let budget = RefusalAuditBudget(perRemote: 10, total: 4, window: 60)
        let admissions = (0..<6).map { budget.admit(remote: "192.0.2.\($0)", at: start).admission }
        #expect(admissions.filter { $0 == .audit }.count == 4)
        let summary = try #require(budget.admit(remote: "192.0.2.9", at: start.addingTimeInterval(120)).due)
        #expect(summary.unwritten == 2)
        #expect(summary.addresses == 2)
        #expect(summary.details["top"] == "192.0.2.4 ×1, 192.0.2.5 ×1")
    }

    @Test("beyond the addresses counted one by one, refusals are still counted in the summary")
    func manyAddresses() throws {
        let budget = RefusalAuditBudget(perRemote: 1, total: 1, window: 60)
        _ = budget.admit(remote: "first", at: start)
        for index in 0..<(RefusalAuditBudget.countedAddresses + 10) { _ = budget.admit(remote: "a\(index)", at: start) }
        let summary = try #require(budget.admit(remote: "late", at: start.addingTimeInterval(60)).due)
        #expect(summary.unwritten == RefusalAuditBudget.countedAddresses + 10)
        #expect(summary.addresses == RefusalAuditBudget.countedAddresses)
        #expect(summary.fromUncountedAddresses == 10)
        #expect(summary.details["from_uncounted_addresses"] == "10")
        #expect(summary.top.count == RefusalAuditBudget.topAddresses)
    }

    @Test("a minute with nothing over the budget leaves no summary")
    func quietMinute() {
        let budget = RefusalAuditBudget(perRemote: 2, total: 10, window: 60)
        _ = budget.admit(remote: "192.0.2.1", at: start)
        #expect(budget.admit(remote: "192.0.2.1", at: start.addingTimeInterval(60)).due == nil)
    }
}

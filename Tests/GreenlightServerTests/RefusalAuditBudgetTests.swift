import Foundation
import Testing

@testable import GreenlightServer

/// The audit budget for refused Slack requests: every refusal is audited up to the budget, and none is forgotten
/// beyond it (each is counted and reported with the address's next audited refusal).
@Suite("Audit budget for refused Slack requests")
struct RefusalAuditBudgetTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("per address: the first refusals of a window are audited, the rest counted and reported with the next audited one")
    func perAddress() {
        let budget = RefusalAuditBudget(perRemote: 3, total: 100, window: 60)
        let first = (0..<5).map { budget.admit(remote: "203.0.113.9", at: start.addingTimeInterval(Double($0))) }
        #expect(
            first == [
                .audit(suppressedSinceLast: 0), .audit(suppressedSinceLast: 0), .audit(suppressedSinceLast: 0), .suppress(firstInWindow: true),
                .suppress(firstInWindow: false),
            ])
        #expect(
            budget.admit(remote: "198.51.100.7", at: start.addingTimeInterval(10)) == .audit(suppressedSinceLast: 0),
            "another address has its own budget")
        #expect(
            budget.admit(remote: "203.0.113.9", at: start.addingTimeInterval(60)) == .audit(suppressedSinceLast: 2),
            "the next window reports the two not written")
        #expect(budget.admit(remote: "203.0.113.9", at: start.addingTimeInterval(61)) == .audit(suppressedSinceLast: 0), "and only once")
    }

    @Test("all addresses together: the total caps the audited refusals of a window")
    func total() {
        let budget = RefusalAuditBudget(perRemote: 10, total: 4, window: 60)
        let admissions = (0..<6).map { budget.admit(remote: "192.0.2.\($0)", at: start) }
        #expect(admissions.filter { $0 == .audit(suppressedSinceLast: 0) }.count == 4)
        #expect(budget.admit(remote: "192.0.2.5", at: start.addingTimeInterval(60)) == .audit(suppressedSinceLast: 1))
    }

    @Test("beyond the addresses counted one by one, unwritten refusals share one count")
    func manyAddresses() {
        let budget = RefusalAuditBudget(perRemote: 1, total: 1, window: 60)
        _ = budget.admit(remote: "first", at: start)
        for index in 0..<(RefusalAuditBudget.countedAddresses + 10) { _ = budget.admit(remote: "a\(index)", at: start) }
        #expect(budget.admit(remote: RefusalAuditBudget.otherAddresses, at: start.addingTimeInterval(60)) == .audit(suppressedSinceLast: 10))
    }
}

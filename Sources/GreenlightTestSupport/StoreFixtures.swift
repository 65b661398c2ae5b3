import Foundation
import GreenlightCore

/// Gates and votes for store tests: one production gate needing 2 of leads (alice, bob, carol), authored by erin and
/// triggered by dave, opened at ``start``.
public enum StoreFixtures {
    public static let start = Date(timeIntervalSince1970: 1_800_000_000)

    public static func gate(
        members: [String] = ["alice", "bob", "carol"],
        count: Int = 2,
        exclusions: [Exclusion] = [],
        timeout: TimeInterval = 3_600,
        onTimeout: TimeoutAction = .reject,
        commit: String = "0123456789abcdef",
        channel: String? = nil
    ) -> Gate {
        let plan = GatePlan(
            gated: true, rule: "environments.production", tier: "production",
            requirements: [ApprovalRequirement(group: "leads", count: count, eligible: members)], exclusions: exclusions,
            timeout: PolicyDuration(seconds: timeout), onTimeout: onTimeout, channel: channel, policyHash: String(repeating: "a", count: 64)
        )
        let request = GateRequest(
            service: "shop", environment: "production", artifact: "registry.example.com/shop@sha256:abc", commit: commit,
            triggeredBy: "dave", authors: ["erin"], labels: ["team": "payments"]
        )
        return Gate(id: .generate(), request: request, openedBy: "ci", plan: plan, createdAt: start)
    }

    public static func vote(_ person: String, _ decision: VoteDecision = .approve, offset: TimeInterval = 10) -> Vote {
        Vote(voter: person, decision: decision, at: start.addingTimeInterval(offset))
    }
}

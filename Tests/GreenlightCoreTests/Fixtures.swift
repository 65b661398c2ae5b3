import Foundation
import GreenlightCore

/// Builders for the values most tests need.
enum Fixtures {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func request(
        environment: String = "production",
        authors: [String] = [],
        triggeredBy: String? = nil
    ) -> GateRequest {
        GateRequest(
            service: "shop", environment: environment, artifact: "registry.example.com/shop@sha256:abc", commit: "0123456789abcdef",
            triggeredBy: triggeredBy, authors: authors
        )
    }

    static func plan(
        _ requirements: [(String, Int, [String])],
        exclusions: [Exclusion] = [],
        onTimeout: TimeoutAction = .reject,
        gated: Bool = true
    ) -> GatePlan {
        GatePlan(
            gated: gated, rule: "environments.production", tier: "production",
            requirements: requirements.map { ApprovalRequirement(group: $0.0, count: $0.1, eligible: $0.2) },
            exclusions: exclusions, timeout: PolicyDuration(seconds: 3_600), onTimeout: onTimeout, channel: nil, policyHash: "hash"
        )
    }

    static func gate(_ plan: GatePlan, request: GateRequest = request()) -> Gate {
        Gate(id: .generate(), request: request, openedBy: "ci", plan: plan, createdAt: start)
    }

    static func approve(_ person: String, at offset: TimeInterval = 60) -> Vote {
        Vote(voter: person, decision: .approve, at: start.addingTimeInterval(offset))
    }

    static func reject(_ person: String, comment: String? = nil) -> Vote {
        Vote(voter: person, decision: .reject, comment: comment, at: start.addingTimeInterval(60))
    }

    /// The policy of DESIGN.md 3.3, less the keys later versions add.
    static let policyYAML = """
        version: 1
        people:
          alice: { slack: U01ALICE, github: alice-gh, email: alice@example.com }
          bob: { github: bob-gh }
        groups:
          platform-leads: { members: [alice, bob, carol, dan] }
          finance: { members: [erin] }
        environments:
          staging: { gate: none }
          production:
            channel: C0DEPLOYS
            require: [ { group: platform-leads, count: 2 }, { group: finance, count: 1 } ]
            separation_of_duties: [author, triggerer]
            timeout: 30m
          sandbox:
            timeout: 90s
            on_timeout: approve
            fail_open_reason: sandbox deploys touch no customer data
        default: { require: [ { group: platform-leads, count: 1 } ], timeout: 4h }
        """
}

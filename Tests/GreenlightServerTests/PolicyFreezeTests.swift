import Foundation
import GreenlightAPI
import GreenlightCore
import GreenlightPolicyFile
import GreenlightStore
import Testing

@testable import GreenlightServer

/// Invariant 7: editing the policy never changes who may decide a gate that is already open.
@Suite("Policy frozen per gate")
struct PolicyFreezeTests {
    @Test("after a policy change, an open gate keeps its approvers and its policy hash; new gates get the new policy")
    func frozen() async throws {
        let app = try await TestGreenlight()
        let ci = Principal.pipeline(named: "ci")
        let request = GateRequest(service: "shop", environment: "quick", artifact: "a", commit: "0123abcd")
        let open = try await app.gatekeeper.open(request, by: ci, idempotencyKey: nil).gate

        // The new policy moves carol out of leads and dan in, on the same store (a restart with an edited file).
        let edited = TestGreenlight.policyYAML.replacingOccurrences(of: "members: [alice, bob, carol]", with: "members: [alice, bob, dan]")
        let newPolicy = try PolicyParser(file: "edited.yaml").parse(edited).policy
        #expect(newPolicy.hash != app.gatekeeper.policy.hash)
        let restarted = Gatekeeper(store: app.store, policy: newPolicy, clock: app.clock)
        let dan = Principal.approver("dan")
        let carol = Principal.approver("carol")

        await #expect(throws: APIError.self) { try await restarted.vote(VoteBody(decision: .approve), on: open.id, by: dan) }
        let decided = try await restarted.vote(VoteBody(decision: .approve), on: open.id, by: carol)
        #expect(decided.state == .approved)
        #expect(decided.plan.policyHash == app.gatekeeper.policy.hash)

        let next = try await restarted.open(request, by: ci, idempotencyKey: nil).gate
        #expect(next.plan.policyHash == newPolicy.hash)
        #expect(next.plan.requirements.first?.eligible == ["alice", "bob", "dan"])
    }
}

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
        let ci = AccessToken(name: "ci", kind: .pipeline, createdAt: app.clock.now())
        let request = GateRequest(service: "shop", environment: "quick", artifact: "a", commit: "0123abcd")
        let open = try await app.gatekeeper.open(request, token: ci, idempotencyKey: nil).gate

        // The new policy moves carol out of leads and dan in, on the same store (a restart with an edited file).
        let edited = TestGreenlight.policyYAML.replacingOccurrences(of: "members: [alice, bob, carol]", with: "members: [alice, bob, dan]")
        let newPolicy = try PolicyParser(file: "edited.yaml").parse(edited).policy
        #expect(newPolicy.hash != app.gatekeeper.policy.hash)
        let restarted = Gatekeeper(store: app.store, policy: newPolicy, clock: app.clock)
        let dan = AccessToken(name: "dan", kind: .approver, user: "dan", createdAt: app.clock.now())
        let carol = AccessToken(name: "carol", kind: .approver, user: "carol", createdAt: app.clock.now())

        await #expect(throws: APIError.self) { try await restarted.vote(VoteBody(decision: .approve), on: open.id, token: dan, via: .api) }
        let decided = try await restarted.vote(VoteBody(decision: .approve), on: open.id, token: carol, via: .api)
        #expect(decided.state == .approved)
        #expect(decided.plan.policyHash == app.gatekeeper.policy.hash)

        let next = try await restarted.open(request, token: ci, idempotencyKey: nil).gate
        #expect(next.plan.policyHash == newPolicy.hash)
        #expect(next.plan.requirements.first?.eligible == ["alice", "bob", "dan"])
    }
}

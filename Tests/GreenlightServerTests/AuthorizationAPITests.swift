import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightServer

/// The HTTP side of who may do what: bearer tokens become principals, and the authorizer's refusals become the API's
/// answers.
@Suite("Authorization over HTTP")
struct AuthorizationAPITests {
    @Test("every refusal of the authorizer is 403 with its code; the audit log's refusal keeps the contract's 'forbidden'")
    func translation() {
        let id = GateID.generate()
        let cases: [(AccessRefusal, String)] = [
            (.notAPipeline(.approver("alice")), "out_of_scope"),
            (.outOfScope(pipeline: "ci", scope: .services, allowed: ["shop"], asked: "cart"), "out_of_scope"),
            (.readsNoGates(.auditor(token: "sox"), gate: id), "not_allowed"),
            (.notAPerson(.pipeline(named: "ci"), doing: .vote), "not_an_approver_token"),
            (.notTheOpener(openedBy: "ci"), "not_opener"),
            (.notAnAuditor(.pipeline(named: "ci")), "forbidden"),
            (.unverifiedIdentity(slackUser: "U1", barred: Exclusion(identity: "erin", role: .author)), "unverified_identity"),
        ]
        for (refusal, code) in cases {
            let error = APIError(refusal)
            #expect(error.status == .forbidden)
            #expect(error.code == code)
            #expect(error.message == refusal.description)
        }
    }

    @Test("an approver token that names no person vouches for nobody: 401, and nothing it asks is done")
    func approverWithoutPerson() async throws {
        let app = try await TestGreenlight()
        let secret = TokenSecret.generate()
        try await app.store.createToken(
            AccessToken(name: "nobody", kind: .approver, createdAt: app.clock.now()), secretHash: TokenSecret.hash(secret))
        try await app.test { client in
            try await client.execute(uri: "/v1/policy", method: .get, headers: app.headers(secret)) { response in
                #expect(response.status == .unauthorized)
                #expect(response.error?.message.contains("--user PERSON") == true)
            }
        }
    }

    @Test("the CLI's header makes the vote's channel cli, in the gate and its audit event; without it, api")
    func channel() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            try await client.execute(
                uri: "/v1/gates/\(gate.id)/votes", method: .post, headers: app.headers("carol", [.greenlightClient: "cli"]),
                body: TestGreenlight.body(#"{"decision":"approve"}"#)
            ) { #expect($0.status == .ok) }
        }
        let recorded = try await app.store.auditEvents(AuditQuery(action: AuditAction.voteRecorded.rawValue))
        #expect(recorded.map { $0.details["via"] } == ["cli"])
        #expect(recorded.map(\.actor) == ["carol"])
    }

    @Test("gatekeeper: a pipeline's vote is refused and audited before anything else; a cancel names the pipeline as the decider")
    func gatekeeper() async throws {
        let app = try await TestGreenlight()
        let request = GateRequest(service: "shop", environment: "quick", artifact: "a@sha256:1", commit: "0123abcd")
        let gate = try await app.gatekeeper.open(request, by: .pipeline(named: "ci"), idempotencyKey: nil).gate
        await #expect(throws: AccessRefusal.notAPerson(.pipeline(named: "ci"), doing: .vote)) {
            _ = try await app.gatekeeper.castVote(.approve, comment: nil, on: gate.id, by: .pipeline(named: "ci"))
        }
        let refused = try await app.store.auditEvents(AuditQuery(action: AuditAction.voteRefused.rawValue))
        #expect(refused.map(\.actor) == ["pipeline:ci"])
        #expect(refused.first?.details["via"] == nil, "a pipeline votes through no channel")
        let cancelled = try await app.gatekeeper.cancel(gate.id, reason: nil, by: .pipeline(named: "ci"))
        #expect(cancelled.decidedBy == "pipeline:ci")
    }
}

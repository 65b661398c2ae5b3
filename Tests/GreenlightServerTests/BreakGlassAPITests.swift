import Foundation
import GreenlightAPI
import GreenlightAudit
import GreenlightCore
import GreenlightPolicyFile
import GreenlightStore
import HTTPTypes
import HummingbirdTesting
import Logging
import Testing

@testable import GreenlightServer

@Suite("Break-glass and the policy over HTTP")
struct BreakGlassAPITests {
    static func open(_ app: TestGreenlight, environment: String = "hotfix", commit: String = "0123abcd") async throws -> Gate {
        let ci = Principal.pipeline(named: "ci")
        let request = GateRequest(service: "shop", environment: environment, artifact: "shop@sha256:1", commit: commit)
        return try await app.gatekeeper.open(request, by: ci, idempotencyKey: nil).gate
    }

    @Test("POST /v1/gates/{id}/break-glass: approves for an allowed person with a reason, up to max_per_day")
    func breakGlass() async throws {
        let app = try await TestGreenlight()
        let first = try await Self.open(app)
        let second = try await Self.open(app, commit: "4567abcd")
        let production = try await Self.open(app, environment: "production")
        try await app.test { client in
            let path = "/v1/gates/\(first.id)/break-glass"
            let cases: [(String?, String, HTTPResponse.Status, String)] = [
                ("bob", #"{"reason":"SEV1"}"#, .forbidden, "break_glass_not_allowed"),
                ("carol", #"{"reason":"  "}"#, .unprocessableContent, "reason_required"),
                ("carol", "{}", .unprocessableContent, "reason_required"),
                ("ci", #"{"reason":"SEV1"}"#, .forbidden, "not_an_approver_token"),
                ("carol", #"{"reason":"SEV1","force":true}"#, .badRequest, "unknown_field"),
                (nil, #"{"reason":"SEV1"}"#, .unauthorized, "unauthorized"),
            ]
            for (token, body, status, code) in cases {
                try await client.execute(uri: path, method: .post, headers: app.headers(token), body: TestGreenlight.body(body)) { response in
                    #expect(response.status == status, "\(token ?? "-") \(body)")
                    #expect(String(buffer: response.body).contains(#""error":"\#(code)""#), "\(String(buffer: response.body))")
                }
            }
            try await client.execute(
                uri: path, method: .post, headers: app.headers("carol"), body: TestGreenlight.body(#"{"reason":"SEV1: checkout down"}"#)
            ) {
                response in
                #expect(response.status == .ok)
                let gate = try JSONDecoder().decode(GateResource.self, from: response.body)
                #expect(gate.state == .approved)
                #expect(gate.breakGlass)
                #expect(gate.decidedBy == "carol")
            }
            try await client.execute(
                uri: "/v1/gates/\(second.id)/break-glass", method: .post, headers: app.headers("carol"),
                body: TestGreenlight.body(#"{"reason":"again"}"#)
            ) { response in
                #expect(response.status == .tooManyRequests)
                #expect(String(buffer: response.body).contains("break_glass_limit"))
            }
            try await client.execute(
                uri: "/v1/gates/\(production.id)/break-glass", method: .post, headers: app.headers("carol"),
                body: TestGreenlight.body(#"{"reason":"x"}"#)
            ) { response in
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("break_glass_not_configured"))
            }
        }
        #expect(try await app.store.gate(second.id)?.state == .pending)
        let refused = try await app.store.auditEvents(AuditQuery(action: AuditAction.breakGlassRefused.rawValue))
        #expect(refused.count == 6)  // every refusal but the unauthenticated and the malformed ones
    }

    @Test("GET /v1/policy returns the policy in force and its hash, to any token")
    func policy() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            for token in ["ci", "alice", "auditor"] {
                try await client.execute(uri: "/v1/policy", method: .get, headers: app.headers(token)) { response in
                    #expect(response.status == .ok)
                    let policy = try JSONDecoder().decode(PolicyResource.self, from: response.body)
                    #expect(policy.hash == Policy.hash(of: TestGreenlight.policyYAML))
                    #expect(policy.document == TestGreenlight.policyYAML)
                }
            }
            try await client.execute(uri: "/v1/policy", method: .get, headers: app.headers(nil)) { #expect($0.status == .unauthorized) }
        }
    }

    @Test("the running reloader picks up an edit to the file by itself, without a signal", .timeLimit(.minutes(1)))
    func reloadOnEdit() async throws {
        let app = try await TestGreenlight()
        let path = app.directory.appendingPathComponent("greenlight.yaml").path
        try TestGreenlight.policyYAML.write(toFile: path, atomically: true, encoding: .utf8)
        let (reloads, reloaded) = AsyncStream<String>.makeStream()
        let reloader = PolicyReloader(
            path: path, livePolicy: app.gatekeeper.livePolicy, store: app.store, clock: app.clock, pollInterval: .milliseconds(20),
            logger: Logger(label: "test")
        ) { policy in reloaded.yield(policy.hash) }
        let running = Task { try await reloader.run() }

        let edited = TestGreenlight.policyYAML.replacingOccurrences(of: "members: [alice, bob, carol]", with: "members: [alice, bob, dan]")
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        var next = reloads.makeAsyncIterator()
        #expect(await next.next() == Policy.hash(of: edited), "the first reload is the edit: the unchanged file reloaded nothing")
        #expect(app.gatekeeper.policy.hash == Policy.hash(of: edited))
        // Stopping waits for the check in progress, which audits the reload after putting it in force.
        running.cancel()
        _ = await running.result
        let loaded = try await app.store.auditEvents(AuditQuery(action: AuditAction.policyLoaded.rawValue))
        #expect(loaded.map { $0.details["previous_hash"] } == [Policy.hash(of: TestGreenlight.policyYAML)])
    }

    @Test("an edited policy that validates applies to new gates only; one that does not is refused once, audited, and changes nothing")
    func reload() async throws {
        let app = try await TestGreenlight()
        let path = app.directory.appendingPathComponent("greenlight.yaml").path
        try TestGreenlight.policyYAML.write(toFile: path, atomically: true, encoding: .utf8)
        let reloader = PolicyReloader(
            path: path, livePolicy: app.gatekeeper.livePolicy, store: app.store, clock: app.clock, logger: Logger(label: "test"))
        #expect(await reloader.reload() == .unchanged)

        let open = try await Self.open(app, environment: "production")
        let edited = TestGreenlight.policyYAML.replacingOccurrences(of: "members: [alice, bob, carol]", with: "members: [alice, bob, dan]")
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await reloader.reload() == .loaded(hash: Policy.hash(of: edited)))
        #expect(app.gatekeeper.policy.hash == Policy.hash(of: edited))

        // The open gate keeps its rules: carol still counts on it, dan does not.
        let carol = Principal.approver("carol")
        let dan = Principal.approver("dan")
        await #expect(throws: APIError.self) { try await app.gatekeeper.vote(VoteBody(decision: .approve), on: open.id, by: dan) }
        #expect(try await app.gatekeeper.vote(VoteBody(decision: .approve), on: open.id, by: carol).votes.count == 1)
        // A new gate gets the new rules.
        let reopened = try await Self.open(app, environment: "production", commit: "89abcdef")
        #expect(reopened.plan.policyHash == Policy.hash(of: edited))
        #expect(reopened.plan.approvers.contains("dan"))

        try "default: { require: [ { group: nobody } ] }".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .refused(_, let errors) = await reloader.reload() else {
            Issue.record("an invalid policy must be refused")
            return
        }
        #expect(errors.contains { $0.contains("group 'nobody' does not exist") })
        #expect(app.gatekeeper.policy.hash == Policy.hash(of: edited))
        // The checker reports a refused edit once, not on every poll.
        let checker = PolicyReloader.Checker(reloader: reloader)
        _ = await checker.check()
        #expect(await checker.check() == .unchanged)

        let loaded = try await app.store.auditEvents(AuditQuery(action: AuditAction.policyLoaded.rawValue))
        #expect(loaded.last?.details["previous_hash"] == Policy.hash(of: TestGreenlight.policyYAML))
        let refused = try await app.store.auditEvents(AuditQuery(action: AuditAction.policyRefused.rawValue))
        #expect(refused.count == 2)  // the direct reload, then the checker's first check
        #expect(refused.first?.details["errors"]?.contains("nobody") == true)
    }
}

import Foundation
import GreenlightCore
import GreenlightPolicyFile
import Testing

/// Freezes, break-glass, staged approvals and policy reloads, with the real binary as server and CLI.
@Suite("Policy end to end", .timeLimit(.minutes(2)))
struct PolicyEndToEndTests {
    @Test("a gate opened in a freeze exits 1 at once, saying until when and how to break glass; after a break-glass the re-run passes")
    func frozenThenBreakGlass() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        // With --run-url the CLI derives its idempotency key from the run, as a re-run of the same job would.
        let request = Deployment.requestAndWait("frozen") + ["--run-url", "https://ci.example.com/runs/42"]
        let frozen = try await deployment.run(request, as: "ci")
        #expect(frozen.status == 1, "\(frozen.output)")
        #expect(frozen.stdout.contains("frozen:maintenance"))
        #expect(frozen.stdout.contains("until 2100-01-01T00:00:00.000Z"))
        let id = try #require(Deployment.gateID(in: frozen.stdout))
        #expect(frozen.stdout.contains("greenlight break-glass \(id) --reason"))

        // Not without a reason, and not for someone the policy does not allow (dan is not a lead).
        #expect(try await deployment.run(["break-glass", id, "--reason", " "], as: "alice").status == 64)
        let refused = try await deployment.run(["break-glass", id, "--reason", "SEV1"], as: "dan")
        #expect(refused.status == 77, "\(refused.output)")
        #expect(refused.stderr.contains("may not break glass"))

        let broken = try await deployment.run(["break-glass", id, "--reason", "SEV1: checkout is down"], as: "alice")
        #expect(broken.status == 0, "\(broken.output)")
        #expect(broken.stdout.contains("Re-run the pipeline step"))

        let retried = try await deployment.run(request, as: "ci")
        #expect(retried.status == 0, "\(retried.output)")
        #expect(retried.stdout.contains("break-glass by alice"))
        #expect(retried.stdout.contains("SEV1: checkout is down"))

        let review = try await deployment.audit(["query", "--break-glass"])
        #expect(review.status == 0, "\(review.output)")
        let lines = review.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(review.stdout)")  // the break-glass on the frozen gate, and the approval it let through
        #expect(lines.allSatisfy { $0.contains(#""actor":"alice""#) && $0.contains("gate.break_glass") })
        let refusals = try await deployment.audit(["query", "--action", "break_glass.refused"])
        #expect(refusals.stdout.split(separator: "\n").count == 1, "the refused attempt by dan is evidence too: \(refusals.stdout)")
    }

    @Test("a two-stage gate asks finance only after a platform lead, then approves")
    func twoStages() async throws {
        let deployment = try await Deployment()
        try await deployment.start()
        let request = try deployment.cli(Deployment.requestAndWait("costly"), as: "ci")
        let id = try #require(Deployment.gateID(in: await request.line(containing: "waiting for gate")))

        let early = try await deployment.run(["approve", id], as: "dan")
        #expect(early.status == 64, "\(early.output)")
        #expect(early.stderr.contains("approves in stage 'finance', which opens once stage 'platform' is met"))

        let platform = try await deployment.run(["approve", id], as: "alice")
        #expect(platform.status == 0, "\(platform.output)")
        #expect(platform.stdout.contains("still needs 1 of 1 from finance, in stage 2 of 2 (finance)"), "\(platform.output)")

        #expect(try await deployment.run(["approve", id], as: "dan").status == 0)
        let result = await request.finished()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("approved by dan"))
    }

    @Test("SIGHUP reloads an edited policy for new gates; an open gate keeps its rules; an invalid edit is refused")
    func reload() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start(logLevel: "notice")
        let open = try await deployment.open(environment: "production")
        #expect(open.requirements.first?.eligible.sorted() == ["alice", "bob", "carol"])

        let edited = Deployment.policy.replacingOccurrences(
            of: "leads: { members: [alice, bob, carol] }", with: "leads: { members: [alice, bob, dan] }")
        try edited.write(toFile: deployment.config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "new gates open under sha256 \(Policy.hash(of: edited).prefix(12))") != nil)

        // The open gate: carol still counts, dan does not.
        #expect(try await deployment.run(["approve", open.id], as: "dan").status == 77)
        #expect(try await deployment.run(["approve", open.id], as: "carol").status == 0)
        // A new gate: dan counts.
        let reopened = try await deployment.open(environment: "production")
        #expect(reopened.policyHash == Policy.hash(of: edited))
        #expect(reopened.requirements.first?.eligible.sorted() == ["alice", "bob", "dan"])

        try "default: { require: [ { group: nobody } ] }\n".write(toFile: deployment.config, atomically: true, encoding: .utf8)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "does not validate") != nil)
        let after = try await deployment.open(environment: "production")
        #expect(after.policyHash == Policy.hash(of: edited))

        let audit = try await deployment.audit(["query", "--action", "policy.refused"])
        #expect(audit.stdout.contains("group 'nobody' does not exist"), "\(audit.output)")
    }
}

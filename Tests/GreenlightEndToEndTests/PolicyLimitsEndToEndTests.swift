import Foundation
import GreenlightCore
import Testing

/// Hostile input against the real binary (issue 16). Serialized, so that its processes start one test at a time rather
/// than all at once beside the other suites.
@Suite("Policy limits end to end", .serialized, .timeLimit(.minutes(2)))
struct PolicyLimitsEndToEndTests {
    @Test("--max-wait is at most 365 days: a number past it is a usage error (64), not a trap")
    func maxWait() async throws {
        let unreachable = ["GREENLIGHT_SERVER": "http://127.0.0.1:\(try FreePort.find())", "GREENLIGHT_TOKEN": "x"]
        for value in ["1e300", "inf", "366d", "31536001"] {
            let waited = try await RunningCommand(["wait", "g_aaaaaaaaaaaaaaaaaaaa", "--max-wait", value], environment: unreachable).finished()
            #expect(waited.status == 64, "\(value): \(waited.output)")
            #expect(waited.stderr.contains("'\(value)' is invalid for '--max-wait <duration>'"), "\(waited.output)")
        }
    }

    @Test("SIGHUP to a server started without --config is logged and changes nothing; the server keeps serving")
    func hangupWithoutConfig() async throws {
        let deployment = try await Deployment()
        let server = try RunningCommand(["serve", "--database", deployment.database, "--port", "\(deployment.port)", "--log-level", "info"])
        deployment.server = server
        #expect(await server.line(containing: "listening on") != nil)
        // Logged once the handler is installed: from then on a SIGHUP cannot be missed (nor, before it, end the server).
        #expect(await server.line(containing: "SIGHUP has nothing to reload") != nil)
        server.signal(SIGHUP)
        #expect(await server.line(containing: "SIGHUP: there is no policy file to reload") != nil)
        let gate = try await deployment.open(environment: "production")
        #expect(gate.policyHash == BuiltInPolicy.policy.hash)
        server.signal(SIGTERM)
        let finished = await server.finished()
        #expect(finished.status == 0, "\(finished.output)")
    }
}

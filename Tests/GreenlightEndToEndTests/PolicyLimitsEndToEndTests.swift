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
}

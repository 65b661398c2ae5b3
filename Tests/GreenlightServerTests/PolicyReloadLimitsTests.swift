import Foundation
import GreenlightAPI
import GreenlightAudit
import GreenlightCore
import GreenlightPolicyFile
import GreenlightStore
import Logging
import Synchronization
import Testing

@testable import GreenlightServer

/// Reloads of hostile or broken edits (issue 16): each is refused without harm to the running server, which keeps
/// serving the policy in force, and each distinct failure is logged and audited once. Serialized, as the limits' other
/// suites: reading the hostile edits is CPU-bound.
@Suite("Policy reload under hostile edits", .serialized, .timeLimit(.minutes(1)))
struct PolicyReloadLimitsTests {
    /// Log messages at warning and above, for checking what an operator is told.
    final class RecordedLog: Sendable {
        private let messages = Mutex<[(Logger.Level, String)]>([])

        var logger: Logger {
            Logger(label: "test") { _ in Handler(recorder: self) }
        }

        func lines(at level: Logger.Level) -> [String] {
            messages.withLock { $0.filter { $0.0 == level }.map(\.1) }
        }

        struct Handler: LogHandler {
            let recorder: RecordedLog
            var logLevel: Logger.Level = .info
            var metadata: Logger.Metadata = [:]

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(
                level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String,
                line: UInt
            ) {
                recorder.messages.withLock { $0.append((level, message.description)) }
            }
        }
    }

    static func setUp() async throws -> (app: TestGreenlight, path: String, reloader: PolicyReloader, log: RecordedLog) {
        let app = try await TestGreenlight()
        let path = app.directory.appendingPathComponent("greenlight.yaml").path
        try TestGreenlight.policyYAML.write(toFile: path, atomically: true, encoding: .utf8)
        let log = RecordedLog()
        let reloader = PolicyReloader(path: path, livePolicy: app.gatekeeper.livePolicy, store: app.store, clock: app.clock, logger: log.logger)
        return (app, path, reloader, log)
    }

    static func refusals(_ app: TestGreenlight) async throws -> [AuditEvent] {
        try await app.store.auditEvents(AuditQuery(action: AuditAction.policyRefused.rawValue))
    }

    @Test(
        "an edit with a duration past 365 days or an alias bomb is refused; the server goes on with the policy in force",
        arguments: [
            (
                "  hostile: { require: [ { group: leads, count: 1 } ], timeout: 60s, remind: { before_deadline: 99999999999999999999s } }",
                "longer than 365d"
            ),
            ("  hostile: { require: [ { group: leads, count: 1 } ], timeout: 200000000000d }", "longer than 365d"),
            (PolicyReloadLimitsTests.aliasBombEnvironment, "YAML nodes once its aliases"),
        ])
    func hostileEdit(environment: String, message: String) async throws {
        let (app, path, reloader, _) = try await Self.setUp()
        let inForce = app.gatekeeper.policy.hash
        // A new environment beside the others, so that the edit does not depend on how they are written.
        let edited = TestGreenlight.policyYAML.replacingOccurrences(
            of: "  staging: { gate: none }", with: "  staging: { gate: none }\n" + environment)
        #expect(edited != TestGreenlight.policyYAML)
        try edited.write(toFile: path, atomically: true, encoding: .utf8)

        guard case .refused(let hash, let errors) = await reloader.reload() else {
            Issue.record("the edit must be refused")
            return
        }
        #expect(hash == Policy.hash(of: edited))
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains(message) == true, "\(errors)")
        #expect(app.gatekeeper.policy.hash == inForce)
        // Still serving: a gate opens under the policy in force, and decides as it says.
        let ci = Principal.pipeline(named: "ci")
        let gate = try await app.gatekeeper.open(
            GateRequest(service: "shop", environment: "quick", artifact: "shop@sha256:1", commit: "0123abcd"), by: ci, idempotencyKey: nil
        ).gate
        #expect(gate.plan.policyHash == inForce)
        #expect(gate.deadline == app.clock.now().addingTimeInterval(60))

        let refused = try await Self.refusals(app)
        #expect(refused.count == 1)
        #expect(refused.first?.details["reason"] == "invalid")
        #expect(refused.first?.details["policy_hash"] == inForce)
        #expect(refused.first?.details["errors"]?.contains(message) == true)
    }

    /// An environment whose `require` is ten levels of ten aliases: 10¹⁰ approval rules once expanded.
    static let aliasBombEnvironment: String = {
        var lines = ["  hostile:", "    timeout: 60s", "    x-anchors:", "      - &r0 { group: leads, count: 1 }"]
        for level in 1...10 {
            lines.append("      - &r\(level) [ \(Array(repeating: "*r\(level - 1)", count: 10).joined(separator: ", ")) ]")
        }
        lines.append("    require: *r10")
        return lines.joined(separator: "\n")
    }()

    @Test("a refused edit with thousands of errors logs and audits the first 50 and how many more")
    func manyErrors() async throws {
        let (app, path, reloader, log) = try await Self.setUp()
        let unknown = (0..<3_000).map { "    colour\($0): blue" }.joined(separator: "\n")
        let edited = TestGreenlight.policyYAML.replacingOccurrences(
            of: "  staging: { gate: none }", with: "  staging: { gate: none }\n  noisy:\n" + unknown)
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .refused(_, let errors) = await reloader.reload() else {
            Issue.record("the edit must be refused")
            return
        }
        #expect(errors.count == PolicyLimits.maximumDiagnostics + 1)
        #expect(errors.last?.hasSuffix("error: … and 2950 more errors not shown; fix the ones above first") == true, "\(errors.suffix(2))")
        let logged = try #require(log.lines(at: .error).first)
        #expect(logged.split(separator: "\n").count == PolicyLimits.maximumDiagnostics + 2)  // the headline, 50 errors, the count
        let audited = try #require(try await Self.refusals(app).first?.details["errors"])
        #expect(audited.split(separator: "\n").count == PolicyLimits.maximumDiagnostics + 1)
        #expect(audited.hasSuffix("more errors not shown; fix the ones above first"))
    }

    @Test("a deleted policy file keeps the policy in force, with one warning and one policy.refused event per failure")
    func deletedFile() async throws {
        let (app, path, reloader, log) = try await Self.setUp()
        let inForce = app.gatekeeper.policy.hash
        let checker = PolicyReloader.Checker(reloader: reloader)
        try FileManager.default.removeItem(atPath: path)

        guard case .unreadable(let reason) = await checker.check() else {
            Issue.record("a missing file cannot be read")
            return
        }
        #expect(reason == "cannot read the policy file \(path): No such file or directory")
        #expect(await checker.check() == .unchanged, "the same failure is reported once, not on every poll")
        #expect(app.gatekeeper.policy.hash == inForce)
        #expect(log.lines(at: .warning) == ["\(reason); the policy in force (sha256 \(inForce.prefix(12))) stays"])
        var refused = try await Self.refusals(app)
        #expect(refused.count == 1)
        #expect(refused.first?.details == ["source": path, "reason": "unreadable", "policy_hash": inForce, "errors": reason])

        // Back as it was: nothing to load. Deleted again: a new failure, reported again.
        try TestGreenlight.policyYAML.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await checker.check() == .unchanged)
        try FileManager.default.removeItem(atPath: path)
        #expect(await checker.check() == .unreadable(reason))
        refused = try await Self.refusals(app)
        #expect(refused.count == 2)
        // A file that cannot be read for another reason is a distinct failure.
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        #expect(await checker.check() == .unreadable("cannot read the policy file \(path): Is a directory"))
        #expect(try await Self.refusals(app).count == 3)
        #expect(log.lines(at: .warning).count == 3)
    }

    @Test("a policy file over 4 MiB is refused without being read to the end")
    func hugeFile() async throws {
        let (app, path, reloader, _) = try await Self.setUp()
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(PolicyLimits.maximumDocumentBytes) * 4)
        try handle.close()
        #expect(await reloader.reload() == .unreadable("the policy file \(path) is larger than 4194304 bytes (4 MiB), the most a policy may be"))
        #expect(try await Self.refusals(app).first?.details["reason"] == "unreadable")
    }

    @Test("a gate under the longest timeout a policy may write opens, with its timers, and decides")
    func longestTimeout() async throws {
        let (app, path, reloader, _) = try await Self.setUp()
        let edited = TestGreenlight.policyYAML.replacingOccurrences(
            of: "  staging: { gate: none }",
            with: """
                  staging: { gate: none }
                  yearly:
                    require: [ { group: leads, count: 1 } ]
                    timeout: 365d
                    remind: { before_deadline: 364d }
                    escalate: { after: 8760h, to: [group: sre] }
                """)
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await reloader.reload() == .loaded(hash: Policy.hash(of: edited)))
        let ci = Principal.pipeline(named: "ci")
        let gate = try await app.gatekeeper.open(
            GateRequest(service: "shop", environment: "yearly", artifact: "shop@sha256:1", commit: "0123abcd"), by: ci, idempotencyKey: nil
        ).gate
        let year = app.clock.now().addingTimeInterval(365 * 86_400)
        #expect(gate.deadline == year)
        #expect(gate.nextReminderAt == app.clock.now().addingTimeInterval(86_400))
        #expect(try await app.store.nextDeadline() == year)
        let alice = Principal.approver("alice")
        let decided = try await app.gatekeeper.vote(VoteBody(decision: .approve), on: gate.id, by: alice)
        #expect(decided.state == .approved)
    }
}

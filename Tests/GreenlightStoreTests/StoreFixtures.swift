import Foundation
import GreenlightCore

@testable import GreenlightSQLite
@testable import GreenlightStore

/// A store in a fresh temporary directory, removed when the test ends.
final class TemporaryStore: Sendable {
    let directory: URL
    let path: String
    let store: SQLiteGateStore
    /// The rules over the store: every change of a gate goes through here.
    let ledger: GateLedger

    /// - Parameters:
    ///   - outbox: the outbound work changes enqueue (``OutboxKind/slack`` as when Slack is set up).
    ///   - walSizeLimit: the write-ahead log's size past which the store restarts it.
    init(outbox: Set<OutboxKind> = [], walSizeLimit: Int = WALCheckpointer.defaultSizeLimit) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("greenlight.db").path
        store = try SQLiteGateStore(path: path, create: true, walSizeLimit: walSizeLimit)
        ledger = GateLedger(store: store, outbox: outbox)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

enum StoreFixtures {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func gate(
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

    static func vote(_ person: String, _ decision: VoteDecision = .approve, offset: TimeInterval = 10) -> Vote {
        Vote(voter: person, decision: decision, at: start.addingTimeInterval(offset))
    }
}

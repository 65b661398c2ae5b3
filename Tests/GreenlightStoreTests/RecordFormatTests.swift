import Crypto
import Foundation
import GRDB
import GreenlightCore
import GreenlightTestSupport
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// The stored format is Greenlight's own (record format 2), and databases written before it migrate forward.
@Suite("Stored record format")
struct RecordFormatTests {
    /// Gates of every shape a plan takes: staged with timers, break-glass, frozen (an instant in the plan), and one
    /// whose plan predates stages (`requirements` only).
    static func gates() -> [Gate] {
        let start = StoreFixtures.start
        var staged = StoreFixtures.gate(members: ["alice", "bob"], count: 1, channel: "C0DEPLOYS")
        staged.plan.stages.append(
            PlanStage(
                name: "finance", requirements: [ApprovalRequirement(group: "finance", count: 1, eligible: ["fay"])], timeout: .init(seconds: 600)))
        staged.plan.reminder = Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 900), mention: ["leads"])
        staged.plan.escalation = Policy.Escalation(after: PolicyDuration(seconds: 1_200), to: ["sre"])
        staged.plan.failOpenReason = "quiet hours"
        staged.plan.exclusions = [Exclusion(identity: "erin", role: .author), Exclusion(identity: "dave", role: .triggerer)]
        staged.request.baseCommit = "fedcba98"
        staged.request.costDeltaMonthly = 12.5
        staged.request.changedPaths = ["infra/main.tf", "https://example.com/a/b"]
        staged = Gate(id: staged.id, request: staged.request, openedBy: "ci", plan: staged.plan, createdAt: start)
        var broken = StoreFixtures.gate(commit: "1111111122222222")
        broken.plan.breakGlass = PlanBreakGlass(groups: ["sre-admins"], eligible: ["dan"], maxPerDay: 2)
        broken = Gate(id: broken.id, request: broken.request, openedBy: "ci", plan: broken.plan, createdAt: start.addingTimeInterval(1))
        var frozen = StoreFixtures.gate(commit: "3333333344444444")
        frozen.plan.frozen = ActiveFreeze(name: "holidays", endsAt: start.addingTimeInterval(86_400 * 10))
        frozen = Gate(id: frozen.id, request: frozen.request, openedBy: "ci", plan: frozen.plan, createdAt: start.addingTimeInterval(2))
        return [staged, broken, frozen]
    }

    @Test("a database written by schema v5 (the domain's JSON, instants since 2001) reads every gate back unchanged")
    func migratesForward() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-format-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.db").path
        var gates = Self.gates()
        gates[0].votes = [Vote(voter: "alice", decision: .approve, comment: "ok", at: StoreFixtures.start.addingTimeInterval(30), via: .slack)]
        gates[0].version = 2
        let written = gates
        // As v5 wrote them: JSONEncoder's defaults (the domain's Codable, `Date` as seconds since 2001), sorted keys.
        let legacy = JSONEncoder()
        legacy.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let queue = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(queue, upTo: "v5: audit hashes cover the stored millisecond")
        try await queue.write { db in
            for (index, gate) in written.enumerated() {
                let request = String(decoding: try legacy.encode(gate.request), as: UTF8.self)
                var plan = String(decoding: try legacy.encode(LegacyPlan(plan: gate.plan)), as: UTF8.self)
                if index == 1 {
                    // A plan written before stages: its one stage's requirements at the top.
                    var object = try JSONSerialization.jsonObject(with: Data(plan.utf8)) as! [String: Any]
                    object["requirements"] = (object["stages"] as! [[String: Any]])[0]["requirements"]
                    object["stages"] = nil
                    plan = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
                }
                let fingerprint = SHA256.hash(data: Data(request.utf8)).hexEncoded
                try db.execute(
                    sql: """
                        INSERT INTO gate (id, state, outcome, service, environment, opened_by, created_at, deadline, decided_at, decided_by,
                                          reason, fail_open, break_glass, version, request, plan, idempotency_key, request_fingerprint)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        gate.id.rawValue, gate.state.rawValue, gate.outcome?.rawValue, gate.request.service, gate.request.environment,
                        gate.openedBy, Timestamp.milliseconds(gate.createdAt), gate.deadline.map(Timestamp.milliseconds),
                        gate.decidedAt.map(Timestamp.milliseconds), gate.decidedBy, gate.reason, gate.failOpen, gate.breakGlass, gate.version,
                        request, plan, "run:\(index)", fingerprint,
                    ])
                // What a Slack-enabled server left: a posted card, its pending update, and a reminder due.
                if index == 0 {
                    try db.execute(
                        sql: "INSERT INTO slack_card (gate_id, channel, ts) VALUES (?, 'C0DEPLOYS', '1700000000.000100')",
                        arguments: [gate.id.rawValue])
                    try db.execute(
                        sql: "INSERT INTO outbox (gate_id, kind, due_at) VALUES (?, 'slack.card', 1), (?, 'slack.remind', 2)",
                        arguments: [gate.id.rawValue, gate.id.rawValue])
                }
                for vote in gate.votes {
                    try db.execute(
                        sql: "INSERT INTO vote (gate_id, voter, decision, comment, at, via) VALUES (?, ?, ?, ?, ?, ?)",
                        arguments: [
                            gate.id.rawValue, vote.voter, vote.decision.rawValue, vote.comment, Timestamp.milliseconds(vote.at), vote.via.rawValue,
                        ])
                }
            }
        }
        try queue.close()

        let store = try SQLiteGateStore(path: path)
        for gate in gates {
            #expect(try await store.gate(gate.id) == gate)
        }
        // Rewritten in format 2: instants as milliseconds since 1970, durations in seconds.
        let frozenID = gates[2].id.rawValue
        let plan = try #require(
            try await store.pool.read { db in try String.fetchOne(db, sql: "SELECT plan FROM gate WHERE id = ?", arguments: [frozenID]) })
        #expect(plan.contains(#""ends_at":\#(Timestamp.milliseconds(gates[2].plan.frozen!.endsAt))"#), "\(plan)")
        // The outbox (v7) names each item's channel, and the posted card became Slack's delivery receipt.
        let slackItems = try await store.dueOutboxItems(OutboxSelection(channel: .slack, kinds: nil), at: Date(), limit: 10)
        #expect(slackItems.map(\.kind.rawValue) == ["slack.card", "slack.remind"])
        let receipt = try #require(try await store.deliveryReceipt(for: gates[0].id, on: .slack))
        #expect(
            try JSONDecoder().decode([String: String].self, from: Data(receipt.value.utf8)) == ["channel": "C0DEPLOYS", "ts": "1700000000.000100"])
        // A pipeline retrying with its key after the upgrade gets its gate back, not a refusal for a different request.
        let ledger = GateLedger(store: store)
        let retried = try await ledger.open(
            Gate(id: .generate(), request: gates[1].request, openedBy: "ci", plan: gates[1].plan, createdAt: Date()), idempotencyKey: "run:1")
        #expect(retried == .replayed(gates[1]))
    }

    @Test(
        "a gate of a record format, state or outcome this version does not know is an error, never read as pending",
        arguments: [
            "UPDATE gate SET record_format = 3", "UPDATE gate SET outcome = 'maybe'",
        ])
    func unknownIsAnError(_ edit: String) async throws {
        let fixture = try TemporaryStore()
        let gate = try await fixture.ledger.open(StoreFixtures.gate(), idempotencyKey: nil).gate
        try await fixture.store.pool.write { db in try db.execute(sql: edit) }
        StoredGateRow.forget(gate.id)
        await #expect { try await fixture.store.gate(gate.id) } throws: { error in
            guard case StoreError.corruptRow(let what) = error else { return false }
            return what.contains(gate.id.rawValue)
        }
    }

    @Test("a plan with every field set survives its stored record unchanged (invariant 7: the rules frozen are the rules kept)")
    func planRoundTrip() throws {
        var plan = Self.gates()[0].plan
        plan.breakGlass = PlanBreakGlass(groups: ["oncall"], eligible: ["olga"], maxPerDay: 2)
        plan.frozen = ActiveFreeze(name: "year-end", endsAt: Date(timeIntervalSince1970: 1_800_000_000))
        plan.onTimeout = .approve
        plan.notify.append(NotificationTarget(channel: NotificationChannel("email"), address: "deploys@example.com"))
        let json = try StoredFormat.json(StoredPlan(plan))
        #expect(try StoredFormat.decode(StoredPlan.self, json, what: "the plan").plan() == plan)
    }

    @Test("a vote arrived through a channel this version does not know is an error, never read as another")
    func unknownChannelIsAnError() async throws {
        let fixture = try TemporaryStore()
        let gate = try await fixture.ledger.open(StoreFixtures.gate(), idempotencyKey: nil).gate
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        #expect(try await fixture.store.gate(gate.id)?.votes.map(\.via) == [.api])
        try await fixture.store.pool.write { db in try db.execute(sql: "UPDATE vote SET via = 'carrier-pigeon'") }
        await #expect { try await fixture.store.gate(gate.id) } throws: { error in
            guard case StoreError.corruptRow(let what) = error else { return false }
            return what.contains(gate.id.rawValue) && what.contains("carrier-pigeon")
        }
    }

    @Test("instants in stored JSON are integer milliseconds since 1970; anything else is refused")
    func instants() throws {
        let freeze = StoredPlan.Freeze(name: "holidays", endsAt: Date(timeIntervalSince1970: 1_800_000_000.123))
        let json = String(decoding: try StoredFormat.encoder.encode(freeze), as: UTF8.self)
        #expect(json == #"{"ends_at":1800000000123,"name":"holidays"}"#)
        #expect(try StoredFormat.decoder.decode(StoredPlan.Freeze.self, from: Data(json.utf8)) == freeze)
        #expect(throws: (any Error).self) {
            try StoredFormat.decoder.decode(StoredPlan.Freeze.self, from: Data(#"{"ends_at":"soon","name":"x"}"#.utf8))
        }
    }
}

/// A plan as schema v5 stored it: the domain's synthesized JSON of the time (camelCase keys, the Slack channel as
/// `channel`, durations in the policy's form, instants as `Date`'s default of seconds since 2001).
private struct LegacyPlan: Encodable {
    let plan: GatePlan

    enum CodingKeys: String, CodingKey {
        case gated, rule, tier, stages, exclusions, timeout, onTimeout, failOpenReason, channel, policyHash, reminder, escalation
        case breakGlass, frozen
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(plan.gated, forKey: .gated)
        try container.encode(plan.rule, forKey: .rule)
        try container.encode(plan.tier, forKey: .tier)
        try container.encode(plan.stages, forKey: .stages)
        try container.encode(plan.exclusions, forKey: .exclusions)
        try container.encode(plan.timeout, forKey: .timeout)
        try container.encode(plan.onTimeout, forKey: .onTimeout)
        try container.encodeIfPresent(plan.failOpenReason, forKey: .failOpenReason)
        try container.encodeIfPresent(plan.channel, forKey: .channel)
        try container.encode(plan.policyHash, forKey: .policyHash)
        try container.encodeIfPresent(plan.reminder, forKey: .reminder)
        try container.encodeIfPresent(plan.escalation, forKey: .escalation)
        try container.encodeIfPresent(plan.breakGlass, forKey: .breakGlass)
        try container.encodeIfPresent(plan.frozen, forKey: .frozen)
    }
}

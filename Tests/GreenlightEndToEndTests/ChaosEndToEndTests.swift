import Foundation
import GreenlightAPI
import GreenlightSlackSimulator
import Synchronization
import Testing

/// Three replicas under load while random ones are killed with SIGKILL and restarted, and PostgreSQL itself is
/// restarted (once by default); then the evidence is checked. Run by `scripts/chaos` (and, short, by `scripts/test`) on a cluster
/// of its own, since it restarts it: `GREENLIGHT_CHAOS_POSTGRES_DIR` names the cluster's directory
/// (scripts/postgres-throwaway), `GREENLIGHT_CHAOS_KILLS` how many kills (default 4), `GREENLIGHT_CHAOS_RESTARTS` how
/// many database restarts among them (default 1, at most one per kill).
@Suite(
    "Chaos: replicas killed under load", .timeLimit(.minutes(30)),
    .enabled(if: ChaosRun.postgresDirectory != nil && PostgresDatabase.server != nil, "GREENLIGHT_CHAOS_POSTGRES_DIR names no cluster"))
struct ChaosEndToEndTests {
    @Test("after the kills and a database restart: each gate decided once, no acknowledged vote lost, timers and cards once, the chain intact")
    func killsUnderLoad() async throws {
        let kills = ChaosRun.kills
        let slack = SlackSimulator()
        let slackURL = try await slack.start()
        defer { slack.stop() }
        let database = try await PostgresDatabase.create()
        let deployment = try await Deployment(database: database)
        let replicas = try await Replicas(
            deployment, count: 3, environment: ["SLACK_BOT_TOKEN": slack.botToken, "GREENLIGHT_SLACK_API_URL": slackURL])
        defer { replicas.stop() }
        let run = ChaosRun()

        // The load: pipelines opening gates on random replicas, and alice then bob approving each on random replicas,
        // alice's vote sent twice; gates that time out beside them. What a replica acknowledged is written down.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    while !run.isOver {
                        if let quick = try await replicas.open(in: "quick", on: Int.random(in: 0..<3)) { run.opened(quick, timingOut: true) }
                        guard let id = try await replicas.open(in: "production", on: Int.random(in: 0..<3)) else { continue }
                        run.opened(id, timingOut: false)
                        for person in ["alice", "alice", "bob"] {
                            let vote = try await replicas.cli(["approve", id], as: person, on: Int.random(in: 0..<3)).finished()
                            if vote.status == 0 { run.acknowledged(person, on: id) }
                        }
                    }
                }
            }
            group.addTask {
                defer { run.end() }
                for kill in 0..<kills {
                    // Paced, so that load runs between the kills: a kill lands on whatever is under way.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 300...1_200)))
                    let victim = Int.random(in: 0..<3)
                    await replicas.kill(victim)
                    let restarting = ChaosRun.restartsDatabase(at: kill)
                    if restarting { try await ChaosRun.restartPostgres() }
                    try await replicas.start(victim)
                    run.killed()
                    print("chaos: kill \(kill + 1) of \(kills): replica \(victim) restarted\(restarting ? ", after the database" : "")")
                }
            }
            try await group.waitForAll()
        }

        // Settling: a gate whose votes every replica missed is approved now, by carol and dan's peers, on replica 0.
        // The first gate that does not settle ends the run with every replica's log: the rest would only wait as long.
        let gates = run.gates
        settling: for id in gates.filter({ !$0.timingOut }).map(\.id) {
            var refused: [String] = []
            for person in ["alice", "bob", "carol"] {
                // Retried while the replica answers 503 (exit 69), as a person would: a replica may still be finding
                // its database again after the restart.
                var vote = try await replicas.cli(["approve", id], as: person, on: 0).finished()
                let giveUp = ContinuousClock.now + .seconds(90)
                while vote.status == 69, ContinuousClock.now < giveUp {
                    try await Task.sleep(for: .seconds(1))
                    vote = try await replicas.cli(["approve", id], as: person, on: 0).finished()
                }
                if vote.status == 0 { run.acknowledged(person, on: id) } else { refused.append("\(person): \(vote.output)") }
            }
            let waited = try await replicas.cli(["wait", id, "--max-wait", "60s"], as: "ci", on: 1).finished()
            if waited.status != 0 {
                Issue.record("\(id) not approved: \(waited.output)\nvotes refused: \(refused)\nthe replicas' logs:\n\(replicas.logs)")
                break settling
            }
        }
        for id in gates.filter(\.timingOut).map(\.id) {
            let waited = try await replicas.cli(["wait", id, "--max-wait", "60s"], as: "ci", on: 2).finished()
            if waited.status != 2 {
                Issue.record("\(id) did not time out: \(waited.output)\nthe replicas' logs:\n\(replicas.logs)")
                break
            }
        }

        let audit = try await deployment.audit(["query", "--limit", "1000000"])
        #expect(audit.status == 0, "\(audit.output)")
        let events = try audit.stdout.split(separator: "\n").map {
            try JSONDecoder().decode(ReplicaEndToEndTests.AuditLine.self, from: Data($0.utf8))
        }
        var decided: [String: Int] = [:]
        var votes: [String: Int] = [:]
        for event in events {
            if event.action == "gate.decided", let gate = event.gate_id { decided[gate, default: 0] += 1 }
            if event.action == "vote.recorded", let gate = event.gate_id { votes["\(gate) \(event.actor)", default: 0] += 1 }
        }
        for gate in gates { #expect(decided[gate.id] == 1, "\(gate.id) decided \(decided[gate.id] ?? 0) times") }
        for ack in run.acknowledgements { #expect(votes["\(ack.gate) \(ack.person)"] == 1, "\(ack.person)'s acknowledged vote on \(ack.gate)") }
        #expect(votes.values.allSatisfy { $0 == 1 }, "a vote recorded twice")
        for gate in gates.filter({ !$0.timingOut }) {
            let count = ["alice", "bob", "carol"].filter { votes["\(gate.id) \($0)"] == 1 }.count
            #expect(count == 2, "\(gate.id) approved with exactly its quorum of 2, not \(count)")
        }
        #expect(Set(events.map(\.sequence)).count == events.count, "no audit sequence twice")

        // Every card posted; a card posted twice can only be one whose replica was killed between Slack's answer and
        // the record of it (Slack's chat.postMessage takes no idempotency key), so at most one per kill.
        @Sendable func cards(_ calls: [SlackSimulator.Call]) -> [String] {
            calls.filter { $0.arguments["thread_ts"] == nil }.map {
                String(decoding: (try? JSONEncoder().encode($0.arguments)) ?? Data(), as: UTF8.self)
            }
        }
        // Awaited gate by gate: a count of calls would be reached early by a card posted twice.
        let ids = gates.map(\.id)
        await slack.waitForCalls(to: "chat.postMessage") { calls in
            let posted = cards(calls)
            return ids.allSatisfy { id in posted.contains { $0.contains(id) } }
        }
        let posted = cards(slack.calls(to: "chat.postMessage"))
        let duplicates = gates.map { gate in posted.filter { $0.contains(gate.id) }.count }.filter { $0 > 1 }.map { $0 - 1 }.reduce(0, +)
        for gate in gates { #expect(posted.contains { $0.contains(gate.id) }, "\(gate.id)'s card was posted") }
        #expect(duplicates <= kills, "\(duplicates) duplicate cards for \(kills) kills")

        let verified = try await deployment.audit(["verify"])
        #expect(verified.status == 0, "\(verified.output)")
        print(
            "chaos: \(run.kills) kills, \(ChaosRun.restarts) database restarts, \(gates.count) gates (\(gates.filter(\.timingOut).count) timed out), "
                + "\(run.acknowledgements.count) acknowledged votes, \(events.count) audit events, \(posted.count) cards posted "
                + "(\(duplicates) twice), \(replicas.logs.components(separatedBy: "said nothing for").count - 1) silent connections closed")
    }
}

/// What one chaos run did: the gates it opened and the votes replicas acknowledged.
final class ChaosRun: Sendable {
    static let postgresDirectory = ProcessInfo.processInfo.environment["GREENLIGHT_CHAOS_POSTGRES_DIR"].flatMap { $0.isEmpty ? nil : $0 }
    static let kills = ProcessInfo.processInfo.environment["GREENLIGHT_CHAOS_KILLS"].flatMap { Int($0) }.map { max(1, min($0, 10_000)) } ?? 4
    static let restarts = ProcessInfo.processInfo.environment["GREENLIGHT_CHAOS_RESTARTS"].flatMap { Int($0) }.map { max(0, min($0, kills)) } ?? 1

    /// Whether the database restarts with kill `kill` (from 0): ``restarts`` of them, spread evenly, the first halfway
    /// through the first share.
    static func restartsDatabase(at kill: Int) -> Bool {
        restarts > 0 && (kill * restarts + kills / 2) % kills < restarts
    }

    struct OpenedGate: Sendable {
        var id: String
        var timingOut: Bool
    }

    struct Acknowledgement: Sendable, Hashable {
        var person: String
        var gate: String
    }

    private struct State {
        var gates: [OpenedGate] = []
        var acknowledgements: Set<Acknowledgement> = []
        var kills = 0
        var over = false
    }

    private let state = Mutex(State())

    func opened(_ id: String, timingOut: Bool) { state.withLock { $0.gates.append(OpenedGate(id: id, timingOut: timingOut)) } }
    func acknowledged(_ person: String, on gate: String) {
        _ = state.withLock { $0.acknowledgements.insert(Acknowledgement(person: person, gate: gate)) }
    }
    func killed() { state.withLock { $0.kills += 1 } }
    /// The kills are done: the load stops.
    func end() { state.withLock { $0.over = true } }
    var isOver: Bool { state.withLock { $0.over } }
    var gates: [OpenedGate] { state.withLock { $0.gates } }
    var acknowledgements: Set<Acknowledgement> { state.withLock { $0.acknowledgements } }
    var kills: Int { state.withLock { $0.kills } }

    /// Restarts the chaos run's cluster with scripts/postgres-throwaway: every connection dropped, the server away a
    /// moment. Awaited by its termination handler: a blocking `waitUntilExit` on a task's thread may never see it.
    static func restartPostgres() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", root.appendingPathComponent("scripts/postgres-throwaway").path, "restart", try #require(postgresDirectory)]
        process.standardInput = FileHandle.nullDevice
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        try #require(status == 0, "the database did not restart")
    }
}

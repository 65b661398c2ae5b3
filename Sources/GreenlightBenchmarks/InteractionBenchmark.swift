import Foundation
import GreenlightCore
import GreenlightPolicyFile
import GreenlightSQLite
import GreenlightServer
import GreenlightSlack
import GreenlightSlackSimulator
import GreenlightStore
import Logging
import NIOPosix
import Synchronization

/// Signed Slack clicks against the whole server (`GreenlightApplication.services`, with Slack on, against the
/// simulator): `--warmup` then `--clicks` Approve clicks in one stream, each on its own gate's card, sent open-loop at
/// `--rate` per second by ``OpenLoopSender``. For each measured click (the stream after the warm-up) it measures the
/// time from the click's appointed sending time to its 200 (which the server sends once the vote is committed), and to
/// the commit itself (seen by an observer of the store's change feed). Signing happens before the clock starts;
/// verifying is measured. The simulator answers `chat.update` with 429 as Slack would at this rate, unless `--serve-updates 1`.
/// `clicking` on standard error marks the start of the measured phase, for a profiler to attach (`perf record -p`).
enum InteractionBenchmark {
    static let policy = """
        version: 1
        people:
          admin: { slack: U0ADMIN }
        groups:
          admins: { members: [admin] }
        environments:
          production: { channel: C0BENCH, require: [ { group: admins, count: 1 } ] }
        default: { require: [ { group: admins, count: 1 } ] }
        """

    static func run(clicks: Int, warmup: Int, rate: Int, serveUpdates: Bool, directory: URL) async throws {
        let slack = SlackSimulator(signingSecret: "bench-signing-secret")
        let slackURL = try await slack.start()
        defer { slack.stop() }
        let store = try SQLiteGateStore(path: directory.appendingPathComponent("interactions.db").path)
        let policy = try PolicyParser(file: "bench.yaml").parse(Self.policy).policy
        let clock = SystemWallClock()
        let directoryOfPeople = SlackDirectory(policy: policy)
        let gatekeeper = Gatekeeper(
            store: store, policy: policy, clock: clock, notifying: [.slack], usergroupMembers: directoryOfPeople.usergroupMembers)
        let slackHTTP = SlackWebAPI.makeHTTPClient()
        let integration = SlackIntegration(
            api: SlackWebAPI(token: slack.botToken, baseURL: slackURL, http: slackHTTP), directory: directoryOfPeople,
            verifier: SlackRequestVerifier(signingSecret: "bench-signing-secret", clock: clock))
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let (listening, announce) = AsyncStream<String>.makeStream()
        let group = GreenlightApplication.services(
            store: store, gatekeeper: gatekeeper, settings: ServerSettings(host: "127.0.0.1", port: 0), slack: integration, logger: logger
        ) { url in announce.yield(url) }
        let server = Task { try await group.run() }
        var urls = listening.makeAsyncIterator()
        guard let base = await urls.next() else { fatalError("the server did not start") }

        // One gate per click, each with its card posted.
        let pipeline = Principal.pipeline(PipelineToken(name: "ci"))
        var gates: [GateID] = []
        for _ in 0..<(warmup + clicks) {
            let request = GateRequest(service: "shop", environment: "production", artifact: "shop@sha256:abc", commit: "0123abcd")
            gates.append(try await gatekeeper.open(request, by: pipeline, idempotencyKey: nil).gate.id)
        }
        await slack.waitForCalls(to: "chat.postMessage", count: gates.count)
        var cards: [GateID: PostedCard] = [:]
        for id in gates {
            while cards[id] == nil {
                cards[id] = try await store.postedCard(for: id)
                if cards[id] == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
        }

        if !serveUpdates {
            // Slack allows chat.update about 50 times a minute (Tier 3); a thousand decided cards a second get 429s. So
            // does the simulator here: the card updates wait in the outbox, as they would, and are not what is measured.
            slack.inject(.rateLimited(retryAfter: 60), into: "chat.update")
        }
        // Signed ahead of time, as Slack would have signed them.
        let now = Date()
        let bodies = try gates.map { id -> (String, [String: String]) in
            let card = cards[id]!
            let payload = SlackSimulator.blockActions(
                user: "U0ADMIN", actionID: GateCard.approveActionID, value: id.rawValue, channel: card.channel, ts: card.ts)
            return try slack.signedRequest(payload: payload, timestamp: now)
        }

        let committed = Timings()
        let watcher = store.changes.observeAll { gate in
            if gate.votes.count == 1 { committed.record(gate.id.rawValue) }
        }
        // Slack's senders are not on this machine: the load is written by a minimal sender on one event loop, so that
        // what the two cores spend is the server's.
        guard let address = URL(string: base), let host = address.host, let port = address.port else { fatalError("bad URL \(base)") }
        let requests = zip(gates, bodies).map { id, request in
            OpenLoopSender.post(key: id.rawValue, path: "/slack/interactions", host: host, headers: request.1, body: request.0)
        }
        let acked = Timings()
        let sent = Timings()
        // Its own thread, as Slack's senders are not held up by the server's work; a send it makes late still counts
        // from its appointed time.
        let senderThread = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sender = OpenLoopSender(loop: senderThread.next(), sent: sent, answered: acked)
        try await sender.connect(host: host, port: port, count: 32)

        FileHandle.standardError.write(Data("clicking\n".utf8))
        let cpuStart = Self.processCPUSeconds()
        let clockStart = ContinuousClock.now
        try await sender.send(requests, start: clockStart + .milliseconds(1), interval: .seconds(1) / rate)
        let elapsed = GreenlightBenchmarks.milliseconds(ContinuousClock.now - clockStart) / 1_000
        // A 200 is sent once the vote is committed: every answered click's commit has been seen, or is about to be.
        await committed.wait(for: gates.map(\.rawValue).filter { acked.since(sent, $0) != nil })
        let cpu = Self.processCPUSeconds() - cpuStart
        watcher.cancel()
        try await senderThread.shutdownGracefully()

        // The first `warmup` clicks of the stream are not counted: a server that has just started, or sat idle while the
        // cards were posted, has its first requests pay for caches and threads that steady traffic finds ready.
        let measured = gates.dropFirst(warmup)
        let toAck = measured.compactMap { acked.since(sent, $0.rawValue) }
        let toCommit = measured.compactMap { committed.since(sent, $0.rawValue) }
        print(
            String(
                format:
                    "signed Slack clicks: %d sent in %.2f s (%.0f/s offered, target %d/s), the last %d measured: %d answered 200, %d votes committed",
                gates.count, elapsed, Double(gates.count) / elapsed, rate, measured.count, toAck.count, toCommit.count))
        print(
            String(
                format:
                    "CPU used by the process (server, load generator and simulator) while clicking: %.2f s, %.2f ms per click, %.0f%% of the %d cores",
                cpu, cpu * 1_000 / Double(gates.count), cpu / elapsed / Double(ProcessInfo.processInfo.activeProcessorCount) * 100,
                ProcessInfo.processInfo.activeProcessorCount))
        GreenlightBenchmarks.report("click request → 200 (signature verified, vote committed)", toAck, goal: "p99 < 5 ms")
        GreenlightBenchmarks.report("click request → vote committed", toCommit, goal: "p99 < 5 ms")

        server.cancel()
        _ = try? await server.value
        try await slackHTTP.shutdown()
    }
}

extension InteractionBenchmark {
    /// User and system CPU time this process has used so far, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// When each key's event happened, and a way to await a set of them.
final class Timings: Sendable {
    private struct State {
        var at: [String: ContinuousClock.Instant] = [:]
        var waiter: (keys: Set<String>, continuation: CheckedContinuation<Void, Never>)?
    }

    private let state = Mutex(State())

    func record(_ key: String, at now: ContinuousClock.Instant = .now) {
        let done = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.at[key] = now
            guard let waiter = state.waiter, waiter.keys.isSubset(of: state.at.keys) else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        done?.resume()
    }

    /// Milliseconds from `other`'s record of `key` to this one's.
    func since(_ other: Timings, _ key: String) -> Double? {
        guard let end = state.withLock({ $0.at[key] }), let start = other.state.withLock({ $0.at[key] }) else { return nil }
        return GreenlightBenchmarks.milliseconds(end - start)
    }

    func wait(for keys: [String]) async {
        let keys = Set(keys)
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if keys.isSubset(of: state.at.keys) { return true }
                state.waiter = (keys, continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

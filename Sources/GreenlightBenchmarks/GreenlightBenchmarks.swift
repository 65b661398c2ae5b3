import AsyncHTTPClient
import Foundation
import GreenlightClient
import GreenlightCore
import GreenlightPolicyFile
import GreenlightSQLite
import GreenlightServer
import GreenlightStore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Measures the figures the README quotes, on a real server over loopback with a real SQLite file:
///
/// 1. decision latency: from the start of the deciding vote's transaction to the return of the client long-polling
///    that gate, while `--waiters` other clients are also waiting (an upper bound of commit → return, since it
///    includes the commit itself; the commit's own duration is printed beside it);
/// 2. gate creations per second through `POST /v1/gates`, each with its audit event, from `--concurrency` clients;
/// 3. signed Slack clicks (``InteractionBenchmark``): request → 200 and request → vote committed, at `--rate` per second.
///
/// Run: `swift run -c release greenlight-bench` (options: `--waiters 1000 --decisions 1000 --gates 5000 --concurrency 32
/// --clicks 3000 --warmup 300 --rate 1000 --serve-updates 0`).
@main
struct GreenlightBenchmarks {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        // Modes for the external benchmark (scripts/bench-external), where the load comes from other processes.
        switch arguments.first {
        case "seed": return try await Seed.run(arguments.dropFirst())
        case "slack-simulator": return try await StandaloneSlack.run(arguments.dropFirst())
        default: break
        }
        let options = Options(arguments)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteGateStore(path: directory.appendingPathComponent("bench.db").path)
        let policy = BuiltInPolicy.policy
        let gatekeeper = Gatekeeper(store: store, policy: policy, clock: SystemWallClock())

        let pipeline = AccessToken(name: "ci", kind: .pipeline, createdAt: Date())
        let pipelineSecret = TokenSecret.generate()
        try await store.createToken(pipeline, secretHash: TokenSecret.hash(pipelineSecret))

        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let (listening, announce) = AsyncStream<Int>.makeStream()
        let router = GreenlightApplication.router(store: store, gatekeeper: gatekeeper, publicURL: PublicURL("http://127.0.0.1"))
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "greenlight", backlog: 4_096),
            onServerRunning: { announce.yield($0.localAddress?.port ?? 0) },
            logger: logger
        )
        let server = Task { try await app.run() }
        var ports = listening.makeAsyncIterator()
        guard let port = await ports.next() else { fatalError("the server did not start") }
        let base = "http://127.0.0.1:\(port)"
        let http = GreenlightClient.makeHTTPClient(connectionsPerHost: options.waiters + options.decisions + options.concurrency + 16)
        let client = GreenlightClient(server: base, token: pipelineSecret, http: http)

        print("greenlight-bench on \(ProcessInfo.processInfo.activeProcessorCount) cores, SQLite WAL synchronous=FULL, loopback HTTP")
        try await decisionLatency(options: options, store: store, gatekeeper: gatekeeper, pipeline: pipeline, client: client)
        try await creationThroughput(options: options, client: client)
        // The first two parts leave thousands of pooled connections open; the click part runs its own server and
        // client, and measures it alone.
        server.cancel()
        _ = try? await server.value
        try await http.shutdown()
        try await InteractionBenchmark.run(
            clicks: options.clicks, warmup: options.warmup, rate: options.rate, serveUpdates: options.serveUpdates, directory: directory)
    }

    // MARK: Decision latency

    static func decisionLatency(
        options: Options, store: any GateRecords, gatekeeper: Gatekeeper, pipeline: AccessToken, client: GreenlightClient
    ) async throws {
        let principal = Principal.pipeline(PipelineToken(name: pipeline.name))
        func openGate() async throws -> GateID {
            let request = GateRequest(service: "shop", environment: "production", artifact: "shop@sha256:abc", commit: "0123abcd")
            return try await gatekeeper.open(request, by: principal, idempotencyKey: nil).gate.id
        }
        var measured: [GateID] = []
        var background: [GateID] = []
        for _ in 0..<options.decisions { measured.append(try await openGate()) }
        for _ in 0..<options.waiters { background.append(try await openGate()) }

        // Everyone waits: the background clients for the whole run, the measured ones until their gate is decided.
        let returned = Timings()
        let everyone = background + measured
        let waiters = Task {
            await withTaskGroup(of: Void.self) { group in
                for id in everyone {
                    group.addTask {
                        _ = try? await client.gate(id.rawValue, wait: 300)
                        returned.record(id.rawValue)
                    }
                }
            }
        }
        for id in background + measured {
            while store.changes.subscriberCount(for: id) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        print("\(measured.count + background.count) clients waiting; deciding \(measured.count) gates one at a time")

        var latencies: [Double] = []
        var commits: [Double] = []
        let clock = ContinuousClock()
        for id in measured {
            let start = clock.now
            _ = try await gatekeeper.ledger.castVote(Vote(voter: "admin", decision: .approve, at: Date()), on: id)
            commits.append(milliseconds(clock.now - start))
            await returned.wait(for: [id.rawValue])
            latencies.append(milliseconds(clock.now - start))
        }
        report("vote transaction start → waiting client returns", latencies, goal: "p99 < 20 ms")
        report("vote transaction (commit, fsync) alone", commits, goal: nil)
        gatekeeper.releaseWaiters()
        await waiters.value
    }

    // MARK: Creation throughput

    static func creationThroughput(options: Options, client: GreenlightClient) async throws {
        let clock = ContinuousClock()
        let perWorker = options.gates / options.concurrency
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<options.concurrency {
                group.addTask {
                    for index in 0..<perWorker {
                        let request = GateRequest(service: "shop", environment: "production", artifact: "shop@sha256:abc", commit: "0123abcd")
                        _ = try await client.open(request, idempotencyKey: "bench-\(worker)-\(index)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Double((clock.now - start).components.attoseconds) / 1e18 + Double((clock.now - start).components.seconds)
        let total = perWorker * options.concurrency
        print(
            String(
                format: "gate creations (POST /v1/gates, with audit append), %d clients: %d gates in %.2f s = %.0f gates/s (goal ≥ 1000/s)",
                options.concurrency, total, seconds, Double(total) / seconds
            )
        )
    }

    // MARK: Reporting

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
    }

    static func report(_ what: String, _ samples: [Double], goal: String?) {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] }
        let goalText = goal.map { " (goal: \($0))" } ?? ""
        print(
            String(
                format: "%@, n=%d: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms%@",
                what, sorted.count, percentile(0.5), percentile(0.9), percentile(0.99), sorted.last ?? 0, goalText
            )
        )
    }

    struct Options {
        var waiters = 1_000
        var decisions = 1_000
        var gates = 5_000
        var concurrency = 32
        var clicks = 3_000
        var warmup = 300
        var rate = 1_000
        var serveUpdates = false

        init(_ arguments: ArraySlice<String>) {
            var iterator = arguments.makeIterator()
            while let flag = iterator.next() {
                if flag == "--help" || flag == "-h" {
                    print(
                        """
                        usage: greenlight-bench [--waiters N] [--decisions N] [--gates N] [--concurrency N] [--clicks N] [--warmup N] [--rate N] [--serve-updates 0|1]
                               greenlight-bench seed --db PATH [--gates 100000] [--decided 30000] [--backlog 0] [--days 30] [--concurrency 64] [--force]
                               greenlight-bench slack-simulator [--rate-limit chat.update[,chat.postMessage]|none] [--retry-after 60]
                        """
                    )
                    exit(0)
                }
                // 0 is a choice for --warmup and --serve-updates; the others count or divide by what they are given.
                let zeroAllowed = flag == "--warmup" || flag == "--serve-updates"
                guard let value = iterator.next().flatMap(Int.init), value > 0 || (zeroAllowed && value == 0) else {
                    Self.usage("\(flag) needs a \(zeroAllowed ? "number, 0 or more" : "positive number")")
                }
                switch flag {
                case "--waiters": waiters = value
                case "--decisions": decisions = value
                case "--gates": gates = value
                case "--concurrency": concurrency = value
                case "--clicks": clicks = value
                case "--warmup": warmup = value
                case "--rate": rate = value
                case "--serve-updates": serveUpdates = value != 0
                default: Self.usage("unknown option \(flag)")
                }
            }
        }

        /// Says what was wrong and which options there are, and exits 64: a mistyped flag is not a crash.
        static func usage(_ problem: String) -> Never {
            FileHandle.standardError.write(
                Data(
                    """
                    greenlight-bench: \(problem)
                    options (each takes a whole number): --waiters --decisions --gates --concurrency --clicks --warmup --rate --serve-updates

                    """.utf8))
            exit(64)
        }
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightPolicyFile
import GreenlightSQLite
import GreenlightServer
import GreenlightStore
import Synchronization

/// `greenlight-bench seed --db PATH [--gates 100000] [--decided 30000] [--backlog 0] [--days 30] [--concurrency 64]
/// [--force]`: brings a database to the state a Slack-enabled server that has served gates for `--days` would leave it
/// in, for the external benchmark (`scripts/bench-external`).
///
/// Everything goes through the real code, as the server would do it, each step at its own time on a timeline: the
/// gates are opened by the ``Gatekeeper`` (policy evaluated, plan frozen, `gate.opened` audited, reminder and escalation
/// timers armed, the card enqueued in the outbox); each card is then posted the way the outbox worker records a
/// `chat.postMessage` that succeeded (`completeOutboxItem` with its address and a `gate.notified` event). The oldest
/// `--decided` gates (opened over the `--days` before the last one) are decided, minutes to hours after they opened, by
/// Slack approvals, Slack rejections and pipeline cancels, some with a second, refused click; the updates of their cards
/// were delivered, but for the last `--backlog` decided, whose updates are still due in the outbox, as while Slack
/// answers `chat.update` with 429. Their reminder and escalation timers, never fired because the gates were decided,
/// are past due, as they are on a server that has run for weeks. The rest, opened during the last day, stay pending
/// with their cards posted: what the benchmark clicks and waits on.
///
/// Written beside the database (`PATH` plus a suffix; none of it belongs in the repository: the tokens are secrets):
/// - `PATH.policy.yaml`, the policy to serve it with (`greenlight serve --config`);
/// - `PATH.cards.tsv`, each pending gate's id, its card's channel and ts, in a shuffled order;
/// - `PATH.tokens.env`, `PIPELINE_TOKEN=…`, `APPROVER_TOKEN=…` (the person `admin`) and `SLACK_SIGNING_SECRET=…`.
enum Seed {
    static let signingSecret = "bench-signing-secret"

    /// Who may approve, and as which Slack users they click. Gates run a week: the pending ones, opened during the last
    /// day, neither time out, remind nor escalate during a benchmark run.
    static let policy = """
        version: 1
        people:
          admin: { slack: U0ADMIN }
          alice: { slack: U0ALICE, github: alice-gh, email: alice@example.com }
          bob: { slack: U0BOB, github: bob-gh }
          carol: { slack: U0CAROL }
          dave: { slack: U0DAVE }
        groups:
          approvers: { members: [admin, alice, bob, carol, dave] }
          oncall: { members: [dave] }
        environments:
          production:
            channel: C0DEPLOYS
            require: [ { group: approvers, count: 1 } ]
            separation_of_duties: [author, triggerer]
            timeout: 7d
            remind: { before_deadline: 1d, mention: [group: approvers] }
            escalate: { after: 3d, to: [group: oncall] }
          staging:
            channel: C0STAGING
            require: [ { group: approvers, count: 1 } ]
            timeout: 7d
          timers:
            channel: C0TIMERS
            require: [ { group: approvers, count: 1 } ]
            timeout: 5s
        default: { require: [ { group: approvers, count: 1 } ], timeout: 7d }
        """

    /// The approvers, for the decided gates' votes.
    static let clickers = ["admin", "alice", "bob", "carol", "dave"]

    struct Options {
        var database = ""
        var gates = 100_000
        var decided = 30_000
        var backlog = 0
        var days = 30
        var concurrency = 64
        var force = false

        init(_ arguments: ArraySlice<String>) {
            var iterator = arguments.makeIterator()
            while let flag = iterator.next() {
                switch flag {
                case "--db": database = iterator.next() ?? ""
                case "--gates": gates = Self.number(flag, iterator.next())
                case "--decided": decided = Self.number(flag, iterator.next(), zero: true)
                case "--backlog": backlog = Self.number(flag, iterator.next(), zero: true)
                case "--days": days = Self.number(flag, iterator.next())
                case "--concurrency": concurrency = Self.number(flag, iterator.next())
                case "--force": force = true
                case "--help", "-h":
                    print(
                        "usage: greenlight-bench seed --db PATH [--gates 100000] [--decided 30000] [--backlog 0] [--days 30] [--concurrency 64] [--force]"
                    )
                    exit(0)
                default: GreenlightBenchmarks.Options.usage("seed: unknown option \(flag)")
                }
            }
            if database.isEmpty { GreenlightBenchmarks.Options.usage("seed needs --db PATH") }
            if decided > gates { GreenlightBenchmarks.Options.usage("seed: --decided must be at most --gates") }
            if backlog > decided { GreenlightBenchmarks.Options.usage("seed: --backlog must be at most --decided") }
            if days < 2 { GreenlightBenchmarks.Options.usage("seed: --days must be 2 or more") }
        }

        static func number(_ flag: String, _ text: String?, zero: Bool = false) -> Int {
            guard let value = text.flatMap(Int.init), value > 0 || (zero && value == 0) else {
                GreenlightBenchmarks.Options.usage("\(flag) needs a \(zero ? "number, 0 or more" : "positive number")")
            }
            return value
        }
    }

    /// One gate's part in the timeline.
    struct Planned: Sendable {
        var index: Int
        var request: GateRequest
        var openedAt: Date
        /// How it is decided, and when (`nil`: it stays pending).
        var decision: (kind: Int, at: Date, person: String)?
    }

    static func run(_ arguments: ArraySlice<String>) async throws {
        let options = Options(arguments)
        let path = options.database
        if FileManager.default.fileExists(atPath: path) {
            guard options.force else { GreenlightBenchmarks.Options.usage("seed: \(path) exists (add --force to replace it)") }
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let started = ContinuousClock.now
        let store = try SQLiteGateStore(path: path)
        let parsed = try PolicyParser(file: "bench.yaml").parse(policy).policy
        let clock = SeedClock()
        let gatekeeper = Gatekeeper(store: store, policy: parsed, clock: clock, notifying: [.slack])
        let pipelineActor = Principal.pipeline(PipelineToken(name: "ci"))

        // The timeline: the decided gates opened over the `days` before the last one, the pending ones during the last.
        let now = Date()
        let day: TimeInterval = 86_400
        let pendingCount = options.gates - options.decided
        var random = SplitMix(seed: 17)
        var plan: [Planned] = []
        plan.reserveCapacity(options.gates)
        for index in 0..<options.gates {
            let openedAt: Date
            var decision: (kind: Int, at: Date, person: String)?
            if index < options.decided {
                let span = Double(options.days - 1) * day
                openedAt = now.addingTimeInterval(-Double(options.days) * day + span * Double(index) / Double(max(1, options.decided)))
                // Decided 10 minutes to 4 hours after opening.
                let after = 600 + Double(random.next() % 13_800)
                decision = (Int(random.next() % 10), openedAt.addingTimeInterval(after), clickers[index % clickers.count])
            } else {
                openedAt = now.addingTimeInterval(-day + (day - 60) * Double(index - options.decided) / Double(max(1, pendingCount)))
            }
            plan.append(Planned(index: index, request: Self.request(index, random: &random), openedAt: openedAt, decision: decision))
        }

        let tokensAt = now.addingTimeInterval(-Double(options.days + 1) * day)
        let pipeline = AccessToken(name: "ci", kind: .pipeline, createdAt: tokensAt)
        let pipelineSecret = TokenSecret.generate()
        try await store.createToken(pipeline, secretHash: TokenSecret.hash(pipelineSecret))
        let approver = AccessToken(name: "admin-api", kind: .approver, user: "admin", createdAt: tokensAt)
        let approverSecret = TokenSecret.generate()
        try await store.createToken(approver, secretHash: TokenSecret.hash(approverSecret))
        try await store.record(
            AuditDraft(PolicyLoaded(started: parsed), by: .greenlight, at: tokensAt))

        // 1. Open the gates in the timeline's order, `concurrency` at a time (the group commit shares their commits, as
        // it does a server's).
        let opened = try await concurrently(plan, width: options.concurrency) { planned in
            try await SeedClock.$now.withValue(planned.openedAt) {
                try await gatekeeper.open(planned.request, by: pipelineActor, idempotencyKey: nil).gate
            }
        }
        report("opened \(opened.count) gates", since: started)

        // 2. Post every card a second after its gate opened, as the outbox worker records a chat.postMessage that
        // succeeded.
        let byID = Dictionary(uniqueKeysWithValues: opened.map { ($0.id, $0) })
        let nextTS = Counter()
        var posted = 0
        while true {
            let due = try await store.dueOutboxItems(at: .distantFuture, limit: 5_000, )
            let cards = due.filter { $0.kind == OutboxKind(.slack, .card) }
            if cards.isEmpty { break }
            _ = try await concurrently(cards, width: options.concurrency) { item -> Int in
                guard let id = item.gateID, let gate = byID[id], let channel = gate.plan.channel else {
                    try await store.completeOutboxItem(item, posted: nil, audit: nil)
                    return 0
                }
                let ts = String(format: "1700000000.%06d", nextTS.increment())
                let audit = AuditDraft(
                    GateNotified(via: .slack, channel: channel, ts: ts), by: .greenlight, at: gate.createdAt.addingTimeInterval(1), gate: gate)
                try await store.completeOutboxItem(item, posted: PostedCard(channel: channel, ts: ts), audit: audit)
                return 1
            }
            posted += cards.count
        }
        report("posted \(posted) cards", since: started)

        // 3. Decide the oldest: most approved in Slack, some rejected in Slack (with a reason), some cancelled by the
        // pipeline; some get a second click, refused (and audited) because the gate is decided.
        let deciding = zip(plan, opened).compactMap { planned, gate in planned.decision.map { (gate.id, $0) } }
        let refusedCount = Counter()
        _ = try await concurrently(deciding, width: options.concurrency) { id, decision -> Int in
            try await SeedClock.$now.withValue(decision.at) {
                switch decision.kind {
                case 0:
                    _ = try await gatekeeper.cancel(id, reason: "superseded by a newer run", by: pipelineActor)
                case 1, 2:
                    _ = try await gatekeeper.castVote(
                        .reject, comment: "error rate is up on the canary", on: id, by: Self.clicker(decision.person))
                default:
                    _ = try await gatekeeper.castVote(.approve, comment: nil, on: id, by: Self.clicker(decision.person))
                }
            }
            if decision.kind == 3 {
                let other = clickers[(clickers.firstIndex(of: decision.person)! + 1) % clickers.count]
                try await SeedClock.$now.withValue(decision.at.addingTimeInterval(30)) {
                    if case .refused = try await gatekeeper.castVote(.approve, comment: nil, on: id, by: Self.clicker(other)) {
                        _ = refusedCount.increment()
                    }
                }
            }
            return 1
        }
        report("decided \(deciding.count) gates (\(refusedCount.value) refused second clicks)", since: started)

        // 4. The decided cards' updates were delivered, but for the last `backlog`: those wait out Slack's 429.
        let waitingUpdates = Set(deciding.suffix(options.backlog).map(\.0))
        var delivered = 0
        while true {
            // The waiting ones come back every time (they stay due); the others are gone once delivered.
            let due = try await store.dueOutboxItems(at: .distantFuture, limit: 100_000, )
                .filter { !($0.gateID.map(waitingUpdates.contains) ?? false) }
            if due.isEmpty { break }
            _ = try await concurrently(due, width: options.concurrency) { item -> Int in
                try await store.completeOutboxItem(item, posted: nil, audit: nil)
                return 1
            }
            delivered += due.count
        }
        report("delivered \(delivered) card updates; \(waitingUpdates.count) left waiting", since: started)

        // 5. What the benchmark needs to click and wait on: the pending gates and their cards' addresses, shuffled.
        var pending = zip(plan, opened).filter { $0.0.decision == nil }.map(\.1.id)
        random.shuffle(&pending)
        var lines: [String] = []
        lines.reserveCapacity(pending.count)
        for id in pending {
            guard let card = try await store.postedCard(for: id) else { continue }
            lines.append("\(id.rawValue)\t\(card.channel)\t\(card.ts)")
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path + ".cards.tsv"))
        try Data(policy.utf8).write(to: URL(fileURLWithPath: path + ".policy.yaml"))
        // Secrets: owner-only, beside the database (never in the repository).
        guard
            FileManager.default.createFile(
                atPath: path + ".tokens.env",
                contents: Data("PIPELINE_TOKEN=\(pipelineSecret)\nAPPROVER_TOKEN=\(approverSecret)\nSLACK_SIGNING_SECRET=\(signingSecret)\n".utf8),
                attributes: [.posixPermissions: 0o600])
        else { GreenlightBenchmarks.Options.usage("seed: cannot write \(path).tokens.env") }
        let waiting = try await store.dueOutboxItems(at: .distantFuture, limit: 1_000_000, ).count
        report(
            "\(options.gates) gates: \(lines.count) pending with posted cards (\(path).cards.tsv), \(deciding.count) decided, "
                + "\(waiting) card updates waiting in the outbox", since: started)
    }

    /// `person` clicking in Slack, from the account the policy maps them to.
    static func clicker(_ person: String) -> Principal {
        .person(.slack(user: "U\(person.uppercased())", as: person))
    }

    /// A varied, valid request from a pipeline: services, environments, authors, a summary and a run URL.
    static func request(_ index: Int, random: inout SplitMix) -> GateRequest {
        let services = ["shop", "payments", "search", "auth", "catalog", "checkout", "inventory", "notifications"]
        let service = services[index % services.count]
        let environment = index % 5 == 4 ? "staging" : "production"
        func hex(_ count: Int) -> String {
            var text = ""
            while text.count < count { text += String(format: "%016llx", random.next()) }
            return String(text.prefix(count))
        }
        let author = "dev\(index % 97)"
        return GateRequest(
            service: service, environment: environment, artifact: "registry.example.com/\(service)@sha256:\(hex(64))", commit: hex(40),
            baseCommit: hex(40), pullRequest: "https://github.com/example/\(service)/pull/\(1_000 + index % 9_000)",
            ticket: "OPS-\(10_000 + index)", runURL: "https://ci.example.com/\(service)/runs/\(100_000 + index)", triggeredBy: "ci-bot",
            authors: ["\(author)@example.com"], summary: "Deploy \(service) build \(index): dependency updates and a fix to the retry loop",
            changedPaths: ["src/\(service)/handler.swift", "src/\(service)/client.swift", "Package.swift"],
            labels: ["team": "team-\(index % 12)"])
    }

    static func report(_ what: String, since start: ContinuousClock.Instant) {
        let elapsed = GreenlightBenchmarks.milliseconds(ContinuousClock.now - start) / 1_000
        print(String(format: "seed: %@ (%.1f s)", what, elapsed))
    }

    /// Runs `work` on every element, at most `width` at a time; the results in the elements' order.
    static func concurrently<Element: Sendable, Result: Sendable>(
        _ elements: [Element], width: Int, _ work: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: elements.count)
            var next = 0
            for _ in 0..<min(width, elements.count) {
                let index = next
                group.addTask { (index, try await work(elements[index])) }
                next += 1
            }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < elements.count {
                    let index = next
                    group.addTask { (index, try await work(elements[index])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

/// A clock for seeding: the time the task is at in the seed's timeline (`SeedClock.$now.withValue`), else the real now.
struct SeedClock: WallClock {
    @TaskLocal static var now: Date?

    func now() -> Date { Self.now ?? Date() }

    func sleep(until date: Date) async throws {
        try await SystemWallClock().sleep(until: date)
    }
}

/// A small deterministic random number generator, so that every seeded database is the same.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func shuffle<T>(_ array: inout [T]) {
        array.shuffle(using: &self)
    }
}

/// A counter shared by concurrent tasks.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)

    /// Adds one; returns the new count.
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }

    var value: Int { count.load(ordering: .relaxed) }
}

import Foundation
import GreenlightCore
import GreenlightStore
import Logging
import PostgresNIO
import Synchronization

/// Carries gate changes between replicas on one database: tells the others which gates this one changed, and tells
/// this replica's ``GateChangeFeed`` what the others changed, so that a long-poll on replica A returns as soon as a
/// vote commits on replica B.
///
/// **Sending.** Once a transaction has committed, the ids of its changed gates are queued, and one task sends them as
/// `NOTIFY` from a pool connection in a transaction of its own — never from the writer's transaction: a `NOTIFY`
/// takes a database-wide lock at commit, and inside the vote's transaction it would queue every replica's commits
/// behind one another (job queues on PostgreSQL have hit a ceiling near 600 notifying commits a second that way). A
/// burst shares notifications, up to ``idsPerNotification`` ids in one payload.
///
/// **Receiving.** Each replica listens on a connection of its own, reconnecting with backoff when it drops. For each
/// changed gate somebody on this replica waits on, it reads the gate and publishes it; a gate nobody here waits on is
/// not read at all.
///
/// **Lost notifications.** A dropped `LISTEN` connection, a pooler in transaction mode, or a replica killed between
/// its commit and its `NOTIFY` lose notifications. So the relay also reads the audit log's new events every
/// ``recheckInterval``: every change to a gate appends one in its transaction, and the log's sequence is dense and
/// in commit order (writers hold the write lock), so a lost notification delays a waiter by at most that interval,
/// never forever. The workers (deadlines, outbox) look at the store again at least as often
/// (``GateChangeFeed/recheckInterval``).
final class PostgresChangeRelay: Sendable {
    /// The `LISTEN`/`NOTIFY` channel.
    static let channel = "greenlight_gate_changes"
    /// Gate ids are 22 characters: 250 of them, with spaces and the replica's id, stay under the 8,000-byte payload limit.
    static let idsPerNotification = 250
    /// Ids queued beyond this are dropped: with the database away the queue would grow without end, and the audit
    /// log's re-check delivers them anyway.
    static let queueLimit = 10_000
    /// How long the relay's own statements (a `NOTIFY`, a page of the log's new events) may leave their connection
    /// silent before it is closed (``PostgresAvailability/answerTimeout`` for requests). They take milliseconds; a
    /// connection the server dropped under them (`pg_terminate_backend`, a restart) has been seen to answer nothing, and
    /// would hold up the relay, and a shutdown waiting for the pool, for the full 30 s.
    static let answerWithin: Duration = .seconds(5)

    /// This replica's id, first in its payloads, so that it skips its own notifications.
    let replica: String
    let recheckInterval: TimeInterval
    /// Off in tests that lose every notification, to show that the re-check alone still delivers.
    let announcing: Bool
    private let connection: PostgresConnection.Configuration
    private let logger: Logger
    private let queue = Mutex<[GateID]>([])
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation
    private let counters = Mutex(Counters())

    /// What tests read: how often the relay listened (a reconnect is a second time) and what it published.
    struct Counters {
        var listens = 0
        var relayed = 0
    }

    init(connection: PostgresConnection.Configuration, recheckInterval: TimeInterval, announcing: Bool, logger: Logger) {
        self.connection = connection
        self.recheckInterval = recheckInterval
        self.announcing = announcing
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        replica = String(generator.next(), radix: 36)
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var snapshot: Counters { counters.withLock { $0 } }

    private let listenWaiters = Mutex<[(count: Int, continuation: CheckedContinuation<Void, Never>)]>([])

    /// Returns once the relay has started listening `count` times (a reconnect is the second): how a test knows
    /// notifications will be heard, without sleeping.
    func listened(times count: Int) async {
        await withCheckedContinuation { continuation in
            let now = counters.withLock { $0.listens }
            if now >= count { return continuation.resume() }
            listenWaiters.withLock { $0.append((count, continuation)) }
            // A listen that began between the read and the append resumes it here.
            resumeListenWaiters()
        }
    }

    private func resumeListenWaiters() {
        let listens = counters.withLock { $0.listens }
        let ready = listenWaiters.withLock { waiters in
            let ready = waiters.filter { $0.count <= listens }
            waiters.removeAll { $0.count <= listens }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Queues `gates`, committed just now, for the other replicas.
    func announce(_ gates: [GateID]) {
        guard announcing, !gates.isEmpty else { return }
        let queued = queue.withLock { queue in
            guard queue.count + gates.count <= Self.queueLimit else { return false }
            queue.append(contentsOf: gates)
            return true
        }
        if queued { ring.yield() }
    }

    /// Sends, listens and re-checks until cancelled.
    func run(store: PostgresGateStore) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.send(store: store) }
            group.addTask { await self.listen(store: store) }
            group.addTask { await self.recheck(store: store) }
        }
    }

    // MARK: Sending

    private func send(store: PostgresGateStore) async {
        for await _ in doorbell {
            let queued = queue.withLock { queue in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            var seen = Set<GateID>()
            let unique = queued.filter { seen.insert($0).inserted }
            for start in stride(from: 0, to: unique.count, by: Self.idsPerNotification) {
                let ids = unique[start..<min(start + Self.idsPerNotification, unique.count)]
                let payload = ([replica] + ids.map(\.rawValue)).joined(separator: " ")
                do {
                    _ = try await store.rows("SELECT pg_notify(\(Self.channel), \(payload))", answerWithin: Self.answerWithin)
                } catch {
                    // The re-check delivers what a lost notification carried, within its interval.
                    logger.warning("telling the other replicas of changed gates failed", metadata: ["error": "\(PostgresGateStore.reason(error))"])
                }
            }
        }
    }

    // MARK: Receiving

    private func listen(store: PostgresGateStore) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let listener = try await PostgresConnection.connect(configuration: connection, id: 1, logger: logger)
                do {
                    try await listener.listen(on: Self.channel) { notifications in
                        counters.withLock { $0.listens += 1 }
                        resumeListenWaiters()
                        if failures > 0 { logger.notice("listening for other replicas' changes again") }
                        failures = 0
                        for try await notification in notifications {
                            await relay(Self.gates(in: notification.payload, skipping: replica), store: store)
                        }
                    }
                } catch {
                    try? await listener.close()
                    throw error
                }
                try? await listener.close()
            } catch {
                if Task.isCancelled { return }
                // Said once per outage; the attempts after it are for debugging.
                logger.log(
                    level: failures == 0 ? .warning : .debug, "listening for other replicas' changes failed; waiters fall back to the re-check",
                    metadata: ["error": "\(PostgresGateStore.reason(error))", "attempt": "\(failures + 1)"])
            }
            if Task.isCancelled { return }
            let delay = min(0.1 * pow(2, Double(min(failures, 6))), 5)
            failures += 1
            try? await Task.sleep(for: .seconds(delay))
        }
    }

    /// The gate ids of a payload, or none when it is this replica's own (already published here) or not one of ours.
    static func gates(in payload: String, skipping replica: String) -> [GateID] {
        let words = payload.split(separator: " ")
        guard let sender = words.first, sender != replica else { return [] }
        return words.dropFirst().compactMap { GateID(String($0)) }
    }

    /// Reads and publishes the gates in `ids` that somebody on this replica waits on.
    private func relay(_ ids: [GateID], store: PostgresGateStore) async {
        for id in Set(ids) where store.changes.subscriberCount(for: id) > 0 {
            do {
                guard let gate = try await store.gate(id) else { continue }
                store.changes.publish(gate)
                counters.withLock { $0.relayed += 1 }
            } catch {
                logger.warning("reading a gate another replica changed failed", metadata: ["gate": "\(id)", "error": "\(error)"])
            }
        }
    }

    // MARK: Re-checking

    private func recheck(store: PostgresGateStore) async {
        var cursor: Int64?
        var failing = false
        while !Task.isCancelled {
            do {
                if let last = cursor {
                    var next = last
                    var changed: [GateID] = []
                    while true {
                        let rows = try await store.rows(
                            "SELECT sequence, gate_id FROM audit_event WHERE sequence > \(next) ORDER BY sequence LIMIT 5000",
                            answerWithin: Self.answerWithin)
                        for row in rows {
                            let (sequence, gate) = try row.decode((Int64, String?).self)
                            next = sequence
                            if let gate { changed.append(GateID(unchecked: gate)) }
                        }
                        if rows.count < 5000 { break }
                    }
                    cursor = next
                    await relay(changed, store: store)
                } else {
                    cursor =
                        try await store.rows("SELECT COALESCE(MAX(sequence), 0) FROM audit_event", answerWithin: Self.answerWithin).first?
                        .decode(Int64.self) ?? 0
                }
                failing = false
            } catch {
                if Task.isCancelled { return }
                // Said once per outage (the store says the database is away, too).
                logger.log(
                    level: failing ? .debug : .warning, "re-checking for other replicas' changes failed",
                    metadata: ["error": "\(PostgresGateStore.reason(error))"])
                failing = true
            }
            try? await Task.sleep(for: .seconds(recheckInterval))
        }
    }
}

import Foundation
import GreenlightStore
import Logging
import PostgresNIO
import Synchronization
import _ConnectionPoolModule

/// Whether the database is there, as the store last found it: how a replica answers at once, with 503 and
/// `Retry-After`, while its database is away, instead of holding every request until the pool gives up (its circuit
/// breaker trips after a minute).
///
/// A failure of the connection itself (refused, closed by the server, a server shutting down or out of connections,
/// or no connection from the pool within ``acquireTimeout``) marks the database away; from then on calls fail at once with ``StoreError/databaseUnavailable(_:)``, and the
/// store's probe (``PostgresGateStore/run()``) asks the database every ``probeInterval`` until it answers. A statement
/// the server refuses says nothing of availability and marks nothing.
final class PostgresAvailability: Sendable {
    /// The longest a call waits for a pool connection before it is answered "unavailable".
    static let acquireTimeout: Duration = .seconds(5)
    /// How often the probe asks a database that is away whether it is back.
    static let probeInterval: Duration = .seconds(1)

    /// No pool connection within ``acquireTimeout``.
    struct NoConnection: Error {}

    private let lost = Mutex<String?>(nil)
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Why the database is away, or `nil` while it is there.
    var away: String? { lost.withLock { $0 } }

    /// Records that the database answered.
    func reached() {
        if backWaiters.withLock({ _ in
            lost.withLock { lost in
                defer { lost = nil }; return lost != nil
            }
        }) {
            logger.notice("the database answers again")
            for waiter in backWaiters.withLock({ waiters in
                defer { waiters = [] }; return waiters
            }) { waiter.resume() }
        }
    }

    private let backWaiters = Mutex<[CheckedContinuation<Void, Never>]>([])

    /// Returns once the database is not known to be away (at once if it is not): how a test waits for the probe.
    func back() async {
        await withCheckedContinuation { continuation in
            let waiting = backWaiters.withLock { waiters in
                guard lost.withLock({ $0 != nil }) else { return false }
                waiters.append(continuation)
                return true
            }
            if !waiting { continuation.resume() }
        }
    }

    /// What a call's `error` is for the caller, marking the database away when it says so.
    func classified(_ error: any Error) -> any Error {
        switch error {
        case is StoreError, is CancellationError:
            return error
        case is ConnectionPoolError:
            return markAway("\(error)")
        case is NoConnection:
            // The pool keeps failing to connect (it says why only in its log), or is so busy that shedding the load
            // helps: either way, answer at once until the probe gets a connection.
            return markAway("no database connection within \(Self.acquireTimeout)")
        case let error as PSQLError:
            if let state = error.serverInfo?[.sqlState] {
                // Connection exceptions (08), a server shutting down or starting (57P01–57P03), too many connections.
                if state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300"].contains(state) {
                    return markAway(PostgresGateStore.reason(error))
                }
                return PostgresGateStore.translated(error)
            }
            switch error.code {
            case .connectionError, .serverClosedConnection, .uncleanShutdown, .poolClosed, .clientClosedConnection:
                return markAway("\(error.code)")
            default:
                return PostgresGateStore.translated(error)
            }
        default:
            return error
        }
    }

    private func markAway(_ reason: String) -> StoreError {
        let first = lost.withLock { lost in
            defer { lost = lost ?? reason }
            return lost == nil
        }
        if first { logger.error("the database is unavailable; answering 503 until it is back", metadata: ["reason": "\(reason)"]) }
        return StoreError.databaseUnavailable(reason)
    }
}

/// Set once a pool connection is in hand: from then on the acquisition deadline no longer applies (a statement under
/// way is never abandoned half-done, which could leave a commit's outcome unknown).
private final class Acquired: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}

extension PostgresGateStore {
    /// Runs `body` on a pool connection. Fails at once with ``StoreError/databaseUnavailable(_:)`` while the database
    /// is known to be away (unless `probing`), and when no connection is had within
    /// ``PostgresAvailability/acquireTimeout``; every other error comes back classified.
    func withConnection<T: Sendable>(
        probing: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        if !probing, let reason = availability.away { throw StoreError.databaseUnavailable(reason) }
        let acquired = Acquired()
        do {
            let value = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await self.client.withConnection { connection in
                        acquired.set()
                        return try await body(connection)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: PostgresAvailability.acquireTimeout)
                    guard acquired.isSet else { throw PostgresAvailability.NoConnection() }
                    return nil
                }
                while let result = try await group.next() {
                    if let value = result {
                        group.cancelAll()
                        return value
                    }
                }
                throw CancellationError()
            }
            availability.reached()
            return value
        } catch {
            throw availability.classified(error)
        }
    }

    /// While the database is away, asks it every ``PostgresAvailability/probeInterval`` whether it is back.
    func probeAvailability() async {
        while !Task.isCancelled {
            if availability.away != nil {
                _ = try? await withConnection(probing: true) { connection in
                    try await connection.query("SELECT 1", logger: self.logger).collect().count
                }
            }
            try? await Task.sleep(for: PostgresAvailability.probeInterval)
        }
    }
}

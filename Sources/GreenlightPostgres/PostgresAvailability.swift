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
    /// The longest a call runs on its connection before it is answered "unavailable" and its connection closed (the
    /// server then rolls back whatever it had not committed, and frees the write lock). Far beyond any statement of a
    /// request; longer than ``PostgresSchema/idleInTransactionTimeout``, so that a stalled holder of the write lock is
    /// ended by the server before the writers behind it give up.
    static let answerTimeout: Duration = .seconds(30)
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

/// One call's wait for a pool connection and its answer, answered once: by the call's result, by the acquisition
/// deadline, by the caller's cancellation, or by the answer deadline — whichever comes first.
///
/// The connection is asked for in a task of its own, so that a caller given up on is answered at once and never waits
/// for the pool to notice a cancelled request. A connection that arrives after the caller was answered runs nothing.
/// Once a connection is in hand, the caller's cancellation no longer applies: a statement under way is not abandoned
/// because a client went away. Only the answer deadline abandons one — a connection that has said nothing for
/// ``PostgresAvailability/answerTimeout`` is closed, so that no store call (and no writer queued behind one) waits
/// on the database forever; a commit under way then has an unknown outcome, which the caller is told is
/// "unavailable", as it would be for a dropped connection.
private final class ConnectionWait<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var answer: Result<T, any Error>?
        var connection: PostgresConnection?
        var acquired = false
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Takes the caller's continuation; `false` when the call was answered already (cancelled before it began).
    func begin(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        let answer = state.withLock { state -> Result<T, any Error>? in
            if let answer = state.answer { return answer }
            state.continuation = continuation
            return nil
        }
        guard let answer else { return true }
        continuation.resume(with: answer)
        return false
    }

    /// Keeps the tasks to cancel once the call is answered (at once if it is).
    func keep(_ tasks: [Task<Void, Never>]) {
        let answered = state.withLock { state -> Bool in
            if state.answer != nil { return true }
            state.tasks += tasks
            return false
        }
        if answered { for task in tasks { task.cancel() } }
    }

    /// `connection` is in hand: `false` when the caller was answered already, and the connection must run nothing.
    func acquire(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard state.answer == nil else { return false }
            state.acquired = true
            state.connection = connection
            return true
        }
    }

    /// Closes the call's connection and answers "unavailable" if the call has not been answered `within` from now.
    func watch(within: Duration, logger: Logger) {
        let watchdog = Task {
            guard (try? await Task.sleep(for: within)) != nil else { return }
            guard let connection = abandon(StoreError.databaseUnavailable("no answer from the database within \(within)")) else { return }
            logger.error("a database connection said nothing for \(within); closing it", metadata: ["connection": "\(connection.id)"])
            try? await connection.close()
        }
        let answered = state.withLock { state -> Bool in
            if state.answer != nil { return true }
            state.tasks.append(watchdog)
            return false
        }
        if answered { watchdog.cancel() }
    }

    /// Answers the call with `error` if its connection is still at work, and returns that connection, to be closed.
    private func abandon(_ error: any Error) -> PostgresConnection? {
        let connection = state.withLock { state -> PostgresConnection? in
            guard state.answer == nil, state.acquired else { return nil }
            return state.connection
        }
        guard let connection else { return nil }
        answer(.failure(error), onlyIfWaiting: false)
        return connection
    }

    /// Answers the call with `result`, unless it was answered already.
    func finish(_ result: Result<T, any Error>) {
        answer(result, onlyIfWaiting: false)
    }

    /// Answers the call with `error` if no connection is in hand yet.
    func giveUp(_ error: any Error) {
        answer(.failure(error), onlyIfWaiting: true)
    }

    private func answer(_ result: Result<T, any Error>, onlyIfWaiting: Bool) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard state.answer == nil, !(onlyIfWaiting && state.acquired) else { return (nil, []) }
            state.answer = result
            defer {
                state.continuation = nil
                state.tasks = []
            }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
    }
}

extension PostgresGateStore {
    /// Runs `body` on a pool connection. Fails at once with ``StoreError/databaseUnavailable(_:)`` while the database
    /// is known to be away (unless `probing`), when no connection is had within
    /// ``PostgresAvailability/acquireTimeout``, and when `body` has not returned `answerWithin` after it had its
    /// connection (which is then closed); every other error comes back classified. `answerWithin` is `nil` only for the long
    /// jobs of the command-line tools (migrating, verifying a whole log).
    func withConnection<T: Sendable>(
        probing: Bool = false, answerWithin: Duration? = PostgresAvailability.answerTimeout,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        if !probing, let reason = availability.away { throw StoreError.databaseUnavailable(reason) }
        let wait = ConnectionWait<T>()
        do {
            let value = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                    guard wait.begin(continuation) else { return }
                    let work = Task { [client] in
                        do {
                            let value = try await client.withConnection { connection in
                                guard wait.acquire(connection) else { throw CancellationError() }
                                if let answerWithin { wait.watch(within: answerWithin, logger: logger) }
                                return try await body(connection)
                            }
                            wait.finish(.success(value))
                        } catch {
                            wait.finish(.failure(error))
                        }
                    }
                    let deadline = Task {
                        guard (try? await Task.sleep(for: PostgresAvailability.acquireTimeout)) != nil else { return }
                        wait.giveUp(PostgresAvailability.NoConnection())
                    }
                    wait.keep([work, deadline])
                }
            } onCancel: {
                wait.giveUp(CancellationError())
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

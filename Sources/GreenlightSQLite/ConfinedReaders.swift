import GRDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only connections each confined to one thread, so that a read of a few rows by key runs on the thread that asks
/// for it.
///
/// An asynchronous read goes to one of GRDB's reader queues and back: two thread wake-ups, which cost a click more than
/// the read itself (`scripts/bench-external`, 1,000 clicks a second, alternating builds: p50 2.5–2.9 ms and 1.09–1.19
/// ms of CPU per click with the pool's queues; 1.9–2.0 ms and 0.99–1.02 ms with reads on the calling thread). A read
/// must not block its thread waiting for one of the pool's readers, though: a pool reader is given back when its task
/// resumes — perhaps on the very event loop that waits — so a blocking read on the pool can wait for itself forever
/// (found in review). Here each thread has a connection of its own that nothing else touches: a read never waits for
/// a connection, and in WAL mode never for the writer. A read that finds the database busy all the same (another
/// process holding it exclusively) gives up within ``busyWait`` and goes to the pool, whose wait is long.
///
/// At most ``limit`` threads get a connection (the event loops, which run every request, take theirs first); reads on
/// other threads go to the pool. Connections close with the store.
final class ConfinedReaders: Sendable {
    /// Threads with a connection of their own, at most: the event loops (one per core) and a few of the threads tasks run on.
    static let limit = 6

    /// The longest a confined read waits for a busy database before it goes to the pool instead.
    static let busyWait: Double = 0.02

    private let connections = Mutex<[UInt: DatabaseQueue]>([:])
    private let path: String
    private let configuration: Configuration

    /// - Parameter configuration: the pool's configuration (its preparation and tracing), made read-only here.
    init(path: String, configuration: Configuration) {
        var configuration = configuration
        configuration.readonly = true
        configuration.label = "greenlight.thread-reader"
        configuration.busyMode = .timeout(Self.busyWait)
        self.path = path
        self.configuration = configuration
    }

    /// Runs `body` on the calling thread's own connection: in a read transaction, or outside any for `oneStatement`
    /// (a single statement is consistent on its own). `nil` when this thread has none and cannot have one, or the
    /// database was busy: then the caller reads from the pool.
    func read<T>(oneStatement: Bool, _ body: (Database) throws -> T) throws -> T? {
        guard let connection = connectionForThisThread() else { return nil }
        do {
            return oneStatement ? try connection.unsafeRead(body) : try connection.read(body)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            return nil
        }
    }

    /// The calling thread's connection, opened on its first read while fewer than ``limit`` threads have one.
    private func connectionForThisThread() -> DatabaseQueue? {
        let thread = Self.currentThread
        return connections.withLock { connections -> DatabaseQueue? in
            if let connection = connections[thread] { return connection }
            guard connections.count < Self.limit, let connection = try? DatabaseQueue(path: path, configuration: configuration) else {
                return nil
            }
            connections[thread] = connection
            return connection
        }
    }

    /// Connections opened so far (for tests).
    var count: Int { connections.withLock { $0.count } }

    /// The calling thread. A thread that ends leaves its connection to the next thread given the same identifier, never
    /// to two threads at once.
    private static var currentThread: UInt {
        #if canImport(Darwin)
        UInt(bitPattern: pthread_self())
        #else
        UInt(pthread_self())
        #endif
    }
}

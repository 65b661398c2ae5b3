import Foundation
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
/// the read itself (`scripts/bench-external`, 1,000 clicks a second, this build against the one before it, alternating:
/// 0.96–1.09 ms of CPU per click against 1.17–1.35, p50 1.8–2.2 ms against 2.7–4.4). A read must not block its thread
/// waiting for one of the pool's readers, though: a pool reader is given back when its task resumes — perhaps on the
/// very event loop that waits — so a blocking read on the pool can wait for itself forever (found in review). Here each
/// thread has a connection of its own that nothing else touches: a read never waits for a connection, and in WAL mode
/// never for the writer. A read that finds the database busy all the same (another process holding it exclusively)
/// gives up within ``busyWait`` and goes to the pool, whose wait is long.
///
/// At most ``limit`` threads hold a connection at once. A thread that has not read for ``idleBefore`` gives its
/// connection up to a thread that asks for one (threads of the global executor come and go; the event loops, which run
/// every request and never end, read all the time and keep theirs); when none is idle, the read goes to the pool.
/// Connections close with the store, before its pool, so that the pool's writer closes last and checkpoints the log.
final class ConfinedReaders: Sendable {
    /// Threads with a connection of their own, at most: the event loops (one per core) and a few of the threads tasks
    /// run on.
    static let limit = max(6, ProcessInfo.processInfo.activeProcessorCount + 2)

    /// How long a thread's connection goes unused before another thread may take it.
    static let idleBefore: Duration = .seconds(10)

    /// The longest a confined read waits for a busy database before it goes to the pool instead.
    static let busyWait: Double = 0.02

    private struct Slot {
        var connection: DatabaseQueue
        var lastRead: ContinuousClock.Instant
    }

    private struct State {
        var slots: [UInt: Slot] = [:]
        /// Set when a connection could not be opened (no file descriptors left, say): reads go to the pool from then
        /// on, rather than trying again on every read.
        var unavailable = false
        var closed = false
    }

    private let state = Mutex(State())
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

    /// The calling thread's connection; opened (outside the lock, which every read takes) when the thread has none and a
    /// slot is free or idle.
    private func connectionForThisThread() -> DatabaseQueue? {
        let (thread, now) = (Self.currentThread, ContinuousClock.now)
        // Either the thread's connection, or whether a new one may be opened, and whose idle slot it would take.
        let (existing, mayOpen, evicting) = state.withLock { state -> (DatabaseQueue?, Bool, UInt?) in
            if let slot = state.slots[thread] {
                state.slots[thread]!.lastRead = now
                return (slot.connection, false, nil)
            }
            guard !state.unavailable, !state.closed else { return (nil, false, nil) }
            if state.slots.count < Self.limit { return (nil, true, nil) }
            let idle = state.slots.filter { now - $0.value.lastRead > Self.idleBefore }.min { $0.value.lastRead < $1.value.lastRead }
            return (nil, idle != nil, idle?.key)
        }
        if let existing { return existing }
        guard mayOpen else { return nil }
        let connection: DatabaseQueue
        do {
            connection = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            state.withLock { $0.unavailable = true }
            return nil
        }
        // An evicted connection is closed when its last reference goes: its thread is not inside a read (it has not read
        // for a while), and its next read opens another.
        return state.withLock { state -> DatabaseQueue? in
            guard !state.closed else { return nil }
            // Still idle: its thread may have read since the slot was chosen.
            if let evicting, let slot = state.slots[evicting], ContinuousClock.now - slot.lastRead > Self.idleBefore {
                state.slots[evicting] = nil
            }
            guard state.slots.count < Self.limit else { return nil }
            state.slots[thread] = Slot(connection: connection, lastRead: now)
            return connection
        }
    }

    /// Closes every connection: called by the store as it goes, before its pool.
    func close() {
        let connections = state.withLock { state -> [DatabaseQueue] in
            state.closed = true
            defer { state.slots = [:] }
            return state.slots.values.map(\.connection)
        }
        for connection in connections { try? connection.close() }
    }

    /// Connections open now (for tests).
    var count: Int { state.withLock { $0.slots.count } }

    /// The calling thread. A thread that ends leaves its connection to the next thread given the same identifier, never
    /// to two threads at once.
    private static var currentThread: UInt {
        #if canImport(Glibc)
        UInt(pthread_self())
        #else
        UInt(bitPattern: pthread_self())
        #endif
    }
}

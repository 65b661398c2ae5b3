import Dispatch
import GRDB
import Synchronization

/// Copies the write-ahead log into the database file from a connection of its own, off the writers' path.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: that commit — and, with group
/// commit, every vote waiting behind it — pays for copying the pages and an fsync of the database file, which was the
/// long tail of vote latency under load. The store turns the automatic checkpoint off and has this one run after
/// every few commits instead. A PASSIVE checkpoint takes no write lock, so commits carry on while it runs; frames a
/// reader still needs are left for the next one. When the store closes, SQLite checkpoints the rest itself.
final class WALCheckpointer: TransactionObserver, Sendable {
    /// Commits between checkpoints: a vote's transaction writes a handful of pages, so this keeps the WAL to a few
    /// hundred pages under load, and costs nothing when nothing is written.
    static let commitsBetween = 32

    private struct State {
        var commits = 0
        var running = false
    }

    private let connection: DatabaseQueue
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "greenlight.wal-checkpoint", qos: .utility)

    /// Opens the checkpoint's connection to the database at `path` (already in WAL mode).
    init(path: String) throws {
        var configuration = Configuration()
        configuration.label = "greenlight.checkpoint"
        configuration.prepareDatabase { db in
            // A checkpoint fsyncs the log before copying it and the database file after: the database file must be
            // durable before the log can be written over.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Returns once the checkpoint in flight, if any, has finished (for tests).
    func drain() {
        queue.sync {}
    }

    /// The synchronous setting of the checkpoint's connection (for tests: 2 is FULL).
    func synchronousSetting() throws -> Int? {
        try connection.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }

    func databaseDidChange(with event: DatabaseEvent) {}

    func databaseDidRollback(_ db: Database) {}

    /// Counts a commit, and starts a checkpoint in the background every ``commitsBetween`` of them (one at a time).
    func databaseDidCommit(_ db: Database) {
        let start = state.withLock { state -> Bool in
            state.commits += 1
            guard state.commits >= Self.commitsBetween, !state.running else { return false }
            state.commits = 0
            state.running = true
            return true
        }
        guard start else { return }
        queue.async { [self] in
            // A failure (the disk, a reader holding every frame) is retried by the next checkpoint.
            try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
            state.withLock { $0.running = false }
        }
    }
}

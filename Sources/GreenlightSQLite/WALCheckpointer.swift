import Dispatch
import GRDB
import Synchronization

/// Copies the write-ahead log into the database file from a connection of its own, off the writers' path, and keeps
/// the log from growing without bound.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: that commit — and, with group
/// commit, every vote waiting behind it — pays for copying the pages and an fsync of the database file, which was the
/// long tail of vote latency under load. The store turns the automatic checkpoint off and has this one run after
/// every few commits instead. A PASSIVE checkpoint takes no write lock, so commits carry on while it runs; frames a
/// reader still needs are left for the next one.
///
/// Copying frames is not enough to keep the log short. SQLite writes the log from its beginning again only when a
/// write starts while every frame has been copied and no reader still reads from the log; under sustained load some
/// commit or some reader is always in the way, so the log — and every read's walk of its index — grows toward a full
/// disk. So once the log passes ``sizeLimit``, and the passive checkpoint found no reader holding on to much of it, a
/// RESTART checkpoint runs between two group commits: it takes the write lock (the writer's queue is held, so nothing
/// contends for it), copies the frames committed since the passive one, fsyncs the database file, and waits for the
/// readers that began before that copy was complete — readers that begin after it read the database file only, so a
/// stream of short reads does not hold it off. The next commit then writes the log from its beginning, and
/// `journal_size_limit` cuts the file back to ``sizeLimit``.
///
/// What that stalls: writes arriving meanwhile wait in the group commit's queue for the copy of those frames (about
/// one checkpoint interval's: a few hundred for votes), one fsync of the database file, and the readers' wait, which
/// the checkpoint connection's busy timeout bounds at ``restartWait`` (100 ms). A reader that outlasts it (`audit verify` on a long log) makes the RESTART give
/// up, and the next attempt waits until the log has grown by another quarter of the limit. When the store closes,
/// SQLite checkpoints the rest itself.
final class WALCheckpointer: TransactionObserver, Sendable {
    /// Commits between checkpoints: a vote's transaction writes a handful of pages, so this keeps the WAL to a few
    /// hundred pages under load, and costs nothing when nothing is written.
    static let commitsBetween = 32

    /// The log size past which it is restarted: 64 MiB, about 16,000 pages, four segments of the WAL index. Each
    /// RESTART holds the writers for its copy, its fsync and its wait for readers; at 1,000 clicks a second the log
    /// grows by about 40 MB a second, and a 16 MiB limit restarted it more than twice a second (click p50 8–13 ms at
    /// 1,000/s in `scripts/bench-external`; with 64 MiB, 4–8 ms, and less CPU per click).
    static let defaultSizeLimit = 64 << 20

    /// The longest a RESTART checkpoint waits for readers (and so holds up the writers) before it gives up.
    static let restartWait: Double = 0.1

    private struct State {
        var commits = 0
        var running = false
        /// The log size (bytes) below which no RESTART is attempted: raised after one that gave up.
        var nextRestartAt: Int
        var restarts = 0
        var restartsAbandoned = 0
    }

    /// Bytes of log past which it is restarted from its beginning.
    let sizeLimit: Int
    private let pool: DatabasePool
    private let connection: DatabaseQueue
    /// Bytes one frame takes in the log: a page and its 24-byte frame header.
    private let frameSize: Int
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "greenlight.wal-checkpoint", qos: .utility)

    /// Opens the checkpoint's connection to the database of `pool` (already in WAL mode). The pool should observe this
    /// checkpointer for the checkpointer's lifetime only (it keeps the pool).
    init(pool: DatabasePool, sizeLimit: Int = defaultSizeLimit) throws {
        var configuration = Configuration()
        configuration.label = "greenlight.checkpoint"
        // The RESTART's own bound on waiting for readers (and another process's writer): see the type's comment.
        configuration.busyMode = .timeout(Self.restartWait)
        configuration.prepareDatabase { db in
            // A checkpoint fsyncs the log before copying it and the database file after: the database file must be
            // durable before the log can be written over.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        connection = try DatabaseQueue(path: pool.path, configuration: configuration)
        let pageSize = try connection.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } ?? 4096
        frameSize = pageSize + 24
        self.pool = pool
        self.sizeLimit = sizeLimit
        state = Mutex(State(nextRestartAt: sizeLimit))
    }

    /// Returns once the checkpoint in flight, if any, has finished — the RESTART it may have started too (for tests).
    func drain() {
        queue.sync {}
        // A RESTART runs on the writer's queue: a write behind it returns after it.
        pool.writeWithoutTransaction { _ in }
    }

    /// RESTART checkpoints that completed, and those that gave up waiting for a reader (for tests).
    var restartCounts: (completed: Int, abandoned: Int) {
        state.withLock { ($0.restarts, $0.restartsAbandoned) }
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
            // A failure (the disk) is retried by the next checkpoint.
            var result = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
            if let first = result, restartIsDue(logFrames: first.walFrameCount, copied: first.checkpointedFrameCount) {
                // A second pass copies what was committed during the first, so that the RESTART, which holds the
                // writers while it copies, has only the last few milliseconds' frames left to copy (bench-external
                // --correlate, 1,000 clicks/s: p99 of the clicks in flight at a restart 16.6–17.4 ms, against
                // 21.2–22.6 with one pass).
                result = (try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }) ?? first
            }
            if let result, restartIsDue(logFrames: result.walFrameCount, copied: result.checkpointedFrameCount) {
                // On the writer's queue, between two group commits: the RESTART then has the write lock to itself.
                pool.asyncWriteWithoutTransaction { [self] _ in
                    restart(logBytes: result.walFrameCount * frameSize)
                    state.withLock { $0.running = false }
                }
            } else {
                state.withLock { $0.running = false }
            }
        }
    }

    /// Whether a log of `logFrames`, of which the passive checkpoint copied `copied`, should be restarted now: it is
    /// past the limit (and past the mark a RESTART that gave up set), and the frames no reader let the passive
    /// checkpoint copy are few, so that no long reader is there to make the RESTART wait in vain.
    private func restartIsDue(logFrames: Int, copied: Int) -> Bool {
        let logBytes = logFrames * frameSize
        let nextRestartAt = state.withLock { $0.nextRestartAt }
        return logBytes > nextRestartAt && (logFrames - copied) * frameSize <= sizeLimit / 4
    }

    /// Runs a RESTART checkpoint, on the writer's queue. Its busy timeout bounds its wait for readers.
    private func restart(logBytes: Int) {
        do {
            _ = try connection.writeWithoutTransaction { try $0.checkpoint(.restart) }
            state.withLock { state in
                state.restarts += 1
                state.nextRestartAt = sizeLimit
            }
        } catch {
            // A reader outlasted restartWait (or another process held the write lock): try again once the log has
            // grown by another quarter of the limit, rather than stall the writers at every checkpoint meanwhile.
            state.withLock { state in
                state.restartsAbandoned += 1
                state.nextRestartAt = max(logBytes, sizeLimit) + sizeLimit / 4
            }
        }
    }
}

import Synchronization

/// This replica's writes, gathered into batches: each batch is one call of `greenlight_apply` (``PostgresWriteFunction``),
/// one transaction and one flush for every write that arrived while the one before was in flight.
///
/// Writers on every replica take turns under the database's write lock anyway; a writer waiting for it inside the
/// database would hold a pool connection meanwhile, and a burst of votes would hold all of them, leaving none for the
/// reads every request starts with. Here at most one connection per replica waits for the lock, and the writes queued
/// behind it cost a continuation each — and they all go in with the next turn, so that a replica's share of the lock
/// grows with its load instead of its queue.
final class PostgresWriteBatches: Sendable {
    /// What became of one unit: `nil` state for applied, `recorded` for applied with a new delivery receipt, else the
    /// SQLSTATE and message it failed with (its writes rolled back, the others' kept).
    struct Outcome: Sendable, Equatable {
        var state: String?
        var detail: String?
    }

    /// Runs one batch: the units' JSON, in order, to their outcomes in the same order, as many as there are units.
    typealias Run = @Sendable ([[UInt8]]) async throws -> [Outcome]

    /// The most units one transaction takes. Each unit that writes is a subtransaction, and a transaction with more than
    /// 64 of them slows every other session's snapshots while it runs (PostgreSQL's subtransaction cache overflows).
    static let batchLimit = 32

    private struct Pending {
        let unit: [UInt8]
        let continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct State {
        var queue: [Pending] = []
        var flushing = false
        var batches = 0
    }

    private let state = Mutex(State())

    /// How many batches this replica has sent (each one transaction).
    var batchesSent: Int { state.withLock { $0.batches } }

    /// Applies `unit` with the next batch and returns its outcome once that batch has committed. Throws what the batch
    /// as a whole failed with (the database away, its statement ended): then nothing of it was written, unless the
    /// commit was under way when the connection was lost or given up on — a caller that retries (a vote, an opening
    /// with an Idempotency-Key) finds it there and counts it once.
    /// `run` runs the batches this write starts, if it finds none in flight (every caller passes the same).
    func write(_ unit: [UInt8], through run: @escaping Run) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let leads = state.withLock { state -> Bool in
                state.queue.append(Pending(unit: unit, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if leads { Task { await self.flush(through: run) } }
        }
    }

    /// Runs batches until the queue is empty.
    private func flush(through run: Run) async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = Array(state.queue.prefix(Self.batchLimit))
                state.queue.removeFirst(batch.count)
                if batch.isEmpty { state.flushing = false } else { state.batches += 1 }
                return batch
            }
            if batch.isEmpty { return }
            do {
                let outcomes = try await run(batch.map(\.unit))
                for (pending, outcome) in zip(batch, outcomes) { pending.continuation.resume(returning: outcome) }
            } catch {
                for pending in batch { pending.continuation.resume(throwing: error) }
            }
        }
    }
}

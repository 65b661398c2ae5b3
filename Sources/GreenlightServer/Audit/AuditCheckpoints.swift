import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTransparency
import Logging
import ServiceLifecycle
import Synchronization

/// Signs a checkpoint of the audit log (its size and Merkle root, a C2SP signed note) every ``interval`` while events
/// arrive, and keeps the latest for `GET /v1/audit/log/checkpoint`.
///
/// The tree is kept as a ``CompactRange`` and grown from the events appended since the last pass, so a pass costs the
/// new events, not the log: the log is read whole once, at start. Every replica signs its own: the tree is a function
/// of the log, so replicas with the same key sign the same checkpoint for the same size.
public final class AuditCheckpoints: Service, Sendable {
    public static let defaultInterval: TimeInterval = 1

    private let store: any AuditLog
    private let key: NoteSignerKey
    private let clock: any WallClock
    private let interval: TimeInterval
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var latest: SignedNote?
        var waiters: [(size: UInt64, continuation: CheckedContinuation<SignedNote, Never>)] = []
    }

    public init(store: any AuditLog, key: NoteSignerKey, clock: any WallClock, interval: TimeInterval = defaultInterval, logger: Logger) {
        self.store = store
        self.key = key
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    /// The verifier key of the checkpoints, for whoever checks them.
    public var verifierKey: NoteVerifierKey { key.verifier }

    /// The latest checkpoint signed, if one is.
    public var latest: SignedNote? { state.withLock { $0.latest } }

    /// Returns the first checkpoint of at least `size` events: how a test waits for one, without sleeping.
    public func checkpoint(atLeast size: UInt64) async -> SignedNote {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> SignedNote? in
                if let latest = state.latest, Self.size(of: latest) >= size { return latest }
                state.waiters.append((size, continuation))
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            var tree = AuditTreeBuilder()
            var signed: UInt64?
            var failing = false
            while !Task.isCancelled {
                do {
                    try await self.store.forEachAuditPage(after: Int64(clamping: tree.size)) { events in
                        for event in events { try tree.append(event) }
                        return true
                    }
                    if signed != tree.size {
                        try self.publish(try self.key.sign(Checkpoint(origin: self.key.verifier.name, size: tree.size, root: tree.root).text))
                        signed = tree.size
                    }
                    failing = false
                } catch is CancellationError {
                    return
                } catch {
                    // Said once per outage; the next pass tries again. A log out of sequence stays unsigned.
                    if !failing { self.logger.error("signing a checkpoint of the audit log failed", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                try? await self.clock.sleep(until: self.clock.now().addingTimeInterval(self.interval))
            }
        }
    }

    private func publish(_ note: SignedNote) {
        let size = Self.size(of: note)
        let ready = state.withLock { state in
            state.latest = note
            let ready = state.waiters.filter { $0.size <= size }
            state.waiters.removeAll { $0.size <= size }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: note) }
    }

    private static func size(of note: SignedNote) -> UInt64 {
        (try? Checkpoint(text: note.text))?.size ?? 0
    }
}

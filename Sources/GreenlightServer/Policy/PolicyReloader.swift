import Dispatch
import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging
import ServiceLifecycle

/// Reloads the policy file on `SIGHUP` and when its contents change, the way operators expect of a daemon.
///
/// A policy that validates replaces the one in force for gates opened from then on (gates already open keep their
/// plan, invariant 7), with a `policy.loaded` audit event naming the old and new hashes. One that does not validate is
/// refused: the old policy stays, the errors are logged and a `policy.refused` event is audited, once per edit.
public struct PolicyReloader: Service {
    let path: String
    let livePolicy: LivePolicy
    let store: any GateStore
    let clock: any WallClock
    /// Also told about a new policy: the Slack directory maps people and groups by it.
    let onReload: @Sendable (Policy) -> Void
    let logger: Logger
    /// How often the file is checked for edits; `SIGHUP` checks at once.
    let pollInterval: Duration

    public init(
        path: String, livePolicy: LivePolicy, store: any GateStore, clock: any WallClock, pollInterval: Duration = .seconds(2),
        logger: Logger, onReload: @escaping @Sendable (Policy) -> Void = { _ in }
    ) {
        self.path = path
        self.livePolicy = livePolicy
        self.store = store
        self.clock = clock
        self.pollInterval = pollInterval
        self.logger = logger
        self.onReload = onReload
    }

    /// What a reload did.
    public enum Outcome: Sendable, Equatable {
        /// The file holds the policy already in force (or the one last refused).
        case unchanged
        case loaded(hash: String)
        /// The edit with this hash did not validate.
        case refused(hash: String, errors: [String])
        /// The file could not be read; the policy in force stays.
        case unreadable(String)
    }

    public func run() async throws {
        let hangups = AsyncStream<Void> { continuation in
            signal(SIGHUP, SIG_IGN)
            // Cancelled once, when the stream ends; nothing else touches it after `resume()`.
            nonisolated(unsafe) let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            continuation.onTermination = { _ in source.cancel() }
        }
        let checker = Checker(reloader: self)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hangups {
                    logger.notice("SIGHUP: reading the policy again", metadata: ["path": "\(path)"])
                    await checker.check()
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    await checker.check()
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Serializes checks, and remembers a refused edit so that it is reported once, not every poll. The file is read,
    /// parsed and put in force inside the actor without suspending, so a SIGHUP during a poll cannot let an older read
    /// replace a newer one.
    actor Checker {
        let reloader: PolicyReloader
        var lastRefusedHash: String?

        init(reloader: PolicyReloader) {
            self.reloader = reloader
        }

        @discardableResult
        func check() async -> Outcome {
            let (outcome, draft) = reloader.evaluate(unlessRefused: lastRefusedHash)
            if case .refused(let hash, _) = outcome { lastRefusedHash = hash }
            await reloader.record(draft)
            return outcome
        }
    }

    /// Reads the file and puts it in force if it validates and differs from the policy in force.
    ///
    /// - Parameter unlessRefused: the hash of an edit already refused, which is not refused (and audited) again.
    public func reload(unlessRefused refusedHash: String? = nil) async -> Outcome {
        let (outcome, draft) = evaluate(unlessRefused: refusedHash)
        await record(draft)
        return outcome
    }

    /// The synchronous part of a reload: read, parse, put in force, log. Returns the audit event to record.
    func evaluate(unlessRefused refusedHash: String?) -> (Outcome, AuditDraft?) {
        let text: String
        do {
            text = try PolicyFileReader.contents(of: path)
        } catch {
            return (.unreadable(error.description), nil)
        }
        let hash = Policy.hash(of: text)
        let current = livePolicy.current
        guard hash != current.hash, hash != refusedHash else { return (.unchanged, nil) }
        let now = clock.now()
        do {
            let (policy, warnings) = try PolicyParser(file: path).parse(text)
            for warning in warnings { logger.warning("\(warning.description)") }
            livePolicy.replace(with: policy, at: now)
            onReload(policy)
            logger.notice(
                "policy reloaded: new gates open under sha256 \(policy.hash.prefix(12)) (was \(current.hash.prefix(12))); open gates keep theirs",
                metadata: ["path": "\(path)"])
            let draft = AuditDraft(
                at: now, actor: "greenlight", action: .policyLoaded,
                details: ["source": policy.source, "policy_hash": policy.hash, "previous_hash": current.hash, "trigger": "reload"])
            return (.loaded(hash: policy.hash), draft)
        } catch {
            let errors = error.diagnostics.map(\.description)
            logger.error(
                "the edited policy does not validate; the policy in force (sha256 \(current.hash.prefix(12))) stays:\n\(errors.joined(separator: "\n"))",
                metadata: ["path": "\(path)"])
            let draft = AuditDraft(
                at: now, actor: "greenlight", action: .policyRefused,
                details: [
                    "source": path, "refused_hash": hash, "policy_hash": current.hash, "errors": errors.prefix(20).joined(separator: "\n"),
                ])
            return (.refused(hash: hash, errors: errors), draft)
        }
    }

    /// Audits a reload. Not cancelled with the reloader: the policy is already in force, and a shutdown arriving now
    /// must not lose the evidence of it.
    func record(_ draft: AuditDraft?) async {
        guard let draft else { return }
        await Task { [store, logger] in
            do {
                try await store.record(draft)
            } catch {
                logger.error("could not audit the policy reload: \(error)", metadata: ["action": "\(draft.action)"])
            }
        }.value
    }
}

import Dispatch
import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightPolicyFile
import GreenlightStore
import Logging
import ServiceLifecycle

/// Reloads the policy file on `SIGHUP` and when its contents change, the way operators expect of a daemon.
///
/// A policy that validates replaces the one in force for gates opened from then on (gates already open keep their
/// plan, invariant 7), with a `policy.loaded` audit event naming the old and new hashes. One that does not validate, or a
/// file that cannot be read (deleted, unreadable, too large), is refused: the old policy stays, the reason is logged
/// and a `policy.refused` event is audited, once per distinct failure rather than on every poll.
public struct PolicyReloader: Service {
    let path: String
    let livePolicy: LivePolicy
    let store: any AuditLog
    let clock: any WallClock
    /// Also told about a new policy: the Slack directory maps people and groups by it.
    let onReload: @Sendable (Policy) -> Void
    let logger: Logger
    /// How often the file is checked for edits; `SIGHUP` checks at once.
    let pollInterval: Duration

    public init(
        path: String, livePolicy: LivePolicy, store: any AuditLog, clock: any WallClock, pollInterval: Duration = .seconds(2),
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
        /// The file holds the policy already in force (or fails as it did when last reported).
        case unchanged
        case loaded(hash: String)
        /// The edit with this hash did not validate.
        case refused(hash: String, errors: [String])
        /// The file could not be read (the reason); the policy in force stays.
        case unreadable(String)
    }

    /// A failure already reported (logged and audited), which is not reported again until the file changes.
    enum Failure: Equatable {
        case invalid(hash: String)
        case unreadable(reason: String)
    }

    /// Every `SIGHUP` the process receives from now on, until the stream is dropped. The signal's default action, ending
    /// the process, is replaced.
    static func hangups() -> AsyncStream<Void> {
        AsyncStream<Void> { continuation in
            signal(SIGHUP, SIG_IGN)
            // Cancelled once, when the stream ends; nothing else touches it after `resume()`.
            nonisolated(unsafe) let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            continuation.onTermination = { _ in source.cancel() }
        }
    }

    public func run() async throws {
        let hangups = Self.hangups()
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

    /// Serializes checks, and remembers the failure last reported so that it is reported once, not every poll. The file
    /// is read, parsed and put in force inside the actor without suspending, so a SIGHUP during a poll cannot let an
    /// older read replace a newer one.
    actor Checker {
        let reloader: PolicyReloader
        var reported: Failure?

        init(reloader: PolicyReloader) {
            self.reloader = reloader
        }

        @discardableResult
        func check() async -> Outcome {
            let (outcome, draft, failure) = reloader.evaluate(unlessReported: reported)
            reported = failure
            await reloader.record(draft)
            return outcome
        }
    }

    /// Reads the file and puts it in force if it validates and differs from the policy in force; reports (logs and
    /// audits) a file that does not validate or cannot be read.
    public func reload() async -> Outcome {
        let (outcome, draft, _) = evaluate(unlessReported: nil)
        await record(draft)
        return outcome
    }

    /// The synchronous part of a reload: read, parse, put in force, log. Returns the audit event to record, and the
    /// failure that now stands (`nil` once the file reads and the policy in force is the file's).
    ///
    /// - Parameter reported: the failure last reported, which is not reported again.
    func evaluate(unlessReported reported: Failure?) -> (Outcome, AuditDraft?, Failure?) {
        let current = livePolicy.current
        let text: String
        do {
            text = try PolicyFileReader.contents(of: path)
        } catch {
            let failure = Failure.unreadable(reason: error.description)
            guard failure != reported else { return (.unchanged, nil, failure) }
            logger.warning(
                "\(error.description); the policy in force (sha256 \(current.hash.prefix(12))) stays", metadata: ["path": "\(path)"])
            let draft = AuditDraft(
                PolicyRefused(source: path, inForce: current.hash, .unreadable(error.description)), by: .greenlight, at: clock.now())
            return (.unreadable(error.description), draft, failure)
        }
        let hash = Policy.hash(of: text)
        guard hash != current.hash else { return (.unchanged, nil, nil) }
        guard reported != .invalid(hash: hash) else { return (.unchanged, nil, reported) }
        let now = clock.now()
        do {
            let (policy, warnings) = try PolicyParser(file: path).parse(text)
            for warning in warnings { logger.warning("\(warning.description)") }
            livePolicy.replace(with: policy, at: now)
            onReload(policy)
            logger.notice(
                "policy reloaded: new gates open under sha256 \(policy.hash.prefix(12)) (was \(current.hash.prefix(12))); open gates keep theirs",
                metadata: ["path": "\(path)"])
            let draft = AuditDraft(PolicyLoaded(reloaded: policy, previousHash: current.hash), by: .greenlight, at: now)
            return (.loaded(hash: policy.hash), draft, nil)
        } catch {
            // At most PolicyLimits.maximumDiagnostics of each severity, then a line counting the rest, as the parser
            // reports them: the log and the audit event say the same.
            let errors = error.diagnostics.map(\.description)
            logger.error(
                "the edited policy does not validate; the policy in force (sha256 \(current.hash.prefix(12))) stays:\n\(errors.joined(separator: "\n"))",
                metadata: ["path": "\(path)"])
            let draft = AuditDraft(
                PolicyRefused(source: path, inForce: current.hash, .invalid(refusedHash: hash, errors: errors)), by: .greenlight, at: now)
            return (.refused(hash: hash, errors: errors), draft, .invalid(hash: hash))
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

/// Stands in for the reloader when `serve` has no `--config`: SIGHUP asks a daemon to read its configuration again, and
/// its default action would end the server. Without a policy file there is nothing to read, so it is logged and the
/// server goes on with the policy it has.
public struct HangupWithoutPolicyFile: Service {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func run() async throws {
        let hangups = PolicyReloader.hangups()
        logger.info("no policy file (serve was started without --config): SIGHUP has nothing to reload and is only logged")
        for await _ in hangups.cancelOnGracefulShutdown() {
            logger.info("SIGHUP: there is no policy file to reload (serve was started without --config); the policy in force stays")
        }
    }
}

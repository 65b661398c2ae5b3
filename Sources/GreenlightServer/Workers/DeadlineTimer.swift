import Foundation
import GreenlightCore
import GreenlightStore
import Logging
import ServiceLifecycle

/// Decides gates whose deadline has passed, by their policy's `on_timeout`, and fires their reminders and escalations
/// (invariant 8: durable timers).
///
/// Deadlines and timers live in the store, so one that passed while the server was down fires as soon as the timer
/// starts, and once: the store marks each in the transaction that acts on it. Between them the timer sleeps until the
/// earliest, and is woken early when a new gate (perhaps with an earlier one) is opened, or a staged gate changes (a
/// stage that opens brings its own deadline and timers); it never polls.
struct DeadlineTimer: Service {
    let gatekeeper: Gatekeeper
    let logger: Logger

    func run() async throws {
        let ledger = gatekeeper.ledger
        let clock = gatekeeper.clock
        let wake = WakeSignal()
        // Observed before the loop's first read of the next deadline, so that no gate opened in between is missed.
        // A new gate brings a deadline and timers, and so does a vote that opens a stage; other votes bring none, and
        // waking for them would cost the writer two empty transactions per vote.
        let opened = ledger.changes.observeAll { gate in
            if gate.state == .pending && (gate.version == 1 || (gate.plan.stages.count > 1 && gate.lastVoteOpenedStage)) { wake.ring() }
        }
        defer { opened.cancel() }
        try await withGracefulShutdownHandler {
            try await cancelWhenGracefulShutdown {
                await loop(ledger: ledger, clock: clock, wake: wake)
            }
        } onGracefulShutdown: {
            // Long-polls would otherwise hold the drain for up to their full wait; their clients reconnect.
            gatekeeper.releaseWaiters()
        }
    }

    private func loop(ledger: GateLedger, clock: any WallClock, wake: WakeSignal) async {
        var failures = 0
        while !Task.isCancelled {
            let next: Date?
            do {
                let decided = try await ledger.decideExpiredGates(at: clock.now())
                for gate in decided {
                    logger.info("gate timed out", metadata: ["gate": "\(gate.id)", "outcome": "\(gate.outcome?.rawValue ?? "")"])
                }
                for fired in try await ledger.fireDueTimers(at: clock.now()) {
                    logger.info("gate \(fired.timer.kind == .reminder ? "reminder" : "escalation")", metadata: ["gate": "\(fired.gate.id)"])
                }
                let deadline = try await ledger.nextDeadline()
                let timer = try await ledger.nextTimerDue()
                next = [deadline, timer].compactMap { $0 }.min()
                failures = 0
            } catch {
                // Stopping (the server shuts down): not a failure of the store.
                if Task.isCancelled { return }
                // The store is unreachable: try again with backoff, up to 30 s apart.
                logger.error("deciding expired gates failed", metadata: ["error": "\(error)", "attempt": "\(failures + 1)"])
                let retry = Backoff.delay(afterFailures: failures, initial: 0.5, maximum: 30)
                failures += 1
                try? await clock.sleep(until: clock.now().addingTimeInterval(retry))
                continue
            }
            // Sleep until the earliest deadline or timer, or until a new gate arrives: at most an hour, to bound clock
            // drift, or the feed's re-check interval when other replicas open gates this one may not hear of.
            let recheck = ledger.changes.recheckInterval ?? 3_600
            await wake.sleep(until: min(next ?? .distantFuture, clock.now().addingTimeInterval(recheck)), on: clock)
        }
    }
}

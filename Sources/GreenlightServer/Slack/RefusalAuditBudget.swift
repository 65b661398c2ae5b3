import Foundation
import GreenlightAudit
import GreenlightCore
import Synchronization

/// How many refused Slack requests are written to the audit log one by one; beyond that, a count per minute.
///
/// A forged or stale request is evidence that someone tried to decide a gate without Slack, so it is audited. But an
/// audit event is a durable write, and these requests come from anyone who can reach the URL: unbounded, a sender with
/// no secret could grow the log at will and keep the store's single writer busy while genuine votes wait. So in each
/// minute (a fixed `window`), each remote address has `perRemote` refusals audited and all addresses together `total`.
/// A refusal beyond the budget is still answered 401; the first one of the minute is logged as a warning, and all of
/// them are counted. The count is written as one event, ``Summary``, with the first refusal that arrives after that
/// minute (there is no timer: until another refusal comes, the warning in the log is the trace).
final class RefusalAuditBudget: Sendable {
    /// What to do with one refusal.
    enum Admission: Equatable {
        /// Write it.
        case audit
        /// Count it without writing; `firstInWindow` is true for the minute's first such refusal (log it as a warning
        /// then, and quietly after).
        case suppress(firstInWindow: Bool)
    }

    /// The refusals of one past minute that were counted but not written: the details of their audit event.
    typealias Summary = SlackRequestRefused.OverBudget

    /// Addresses counted one by one in a minute; beyond that, their refusals are counted together.
    static let countedAddresses = 1_024
    /// How many addresses a summary names.
    static let topAddresses = 5

    private struct State {
        var window: Int64 = .min
        var audited: [String: Int] = [:]
        var auditedTotal = 0
        var unwritten: [String: Int] = [:]
        var unwrittenTotal = 0
        var fromUncountedAddresses = 0
    }

    let perRemote: Int
    let total: Int
    let window: TimeInterval
    private let state = Mutex(State())

    init(perRemote: Int = 10, total: Int = 100, window: TimeInterval = 60) {
        self.perRemote = perRemote
        self.total = total
        self.window = window
    }

    /// Whether to audit a refusal from `remote` at `now`, and the summary of an earlier minute that is due (write it
    /// first).
    func admit(remote: String, at now: Date) -> (admission: Admission, due: Summary?) {
        state.withLock { state in
            var due: Summary?
            let current = Int64((now.timeIntervalSince1970 / window).rounded(.down))
            if current != state.window {
                due = summary(of: state)
                state = State(window: current)
            }
            if state.audited[remote, default: 0] < perRemote && state.auditedTotal < total {
                state.audited[remote, default: 0] += 1
                state.auditedTotal += 1
                return (.audit, due)
            }
            if state.unwritten[remote] != nil || state.unwritten.count < Self.countedAddresses {
                state.unwritten[remote, default: 0] += 1
            } else {
                state.fromUncountedAddresses += 1
            }
            state.unwrittenTotal += 1
            return (.suppress(firstInWindow: state.unwrittenTotal == 1), due)
        }
    }

    private func summary(of state: State) -> Summary? {
        guard state.unwrittenTotal > 0 else { return nil }
        let start = Date(timeIntervalSince1970: Double(state.window) * window)
        let top = state.unwritten.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(Self.topAddresses)
        return Summary(
            from: start, to: start.addingTimeInterval(window), unwritten: state.unwrittenTotal,
            addresses: state.unwritten.count, fromUncountedAddresses: state.fromUncountedAddresses,
            top: top.map { Summary.Sender(address: $0.key, count: $0.value) })
    }
}

extension SlackRequestRefused.OverBudget {
    /// The details of the summary's audit event.
    var details: [String: String] { SlackRequestRefused(.overBudget(self)).details }
}

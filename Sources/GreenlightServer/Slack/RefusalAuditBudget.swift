import Foundation
import Synchronization

/// How many refused Slack requests are written to the audit log: each one, up to a budget; beyond it, a count.
///
/// A forged or stale request is evidence that someone tried to decide a gate without Slack, so it is audited. But an
/// audit event is a durable write, and these requests come from anyone who can reach the URL: unbounded, a sender with
/// no secret could grow the log at will and keep the store's single writer busy while genuine votes wait. So each
/// remote address has `perRemote` refusals audited per `window`, and all addresses together `total`. A refusal beyond
/// the budget is still answered 401 and logged; it is counted, and the next audited refusal from the same address
/// says how many were not written before it (`suppressed_since_last`).
final class RefusalAuditBudget: Sendable {
    /// What to do with one refusal.
    enum Admission: Equatable {
        /// Write it, saying how many refusals from the same address went unwritten since the last one written.
        case audit(suppressedSinceLast: Int)
        /// Count it without writing; `firstInWindow` is true for the address's first such refusal in this window (log it
        /// as a warning then, and quietly after).
        case suppress(firstInWindow: Bool)
    }

    /// Addresses whose unwritten refusals are counted one by one; beyond that, they share one count.
    static let countedAddresses = 1_024
    /// Where unwritten refusals from addresses beyond ``countedAddresses`` are counted.
    static let otherAddresses = "other addresses"

    private struct State {
        var window: Int64 = .min
        var audited: [String: Int] = [:]
        var auditedTotal = 0
        var warned: Set<String> = []
        var unwritten: [String: Int] = [:]
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

    func admit(remote: String, at now: Date) -> Admission {
        state.withLock { state in
            let current = Int64((now.timeIntervalSince1970 / window).rounded(.down))
            if current != state.window {
                state.window = current
                state.audited = [:]
                state.auditedTotal = 0
                state.warned = []
            }
            if state.audited[remote, default: 0] < perRemote && state.auditedTotal < total {
                state.audited[remote, default: 0] += 1
                state.auditedTotal += 1
                return .audit(suppressedSinceLast: state.unwritten.removeValue(forKey: remote) ?? 0)
            }
            let key = state.unwritten[remote] != nil || state.unwritten.count < Self.countedAddresses ? remote : Self.otherAddresses
            state.unwritten[key, default: 0] += 1
            let first = state.warned.count < Self.countedAddresses && state.warned.insert(remote).inserted
            return .suppress(firstInWindow: first)
        }
    }
}

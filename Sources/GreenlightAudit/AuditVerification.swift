/// The result of checking an audit log end to end.
public enum AuditVerification: Sendable, Equatable, CustomStringConvertible {
    /// Every event links to the one before it and the head matches the last event.
    case intact(events: Int64, headHash: String)
    /// The first event that does not check out, and what is wrong with it.
    case broken(sequence: Int64, problem: String)

    public var isIntact: Bool {
        if case .intact = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .intact(let events, let headHash):
            return "audit log intact: \(events) event(s), head \(headHash)"
        case .broken(let sequence, let problem):
            return "audit log broken at event \(sequence): \(problem)"
        }
    }
}

/// Checks events one at a time, in sequence order, so that a long log is verified without holding it in memory.
public struct AuditVerifier: Sendable {
    private var expectedSequence: Int64 = 1
    private var previousHash = AuditChain.genesisHash
    private(set) var failure: AuditVerification?
    /// The first sequence hashed with ``AuditChain/TimeText/storedMillisecond``; the events before it were written
    /// before schema v5 and are checked as they were hashed.
    private let storedMillisecondFrom: Int64

    /// - Parameter storedMillisecondFrom: the first event whose hash covers `at` as the stored millisecond (1 for a
    ///   log begun at schema v5 or later: every event).
    public init(storedMillisecondFrom: Int64 = 1) {
        self.storedMillisecondFrom = storedMillisecondFrom
    }

    /// Checks the next event. Returns `false` once the chain is broken (later events are not worth reading).
    public mutating func check(_ event: AuditEvent) -> Bool {
        guard failure == nil else { return false }
        if event.sequence != expectedSequence {
            let problem =
                event.sequence > expectedSequence
                ? "event(s) \(expectedSequence)…\(event.sequence - 1) are missing (removed)"
                : "sequence \(event.sequence) appears where \(expectedSequence) was expected (reordered or duplicated)"
            failure = .broken(sequence: event.sequence, problem: problem)
            return false
        }
        if event.previousHash != previousHash {
            failure = .broken(
                sequence: event.sequence, problem: "it does not link to event \(event.sequence - 1) (events removed, inserted or reordered)")
            return false
        }
        let time: AuditChain.TimeText = event.sequence < storedMillisecondFrom ? .beforeSchemaV5 : .storedMillisecond
        if AuditChain.hash(of: event, time: time) != event.hash {
            failure = .broken(sequence: event.sequence, problem: "its content does not match its hash (the event was edited)")
            return false
        }
        previousHash = event.hash
        expectedSequence += 1
        return true
    }

    /// The verdict, given the chain head recorded by the store (`nil` when the store has no events).
    public func finish(head: (sequence: Int64, hash: String)?) -> AuditVerification {
        if let failure { return failure }
        let last = expectedSequence - 1
        switch head {
        case nil where last == 0:
            return .intact(events: 0, headHash: AuditChain.genesisHash)
        case nil:
            return .broken(sequence: last, problem: "the log has events but no recorded head (the head was removed)")
        case let head? where head.sequence != last || head.hash != previousHash:
            return .broken(
                sequence: min(last + 1, head.sequence),
                problem:
                    "the recorded head is event \(head.sequence), but the log ends at event \(last) (events removed from the end, or the head edited)"
            )
        case _?:
            return .intact(events: last, headHash: previousHash)
        }
    }
}

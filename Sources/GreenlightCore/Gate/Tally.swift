/// Counts approvals against a gate's rules.
///
/// Each approval fills at most one seat. With rules `platform-leads × 1` and `finance × 1`, a person who sits in
/// both groups cannot satisfy both alone: "several groups" means several people. Seats are assigned by maximum
/// bipartite matching, so the order in which people approve never changes whether the quorum is met.
public struct Tally: Sendable, Equatable {
    /// Progress of one rule: who filled its seats so far.
    public struct Progress: Sendable, Equatable {
        public var group: String
        public var count: Int
        public var approvals: [String]
        public var isMet: Bool { approvals.count >= count }

        /// "1 of 2 from platform-leads (approved so far: alice)".
        public var summary: String { Tally.summary(group: group, count: count, approvals: approvals) }
    }

    /// What one rule still needs, worded the same in every view (CLI, Slack, web).
    public static func summary(group: String, count: Int, approvals: [String]) -> String {
        let sofar = approvals.isEmpty ? "" : " (approved so far: \(approvals.joined(separator: ", ")))"
        return "\(max(0, count - approvals.count)) of \(count) from \(group)\(sofar)"
    }

    /// Names the open stage after what it still needs, when a gate has several: "…, in stage 2 of 2 (finance)".
    public static func inStage(_ needs: String, open index: Int, of count: Int, named name: String) -> String {
        count > 1 ? "\(needs), in stage \(index + 1) of \(count) (\(name))" : needs
    }

    public let progress: [Progress]

    /// Whether every rule has all its seats filled.
    public var isMet: Bool { progress.allSatisfy(\.isMet) }

    /// How many approvals are still needed in total.
    public var missing: Int { progress.reduce(0) { $0 + max(0, $1.count - $1.approvals.count) } }

    public init(requirements: [ApprovalRequirement], approvers: [String]) {
        // Seats: one per required approval. seatOwner[s] is the approver index filling seat s.
        var seats: [Int] = []
        for (index, requirement) in requirements.enumerated() {
            seats += Array(repeating: index, count: requirement.count)
        }
        var seatOwner = [Int?](repeating: nil, count: seats.count)

        func canSit(_ approver: Int, _ seat: Int) -> Bool {
            requirements[seats[seat]].eligible.contains(approvers[approver])
        }
        // Kuhn's augmenting paths: sizes are tiny (a few dozen at most).
        func place(_ approver: Int, _ visited: inout [Bool]) -> Bool {
            for seat in seats.indices where !visited[seat] && canSit(approver, seat) {
                visited[seat] = true
                if let owner = seatOwner[seat] {
                    if place(owner, &visited) {
                        seatOwner[seat] = approver
                        return true
                    }
                } else {
                    seatOwner[seat] = approver
                    return true
                }
            }
            return false
        }
        for approver in approvers.indices {
            var visited = [Bool](repeating: false, count: seats.count)
            _ = place(approver, &visited)
        }

        var approvalsByRule = [[String]](repeating: [], count: requirements.count)
        for (seat, owner) in seatOwner.enumerated() {
            if let owner { approvalsByRule[seats[seat]].append(approvers[owner]) }
        }
        self.progress = requirements.enumerated().map { index, requirement in
            // Keep the order in which people approved, which is the order a reader expects.
            let filled = approvers.filter { approvalsByRule[index].contains($0) }
            return Progress(group: requirement.group, count: requirement.count, approvals: filled)
        }
    }
}

import Foundation

/// A moment in a pending gate's life when Greenlight speaks up without being asked: a reminder before the deadline, or
/// the call to the escalation groups. Like the deadline, each is stored when the gate opens and fires once, after a
/// restart too and whichever replica gets there first (invariant 8).
public struct GateTimer: Sendable, Equatable, Hashable {
    /// What the timer does. The raw values are stored: never rename one.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// `remind.before_deadline`: mention who can still approve.
        case reminder = "remind"
        /// `escalate.after`: mention the escalation groups.
        case escalation = "escalate"
    }

    public var kind: Kind
    public var due: Date

    public init(kind: Kind, due: Date) {
        self.kind = kind
        self.due = due
    }
}

extension Gate {
    /// The reminder and escalation of the gate's open stage, from its frozen plan: the reminder comes before the
    /// current deadline, the escalation counts from when the stage opened (the gate's opening, for the first). A timer
    /// that would fall at or before the stage opened, or at or after the deadline, is left out: it could only fire on
    /// a gate that is already decided.
    public var timers: [GateTimer] {
        guard plan.gated, state == .pending, let deadline else { return [] }
        let openedAt = stages.openedAt
        var timers: [GateTimer] = []
        if let reminder = plan.reminder {
            timers.append(GateTimer(kind: .reminder, due: deadline.addingTimeInterval(-reminder.beforeDeadline.seconds)))
        }
        if let escalation = plan.escalation {
            timers.append(GateTimer(kind: .escalation, due: openedAt.addingTimeInterval(escalation.after.seconds)))
        }
        return timers.filter { $0.due > openedAt && $0.due < deadline }
    }

    /// When the open stage's reminder is due, if it has one (the gate JSON's `next_reminder_at`).
    public var nextReminderAt: Date? { timers.first { $0.kind == .reminder }?.due }

    /// When the open stage escalates, if it does (the gate JSON's `escalates_at`).
    public var escalatesAt: Date? { timers.first { $0.kind == .escalation }?.due }

    /// Who can still approve: eligible for a rule that is not yet met, not barred, and not yet voted. Reminders mention them.
    public var awaitedApprovers: [String] {
        let staged = stages
        let voted = Set(votes.map(\.voter))
        var seen = Set<String>()
        let stage = plan.stages[staged.current]
        return zip(stage.requirements, staged.currentTally.progress).filter { !$0.1.isMet }.flatMap(\.0.eligible)
            .filter { !voted.contains($0) && plan.exclusion(for: $0) == nil && seen.insert($0).inserted }
    }
}

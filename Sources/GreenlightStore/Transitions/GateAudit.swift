import Foundation
import GreenlightAudit
import GreenlightCore

/// The audit events gate changes write: which record, by which actor, at which instant (docs/audit.md), in one place
/// for every store. The records own their details (GreenlightAudit's ``AuditRecord``s).
enum GateAudit {
    static func opened(_ gate: Gate) -> AuditDraft {
        AuditDraft(GateOpened(gate), by: .pipeline(gate.openedBy), at: gate.createdAt, gate: gate)
    }

    static func decided(_ gate: Gate) -> AuditDraft {
        // Whoever the gate records as its decider, rendered back exactly as it was written.
        let actor = gate.decidedBy.map(AuditActor.init(rendered:)) ?? .greenlight
        return AuditDraft(GateDecided(gate), by: actor, at: gate.decidedAt ?? gate.createdAt, gate: gate)
    }

    static func voteRecorded(_ vote: Vote, on gate: Gate) -> AuditDraft {
        AuditDraft(VoteRecorded(vote), by: .person(vote.voter), at: vote.at, gate: gate)
    }

    static func voteRefused(_ vote: Vote, _ refusal: VoteRefusal, on gate: Gate) -> AuditDraft {
        AuditDraft(VoteRefused(vote, refusal), by: .person(vote.voter), at: vote.at, gate: gate)
    }

    static func cancelRefused(_ refusal: VoteRefusal, by actor: AuditActor, at date: Date, on gate: Gate) -> AuditDraft {
        AuditDraft(CancelRefused(refusal), by: actor, at: date, gate: gate)
    }

    static func breakGlassRefused(_ refusal: VoteRefusal, by person: String, reason: String, at date: Date, on gate: Gate) -> AuditDraft {
        AuditDraft(BreakGlassRefused(refusal, givenReason: reason), by: .person(person), at: date, gate: gate)
    }

    /// A break-glass approval of a pending gate, past `bypassed`'s requirements.
    static func brokeGlass(
        by person: String, reason: String, uses: BreakGlassUses, bypassing bypassed: Gate, on gate: Gate, at date: Date
    )
        -> AuditDraft
    {
        let record = BreakGlassUsed(reason: reason, .approved(bypassed: bypassed.plan.requirementsSummary, count: uses.count))
        return AuditDraft(record, by: .person(person), at: date, gate: gate)
    }

    /// A break-glass given on a gate the freeze rejected, for the same deploy opened again.
    static func granted(_ grant: BreakGlassGrant, uses: BreakGlassUses, on gate: Gate) -> AuditDraft {
        let record = BreakGlassUsed(
            reason: grant.reason, .granted(frozen: gate.plan.frozen?.name ?? "", expiresAt: grant.expiresAt, count: uses.count))
        return AuditDraft(record, by: .person(grant.person), at: grant.grantedAt, gate: gate)
    }

    /// The deploy opened again under a grant, approved at once.
    static func grantUsed(_ grant: BreakGlassGrant, on gate: Gate) -> AuditDraft {
        let record = BreakGlassUsed(reason: grant.reason, .grantUsed(grantedOn: grant.gate, frozen: gate.plan.frozen?.name ?? ""))
        return AuditDraft(record, by: .person(grant.person), at: gate.createdAt, gate: gate)
    }

    /// The deploy opened again under a grant its holder may no longer use on it (its plan bars them now).
    static func grantRefused(_ grant: BreakGlassGrant, _ refusal: VoteRefusal, on gate: Gate) -> AuditDraft {
        AuditDraft(BreakGlassRefused(refusal, grantedOn: grant.gate), by: .person(grant.person), at: gate.createdAt, gate: gate)
    }

    static func timerFired(_ timer: GateTimer, on gate: Gate, at now: Date) -> AuditDraft {
        switch timer.kind {
        case .reminder: AuditDraft(GateReminded(due: timer.due, gate: gate), by: .greenlight, at: now, gate: gate)
        case .escalation: AuditDraft(GateEscalated(due: timer.due, gate: gate), by: .greenlight, at: now, gate: gate)
        }
    }
}

extension BreakGlassUses {
    /// This use counted with the others, for its audit event.
    var count: BreakGlassUsed.Count { BreakGlassUsed.Count(usesIn24h: used + 1, maxPerDay: limit) }
}

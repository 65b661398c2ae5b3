import Foundation
import GreenlightAudit
import GreenlightCore

/// The audit events gate changes write: their actors, actions and details (docs/audit.md), in one place for every
/// store.
enum GateAudit {
    static func opened(_ gate: Gate) -> AuditDraft {
        var details: [String: String] = [
            "commit": gate.request.commit,
            "rule": gate.plan.rule,
            "tier": gate.plan.tier,
            "policy_hash": gate.plan.policyHash,
            "requirements": gate.plan.requirementsSummary,
            "on_timeout": gate.plan.onTimeout.rawValue,
        ]
        details["deadline"] = gate.deadline.map(Timestamp.format)
        details["triggered_by"] = gate.request.triggeredBy
        if !gate.request.authors.isEmpty { details["authors"] = gate.request.authors.joined(separator: ", ") }
        if !gate.plan.exclusions.isEmpty {
            details["excluded"] = gate.plan.exclusions.map { "\($0.identity) (\($0.role.rawValue))" }.joined(separator: ", ")
        }
        return AuditDraft(
            at: gate.createdAt, actor: AuditActor.pipeline(gate.openedBy).description, action: .gateOpened, gate: gate, details: details)
    }

    static func decided(_ gate: Gate) -> AuditDraft {
        var details = ["state": gate.state.rawValue, "outcome": gate.outcome?.rawValue ?? "", "reason": gate.reason ?? ""]
        if gate.failOpen {
            details["fail_open"] = "true"
            details["fail_open_reason"] = gate.plan.failOpenReason
        }
        if gate.breakGlass { details["break_glass"] = "true" }
        if let frozen = gate.plan.frozen {
            details["frozen"] = frozen.name
            details["freeze_ends_at"] = Timestamp.format(frozen.endsAt)
        }
        let approvals = gate.votes.filter { $0.decision == .approve }.map(\.voter)
        if !approvals.isEmpty { details["approvals"] = approvals.joined(separator: ", ") }
        return AuditDraft(
            at: gate.decidedAt ?? gate.createdAt, actor: gate.decidedBy ?? AuditActor.greenlight.description, action: .gateDecided, gate: gate,
            details: details)
    }

    static func voteRecorded(_ vote: Vote, on gate: Gate) -> AuditDraft {
        var details = ["decision": vote.decision.rawValue, "via": vote.via.rawValue]
        details["comment"] = vote.comment
        return AuditDraft(at: vote.at, actor: vote.voter, action: .voteRecorded, gate: gate, details: details)
    }

    static func voteRefused(_ vote: Vote, _ refusal: VoteRefusal, on gate: Gate) -> AuditDraft {
        let details = ["decision": vote.decision.rawValue, "reason": refusal.code, "message": refusal.description, "via": vote.via.rawValue]
        return AuditDraft(at: vote.at, actor: vote.voter, action: .voteRefused, gate: gate, details: details)
    }

    static func cancelRefused(_ refusal: VoteRefusal, by actor: AuditActor, at date: Date, on gate: Gate) -> AuditDraft {
        AuditDraft(
            at: date, actor: actor.description, action: .cancelRefused, gate: gate, details: ["reason": refusal.code, "message": refusal.description])
    }

    static func breakGlassRefused(_ refusal: VoteRefusal, by person: String, reason: String, at date: Date, on gate: Gate) -> AuditDraft {
        let details = ["reason": refusal.code, "message": refusal.description, "given_reason": reason]
        return AuditDraft(at: date, actor: person, action: .breakGlassRefused, gate: gate, details: details)
    }

    /// A break-glass approval of a pending gate, past `bypassed`'s requirements.
    static func brokeGlass(
        by person: String, reason: String, uses: BreakGlassUses, bypassing bypassed: Gate, on gate: Gate, at date: Date
    )
        -> AuditDraft
    {
        var details = usesDetails(uses)
        details["reason"] = reason
        details["bypassed"] = bypassed.plan.requirementsSummary
        return AuditDraft(at: date, actor: person, action: .breakGlass, gate: gate, details: details)
    }

    /// A break-glass given on a gate the freeze rejected, for the same deploy opened again.
    static func granted(_ grant: BreakGlassGrant, uses: BreakGlassUses, on gate: Gate) -> AuditDraft {
        var details = usesDetails(uses)
        details["reason"] = grant.reason
        details["frozen"] = gate.plan.frozen?.name ?? ""
        details["applies_to"] = "the same deploy opened again before \(Timestamp.format(grant.expiresAt))"
        return AuditDraft(at: grant.grantedAt, actor: grant.person, action: .breakGlass, gate: gate, details: details)
    }

    /// The deploy opened again under a grant, approved at once.
    static func grantUsed(_ grant: BreakGlassGrant, on gate: Gate) -> AuditDraft {
        let details = ["reason": grant.reason, "granted_on": grant.gate.rawValue, "frozen": gate.plan.frozen?.name ?? ""]
        return AuditDraft(at: gate.createdAt, actor: grant.person, action: .breakGlass, gate: gate, details: details)
    }

    /// The deploy opened again under a grant its holder may no longer use on it (its plan bars them now).
    static func grantRefused(_ grant: BreakGlassGrant, _ refusal: VoteRefusal, on gate: Gate) -> AuditDraft {
        let details = ["reason": refusal.code, "message": refusal.description, "granted_on": grant.gate.rawValue]
        return AuditDraft(at: gate.createdAt, actor: grant.person, action: .breakGlassRefused, gate: gate, details: details)
    }

    static func timerFired(_ timer: GateTimer, on gate: Gate, at now: Date) -> AuditDraft {
        switch timer.kind {
        case .reminder:
            var details = ["due": Timestamp.format(timer.due), "awaiting": gate.awaitedApprovers.joined(separator: ", ")]
            details["deadline"] = gate.deadline.map(Timestamp.format)
            if let mention = gate.plan.reminder?.mention, !mention.isEmpty { details["mention"] = mention.joined(separator: ", ") }
            return AuditDraft(at: now, actor: AuditActor.greenlight.description, action: .gateReminded, gate: gate, details: details)
        case .escalation:
            let details = ["due": Timestamp.format(timer.due), "to": (gate.plan.escalation?.to ?? []).joined(separator: ", ")]
            return AuditDraft(at: now, actor: AuditActor.greenlight.description, action: .gateEscalated, gate: gate, details: details)
        }
    }

    private static func usesDetails(_ uses: BreakGlassUses) -> [String: String] {
        ["uses_in_24h": String(uses.used + 1), "max_per_day": String(uses.limit)]
    }
}

import Crypto
import Foundation
import GreenlightCore

/// Whether a stored row says what the audit log says of it. The log is witnessed; the rows are not: one SQL statement
/// can flip a gate's decision, swap a person in its plan, delete a vote or mint a token. So every fact a decision
/// rests on is checked against the events that recorded it — by `audit verify` for every row, and by the server before
/// it answers a pipeline with a decision or lets a token in.
public enum LogAgreement {
    /// SHA-256 (hex) of the canonical JSON of what the frozen plan decides with — who may approve in each stage and
    /// how many, who is barred, who may break glass, the deadline's rule and the freeze — recorded by `gate.opened` as
    /// `plan_hash`, so that the plan is bound to the log, not only summarized in it. Its notifications, reminders and
    /// escalations are left out: they decide nothing.
    public static func planHash(_ plan: GatePlan) -> String {
        var canonical: [String: Any] = [
            "gated": plan.gated, "rule": plan.rule, "tier": plan.tier, "policy_hash": plan.policyHash, "on_timeout": plan.onTimeout.rawValue,
            "timeout": plan.timeout.seconds,
            "stages": plan.stages.map { stage in
                [
                    "name": stage.name, "timeout": stage.timeout?.seconds ?? -1,
                    "requirements": stage.requirements.map { ["group": $0.group, "count": $0.count, "eligible": $0.eligible] as [String: Any] },
                ] as [String: Any]
            },
            "exclusions": plan.exclusions.map { ["identity": $0.identity, "role": $0.role.rawValue] },
        ]
        if let breakGlass = plan.breakGlass {
            canonical["break_glass"] = ["groups": breakGlass.groups, "eligible": breakGlass.eligible, "max_per_day": breakGlass.maxPerDay]
        }
        if let frozen = plan.frozen {
            canonical["frozen"] = ["name": frozen.name, "ends_at": Timestamp.format(frozen.endsAt)]
        }
        let data = (try? JSONSerialization.data(withJSONObject: canonical, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// What in `gate` disagrees with `events` (the gate's audit events, oldest first), or nil when all agree: its
    /// opening and plan, each vote, and its decision.
    public static func disagreement(of gate: Gate, with events: [AuditEvent]) -> String? {
        let id = gate.id
        if let problem = openingDisagreement(of: gate, opened: events.first(where: { $0.action == AuditAction.gateOpened.rawValue })) {
            return problem
        }
        // Votes: each recorded vote is in the row, and each vote in the row was recorded (or is a break-glass approval).
        let recorded = events.filter { $0.action == AuditAction.voteRecorded.rawValue }.map { "\($0.actor) \($0.details["decision"] ?? "")" }
        let brokeGlass = events.filter { $0.action == AuditAction.breakGlass.rawValue }.map { "\($0.actor) approve" }
        let stored = gate.votes.map { "\($0.voter) \($0.decision.rawValue)" }
        if let missing = recorded.first(where: { !stored.contains($0) }) {
            return "gate \(id)'s vote '\(missing)' is in the log but not in its row: a vote was deleted or changed"
        }
        if let unrecorded = stored.first(where: { !recorded.contains($0) && !brokeGlass.contains($0) }) {
            return "gate \(id)'s vote '\(unrecorded)' is in its row but the log never recorded it"
        }
        let decided = events.filter { $0.action == AuditAction.gateDecided.rawValue }
        guard gate.state.isDecided else {
            if let event = decided.first {
                return "gate \(id) is pending in its row, but the log decided it \(event.details["state"] ?? "") (event \(event.sequence))"
            }
            return nil
        }
        guard decided.count == 1, let event = decided.first else {
            return decided.isEmpty
                ? "gate \(id) is \(gate.state.rawValue) in its row, but the log never recorded its decision"
                : "the log decided gate \(id) \(decided.count) times"
        }
        let expectedDecision = GateDecided(gate).details
        for key in [GateDecided.Key.state, .outcome, .approvals, .breakGlass].map(\.rawValue) where event.details[key] != expectedDecision[key] {
            return
                "gate \(id)'s decision \(key) is '\(expectedDecision[key] ?? "")' in its row, but '\(event.details[key] ?? "")' in the log (event \(event.sequence))"
        }
        return nil
    }

    /// What in `gate`'s opening — its claimed facts, rule, tier, policy, requirements, exclusions and frozen plan
    /// (`plan_hash`) — disagrees with its `gate.opened` event, or nil. An opening is written once, so this holds for good
    /// once it holds: the server checks it once per gate before counting votes.
    public static func openingDisagreement(of gate: Gate, opened: AuditEvent?) -> String? {
        let id = gate.id
        guard let opened else {
            return "gate \(id) is stored, but the log never recorded its opening (gate.opened)"
        }
        let expected = GateOpened(gate).details
        // Logs from before plan_hash was recorded bind the plan by its summary only.
        // The deadline moves as stages open; the rest of the opening is fixed for good. Openings recorded before
        // plan_hash bind neither it nor the requirements' wording, which changed once.
        let modern = opened.details[GateOpened.Key.planHash.rawValue] != nil
        for key in expected.keys.sorted()
        where key != GateOpened.Key.deadline.rawValue
            && (modern || (key != GateOpened.Key.planHash.rawValue && key != GateOpened.Key.requirements.rawValue))
        {
            guard opened.details[key] == expected[key] else {
                return
                    "gate \(id)'s \(key) is '\(expected[key] ?? "")' in its row, but '\(opened.details[key] ?? "")' in the log (event \(opened.sequence))"
            }
        }
        for (name, stored, logged) in [
            ("service", gate.request.service, opened.service), ("environment", gate.request.environment, opened.environment),
            ("artifact", gate.request.artifact, opened.artifact),
        ] where stored != logged {
            return "gate \(id)'s \(name) is '\(stored)' in its row, but '\(logged ?? "")' in the log (event \(opened.sequence))"
        }
        return nil
    }

    /// Why `token` (stored under `secretHash`) should not authenticate, or nil: the log must hold its `token.created`,
    /// with the same kind, person, scope and — for tokens made since the binding is recorded — secret. `created` are the
    /// log's `token.created` events.
    public static func disagreement(of token: AccessToken, secretHash: String, with created: [AuditEvent]) -> String? {
        let expected = TokenCreated(token, secretHash: secretHash).details
        let binding = TokenCreated.Key.secretBinding.rawValue
        let matches = created.contains { event in
            guard event.action == AuditAction.tokenCreated.rawValue else { return false }
            // A record from before the binding was kept binds all but the secret.
            return event.details[binding] == nil ? event.details == expected.filter { $0.key != binding } : event.details == expected
        }
        guard matches else {
            return
                "token '\(token.name)' (\(token.kind.rawValue)) is stored, but the log never recorded its creation with that kind, person, scope and secret"
        }
        return nil
    }

    /// What `token.created` records of a token's secret: SHA-256 of a label and the stored hash of the secret, which
    /// says nothing of the secret (the hash is of 32 random bytes) but changes with it.
    public static func secretBinding(ofSecretHash secretHash: String) -> String {
        SHA256.hash(data: Data("greenlight token secret\n\(secretHash)".utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

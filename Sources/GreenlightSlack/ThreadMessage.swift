import Foundation
import GreenlightCore

/// The messages Greenlight posts in a card's thread while a gate waits: the reminder before the deadline and the call
/// to the escalation groups. Mentions are given ready-made (`<@U…>`, `<!subteam^S…>`), since only the caller knows
/// how the policy's people map to Slack; everything else is escaped.
public enum ThreadMessage {
    /// "Reminder: still needs 1 of 2 from leads (approved so far: alice), before <date>. <@U…> <@U…>".
    public static func reminder(for gate: Gate, mentions: [String]) -> String {
        let deadline = gate.deadline.map { " before " + SlackText.date(Int($0.timeIntervalSince1970), fallback: Timestamp.format($0)) } ?? ""
        let then = gate.plan.onTimeout == .reject ? "then it is rejected" : "then it is approved (fail-open)"
        let who = mentions.isEmpty ? "" : "\nCan approve: " + SlackText.list(mentions, limit: 2_000, separator: " ")
        return SlackText.truncate(
            ":alarm_clock: *Reminder:* \(target(gate)) still needs \(SlackText.escape(GateCard.needs(gate)))\(deadline); \(then).\(who)",
            to: BlockKitLimits.messageText)
    }

    /// "Escalation: … has waited since <date> and still needs …. Calling in <!subteam^S…>".
    public static func escalation(for gate: Gate, mentions: [String]) -> String {
        let since = SlackText.date(Int(gate.createdAt.timeIntervalSince1970), fallback: Timestamp.format(gate.createdAt))
        let groups = (gate.plan.escalation?.to ?? []).map(SlackText.escape).joined(separator: ", ")
        let who = mentions.isEmpty ? " (\(groups))" : ": " + SlackText.list(mentions, limit: 2_000, separator: " ") + " (\(groups))"
        return SlackText.truncate(
            ":rotating_light: *Escalation:* \(target(gate)) has waited since \(since) and still needs \(SlackText.escape(GateCard.needs(gate))). "
                + "Calling in\(who).",
            to: BlockKitLimits.messageText)
    }

    /// The channel-wide announcement of a break-glass on a pending gate: `@here`, who, what, why (`reason` as the person
    /// gave it; without it, the gate's reason), and where the review starts.
    public static func breakGlass(for gate: Gate, reason: String? = nil) -> String {
        let who = SlackText.escape(gate.decidedBy ?? "someone")
        let artifact = SlackText.escape(gate.request.artifact)
        let bypassed = SlackText.escape(gate.plan.requirementsSummary)
        return SlackText.truncate(
            "<!here> :rotating_light: *Break-glass:* \(who) approved \(target(gate)) (`\(artifact)`) without the usual approvals "
                + "(\(bypassed)).\n*Reason:* \(SlackText.escape(reason ?? gate.reason ?? ""))\n"
                + "Review it after the incident: `greenlight audit query --break-glass`",
            to: BlockKitLimits.messageText)
    }

    /// The channel-wide announcement of a break-glass on a deploy the freeze stopped: its next attempt goes through.
    public static func breakGlassGrant(for gate: Gate, person: String, reason: String) -> String {
        let freeze = gate.plan.frozen.map { " '\(SlackText.escape($0.name))'" } ?? ""
        return SlackText.truncate(
            "<!here> :rotating_light: *Break-glass:* \(SlackText.escape(person)) broke the freeze\(freeze) for \(target(gate)) "
                + "(`\(SlackText.escape(gate.request.artifact))`): the pipeline's next attempt at this deploy is approved without the usual "
                + "approvals.\n*Reason:* \(SlackText.escape(reason))\nReview it after the incident: `greenlight audit query --break-glass`",
            to: BlockKitLimits.messageText)
    }

    /// What a person is told, and only they see, when their click is refused.
    public static func refusal(_ reason: String, gate: Gate?) -> String {
        let what = gate.map { " on \(target($0))" } ?? ""
        return SlackText.truncate(":no_entry: Your click\(what) was not recorded: \(SlackText.escape(reason))", to: BlockKitLimits.messageText)
    }

    static func target(_ gate: Gate) -> String {
        "*\(SlackText.escape(gate.request.service)) → \(SlackText.escape(gate.request.environment))*"
    }
}

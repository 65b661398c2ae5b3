/// What an audit event records. The raw values are part of the public evidence format: never rename one.
public enum AuditAction: String, Sendable, Codable, CaseIterable {
    /// A pipeline opened a gate (details: rule, tier, requirements, deadline, policy hash).
    case gateOpened = "gate.opened"
    /// A pipeline was refused opening a gate (outside its token's scope).
    case gateOpenRefused = "gate.open_refused"
    /// A person's vote was recorded.
    case voteRecorded = "vote.recorded"
    /// A vote was refused: not an approver, self-approval, repeated vote, gate already decided.
    case voteRefused = "vote.refused"
    /// A token that may not read the audit log tried to.
    case auditReadRefused = "audit.read_refused"
    /// A gate was decided: approved, rejected, timed out or cancelled.
    case gateDecided = "gate.decided"
    /// A cancel was refused (not the pipeline that opened the gate, or already decided).
    case cancelRefused = "cancel.refused"
    /// The gate's Slack card was posted (details: channel, ts).
    case gateNotified = "gate.notified"
    /// Outbound work was given up after an error retrying cannot fix (details: kind, error).
    case notificationFailed = "notification.failed"
    /// A pending gate's reminder fired (details: awaiting, deadline).
    case gateReminded = "gate.reminded"
    /// A pending gate was escalated (details: to).
    case gateEscalated = "gate.escalated"
    /// A request to `/slack/interactions` was refused: a forged, stale or unsigned request (details: reason, message,
    /// remote), or, beyond the audit budget, a minute's count of them (details: reason `over_audit_budget`, unwritten,
    /// addresses, from, to, top).
    case slackRequestRefused = "slack.request_refused"
    /// A token was issued (its secret is never recorded).
    case tokenCreated = "token.created"
    /// The server started with a policy, or reloaded an edited one (details: source, policy_hash; on a reload
    /// previous_hash and trigger).
    case policyLoaded = "policy.loaded"
    /// An edited policy did not validate and was not loaded; the previous one stays in force (details: source,
    /// refused_hash, policy_hash, errors).
    case policyRefused = "policy.refused"
    /// A break-glass holder approved a gate past its quorum or a freeze (details: reason, uses_in_24h,
    /// max_per_day, and bypassed; or, for a deploy the freeze stopped, frozen, applies_to and granted_on).
    case breakGlass = "gate.break_glass"
    /// A break-glass attempt was refused: not allowed, no reason, over the daily limit, gate decided.
    case breakGlassRefused = "break_glass.refused"
}

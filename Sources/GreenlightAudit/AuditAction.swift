/// What an audit event records. The raw values are part of the public evidence format: never rename one. Each action's
/// details are its ``record``'s (docs/audit.md lists them).
public enum AuditAction: String, Sendable, Codable, CaseIterable {
    /// A pipeline opened a gate (``GateOpened``).
    case gateOpened = "gate.opened"
    /// A principal was refused opening a gate: not a pipeline, or outside its token's scope (``GateOpenRefused``).
    case gateOpenRefused = "gate.open_refused"
    /// A person's vote was recorded (``VoteRecorded``).
    case voteRecorded = "vote.recorded"
    /// A vote was refused: not an approver, self-approval, repeated vote, gate already decided, not a person, or a Slack
    /// click's own checks (``VoteRefused``).
    case voteRefused = "vote.refused"
    /// A principal that may not read the audit log tried to (``AuditReadRefused``).
    case auditReadRefused = "audit.read_refused"
    /// A gate was decided: approved, rejected, timed out or cancelled (``GateDecided``).
    case gateDecided = "gate.decided"
    /// A cancel was refused: not the pipeline that opened the gate, or already decided (``CancelRefused``).
    case cancelRefused = "cancel.refused"
    /// The gate's Slack card was posted (``GateNotified``).
    case gateNotified = "gate.notified"
    /// Outbound work was given up after an error retrying cannot fix (``NotificationFailed``).
    case notificationFailed = "notification.failed"
    /// A pending gate's reminder fired (``GateReminded``).
    case gateReminded = "gate.reminded"
    /// A pending gate was escalated (``GateEscalated``).
    case gateEscalated = "gate.escalated"
    /// A request to `/slack/interactions` was refused: a forged, stale or unsigned request, or, beyond the audit budget,
    /// a minute's count of them (``SlackRequestRefused``).
    case slackRequestRefused = "slack.request_refused"
    /// A token was issued; its secret is never recorded (``TokenCreated``).
    case tokenCreated = "token.created"
    /// The server started with a policy, or reloaded an edited one (``PolicyLoaded``).
    case policyLoaded = "policy.loaded"
    /// An edited policy did not validate, or the file could not be read; the previous one stays in force
    /// (``PolicyRefused``).
    case policyRefused = "policy.refused"
    /// A break-glass holder approved a gate past its quorum, or let a frozen-out deploy's next attempt through
    /// (``BreakGlassUsed``).
    case breakGlass = "gate.break_glass"
    /// A break-glass attempt was refused: not allowed, no reason, over the daily limit, gate decided, not a person
    /// (``BreakGlassRefused``).
    case breakGlassRefused = "break_glass.refused"
    /// A witness refused a checkpoint of the log as inconsistent with the tree it saw: a fork alarm
    /// (``WitnessConflict``).
    case witnessConflict = "audit.witness_conflict"
    /// A stored gate or token disagreed with the log, and the server refused to act on it (``StateMismatch``).
    case stateMismatch = "audit.state_mismatch"
}

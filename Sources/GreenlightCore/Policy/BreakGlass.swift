/// `break_glass: {allowed: [group: sre-admins], reason: required, max_per_day: 3}`: who may approve a gate at once,
/// skipping the quorum and any freeze, when production is on fire.
///
/// Every use is an audit event marked `break_glass` and listed by `greenlight audit query --break-glass`, so that it
/// can be reviewed after the incident; refused attempts are audited too.
public struct BreakGlass: Sendable, Equatable, Codable {
    /// Groups whose members may break glass.
    public var allowed: [String]
    /// Uses allowed per environment in any 24 hours (a rolling day, so that midnight does not reset the count).
    /// A reason is always required (policies may only write `reason: required`): an unexplained break-glass is not
    /// evidence.
    public var maxPerDay: Int

    /// The most uses a policy may allow a day: a typo such as `max_per_day: 30000` is refused, not trusted.
    public static let maximumPerDay = 100

    public init(allowed: [String], maxPerDay: Int) {
        self.allowed = allowed
        self.maxPerDay = maxPerDay
    }
}

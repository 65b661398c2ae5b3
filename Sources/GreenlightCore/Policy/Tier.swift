/// A risk tier: `tiers: [{name: schema-migration, when: {…}, require: […]}]`.
///
/// Tiers are tried in order and the first whose `when` matches the gate applies. Its keys replace the environment's
/// (key by key, as an environment's replace `default`'s), so a tier says exactly what its gates need; keys it leaves
/// out come from the environment, then `default`. `gate: none` in a tier records the deploy without gating it.
public struct Tier: Sendable, Equatable {
    public var name: String
    public var when: TierCondition
    /// The tier's own keys. Never holds `freeze` or `break_glass`, which belong to environments.
    public var rule: Policy.EnvironmentRule

    public init(name: String, when: TierCondition, rule: Policy.EnvironmentRule) {
        self.name = name
        self.when = when
        self.rule = rule
    }
}

/// What a tier's `when:` asks of a gate. A mapping with several keys asks all of them.
public indirect enum TierCondition: Sendable, Equatable {
    /// `environment: production` or `environment: [production, dr]`.
    case environment([String])
    /// `service: "payments-*"`: the service name matches one of the globs.
    case service([PathGlob])
    /// `changed_paths: ["db/migrations/**"]`: at least one changed path matches one of the globs.
    case changedPaths([PathGlob])
    /// `labels: {risk: high}`: the request carries every label with exactly that value.
    case labels([String: String])
    /// `cost_delta_monthly: {gt: 500}`: the request states a cost change meeting every bound. A request without a cost
    /// does not match: an unknown cost is not a small one, but tiers that lower the bar must not catch it either.
    case costDeltaMonthly([CostBound])
    case all([TierCondition])
    case any([TierCondition])

    /// One bound on the monthly cost change.
    public struct CostBound: Sendable, Equatable {
        public enum Comparison: String, Sendable, CaseIterable {
            case gt, gte, lt, lte
        }

        public var comparison: Comparison
        public var value: Double

        public init(_ comparison: Comparison, _ value: Double) {
            self.comparison = comparison
            self.value = value
        }

        public func admits(_ cost: Double) -> Bool {
            switch comparison {
            case .gt: cost > value
            case .gte: cost >= value
            case .lt: cost < value
            case .lte: cost <= value
            }
        }
    }

    /// Whether every way the condition can match names the environment: a tier that lowers the bar should.
    public var namesEnvironment: Bool {
        switch self {
        case .environment: true
        case .all(let conditions): conditions.contains { $0.namesEnvironment }
        case .any(let conditions): conditions.allSatisfy { $0.namesEnvironment }
        default: false
        }
    }

    /// A changed path as globs read it: `./db//migrations/1.sql` is `db/migrations/1.sql`, so that the way a
    /// pipeline spells a path cannot drop a change into a lower tier.
    static func normalized(_ path: String) -> String {
        var segments = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if segments.isEmpty { segments = [Substring(path)] }
        return segments.joined(separator: "/")
    }

    /// Whether `request` meets the condition.
    public func matches(_ request: GateRequest) -> Bool {
        switch self {
        case .environment(let names): names.contains(request.environment)
        case .service(let globs): globs.contains { $0.matches(request.service) }
        case .changedPaths(let globs): request.changedPaths.map(Self.normalized).contains { path in globs.contains { $0.matches(path) } }
        case .labels(let labels): labels.allSatisfy { request.labels[$0.key] == $0.value }
        case .costDeltaMonthly(let bounds): request.costDeltaMonthly.map { cost in bounds.allSatisfy { $0.admits(cost) } } ?? false
        case .all(let conditions): conditions.allSatisfy { $0.matches(request) }
        case .any(let conditions): conditions.contains { $0.matches(request) }
        }
    }
}

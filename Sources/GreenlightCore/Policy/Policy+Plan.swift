import Foundation

extension Policy {
    /// Decides what the policy asks of `request`: which rule applies, who may approve, how many, by when.
    ///
    /// An environment the policy does not name gets the `default` rule; it is never passed (invariant 4).
    ///
    /// - Parameter usergroupMembers: members of groups kept in Slack user groups, by group name, as last read from
    ///   Slack (person names where the policy maps the Slack id, the Slack id otherwise). They join the listed
    ///   members, and are frozen into the plan with them.
    public func plan(for request: GateRequest, usergroupMembers: [String: [String]] = [:]) -> GatePlan {
        let named = environments[request.environment]
        let rule = named.map { $0.inheriting(from: defaultRule) } ?? defaultRule
        let ruleName = named == nil ? "default" : "environments.\(request.environment)"

        let requirements = (rule.require ?? []).map { approval in
            ApprovalRequirement(
                group: approval.group, count: approval.count, eligible: members(of: approval.group, usergroupMembers: usergroupMembers))
        }
        var exclusions: [Exclusion] = []
        let duties = rule.separationOfDuties ?? Fallback.separationOfDuties
        if duties.contains(.author) {
            exclusions += request.authors.flatMap { exclusionsFor(identity: $0, role: .author) }
        }
        if duties.contains(.triggerer), let triggeredBy = request.triggeredBy {
            exclusions += exclusionsFor(identity: triggeredBy, role: .triggerer)
        }
        return GatePlan(
            gated: rule.gated ?? true,
            rule: ruleName,
            tier: named == nil ? "default" : request.environment,
            requirements: requirements,
            exclusions: exclusions,
            timeout: rule.timeout ?? Fallback.timeout,
            onTimeout: rule.onTimeout ?? Fallback.onTimeout,
            channel: rule.channel,
            policyHash: hash,
            reminder: rule.remind,
            escalation: rule.escalate
        )
    }

    /// A group's listed members followed by those its Slack user group adds, each once.
    public func members(of group: String, usergroupMembers: [String: [String]] = [:]) -> [String] {
        var seen = Set<String>()
        return ((groups[group]?.members ?? []) + (usergroupMembers[group] ?? [])).filter { seen.insert($0).inserted }
    }

    /// The identity as given, and every identity of the person it resolves to (policy name, GitHub login, Slack id,
    /// e-mail): a pipeline that names the author by GitHub login bars the person however their token names them.
    private func exclusionsFor(identity: String, role: DutyRole) -> [Exclusion] {
        var identities = [identity]
        if let person = person(identifiedBy: identity) {
            identities += [person.name, person.github, person.slack, person.email].compactMap { $0 }
        }
        var seen = Set<String>()
        return identities.filter { seen.insert($0.lowercased()).inserted }.map { Exclusion(identity: $0, role: role) }
    }
}

extension Policy.EnvironmentRule {
    /// This rule with every key it leaves out taken from `defaults`.
    public func inheriting(from defaults: Self) -> Self {
        Self(
            gated: gated ?? defaults.gated,
            require: require ?? defaults.require,
            separationOfDuties: separationOfDuties ?? defaults.separationOfDuties,
            timeout: timeout ?? defaults.timeout,
            onTimeout: onTimeout ?? defaults.onTimeout,
            channel: channel ?? defaults.channel,
            remind: remind ?? defaults.remind,
            escalate: escalate ?? defaults.escalate
        )
    }
}

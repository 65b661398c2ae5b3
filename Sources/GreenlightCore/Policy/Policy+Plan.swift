import Foundation

extension Policy {
    /// Decides what the policy asks of `request`: which rule applies, who may approve, how many, by when.
    ///
    /// An environment the policy does not name gets the `default` rule; it is never passed (invariant 4).
    ///
    /// Rules are layered key by key: the first matching tier's keys over the environment's over `default`'s.
    ///
    /// - Parameters:
    ///   - usergroupMembers: members of groups kept in Slack user groups, by group name, as last read from
    ///     Slack (person names where the policy maps the Slack id, the Slack id otherwise). They join the listed
    ///     members, and are frozen into the plan with them.
    ///   - now: when the gate opens; a freeze window active then is recorded in the plan (and rejects the gate).
    ///     `nil` leaves freezes out, for questions about rules alone.
    public func plan(for request: GateRequest, usergroupMembers: [String: [String]] = [:], at now: Date? = nil) -> GatePlan {
        // Whoever asks (the server, `policy explain`, `policy test`), authors and triggerers are matched in one form.
        let request = request.normalizingIdentities()
        let named = environments[request.environment]
        let environmentRule = named.map { $0.inheriting(from: defaultRule) } ?? defaultRule
        let tier = tier(for: request)
        let rule = tier.map { $0.rule.inheriting(from: environmentRule) } ?? environmentRule
        let ruleName = tier.map { "tiers.\($0.name)" } ?? (named == nil ? "default" : "environments.\(request.environment)")

        let stages = (rule.approvalStages ?? []).map { stage in
            PlanStage(
                name: stage.name,
                requirements: stage.require.map { approval in
                    ApprovalRequirement(
                        group: approval.group, count: approval.count, eligible: members(of: approval.group, usergroupMembers: usergroupMembers))
                },
                timeout: stage.timeout)
        }
        var exclusions: [Exclusion] = []
        let duties = rule.separationOfDuties ?? Fallback.separationOfDuties
        if duties.contains(.author) {
            exclusions += request.authors.flatMap { exclusionsFor(identity: $0, role: .author) }
        }
        if duties.contains(.triggerer), let triggeredBy = request.triggeredBy {
            exclusions += exclusionsFor(identity: triggeredBy, role: .triggerer)
        }
        let breakGlass = rule.breakGlass.map { breakGlass in
            var seen = Set<String>()
            let eligible = breakGlass.allowed.flatMap { members(of: $0, usergroupMembers: usergroupMembers) }.filter { seen.insert($0).inserted }
            return PlanBreakGlass(groups: breakGlass.allowed, eligible: eligible, maxPerDay: breakGlass.maxPerDay)
        }
        return GatePlan(
            gated: rule.gated ?? true,
            rule: ruleName,
            tier: tier?.name ?? (named == nil ? "default" : request.environment),
            stages: stages,
            exclusions: exclusions,
            timeout: rule.timeout ?? Fallback.timeout,
            onTimeout: rule.onTimeout ?? Fallback.onTimeout,
            failOpenReason: rule.failOpenReason,
            channel: rule.channel,
            policyHash: hash,
            reminder: rule.remind,
            escalation: rule.escalate,
            breakGlass: breakGlass,
            frozen: now.flatMap { activeFreeze(for: request.environment, at: $0) }
        )
    }

    /// The first tier whose `when` matches `request`, if any.
    public func tier(for request: GateRequest) -> Tier? {
        tiers.first { $0.when.matches(request) }
    }

    /// The freeze windows that apply to `environment`: its own `freeze:`, or `default`'s.
    public func freezeWindows(for environment: String) -> [FreezeWindow] {
        (environments[environment]?.freeze ?? defaultRule.freeze) ?? []
    }

    /// The freeze window of `environment` active at `date`, ending last if several overlap.
    public func activeFreeze(for environment: String, at date: Date) -> ActiveFreeze? {
        freezeWindows(for: environment)
            .compactMap { window in window.occurrence(containing: date).map { ActiveFreeze(name: window.name, endsAt: $0.end) } }
            .max { $0.endsAt < $1.endsAt }
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
        // The person it names, and anyone it only looks like (`ALİCE`, `alice‐gh`): a look-alike the policy does not
        // know may be the person it imitates, so they are barred too (failing safe: another approver decides).
        for person in [person(identifiedBy: identity)].compactMap({ $0 }) + people(resembling: identity) {
            identities += [person.name, person.github, person.slack, person.email].compactMap { $0 }
        }
        var seen = Set<String>()
        return identities.filter { seen.insert(Identity.matchKey($0)).inserted }.map { Exclusion(identity: $0, role: role) }
    }
}

extension Policy.EnvironmentRule {
    /// This rule with every key it leaves out taken from `defaults`.
    public func inheriting(from defaults: Self) -> Self {
        // `require` and `stages` are one key in two spellings: a rule that writes either replaces both.
        let ownsApprovals = require != nil || stages != nil
        return Self(
            // A layer that asks for approvals is gated unless it says otherwise, even over an environment's gate: none.
            gated: gated ?? (ownsApprovals ? true : defaults.gated),
            require: ownsApprovals ? require : defaults.require,
            separationOfDuties: separationOfDuties ?? defaults.separationOfDuties,
            timeout: timeout ?? defaults.timeout,
            onTimeout: onTimeout ?? defaults.onTimeout,
            channel: channel ?? defaults.channel,
            remind: remind ?? defaults.remind,
            escalate: escalate ?? defaults.escalate,
            stages: ownsApprovals ? stages : defaults.stages,
            // The reason travels with the `on_timeout` it explains; alone it is ignored (and `policy check` says so).
            failOpenReason: onTimeout != nil ? failOpenReason : defaults.failOpenReason,
            freeze: freeze ?? defaults.freeze,
            breakGlass: breakGlass ?? defaults.breakGlass
        )
    }
}

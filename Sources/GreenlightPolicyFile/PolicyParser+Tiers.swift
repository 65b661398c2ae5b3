import Foundation
import GreenlightCore
import Yams

extension PolicyParser.Reader {
    /// `tiers:`, an ordered list; the first tier whose `when` matches a gate applies.
    mutating func tiers(_ node: Node, groups: [String: Policy.Group]) -> [Tier] {
        guard case .sequence(let sequence) = node else {
            error(
                line: node.mark?.line, key: "tiers",
                "expected a list of tiers like [{name: …, when: {…}, require: […]}], found \(Self.describe(node))")
            return []
        }
        var tiers: [Tier] = []
        var names = Set<String>()
        for (index, item) in sequence.enumerated() {
            let path = "tiers[\(index)]"
            guard let fields = mapping(item, at: path) else { continue }
            let name = fields["name"].flatMap { string($0.node, at: "\(path).name") }
            if fields["name"] == nil { error(line: fields.line, key: path, "missing 'name': the tier's name is shown on every gate it matches") }
            let tierPath = name.map { "tiers.\($0)" } ?? path
            if let name, !names.insert(name).inserted {
                error(
                    line: fields["name"]?.line, key: "\(tierPath).name",
                    "a tier named '\(Self.abbreviated(name))' is already defined; tier names must be unique")
            }
            var condition: TierCondition?
            if let when = fields["when"] {
                condition = self.condition(when.node, at: "\(tierPath).when")
            } else {
                error(line: fields.line, key: "\(tierPath).when", "missing: when the tier applies, e.g. 'when: {environment: production}'")
            }
            let rule = self.rule(fields, at: tierPath, groups: groups, kind: .tier)
            if rule.gated == false, let condition, !condition.namesEnvironment {
                warning(
                    line: fields["gate"]?.line, key: "\(tierPath).gate",
                    "gate: none lets matching deploys through in every environment, production too; name the environments in 'when'")
            }
            if let name, let condition { tiers.append(Tier(name: name, when: condition, rule: rule)) }
        }
        return tiers
    }

    /// A `when:` mapping: every key it holds must match. `depth` counts the `any`/`all` it is nested in.
    ///
    /// Every gate that opens may evaluate every condition of every tier, recursively, so their number and nesting are
    /// bounded (``PolicyLimits/maximumConditions``, ``PolicyLimits/maximumConditionNesting``); past a bound the rest is
    /// not read.
    mutating func condition(_ node: Node, at path: String, depth: Int = 0) -> TierCondition? {
        guard conditionCount <= PolicyLimits.maximumConditions, let fields = mapping(node, at: path) else { return nil }
        allowOnly(["environment", "service", "changed_paths", "labels", "cost_delta_monthly", "any", "all"], in: fields, at: path)
        if fields.entries.isEmpty {
            error(line: fields.line, key: path, "is empty and would match every gate; name what the tier is about, e.g. 'environment: production'")
            return nil
        }
        var conditions: [TierCondition] = []
        for (key, value, line) in fields.entries {
            let keyPath = "\(path).\(key)"
            guard conditionCount < PolicyLimits.maximumConditions else {
                // Said once, where the limit is passed; the conditions after it are not read.
                if conditionCount == PolicyLimits.maximumConditions {
                    error(
                        line: line, key: keyPath,
                        "the tiers hold more than \(PolicyLimits.maximumConditions) conditions, and every gate may evaluate each; "
                            + "merge tiers or list values in one condition (environment: [a, b])")
                    conditionCount += 1
                }
                return nil
            }
            conditionCount += 1
            switch key {
            case "environment":
                conditions.append(.environment(stringOrList(value, at: keyPath)))
            case "service":
                conditions.append(.service(globs(stringOrList(value, at: keyPath), at: keyPath, line: line)))
            case "changed_paths":
                conditions.append(.changedPaths(globs(strings(value, at: keyPath), at: keyPath, line: line)))
            case "labels":
                guard let labels = mapping(value, at: keyPath) else { continue }
                if labels.entries.isEmpty {
                    error(line: line, key: keyPath, "is empty and would match every gate; name a label, e.g. {change: feature-flag}")
                }
                var pairs: [String: String] = [:]
                for (label, labelValue, _) in labels.entries {
                    if let text = string(labelValue, at: "\(keyPath).\(label)") { pairs[label] = text }
                }
                conditions.append(.labels(pairs))
            case "cost_delta_monthly":
                guard let bounds = mapping(value, at: keyPath) else { continue }
                allowOnly(Set(TierCondition.CostBound.Comparison.allCases.map(\.rawValue)), in: bounds, at: keyPath)
                var parsed: [TierCondition.CostBound] = []
                for (comparison, boundNode, boundLine) in bounds.entries {
                    guard let comparison = TierCondition.CostBound.Comparison(rawValue: comparison) else { continue }
                    guard case .scalar(let scalar) = boundNode, let amount = Double(scalar.string), amount.isFinite else {
                        error(
                            line: boundLine, key: "\(keyPath).\(comparison.rawValue)",
                            "expected an amount such as 500, found \(Self.describe(boundNode))")
                        continue
                    }
                    parsed.append(TierCondition.CostBound(comparison, amount))
                }
                if bounds.entries.isEmpty { error(line: line, key: keyPath, "name a bound: gt, gte, lt or lte, e.g. {gt: 500}") }
                conditions.append(.costDeltaMonthly(parsed))
            case "any", "all":
                guard case .sequence(let items) = value, !items.isEmpty else {
                    error(line: line, key: keyPath, "expected a non-empty list of conditions like [{environment: production}, {…}]")
                    continue
                }
                guard depth < PolicyLimits.maximumConditionNesting else {
                    error(line: line, key: keyPath, "any and all nest more than \(PolicyLimits.maximumConditionNesting) deep here; flatten them")
                    continue
                }
                let nested = items.enumerated().compactMap { condition($1, at: "\(keyPath)[\($0)]", depth: depth + 1) }
                conditions.append(key == "any" ? .any(nested) : .all(nested))
            default:
                continue
            }
        }
        return conditions.count == 1 ? conditions[0] : .all(conditions)
    }

    /// `stages: [{name: leads, require: […], timeout: 1h}, …]`.
    mutating func approvalStages(_ node: Node, at path: String, groups: [String: Policy.Group]) -> [ApprovalStage] {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            error(line: node.mark?.line, key: path, "expected a non-empty list of stages like [{name: leads, require: […]}]")
            return []
        }
        var stages: [ApprovalStage] = []
        var names = Set<String>()
        for (index, item) in sequence.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let fields = mapping(item, at: itemPath) else { continue }
            allowOnly(["name", "require", "timeout"], in: fields, at: itemPath)
            let name = fields["name"].flatMap { string($0.node, at: "\(itemPath).name") }
            if fields["name"] == nil { error(line: fields.line, key: itemPath, "missing 'name': the card and the CLI show which stage is open") }
            if let name, !names.insert(name).inserted {
                error(
                    line: fields["name"]?.line, key: "\(itemPath).name",
                    "stage '\(Self.abbreviated(name))' is named twice; stage names must be unique")
            }
            var rules: [Policy.ApprovalRule] = []
            if let require = fields["require"] {
                rules = approvalRules(require.node, at: "\(itemPath).require", groups: groups)
                if case .sequence(let items) = require.node, items.isEmpty {
                    error(line: require.line, key: "\(itemPath).require", "is empty; a stage names at least one group")
                }
            } else {
                error(line: fields.line, key: "\(itemPath).require", "missing: whose approval the stage needs, e.g. [{group: finance, count: 1}]")
            }
            let timeout = fields["timeout"] == nil ? nil : duration(fields["timeout"], at: "\(itemPath).timeout", line: fields.line)
            if let name { stages.append(ApprovalStage(name: name, require: rules, timeout: timeout)) }
        }
        return stages
    }

    /// `policy check` warns when an environment whose name looks like production fails open: legal, but rarely meant.
    mutating func warnAboutFailOpen(environments: [String: Policy.EnvironmentRule], defaultRule: Policy.EnvironmentRule, lines: [String: Int]) {
        for (name, rule) in environments.sorted(by: { $0.key < $1.key }) where name.lowercased().hasPrefix("prod") {
            let effective = rule.inheriting(from: defaultRule)
            guard effective.gated ?? true, effective.onTimeout == .approve else { continue }
            warning(
                line: lines[name], key: "environments.\(name).on_timeout",
                "'\(Self.abbreviated(name))' looks like production and fails open: a gate nobody answers lets the deploy through"
                    + (effective.failOpenReason.map { " (\($0))" } ?? ""))
        }
    }

    /// A text value or a list of them: `environment: production` or `environment: [production, dr]`.
    mutating func stringOrList(_ node: Node, at path: String) -> [String] {
        if case .sequence = node { return strings(node, at: path) }
        return string(node, at: path).map { [$0] } ?? []
    }

    mutating func globs(_ patterns: [String], at path: String, line: Int?) -> [PathGlob] {
        patterns.compactMap { pattern in
            do {
                return try PathGlob(pattern)
            } catch {
                self.error(line: line, key: path, "'\(Self.abbreviated(pattern))': \(error)")
                return nil
            }
        }
    }
}

import Foundation
import GreenlightCore
import Yams

/// Reads a policy document (the format of DESIGN.md 3.3) into a `Policy`, or every reason it cannot.
///
/// The parser walks YAML nodes rather than decoding into `Codable` types so that each error can name the line and
/// the key it is about, and so that an unknown (misspelt) key is an error instead of being silently ignored.
public struct PolicyParser {
    public let file: String

    public init(file: String) {
        self.file = file
    }

    /// Parses `text`. Returns the policy and its warnings, or throws every error found.
    public func parse(_ text: String) throws(PolicyValidationError) -> (policy: Policy, warnings: [PolicyDiagnostic]) {
        var reader = Reader(file: file)
        let top = try reader.document(text, ifEmpty: "the policy is empty; it needs at least a 'default' rule")
        reader.allowOnly(["version", "people", "groups", "environments", "tiers", "default"], in: top, at: "")

        if let version = top["version"] {
            if reader.int(version.node, at: "version") != 1 {
                reader.error(line: version.line, key: "version", "this Greenlight reads policy version 1")
            }
        }

        var people: [String: Policy.Person] = [:]
        // Who holds each Slack id, so that a second holder is found in one lookup (a policy may list tens of thousands).
        var slackOwners: [String: String] = [:]
        // Who holds each name, login and e-mail, compared as identities are matched: two people sharing one would let
        // an author named by it bar one of them and the other approve.
        var identityOwners: [String: String] = [:]
        if let entry = top["people"], let mapping = reader.mapping(entry.node, at: "people") {
            for (name, node, line) in mapping.entries {
                let path = "people.\(name)"
                guard let fields = reader.mapping(node, at: path, allowEmpty: true) else { continue }
                reader.allowOnly(["slack", "github", "email"], in: fields, at: path)
                // Separation of duties matches these against what pipelines claim: each must be in the one form
                // identities are matched in, or an author could slip past under a name that looks the same.
                if let problem = Self.identityProblem(name) { reader.error(line: line, key: path, problem) }
                var own = Set([Identity.matchKey(name)])
                if let other = identityOwners[Identity.matchKey(name)], other != name {
                    reader.error(
                        line: line, key: path,
                        "'\(Reader.abbreviated(name))' is already an identity of '\(Reader.abbreviated(other))'; one identity is one person")
                }
                identityOwners[Identity.matchKey(name)] = identityOwners[Identity.matchKey(name)] ?? name
                for key in ["slack", "github", "email"] {
                    guard let field = fields[key], let value = reader.string(field.node, at: "\(path).\(key)") else { continue }
                    if let problem = Self.identityProblem(value) { reader.error(line: field.line, key: "\(path).\(key)", problem) }
                    let match = Identity.matchKey(value)
                    if key == "slack" { continue }  // a Slack id held twice has its own message, below
                    if let other = identityOwners[match], other != name {
                        reader.error(
                            line: field.line, key: "\(path).\(key)",
                            "'\(Reader.abbreviated(value))' is already an identity of '\(Reader.abbreviated(other))'; one identity is one person")
                    } else if own.insert(match).inserted {
                        identityOwners[match] = name
                    }
                }
                let slack = fields["slack"].flatMap { reader.string($0.node, at: "\(path).slack") }
                if let slack, let line = fields["slack"]?.line {
                    if !Self.isSlackUserID(slack) {
                        reader.error(
                            line: line, key: "\(path).slack",
                            "'\(Reader.abbreviated(slack))' is not a Slack user id; copy the member id (U… or W…) from the person's Slack profile")
                    } else if let other = slackOwners[slack] {
                        reader.error(
                            line: line, key: "\(path).slack",
                            "'\(Reader.abbreviated(slack))' is already the Slack id of '\(Reader.abbreviated(other))'; one Slack account is one person"
                        )
                    } else {
                        slackOwners[slack] = name
                    }
                }
                people[name] = Policy.Person(
                    name: name,
                    slack: slack,
                    github: fields["github"].flatMap { reader.string($0.node, at: "\(path).github") },
                    email: fields["email"].flatMap { reader.string($0.node, at: "\(path).email") }
                )
            }
        }

        var groups: [String: Policy.Group] = [:]
        if let entry = top["groups"], let mapping = reader.mapping(entry.node, at: "groups") {
            for (name, node, _) in mapping.entries {
                let path = "groups.\(name)"
                guard let fields = reader.mapping(node, at: path) else { continue }
                reader.allowOnly(["members", "slack_usergroup"], in: fields, at: path)
                let usergroup = fields["slack_usergroup"].flatMap { reader.string($0.node, at: "\(path).slack_usergroup") }
                if let usergroup, !Self.isSlackUsergroupID(usergroup) {
                    reader.error(
                        line: fields["slack_usergroup"]?.line, key: "\(path).slack_usergroup",
                        "'\(Reader.abbreviated(usergroup))' is not a Slack user group id; it starts with S (find it in the group's URL or with usergroups.list)"
                    )
                }
                guard let members = fields["members"] else {
                    if fields["slack_usergroup"] == nil {
                        reader.error(line: fields.line, key: path, "a group needs 'members: [name, …]' or 'slack_usergroup: S…'")
                    }
                    groups[name] = Policy.Group(name: name, members: [], slackUsergroup: usergroup)
                    continue
                }
                let names = reader.strings(members.node, at: "\(path).members")
                var seen = Set<String>()
                for member in names where !seen.insert(Identity.matchKey(member)).inserted {
                    reader.error(line: members.line, key: "\(path).members", "'\(Reader.abbreviated(member))' is listed twice")
                }
                for member in names {
                    if let problem = Self.identityProblem(member) { reader.error(line: members.line, key: "\(path).members", problem) }
                }
                groups[name] = Policy.Group(name: name, members: names, slackUsergroup: usergroup)
            }
        }

        var environments: [String: Policy.EnvironmentRule] = [:]
        // Each environment's line, read once: looking names up in the mapping again for each would be quadratic.
        var environmentLines: [String: Int] = [:]
        if let entry = top["environments"], let mapping = reader.mapping(entry.node, at: "environments") {
            for (name, node, line) in mapping.entries {
                environmentLines[name] = line
                if let rule = reader.environmentRule(node, at: "environments.\(name)", groups: groups, kind: .environment) {
                    environments[name] = rule
                }
            }
        }

        var defaultRule = Policy.EnvironmentRule()
        if let entry = top["default"] {
            defaultRule = reader.environmentRule(entry.node, at: "default", groups: groups, kind: .default) ?? defaultRule
            if defaultRule.approvalStages == nil, case .mapping = entry.node {
                reader.error(
                    line: entry.line, key: "default.require",
                    "missing: default must say whose approval unnamed environments need, e.g. 'require: [{group: …, count: 1}]'")
            }
        } else {
            reader.error(
                line: top.line, key: "default",
                "missing: every policy needs a 'default' rule for the environments it does not name (they are gated by it, never passed)")
        }
        // An environment that asks for approval but names nobody, even after taking what default gives, can never pass.
        for (name, rule) in environments where (rule.gated ?? true) && (rule.approvalStages ?? defaultRule.approvalStages ?? []).isEmpty {
            reader.error(
                line: environmentLines[name], key: "environments.\(name)",
                "requires approval but neither it nor default says from whom: add 'require: [{group: …, count: 1}]' or 'gate: none'")
        }

        let tiers = top["tiers"].map { reader.tiers($0.node, groups: groups) } ?? []
        reader.warnAboutFailOpen(environments: environments, defaultRule: defaultRule, lines: environmentLines)

        if reader.hasErrors {
            throw PolicyValidationError(diagnostics: reader.report)
        }
        let policy = Policy(
            people: people,
            groups: groups,
            environments: environments,
            tiers: tiers,
            defaultRule: defaultRule,
            source: file,
            hash: Policy.hash(of: text),
            document: text
        )
        return (policy, reader.report)
    }

    /// Why `identity` (a person's name, Slack id, GitHub login or e-mail, a group member) cannot stand in a policy as
    /// written, if it cannot: it must be what ``Identity/normalized(_:)`` makes of it.
    static func identityProblem(_ identity: String) -> String? {
        switch Identity.normalized(identity) {
        // `==` is canonical equivalence: a name written decomposed (as macOS pastes it) is the same name.
        case .success(let normalized) where normalized == identity:
            return nil
        case .success(let normalized):
            return "'\(identity.debugEscaped)' must be written as '\(normalized.debugEscaped)' (no white space around it, Unicode NFC)"
        case .failure(let problem):
            return "'\(identity.debugEscaped)' \(problem)"
        }
    }

    /// Slack member ids: `U…` (or `W…` in Enterprise Grid), upper-case letters and digits.
    public static func isSlackUserID(_ text: String) -> Bool {
        text.count >= 2 && (text.hasPrefix("U") || text.hasPrefix("W")) && text.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) }
    }

    /// Slack user group ids: `S…`, upper-case letters and digits.
    public static func isSlackUsergroupID(_ text: String) -> Bool {
        text.count >= 2 && text.hasPrefix("S") && text.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) }
    }
}

extension PolicyParser {
    /// A YAML mapping with each key's line, for error messages.
    struct Fields {
        var entries: [(key: String, node: Node, line: Int?)]
        var line: Int?

        subscript(key: String) -> (node: Node, line: Int?)? {
            entries.first { $0.key == key }.map { ($0.node, $0.line) }
        }
    }

    /// Collects diagnostics while reading nodes; every reading function records its own errors and returns `nil`.
    struct Reader {
        let file: String
        /// The first ``PolicyLimits/maximumDiagnostics`` of each severity, in the order found.
        var diagnostics: [PolicyDiagnostic] = []
        /// Diagnostics past that limit, counted by severity but not kept (nor their messages even built).
        var unreported: [PolicyDiagnostic.Severity: Int] = [:]
        var hasErrors = false
        /// Conditions read so far in all tiers (``PolicyLimits/maximumConditions``).
        var conditionCount = 0

        init(file: String) {
            self.file = file
        }

        /// The diagnostics kept, followed, for each severity that had more, by one line counting the rest.
        var report: [PolicyDiagnostic] {
            diagnostics
                + [PolicyDiagnostic.Severity.error, .warning].compactMap { severity in
                    unreported[severity].map { count in
                        PolicyDiagnostic(
                            severity: severity, file: file, line: nil, key: "",
                            message: "… and \(count) more \(severity.rawValue)s not shown; fix the ones above first")
                    }
                }
        }

        /// The top-level mapping of a YAML document, or the error that there is none (`ifEmpty` for an empty one).
        ///
        /// Before any node is read, the document is held to ``PolicyLimits``: its size, its shape (``YAMLPrescan``) and
        /// the number of nodes it stands for with its aliases expanded, so that what follows is bounded by them.
        mutating func document(_ text: String, ifEmpty: String) throws(PolicyValidationError) -> Fields {
            func refuse(line: Int?, key: String = "", _ message: String) -> PolicyValidationError {
                PolicyValidationError(diagnostics: [PolicyDiagnostic(file: file, line: line, key: key, message: message)])
            }
            let size = text.utf8.count
            if size > PolicyLimits.maximumDocumentBytes {
                throw refuse(line: nil, "is \(size) bytes; a policy file may be at most \(PolicyLimits.maximumDocumentBytes) bytes (4 MiB)")
            }
            if let problem = YAMLPrescan.firstProblem(in: text) {
                throw refuse(line: problem.line, problem.message)
            }
            let root: Node?
            do {
                root = try Yams.compose(yaml: text)
            } catch {
                throw PolicyValidationError(diagnostics: [syntaxError(error)])
            }
            if let root, let excess = Self.nodeBeyondBudget(in: root) {
                throw refuse(
                    line: excess.node.mark?.line, key: excess.key,
                    "expands to more than \(PolicyLimits.maximumNodes) YAML nodes once its aliases (*name) are replaced by what they "
                        + "repeat (this line is inside the part that passed the limit); a policy needs far fewer: write the repeated parts out")
            }
            guard let root, let top = mapping(root, at: "") else {
                if root == nil { self.error(line: 1, key: "", ifEmpty) }
                throw PolicyValidationError(diagnostics: report)
            }
            return top
        }

        /// The node at which a walk over `root`, visiting what every alias stands for each time it is used (as the
        /// parser does), passes ``PolicyLimits/maximumNodes``, with the top-level key it is under; `nil` within the
        /// limit. The walk stops there, so it costs at most the limit however much the aliases multiply.
        ///
        /// Yams shares an anchored node among its aliases, so composing is cheap; walking is where a document of nested
        /// aliases blows up, and this walk is bounded.
        static func nodeBeyondBudget(in root: Node) -> (node: Node, key: String)? {
            var budget = PolicyLimits.maximumNodes
            var stack: [(node: Node, key: String)] = [(root, "")]
            while let (node, key) = stack.popLast() {
                budget -= 1
                if budget < 0 { return (node, key) }
                switch node {
                case .mapping(let mapping):
                    for (name, value) in mapping {
                        // Named by the top-level key they are under: `tiers`, `environments`.
                        let under = key.isEmpty ? (name.string ?? "") : key
                        stack.append((name, under))
                        stack.append((value, under))
                    }
                case .sequence(let sequence):
                    for item in sequence { stack.append((item, key)) }
                case .scalar, .alias:
                    break
                }
            }
            return nil
        }

        mutating func error(line: Int?, key: @autoclosure () -> String, _ message: @autoclosure () -> String) {
            hasErrors = true
            record(.error, line: line, key: key, message)
        }

        mutating func warning(line: Int?, key: @autoclosure () -> String, _ message: @autoclosure () -> String) {
            record(.warning, line: line, key: key, message)
        }

        /// Keeps the first diagnostics of each severity and counts the rest, building the message only when kept: a
        /// policy with a hundred thousand errors costs a hundred thousand increments, not as many messages.
        private mutating func record(_ severity: PolicyDiagnostic.Severity, line: Int?, key: () -> String, _ message: () -> String) {
            if unreported[severity] == nil, diagnostics.count(where: { $0.severity == severity }) < PolicyLimits.maximumDiagnostics {
                // A key path holds the names the policy gives (environments, tiers), which can be long too.
                diagnostics.append(
                    PolicyDiagnostic(severity: severity, file: file, line: line, key: Self.abbreviated(key(), limit: 200), message: message()))
            } else {
                unreported[severity, default: 0] += 1
            }
        }

        /// "known groups: a, b, c", for a message about a group that does not exist.
        static func knownGroups(_ groups: [String: Policy.Group]) -> String {
            groups.isEmpty ? "the policy defines no groups" : "known groups: \(listed(groups.keys.sorted()))"
        }

        /// Names for a message, at most `limit` of them: "a, b, c" or "a, b, c, … (40 in all)".
        static func listed(_ names: [String], limit: Int = 10) -> String {
            let shown = names.prefix(limit).joined(separator: ", ")
            return names.count > limit ? "\(shown), … (\(names.count) in all)" : shown
        }

        func syntaxError(_ error: any Error) -> PolicyDiagnostic {
            if let yamlError = error as? YamlError {
                switch yamlError {
                case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                    return PolicyDiagnostic(file: file, line: mark.line, key: "", message: "not valid YAML: \(problem)")
                case .duplicatedKeysInMapping(let duplicates, let context):
                    let keys = Self.listed(duplicates.sorted().map { "'\(Self.abbreviated($0))'" })
                    return PolicyDiagnostic(file: file, line: context.mark.line, key: "", message: "\(keys) appears twice in one mapping; keep one")
                default: break
                }
            }
            // Yams quotes the document around the error in its description: a line, or the whole of a one-line file.
            return PolicyDiagnostic(file: file, line: nil, key: "", message: "not valid YAML: \(Self.abbreviated("\(error)", limit: 200))")
        }

        mutating func mapping(_ node: Node, at path: String, allowEmpty: Bool = false) -> Fields? {
            if allowEmpty, case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "~" {
                return Fields(entries: [], line: node.mark?.line)
            }
            guard case .mapping(let mapping) = node else {
                error(line: node.mark?.line, key: path, "expected a mapping of keys to values, found \(Self.describe(node))")
                return nil
            }
            // Yams itself refuses a key that appears twice in one mapping (see `syntaxError`).
            var entries: [(String, Node, Int?)] = []
            for (keyNode, value) in mapping {
                guard case .scalar(let key) = keyNode else {
                    error(line: keyNode.mark?.line, key: path, "keys must be plain names")
                    continue
                }
                entries.append((key.string, value, keyNode.mark?.line))
            }
            return Fields(entries: entries, line: node.mark?.line)
        }

        mutating func allowOnly(_ keys: Set<String>, in fields: Fields, at path: String) {
            for entry in fields.entries where !keys.contains(entry.key) {
                // Refused, not ignored: a misspelt `freze` silently skipped would pass deploys the author meant to stop.
                error(line: entry.line, key: Self.join(path, entry.key), "unknown key; expected one of \(keys.sorted().joined(separator: ", "))")
            }
        }

        mutating func string(_ node: Node, at path: String) -> String? {
            guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
                error(line: node.mark?.line, key: path, "expected a text value, found \(Self.describe(node))")
                return nil
            }
            return scalar.string
        }

        mutating func int(_ node: Node, at path: String) -> Int? {
            guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
                let digits = node.scalar?.string.drop { $0 == "-" || $0 == "+" }
                if let digits, !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
                    error(line: node.mark?.line, key: path, "\(Self.describe(node)) is too large a number to mean anything here")
                } else {
                    error(line: node.mark?.line, key: path, "expected a whole number, found \(Self.describe(node))")
                }
                return nil
            }
            return value
        }

        mutating func strings(_ node: Node, at path: String) -> [String] {
            guard case .sequence(let sequence) = node else {
                error(line: node.mark?.line, key: path, "expected a list like [a, b], found \(Self.describe(node))")
                return []
            }
            return sequence.enumerated().compactMap { index, item in string(item, at: "\(path)[\(index)]") }
        }

        /// Where a rule is written: its place decides which keys it may hold.
        enum RuleKind {
            case environment
            case `default`
            case tier
        }

        mutating func environmentRule(_ node: Node, at path: String, groups: [String: Policy.Group], kind: RuleKind) -> Policy.EnvironmentRule? {
            guard let fields = mapping(node, at: path) else { return nil }
            return rule(fields, at: path, groups: groups, kind: kind)
        }

        static let ruleKeys: Set<String> = [
            "gate", "require", "stages", "separation_of_duties", "timeout", "on_timeout", "fail_open_reason", "channel", "remind", "escalate",
        ]

        mutating func rule(_ fields: Fields, at path: String, groups: [String: Policy.Group], kind: RuleKind) -> Policy.EnvironmentRule {
            let isDefault = kind == .default
            switch kind {
            case .tier:
                for key in ["freeze", "break_glass"] where fields[key] != nil {
                    error(
                        line: fields[key]?.line, key: "\(path).\(key)",
                        "belongs to an environment or default, not a tier: a tier says what a change needs, an environment when it may ship")
                }
                allowOnly(Self.ruleKeys.union(["name", "when", "freeze", "break_glass"]), in: fields, at: path)
            case .environment, .default:
                allowOnly(Self.ruleKeys.union(["freeze", "break_glass"]), in: fields, at: path)
            }
            var rule = Policy.EnvironmentRule()

            if let gate = fields["gate"], let value = string(gate.node, at: "\(path).gate") {
                switch value {
                case "none" where isDefault:
                    error(
                        line: gate.line, key: "\(path).gate",
                        "default may not be 'gate: none': environments the policy does not name must be gated; list the ungated ones under environments"
                    )
                case "none": rule.gated = false
                case "required": rule.gated = true
                default:
                    error(
                        line: gate.line, key: "\(path).gate",
                        "'\(Self.abbreviated(value))' is not a gate mode; use 'none' (recorded, not gated) or 'required'")
                }
            }
            if rule.gated == false {
                for key in ["require", "stages", "timeout", "on_timeout", "separation_of_duties", "remind", "escalate"] where fields[key] != nil {
                    warning(line: fields[key]?.line, key: "\(path).\(key)", "ignored: the environment has gate: none")
                }
            }

            if let require = fields["require"] {
                rule.require = approvalRules(require.node, at: "\(path).require", groups: groups)
                if case .sequence(let items) = require.node, items.isEmpty, rule.gated != false {
                    error(line: require.line, key: "\(path).require", "is empty; name at least one group, or write 'gate: none'")
                }
            }
            if let stages = fields["stages"] {
                if fields["require"] != nil {
                    error(
                        line: stages.line, key: "\(path).stages",
                        "write either 'require' (one stage) or 'stages' (several), not both; move the rules into the stages")
                }
                rule.stages = approvalStages(stages.node, at: "\(path).stages", groups: groups)
            }
            if let duties = fields["separation_of_duties"] {
                var roles: [DutyRole] = []
                for (index, name) in strings(duties.node, at: "\(path).separation_of_duties").enumerated() {
                    if let role = DutyRole(rawValue: name) {
                        roles.append(role)
                    } else {
                        error(
                            line: duties.line, key: "\(path).separation_of_duties[\(index)]",
                            "'\(Self.abbreviated(name))' is not a role; use author or triggerer")
                    }
                }
                rule.separationOfDuties = roles
            }
            if let timeout = fields["timeout"] {
                rule.timeout = duration(timeout, at: "\(path).timeout", line: fields.line)
            }
            if let onTimeout = fields["on_timeout"], let text = string(onTimeout.node, at: "\(path).on_timeout") {
                if let action = TimeoutAction(rawValue: text) {
                    rule.onTimeout = action
                } else {
                    error(
                        line: onTimeout.line, key: "\(path).on_timeout",
                        "'\(Self.abbreviated(text))' is not a timeout action; use reject (the safe default) or approve (fail-open)")
                }
            }
            if let reason = fields["fail_open_reason"] {
                rule.failOpenReason = string(reason.node, at: "\(path).fail_open_reason")
                if rule.onTimeout != .approve {
                    warning(line: reason.line, key: "\(path).fail_open_reason", "ignored: this rule does not say 'on_timeout: approve' beside it")
                }
            }
            if rule.onTimeout == .approve, fields["fail_open_reason"] == nil {
                error(
                    line: fields["on_timeout"]?.line, key: "\(path).on_timeout",
                    "'approve' lets a deploy through when nobody answers; add 'fail_open_reason: \"…\"' beside it saying why, or use reject")
            }
            if let channel = fields["channel"] {
                rule.channel = string(channel.node, at: "\(path).channel")
            }
            if kind != .tier, let freeze = fields["freeze"] {
                rule.freeze = freezeWindows(freeze.node, at: "\(path).freeze")
            }
            if kind != .tier, let entry = fields["break_glass"] {
                rule.breakGlass = breakGlass(entry.node, at: "\(path).break_glass", groups: groups)
            }
            if let remind = fields["remind"], let remindFields = mapping(remind.node, at: "\(path).remind") {
                allowOnly(["before_deadline", "mention"], in: remindFields, at: "\(path).remind")
                let before = duration(remindFields["before_deadline"], at: "\(path).remind.before_deadline", line: remindFields.line)
                let mention = remindFields["mention"].map { groupReferences($0.node, at: "\(path).remind.mention", groups: groups) } ?? []
                if let before { rule.remind = Policy.Reminder(beforeDeadline: before, mention: mention) }
            }
            if let escalate = fields["escalate"], let escalateFields = mapping(escalate.node, at: "\(path).escalate") {
                allowOnly(["after", "to"], in: escalateFields, at: "\(path).escalate")
                let after = duration(escalateFields["after"], at: "\(path).escalate.after", line: escalateFields.line)
                let to = escalateFields["to"].map { groupReferences($0.node, at: "\(path).escalate.to", groups: groups) } ?? []
                if escalateFields["to"] == nil {
                    error(line: escalateFields.line, key: "\(path).escalate.to", "missing: whom to call in, e.g. 'to: [group: sre-oncall]'")
                }
                if let after, !to.isEmpty { rule.escalate = Policy.Escalation(after: after, to: to) }
            }
            if let timeout = rule.timeout {
                if let remind = rule.remind, remind.beforeDeadline.seconds >= timeout.seconds {
                    warning(
                        line: fields["remind"]?.line, key: "\(path).remind.before_deadline",
                        "\(remind.beforeDeadline) before a \(timeout) deadline is before the gate opens; no reminder will be sent")
                }
                if let escalate = rule.escalate, escalate.after.seconds >= timeout.seconds {
                    warning(
                        line: fields["escalate"]?.line, key: "\(path).escalate.after",
                        "escalating \(escalate.after) after opening is at or past the \(timeout) deadline; it will never happen")
                }
            }
            return rule
        }

        /// A required duration key (`90s`, `30m`, `4h`, `2d`).
        mutating func duration(_ entry: (node: Node, line: Int?)?, at path: String, line: Int?) -> PolicyDuration? {
            guard let entry else {
                error(line: line, key: path, "missing: a duration such as 30m or 1h")
                return nil
            }
            guard let text = string(entry.node, at: path) else { return nil }
            do {
                return try PolicyDuration(validating: text)
            } catch {
                switch error {
                case .malformed:
                    self.error(
                        line: entry.line, key: path, "'\(Self.abbreviated(text))' is not a duration; write a number and a unit: 90s, 30m, 4h or 2d")
                case .overMaximum:
                    self.error(
                        line: entry.line, key: path,
                        "'\(Self.abbreviated(text))' is longer than \(PolicyDuration.maximum), the longest a policy may wait for anything")
                }
                return nil
            }
        }

        /// A list of `group: name` entries (`[group: platform-leads]`), each naming a group the policy defines.
        mutating func groupReferences(_ node: Node, at path: String, groups: [String: Policy.Group]) -> [String] {
            guard case .sequence(let sequence) = node else {
                error(line: node.mark?.line, key: path, "expected a list like [group: platform-leads], found \(Self.describe(node))")
                return []
            }
            var names: [String] = []
            for (index, item) in sequence.enumerated() {
                let itemPath = "\(path)[\(index)]"
                guard let fields = mapping(item, at: itemPath) else { continue }
                allowOnly(["group"], in: fields, at: itemPath)
                guard let entry = fields["group"], let name = string(entry.node, at: "\(itemPath).group") else {
                    if fields["group"] == nil { error(line: fields.line, key: itemPath, "missing 'group'") }
                    continue
                }
                guard groups[name] != nil else {
                    error(
                        line: entry.line, key: "\(itemPath).group",
                        "group '\(Self.abbreviated(name))' does not exist (\(Self.knownGroups(groups)))")
                    continue
                }
                names.append(name)
            }
            return names
        }

        /// The most approvals one rule may ask for: a typo such as `count: 1000000000` is refused, not allocated.
        static let maximumCount = 100

        mutating func approvalRules(_ node: Node, at path: String, groups: [String: Policy.Group]) -> [Policy.ApprovalRule] {
            guard case .sequence(let sequence) = node else {
                error(line: node.mark?.line, key: path, "expected a list like [{group: platform-leads, count: 1}], found \(Self.describe(node))")
                return []
            }
            var rules: [Policy.ApprovalRule] = []
            var required = Set<String>()
            for (index, item) in sequence.enumerated() {
                let itemPath = "\(path)[\(index)]"
                guard let fields = mapping(item, at: itemPath) else { continue }
                allowOnly(["group", "count"], in: fields, at: itemPath)
                guard let groupEntry = fields["group"], let groupName = string(groupEntry.node, at: "\(itemPath).group") else {
                    if fields["group"] == nil { error(line: fields.line, key: itemPath, "missing 'group'") }
                    continue
                }
                let count = fields["count"].map { int($0.node, at: "\(itemPath).count") } ?? 1
                guard let count else { continue }
                guard let group = groups[groupName] else {
                    error(
                        line: groupEntry.line, key: "\(itemPath).group",
                        "group '\(Self.abbreviated(groupName))' does not exist (\(Self.knownGroups(groups)))")
                    continue
                }
                if count < 1 {
                    error(line: fields["count"]?.line, key: "\(itemPath).count", "must be at least 1")
                } else if count > Self.maximumCount {
                    error(line: fields["count"]?.line, key: "\(itemPath).count", "\(count) approvals cannot be meant; at most \(Self.maximumCount)")
                } else if group.slackUsergroup == nil, count > group.members.count {
                    error(
                        line: fields["count"]?.line, key: "\(itemPath).count",
                        "\(count) is more than the \(group.members.count) member(s) of group '\(Self.abbreviated(groupName))'; the rule could never be met"
                    )
                }
                if !required.insert(groupName).inserted {
                    error(
                        line: groupEntry.line, key: "\(itemPath).group",
                        "group '\(Self.abbreviated(groupName))' is required twice; write one rule with the total count"
                    )
                }
                rules.append(Policy.ApprovalRule(group: groupName, count: count))
            }
            return rules
        }

        /// A value as messages quote it: whole when short, its start otherwise, so that a long value cannot make every
        /// message about it long.
        static func abbreviated(_ text: String, limit: Int = 60) -> String {
            text.utf8.count > limit ? "\(text.prefix(limit))…" : text
        }

        static func join(_ path: String, _ key: String) -> String {
            path.isEmpty ? key : "\(path).\(key)"
        }

        static func describe(_ node: Node) -> String {
            switch node {
            case .scalar(let scalar): scalar.string.isEmpty ? "nothing" : "'\(Self.abbreviated(scalar.string))'"
            case .mapping: "a mapping"
            case .sequence: "a list"
            case .alias: "an alias"
            }
        }
    }
}

import Foundation
import GreenlightCore
import Yams

extension PolicyParser.Reader {
    /// `freeze:` entries: one-off `{name, from, to}` (RFC 3339 with an offset) or weekly
    /// `{name, weekly: {day(s), from, to, tz}}` (local times in an IANA time zone).
    mutating func freezeWindows(_ node: Node, at path: String) -> [FreezeWindow] {
        guard case .sequence(let sequence) = node else {
            error(
                line: node.mark?.line, key: path, "expected a list of windows like [{name: holidays, from: …, to: …}], found \(Self.describe(node))")
            return []
        }
        var windows: [FreezeWindow] = []
        var names = Set<String>()
        for (index, item) in sequence.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let fields = mapping(item, at: itemPath) else { continue }
            allowOnly(["name", "from", "to", "weekly"], in: fields, at: itemPath)
            let name = fields["name"].flatMap { string($0.node, at: "\(itemPath).name") }
            if fields["name"] == nil { error(line: fields.line, key: itemPath, "missing 'name': a frozen gate's reason is frozen:<name>") }
            if let name, !names.insert(name).inserted {
                error(line: fields["name"]?.line, key: "\(itemPath).name", "a window named '\(Self.abbreviated(name))' is already defined here")
            }
            let schedule: FreezeWindow.Schedule?
            if let weekly = fields["weekly"] {
                if fields["from"] != nil || fields["to"] != nil {
                    error(line: weekly.line, key: itemPath, "write either 'weekly: {…}' or one-off 'from'/'to', not both")
                }
                schedule = weeklySchedule(weekly.node, at: "\(itemPath).weekly")
            } else {
                schedule = oneOffSchedule(fields, at: itemPath)
            }
            if let name, let schedule { windows.append(FreezeWindow(name: name, schedule: schedule)) }
        }
        return windows
    }

    private mutating func oneOffSchedule(_ fields: PolicyParser.Fields, at path: String) -> FreezeWindow.Schedule? {
        func instant(_ key: String) -> Date? {
            guard let entry = fields[key] else {
                error(line: fields.line, key: "\(path).\(key)", "missing: an RFC 3339 time with its offset, e.g. \"2026-12-20T00:00:00-05:00\"")
                return nil
            }
            guard let text = string(entry.node, at: "\(path).\(key)") else { return nil }
            // An offset is required: a bare local time would mean different instants on different servers.
            guard let date = Timestamp.parse(text), text.hasSuffix("Z") || text.range(of: #"[+-]\d\d:\d\d$"#, options: .regularExpression) != nil
            else {
                error(
                    line: entry.line, key: "\(path).\(key)",
                    "'\(Self.abbreviated(text))' is not an RFC 3339 time with an offset; write it like \"2026-12-20T00:00:00-05:00\" (quoted)")
                return nil
            }
            return date
        }
        guard let from = instant("from"), let to = instant("to") else { return nil }
        guard to > from else {
            error(line: fields["to"]?.line, key: "\(path).to", "ends at or before it starts (from \(Timestamp.format(from)))")
            return nil
        }
        return .once(from: from, to: to)
    }

    private mutating func weeklySchedule(_ node: Node, at path: String) -> FreezeWindow.Schedule? {
        guard let fields = mapping(node, at: path) else { return nil }
        allowOnly(["day", "days", "from", "to", "tz"], in: fields, at: path)
        var days = Set<Weekday>()
        let dayEntry = fields["days"] ?? fields["day"]
        let dayKey = fields["days"] != nil ? "days" : "day"
        if fields["day"] != nil, fields["days"] != nil { error(line: fields["days"]?.line, key: "\(path).days", "write 'day' or 'days', not both") }
        if let dayEntry {
            for name in stringOrList(dayEntry.node, at: "\(path).\(dayKey)") {
                if let day = Weekday(parsing: name) {
                    days.insert(day)
                } else {
                    error(
                        line: dayEntry.line, key: "\(path).\(dayKey)",
                        "'\(Self.abbreviated(name))' is not a day; use mon, tue, wed, thu, fri, sat or sun")
                }
            }
        } else {
            error(line: fields.line, key: "\(path).days", "missing: which days, e.g. 'day: fri' or 'days: [sat, sun]'")
        }
        func time(_ key: String) -> LocalTime? {
            guard let entry = fields[key] else {
                error(line: fields.line, key: "\(path).\(key)", "missing: a local time like \"14:00\"")
                return nil
            }
            guard let text = string(entry.node, at: "\(path).\(key)") else { return nil }
            guard let time = LocalTime(parsing: text) else {
                error(
                    line: entry.line, key: "\(path).\(key)",
                    "'\(Self.abbreviated(text))' is not a time of day; write HH:MM, 24-hour, e.g. \"14:00\" (quoted)")
                return nil
            }
            return time
        }
        let from = time("from")
        let to = time("to")
        var timeZone: TimeZone?
        if let entry = fields["tz"], let name = string(entry.node, at: "\(path).tz") {
            timeZone = TimeZone(identifier: name)
            if timeZone == nil || !name.contains("/") && name != "UTC" {
                timeZone = nil
                error(
                    line: entry.line, key: "\(path).tz",
                    "'\(Self.abbreviated(name))' is not an IANA time zone; write one like America/New_York or Europe/Berlin")
            }
        } else if fields["tz"] == nil {
            error(line: fields.line, key: "\(path).tz", "missing: the IANA time zone the times are in, e.g. America/New_York")
        }
        if let from, let to, from == to {
            error(line: fields["to"]?.line, key: "\(path).to", "is the same as 'from'; for a whole day write from: \"00:00\", to: \"24:00\"")
            return nil
        }
        guard let from, let to, let timeZone, !days.isEmpty else { return nil }
        return .weekly(days: days, from: from, to: to, timeZone: timeZone)
    }

    /// `break_glass: {allowed: [group: sre-admins], reason: required, max_per_day: 3}`.
    mutating func breakGlass(_ node: Node, at path: String, groups: [String: Policy.Group]) -> BreakGlass? {
        guard let fields = mapping(node, at: path) else { return nil }
        allowOnly(["allowed", "reason", "max_per_day"], in: fields, at: path)
        var allowed: [String] = []
        if let entry = fields["allowed"] {
            allowed = groupReferences(entry.node, at: "\(path).allowed", groups: groups)
            if case .sequence(let items) = entry.node, items.isEmpty {
                error(line: entry.line, key: "\(path).allowed", "is empty; name the group that may break glass, or remove break_glass")
            }
        } else {
            error(line: fields.line, key: "\(path).allowed", "missing: who may break glass, e.g. 'allowed: [group: sre-admins]'")
        }
        if let entry = fields["reason"], let text = string(entry.node, at: "\(path).reason"), text != "required" {
            error(
                line: entry.line, key: "\(path).reason",
                "'\(Self.abbreviated(text))' is not allowed; break-glass always needs a reason, so write 'reason: required'")
        }
        var limit: Int?
        if let entry = fields["max_per_day"] {
            limit = int(entry.node, at: "\(path).max_per_day")
            if let value = limit, value < 1 {
                error(line: entry.line, key: "\(path).max_per_day", "must be at least 1; to forbid break-glass, remove the key")
                limit = nil
            } else if let value = limit, value > BreakGlass.maximumPerDay {
                error(
                    line: entry.line, key: "\(path).max_per_day",
                    "\(value) break-glass uses a day cannot be meant; at most \(BreakGlass.maximumPerDay) (break-glass is for incidents)")
                limit = nil
            }
        } else {
            error(line: fields.line, key: "\(path).max_per_day", "missing: how many uses a day, e.g. 'max_per_day: 3'")
        }
        guard let limit, !allowed.isEmpty else { return nil }
        return BreakGlass(allowed: allowed, maxPerDay: limit)
    }
}

import Foundation

/// A period in which gates may not open (a freeze), e.g. holidays or Friday afternoons.
///
/// Weekly windows are wall-clock windows: each occurrence is computed from the local calendar date in the
/// window's time zone, so "fri 14:00–23:59 America/New_York" starts at 14:00 New York time both in summer
/// (18:00Z) and in winter (19:00Z). Around daylight-saving changes a local time is resolved as follows:
///
/// - A local time that does not exist (the spring-forward gap, e.g. 02:30 on the day clocks jump from 02:00 to
///   03:00) resolves to the first instant after the gap (03:00 local), so a window never starts or ends at an
///   instant that is later than every valid time it could have meant.
/// - A local time that happens twice (the fall-back repeat, e.g. 01:30 when clocks go from 02:00 back to 01:00)
///   resolves to the earlier instant, so a freeze starts as early as its wording allows.
///
/// An occurrence's length in absolute time is therefore not always the same: an overnight window crossing a
/// change is an hour shorter or longer, and a window lying entirely inside a gap is empty and never occurs.
public struct FreezeWindow: Sendable, Equatable {
    /// When a freeze window applies.
    public enum Schedule: Sendable, Equatable {
        /// One-off: from `from` (inclusive) to `to` (exclusive).
        case once(from: Date, to: Date)
        /// Every week on `days`, from local time `from` to local time `to` in the IANA time zone `timeZone`.
        /// If `to` is before `from`, the window runs overnight and ends at `to` on the next day (equal times would mean
        /// 24 hours, but the policy parser refuses them). The day in `days` is the day the window starts.
        case weekly(days: Set<Weekday>, from: LocalTime, to: LocalTime, timeZone: TimeZone)
    }

    /// A name people recognise in messages, e.g. "holidays" or "friday-afternoon".
    public var name: String
    /// When the window applies.
    public var schedule: Schedule

    /// A window called `name` that applies on `schedule`.
    public init(name: String, schedule: Schedule) {
        self.name = name
        self.schedule = schedule
    }

    /// The occurrence of this window that contains `date` (start inclusive, end exclusive), if any.
    ///
    /// For a weekly window this includes an overnight occurrence that started on the previous local day.
    public func occurrence(containing date: Date) -> DateInterval? {
        switch schedule {
        case .once(let from, let to):
            guard from < to, from <= date, date < to else { return nil }
            return DateInterval(start: from, end: to)
        case .weekly(let days, let from, let to, let timeZone):
            // An occurrence ends at most two local days after the day it starts on (24:00 start, overnight end),
            // so the days that could contain `date` are today, yesterday and the day before.
            let today = CivilDate(date, in: timeZone)
            for offset in [-2, -1, 0] {
                let day = today.adding(days: offset)
                guard days.contains(day.weekday),
                    let interval = Self.interval(on: day, from: from, to: to, in: timeZone),
                    interval.start <= date, date < interval.end
                else { continue }
                return interval
            }
            return nil
        }
    }

    /// The first occurrence that starts strictly after `date` (for "next window" displays), if any.
    ///
    /// A weekly window looks at most 8 days ahead, enough to cover every weekday it could fall on. A one-off
    /// window that has already started or passed has no next occurrence.
    public func nextOccurrence(after date: Date) -> DateInterval? {
        switch schedule {
        case .once(let from, let to):
            guard from < to, from > date else { return nil }
            return DateInterval(start: from, end: to)
        case .weekly(let days, let from, let to, let timeZone):
            // Start one day back: a window written as starting at 24:00 yesterday starts at today's midnight.
            let today = CivilDate(date, in: timeZone)
            for offset in -1...8 {
                let day = today.adding(days: offset)
                guard days.contains(day.weekday),
                    let interval = Self.interval(on: day, from: from, to: to, in: timeZone),
                    interval.start > date
                else { continue }
                return interval
            }
            return nil
        }
    }

    /// The occurrence that starts on the local calendar `day`, or nil when it is empty (lies inside a gap).
    private static func interval(on day: CivilDate, from: LocalTime, to: LocalTime, in timeZone: TimeZone) -> DateInterval? {
        let start = day.resolve(from, in: timeZone)
        let end = (to > from ? day : day.adding(days: 1)).resolve(to, in: timeZone)
        guard start < end else { return nil }
        return DateInterval(start: start, end: end)
    }
}

/// A day of the week as policies write it: mon, tue, wed, thu, fri, sat, sun.
///
/// Ordered Monday first, as ISO 8601 and most policy authors count the week.
public enum Weekday: String, Sendable, CaseIterable, Comparable, Codable {
    case mon, tue, wed, thu, fri, sat, sun

    /// Parses the short form (`fri`) or the full English name (`friday`), in any case (`Friday`, `FRI`);
    /// nil otherwise.
    public init?(parsing text: String) {
        let lowered = text.lowercased()
        if let day = Weekday(rawValue: lowered) {
            self = day
            return
        }
        guard let day = Weekday.allCases.first(where: { $0.fullName == lowered }) else { return nil }
        self = day
    }

    /// Monday first.
    public static func < (lhs: Weekday, rhs: Weekday) -> Bool {
        lhs.index < rhs.index
    }

    /// The lower-case full English name, e.g. "friday".
    private var fullName: String {
        switch self {
        case .mon: "monday"
        case .tue: "tuesday"
        case .wed: "wednesday"
        case .thu: "thursday"
        case .fri: "friday"
        case .sat: "saturday"
        case .sun: "sunday"
        }
    }

    /// 0 for Monday through 6 for Sunday.
    private var index: Int {
        Weekday.allCases.firstIndex(of: self)!
    }

    /// The day for Foundation's Gregorian weekday number, where 1 is Sunday and 7 is Saturday.
    init(gregorianWeekday: Int) {
        self = Weekday.allCases[(gregorianWeekday + 5) % 7]
    }
}

/// A wall-clock time of day, "HH:MM" 24-hour (00:00–23:59; also "24:00" meaning the end of the day).
public struct LocalTime: Sendable, Equatable, Comparable, CustomStringConvertible {
    /// 0–23, or 24 for "24:00".
    public var hour: Int
    /// 0–59; always 0 when `hour` is 24.
    public var minute: Int

    /// The time `hour`:`minute`; nil outside 00:00–23:59 and 24:00.
    public init?(hour: Int, minute: Int) {
        guard (0...23).contains(hour) && (0...59).contains(minute) || hour == 24 && minute == 0 else { return nil }
        self.hour = hour
        self.minute = minute
    }

    /// Parses "HH:MM" strictly: two-digit hour and minute, e.g. "09:05". "9:05", "25:00", "12:60" are nil.
    ///
    /// Strict so that a policy's times read the same way to every reader and typos are caught, not guessed at.
    public init?(parsing text: String) {
        let characters = Array(text)
        guard characters.count == 5, characters[2] == ":",
            characters.enumerated().allSatisfy({ $0.offset == 2 || ("0"..."9").contains($0.element) }),
            let hour = Int(String(characters[0..<2])), let minute = Int(String(characters[3..<5]))
        else { return nil }
        self.init(hour: hour, minute: minute)
    }

    /// "HH:MM", e.g. "09:05".
    public var description: String {
        (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
    }

    /// Minutes since midnight, 0–1440.
    var minutesSinceMidnight: Int { hour * 60 + minute }

    /// Earlier in the day first; 24:00 is the latest.
    public static func < (lhs: LocalTime, rhs: LocalTime) -> Bool {
        lhs.minutesSinceMidnight < rhs.minutesSinceMidnight
    }
}

/// A calendar date without a time or time zone, for walking local days without daylight-saving surprises.
private struct CivilDate: Sendable, Equatable {
    var year: Int
    var month: Int
    var day: Int

    /// Civil dates are counted in a fixed UTC Gregorian calendar, where every day is exactly 86,400 seconds.
    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        return calendar
    }()

    init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// The local calendar date of `date` in `timeZone`.
    init(_ date: Date, in timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let components = calendar.dateComponents([.year, .month, .day], from: date)
        self.init(year: components.year!, month: components.month!, day: components.day!)
    }

    /// Midnight of this date read as UTC, the reference point for civil arithmetic.
    private var utcMidnight: Date {
        Self.utc.date(from: DateComponents(year: year, month: month, day: day))!
    }

    /// The date `days` later (or earlier when negative).
    func adding(days: Int) -> CivilDate {
        let components = Self.utc.dateComponents([.year, .month, .day], from: utcMidnight + Double(days) * 86_400)
        return CivilDate(year: components.year!, month: components.month!, day: components.day!)
    }

    /// The day of the week of this date.
    var weekday: Weekday {
        Weekday(gregorianWeekday: Self.utc.component(.weekday, from: utcMidnight))
    }

    /// The instant at which clocks in `timeZone` show `time` on this date: a time in a spring-forward gap is the
    /// first instant after the gap, a time repeated by a fall-back is its earlier instant.
    ///
    /// Resolved from the zone's offsets rather than by `Calendar.date(from:)`, whose choice for skipped times
    /// (shift by the gap, giving 03:30 for 02:30) is not the one documented on ``FreezeWindow``.
    func resolve(_ time: LocalTime, in timeZone: TimeZone) -> Date {
        // The wall-clock reading as if it were UTC; the instant is `wall - offset` for the offset in force then.
        let wall = utcMidnight + Double(time.minutesSinceMidnight * 60)
        let offset = { (date: Date) in TimeInterval(timeZone.secondsFromGMT(for: date)) }
        // The offsets a day either side bracket any change affecting this reading (offsets are well under a day).
        let before = offset(wall - 86_400)
        let after = offset(wall + 86_400)
        let candidates = Set([before, offset(wall), after]).map { wall - $0 }.filter { wall - offset($0) == $0 }
        if let earliest = candidates.min() { return earliest }
        // No offset gives this reading: it is in a gap. The change lies between the reading taken with the later
        // offset and with the earlier one; find its exact second by bisection.
        var low = (wall - max(before, after)).timeIntervalSinceReferenceDate.rounded(.down)
        var high = (wall - min(before, after)).timeIntervalSinceReferenceDate.rounded(.up)
        let offsetBefore = offset(Date(timeIntervalSinceReferenceDate: low))
        while high - low > 1 {
            let middle = ((low + high) / 2).rounded(.down)
            if offset(Date(timeIntervalSinceReferenceDate: middle)) == offsetBefore { low = middle } else { high = middle }
        }
        return Date(timeIntervalSinceReferenceDate: high)
    }
}

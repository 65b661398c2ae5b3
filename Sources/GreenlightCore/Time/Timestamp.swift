import Foundation

/// The one way Greenlight writes and reads instants: RFC 3339 in UTC with milliseconds (`2026-11-22T14:32:00.123Z`),
/// stored as integer milliseconds since 1970.
///
/// Every instant goes through one conversion, ``milliseconds(_:)``, and back through ``date(milliseconds:)``; the two
/// round-trip exactly, and the text is written from the integer (``format(milliseconds:)``), not from the `Date`. So a
/// stored column, the text an audit hash covers and every printed time name the same millisecond. (A `Date` is a
/// `Double` of seconds since 2001: formatting one made from whole milliseconds through Foundation truncates its
/// binary fraction, which reads one millisecond early for about half of all instants.)
public enum Timestamp {
    /// The whole millisecond since 1970-01-01T00:00:00Z that `date` falls in (rounded down, before 1970 too).
    ///
    /// A `Date` made for a whole millisecond, or parsed from one, can lie a hair below it in binary; within a
    /// microsecond (or, far from now, a few units of the `Double`'s precision) it counts as that millisecond, so that
    /// `milliseconds(date(milliseconds: m)) == m` for every `m`.
    public static func milliseconds(_ date: Date) -> Int64 {
        let scaled = date.timeIntervalSince1970 * 1000
        let nearest = scaled.rounded()
        let whole = abs(scaled - nearest) <= max(0.001, 8 * scaled.ulp) ? nearest : scaled.rounded(.down)
        return Int64(exactly: whole) ?? (whole < 0 ? .min : .max)
    }

    /// The instant `milliseconds` after 1970-01-01T00:00:00Z.
    public static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// `date` without its fraction of a millisecond: what a trip through the store or through text leaves of it.
    public static func truncated(_ date: Date) -> Date {
        self.date(milliseconds: milliseconds(date))
    }

    public static func format(_ date: Date) -> String {
        format(milliseconds: milliseconds(date))
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` for the instant `milliseconds` after 1970, computed in integers (the proleptic
    /// Gregorian calendar, no leap seconds), so that it never depends on floating point or on Foundation's version.
    /// Years outside 0000…9999 (which RFC 3339 cannot write) get more digits or a minus sign.
    public static func format(milliseconds: Int64) -> String {
        let (seconds, millisecond) = floorDivision(milliseconds, 1000)
        let (days, secondOfDay) = floorDivision(seconds, 86_400)
        let (year, month, day) = civilDate(daysSince1970: days)
        var text = year < 0 ? "-" : ""
        text += padded(year.magnitude, 4) + "-" + padded(month, 2) + "-" + padded(day, 2)
        text += "T" + padded(secondOfDay / 3600, 2) + ":" + padded(secondOfDay / 60 % 60, 2) + ":" + padded(secondOfDay % 60, 2)
        text += "." + padded(millisecond, 3) + "Z"
        return text
    }

    /// Reads RFC 3339 with or without fractional seconds, with `Z` or an offset.
    public static func parse(_ text: String) -> Date? {
        if let date = try? style.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: false).parse(text)
    }

    /// Encodes `Date`s as ``format(_:)`` does, for JSON answers and exports.
    public static let jsonEncodingStrategy = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(format(date))
    }

    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Quotient rounded toward minus infinity, and a remainder in `0..<divisor`.
    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    /// Year, month and day of the day `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    private static func civilDate(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468  // days since 0000-03-01: leap days fall at the end of a year
        let era = floorDivision(shifted, 146_097).quotient  // 400-year cycles
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let marchMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        let month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func padded(_ value: some BinaryInteger, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

import Foundation

/// The one way Greenlight writes and reads instants: RFC 3339 in UTC with milliseconds (`2026-11-22T14:32:00.123Z`).
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(style)
    }

    /// Reads RFC 3339 with or without fractional seconds, with `Z` or an offset.
    public static func parse(_ text: String) -> Date? {
        if let date = try? style.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: false).parse(text)
    }

    /// Rounds to whole milliseconds: what survives a trip through text, so that stored and hashed values agree.
    public static func truncated(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    /// Encodes `Date`s as ``format(_:)`` does, for JSON answers and exports.
    public static let jsonEncodingStrategy = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(format(date))
    }

    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// A length of time as a policy writes it: `90s`, `30m`, `4h`, `2d`, or combined (`1h30m`).
public struct PolicyDuration: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public let seconds: Double

    /// The longest duration a policy may write (a timeout, a stage's timeout, a reminder's lead, an escalation's
    /// delay): 365 days. No approval is meant to wait longer, and the bound keeps every instant a policy leads to
    /// (a deadline, a timer) a date the store and every view can represent: `timeout: 200000000000d` was once accepted
    /// and overflowed the store's milliseconds when the first gate opened.
    public static let maximum = PolicyDuration(seconds: 365 * 86_400)

    public init(seconds: Double) {
        self.seconds = seconds
    }

    /// Why a text is not a duration a policy may write.
    public enum ParseError: Error, Sendable, Equatable {
        /// Not a number and a unit (`90s`, `30m`, `4h`, `2d`), or zero.
        case malformed
        /// Well formed, but longer than ``PolicyDuration/maximum``.
        case overMaximum
    }

    /// Parses the policy form, refusing anything longer than ``maximum``.
    public init(validating text: String) throws(ParseError) {
        guard let seconds = Self.wholeSeconds(in: text) else { throw .malformed }
        guard seconds <= Int(Self.maximum.seconds) else { throw .overMaximum }
        self.seconds = Double(seconds)
    }

    /// Parses the policy form. Returns `nil` for anything else, including zero and negative lengths and lengths over
    /// ``maximum``.
    public init?(parsing text: String) {
        guard let parsed = try? PolicyDuration(validating: text) else { return nil }
        self = parsed
    }

    /// The whole seconds `text` adds up to, or `nil` when it is not a positive duration. Counted in integers that stop
    /// growing at `saturation`: far above any maximum, yet a thousand-digit number can neither overflow nor become an
    /// infinite `Double`.
    private static func wholeSeconds(in text: String) -> Int? {
        let saturation = 1_000_000_000_000
        let units: [UInt8: Int] = [UInt8(ascii: "s"): 1, UInt8(ascii: "m"): 60, UInt8(ascii: "h"): 3_600, UInt8(ascii: "d"): 86_400]
        var total = 0
        var number: Int?
        for byte in text.utf8 {
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                number = min((number ?? 0) * 10 + Int(byte - UInt8(ascii: "0")), saturation)
            } else if let unit = units[byte], let value = number {
                total = min(total + value * unit, saturation)
                number = nil
            } else {
                return nil
            }
        }
        guard number == nil, total > 0 else { return nil }
        return total
    }

    /// The largest whole units that add up to the duration: `4h`, `1h30m`, `90s` stays `1m30s`.
    public var description: String {
        // Only code builds a duration outside the parser's bounds (a plan stored by an older version, a test); show it
        // as the number it is rather than trap converting it to an integer.
        guard seconds.isFinite, abs(seconds) < 1e15 else { return "\(seconds)s" }
        var rest = Int(seconds)
        var parts = ""
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] where rest >= size {
            parts += "\(rest / size)\(unit)"
            rest %= size
        }
        return parts.isEmpty ? "0s" : parts
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let seconds = try? container.decode(Double.self) {
            self.seconds = seconds
            return
        }
        let text = try container.decode(String.self)
        // Stored plans are read back without the policy's maximum: a gate opened under a longer timeout by an earlier
        // version must stay readable. Only the policy parser refuses new ones.
        guard let seconds = Self.wholeSeconds(in: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a duration (90s, 30m, 4h, 2d)")
        }
        self.seconds = Double(seconds)
    }

    /// The policy form (`4h`) when it reads back as the same duration; otherwise the number of seconds, which decoding
    /// also accepts, so that no value (a fraction, zero, one past every bound) is stored as something else.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if seconds >= 1, seconds < 1e15, seconds.rounded(.down) == seconds {
            try container.encode(description)
        } else {
            try container.encode(seconds)
        }
    }
}

import Foundation
import GreenlightCore
import Testing

/// One conversion between `Date` and integer milliseconds, and text written from the integer: a stored column, the
/// text an audit hash covers and every printed time must name the same millisecond.
@Suite("Timestamps")
struct TimestampTests {
    /// Milliseconds across the range Greenlight meets (and well beyond it), with the edges that trip conversions up.
    static let samples: [Int64] = {
        var generator = SystemRandomNumberGenerator()
        var samples: [Int64] = [0, 1, -1, 999, 1_000, -999, -1_000, -1_001, 978_307_200_000, 978_307_199_999, 978_307_200_001]
        samples += (0..<2_000).map { 1_800_000_000_000 + $0 }
        samples += (0..<20_000).map { _ in Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &generator) }
        samples += (0..<2_000).map { _ in Int64.random(in: 7_258_118_400_000...253_402_300_799_999, using: &generator) }
        return samples
    }()

    @Test("milliseconds → Date → milliseconds is the identity, from 1900 to 9999")
    func roundTrip() {
        let wrong = Self.samples.filter { Timestamp.milliseconds(Timestamp.date(milliseconds: $0)) != $0 }
        #expect(wrong.isEmpty, "\(wrong.count) of \(Self.samples.count), first \(wrong.prefix(5))")
    }

    @Test("the text of a truncated Date names the millisecond stored for it")
    func textOfTruncatedDate() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var wrong: [String] = []
        for step in 0..<2_000 {
            let date = start.addingTimeInterval(Double(step) * 0.001_000_3)
            let stored = Timestamp.milliseconds(date)
            let text = Timestamp.format(Timestamp.truncated(date))
            if text != Timestamp.format(milliseconds: stored) || Timestamp.milliseconds(Timestamp.truncated(date)) != stored {
                wrong.append("\(date.timeIntervalSince1970): \(text) for \(stored)")
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of 2000: \(wrong.prefix(3))")
    }

    @Test("the fraction of a millisecond is dropped, toward the past, before 1970 too")
    func truncation() {
        let base: TimeInterval = 1_800_000_000
        #expect(Timestamp.format(Date(timeIntervalSince1970: base + 0.0005)) == "2027-01-15T08:00:00.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: base + 0.9999)) == "2027-01-15T08:00:00.999Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: base + 0.001)) == "2027-01-15T08:00:00.001Z")
        #expect(Timestamp.milliseconds(Date(timeIntervalSince1970: base + 0.0015)) == 1_800_000_000_001)
        #expect(Timestamp.milliseconds(Date(timeIntervalSince1970: -0.0005)) == -1)
        #expect(Timestamp.format(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.format(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
    }

    @Test("the text agrees with Foundation's RFC 3339 wherever Foundation's is exact (whole seconds)")
    func agreesWithFoundation() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let wrong = Self.samples.map { $0 - $0 % 1000 }.filter { whole in
            Timestamp.format(milliseconds: whole) != style.format(Date(timeIntervalSince1970: Double(whole) / 1000))
        }
        #expect(wrong.isEmpty, "\(wrong.count) differ, first \(wrong.prefix(3).map { Timestamp.format(milliseconds: $0) })")
    }

    @Test("what is printed parses back to the same millisecond")
    func parsesBack() {
        let wrong = Self.samples.filter { milliseconds in
            Timestamp.parse(Timestamp.format(milliseconds: milliseconds)).map(Timestamp.milliseconds) != milliseconds
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(Self.samples.count), first \(wrong.prefix(5))")
    }
}

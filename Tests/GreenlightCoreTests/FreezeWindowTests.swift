import Foundation
import Testing

@testable import GreenlightCore

/// An instant written as ISO 8601 with an offset, e.g. "2026-12-20T00:00:00-05:00".
private func instant(_ text: String) -> Date {
    try! Date.ISO8601FormatStyle().parse(text)
}

private let newYork = TimeZone(identifier: "America/New_York")!
private let berlin = TimeZone(identifier: "Europe/Berlin")!

/// A weekly window, in the policy's own words.
private func weekly(_ days: Set<Weekday>, _ from: String, _ to: String, _ zone: TimeZone) -> FreezeWindow {
    FreezeWindow(name: "test", schedule: .weekly(days: days, from: LocalTime(parsing: from)!, to: LocalTime(parsing: to)!, timeZone: zone))
}

@Suite("FreezeWindow")
struct FreezeWindowTests {
    // MARK: One-off windows

    static let holidays = FreezeWindow(
        name: "holidays", schedule: .once(from: instant("2026-12-20T00:00:00-05:00"), to: instant("2027-01-04T00:00:00-05:00")))

    static let onceProbes: [(String, TimeInterval, Bool)] = [
        ("2026-12-20T00:00:00-05:00", 0, true),  // `from` is inside
        ("2026-12-20T05:00:00Z", 0, true),  // the same instant written in UTC
        ("2026-12-20T00:00:00-05:00", -0.001, false),  // one millisecond before `from`
        ("2026-12-20T04:59:59Z", 0, false),
        ("2026-12-25T12:00:00+01:00", 0, true),
        ("2027-01-04T00:00:00-05:00", -0.001, true),  // one millisecond before `to`
        ("2027-01-04T00:00:00-05:00", 0, false),  // `to` is outside
        ("2027-01-04T00:00:00Z", 0, true),  // midnight UTC is still 19:00 on the 3rd in New York
    ]

    @Test("one-off window: from inclusive, to exclusive, offsets honoured", arguments: onceProbes)
    func onceEdges(_ text: String, _ shift: TimeInterval, _ inside: Bool) {
        let probe = instant(text).addingTimeInterval(shift)
        let occurrence = Self.holidays.occurrence(containing: probe)
        #expect((occurrence != nil) == inside)
        if inside {
            #expect(occurrence == DateInterval(start: instant("2026-12-20T05:00:00Z"), end: instant("2027-01-04T05:00:00Z")))
        }
    }

    @Test("one-off window: next occurrence only while it has not started")
    func onceNext() {
        let start = instant("2026-12-20T05:00:00Z")
        #expect(Self.holidays.nextOccurrence(after: start.addingTimeInterval(-1))?.start == start)
        #expect(Self.holidays.nextOccurrence(after: start) == nil)
        #expect(Self.holidays.nextOccurrence(after: instant("2027-02-01T00:00:00Z")) == nil)
    }

    @Test("a one-off window that ends before it starts never applies")
    func onceBackwards() {
        let backwards = FreezeWindow(name: "oops", schedule: .once(from: instant("2026-12-20T00:00:00Z"), to: instant("2026-12-19T00:00:00Z")))
        #expect(backwards.occurrence(containing: instant("2026-12-19T12:00:00Z")) == nil)
        #expect(backwards.nextOccurrence(after: instant("2026-12-01T00:00:00Z")) == nil)
    }

    // MARK: Weekly windows

    /// A weekly window, an instant, and the occurrence containing it (nil: outside every occurrence).
    struct WeeklyCase: Sendable, CustomTestStringConvertible {
        let label: String
        let window: FreezeWindow
        let probe: Date
        let expected: DateInterval?

        init(_ label: String, _ window: FreezeWindow, _ probe: String, _ expected: (String, String)?) {
            self.label = label
            self.window = window
            self.probe = instant(probe)
            self.expected = expected.map { DateInterval(start: instant($0.0), end: instant($0.1)) }
        }

        var testDescription: String { label }
    }

    static let weeklyCases: [WeeklyCase] = [
        WeeklyCase(
            "NY Friday 14:00 is 18:00Z in July", weekly([.fri], "14:00", "23:59", newYork), "2026-07-10T18:00:00Z",
            ("2026-07-10T18:00:00Z", "2026-07-11T03:59:00Z")),
        WeeklyCase("NY Friday 13:59:59 in July is outside", weekly([.fri], "14:00", "23:59", newYork), "2026-07-10T17:59:59Z", nil),
        WeeklyCase(
            "NY Friday 14:00 is 19:00Z in December", weekly([.fri], "14:00", "23:59", newYork), "2026-12-04T19:00:00Z",
            ("2026-12-04T19:00:00Z", "2026-12-05T04:59:00Z")),
        WeeklyCase("NY 18:30Z in December is 13:30 local, outside", weekly([.fri], "14:00", "23:59", newYork), "2026-12-04T18:30:00Z", nil),
        WeeklyCase("wrong weekday", weekly([.mon], "09:00", "17:00", newYork), "2026-07-14T15:00:00Z", nil),
        WeeklyCase(
            "Berlin Sunday 01:00-04:00 on spring-forward day is 2 h", weekly([.sun], "01:00", "04:00", berlin), "2026-03-29T01:00:00Z",
            ("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")),
        WeeklyCase("Berlin spring-forward end is exclusive", weekly([.sun], "01:00", "04:00", berlin), "2026-03-29T02:00:00Z", nil),
        WeeklyCase(
            "NY 02:30 on spring-forward day starts at the gap end (03:00 EDT)", weekly([.sun], "02:30", "03:30", newYork),
            "2026-03-08T07:00:00Z", ("2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z")),
        WeeklyCase("NY one second before the gap end is outside", weekly([.sun], "02:30", "03:30", newYork), "2026-03-08T06:59:59Z", nil),
        WeeklyCase("NY window entirely inside the gap never occurs", weekly([.sun], "02:00", "02:30", newYork), "2026-03-08T07:00:00Z", nil),
        WeeklyCase(
            "NY 01:30 on fall-back day is the earlier (EDT) instant; second 01:45 is inside", weekly([.sun], "01:30", "03:00", newYork),
            "2026-11-01T06:45:00Z", ("2026-11-01T05:30:00Z", "2026-11-01T08:00:00Z")),
        WeeklyCase(
            "Berlin 02:30 on fall-back day is the earlier (CEST) instant", weekly([.sun], "02:30", "03:00", berlin),
            "2026-10-25T01:45:00Z", ("2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z")),
        WeeklyCase(
            "overnight Friday window found from Saturday morning", weekly([.fri], "22:00", "06:00", newYork), "2026-07-11T09:00:00Z",
            ("2026-07-11T02:00:00Z", "2026-07-11T10:00:00Z")),
        WeeklyCase("overnight window ends at 06:00 Saturday", weekly([.fri], "22:00", "06:00", newYork), "2026-07-11T10:00:00Z", nil),
        WeeklyCase("overnight window belongs to its start day only", weekly([.sat], "22:00", "06:00", newYork), "2026-07-11T09:00:00Z", nil),
        WeeklyCase(
            "overnight across NY fall-back is 9 h", weekly([.sat], "22:00", "06:00", newYork), "2026-11-01T10:30:00Z",
            ("2026-11-01T02:00:00Z", "2026-11-01T11:00:00Z")),
        WeeklyCase(
            "overnight across Berlin spring-forward is 3 h", weekly([.sat], "23:00", "03:00", berlin), "2026-03-29T00:30:00Z",
            ("2026-03-28T22:00:00Z", "2026-03-29T01:00:00Z")),
        WeeklyCase(
            "overnight across Berlin fall-back is 9 h", weekly([.sat], "22:00", "06:00", berlin), "2026-10-25T04:30:00Z",
            ("2026-10-24T20:00:00Z", "2026-10-25T05:00:00Z")),
        WeeklyCase(
            "24:00 ends at the next midnight", weekly([.fri], "18:00", "24:00", newYork), "2026-07-11T03:59:59Z",
            ("2026-07-10T22:00:00Z", "2026-07-11T04:00:00Z")),
        WeeklyCase(
            "equal times mean a whole day", weekly([.sun], "00:00", "00:00", berlin), "2026-03-29T21:00:00Z",
            ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")),
    ]

    @Test("weekly window: occurrence containing an instant", arguments: weeklyCases)
    func weeklyOccurrence(_ testCase: WeeklyCase) {
        #expect(testCase.window.occurrence(containing: testCase.probe) == testCase.expected)
    }

    static let nextCases: [WeeklyCase] = [
        WeeklyCase(
            "from Wednesday to Friday", weekly([.fri], "14:00", "23:59", newYork), "2026-07-08T12:00:00Z",
            ("2026-07-10T18:00:00Z", "2026-07-11T03:59:00Z")),
        WeeklyCase(
            "strictly after: at a start, the next week's", weekly([.fri], "14:00", "23:59", newYork), "2026-07-10T18:00:00Z",
            ("2026-07-17T18:00:00Z", "2026-07-18T03:59:00Z")),
        WeeklyCase(
            "inside an overnight occurrence, the next one", weekly([.fri], "22:00", "06:00", newYork), "2026-07-11T09:00:00Z",
            ("2026-07-18T02:00:00Z", "2026-07-18T10:00:00Z")),
        WeeklyCase(
            "a week later, across the fall-back", weekly([.fri], "14:00", "23:59", newYork), "2026-10-30T18:00:00Z",
            ("2026-11-06T19:00:00Z", "2026-11-07T04:59:00Z")),
        WeeklyCase(
            "an occurrence lost in the gap is skipped", weekly([.sun], "02:00", "02:30", newYork), "2026-03-07T12:00:00Z",
            ("2026-03-15T06:00:00Z", "2026-03-15T06:30:00Z")),
        WeeklyCase(
            "earliest of several days", weekly([.mon, .thu], "09:00", "10:00", berlin), "2026-07-07T12:00:00Z",
            ("2026-07-09T07:00:00Z", "2026-07-09T08:00:00Z")),
        WeeklyCase("no days, no occurrence", weekly([], "09:00", "10:00", berlin), "2026-07-07T12:00:00Z", nil),
    ]

    @Test("weekly window: next occurrence", arguments: nextCases)
    func weeklyNext(_ testCase: WeeklyCase) {
        #expect(testCase.window.nextOccurrence(after: testCase.probe) == testCase.expected)
    }

    // MARK: Parsing

    static let weekdays: [(String, Weekday?)] = [
        ("mon", .mon), ("fri", .fri), ("FRI", .fri), ("Friday", .fri), ("sunday", .sun), ("THURSDAY", .thu), ("Wed", .wed),
        ("", nil), ("fr", nil), ("frid", nil), ("tues", nil), ("funday", nil), (" fri", nil), ("mon,tue", nil),
    ]

    @Test("weekday parsing", arguments: weekdays)
    func weekdayParsing(_ text: String, _ expected: Weekday?) {
        #expect(Weekday(parsing: text) == expected)
    }

    @Test("weekdays order Monday first")
    func weekdayOrder() {
        #expect(Weekday.mon < .sun)
        #expect([Weekday.sun, .wed, .mon, .sat].sorted() == [.mon, .wed, .sat, .sun])
    }

    static let localTimes: [(String, String?)] = [
        ("00:00", "00:00"), ("09:05", "09:05"), ("23:59", "23:59"), ("24:00", "24:00"),
        ("9:05", nil), ("25:00", nil), ("12:60", nil), ("24:01", nil), ("0905", nil), ("09:5", nil), ("09-05", nil),
        (" 09:05", nil), ("09:05 ", nil), ("+9:05", nil), ("-1:00", nil), ("１２:００", nil), ("", nil),
    ]

    @Test("local time parsing is strict and prints back the same", arguments: localTimes)
    func localTimeParsing(_ text: String, _ expected: String?) {
        #expect(LocalTime(parsing: text)?.description == expected)
    }

    @Test("local times order through the day, 24:00 last")
    func localTimeOrder() throws {
        let early = try #require(LocalTime(parsing: "09:05"))
        let late = try #require(LocalTime(parsing: "23:59"))
        let end = try #require(LocalTime(parsing: "24:00"))
        #expect(early < late && late < end)
        #expect(early.hour == 9 && early.minute == 5)
        #expect(LocalTime(hour: 24, minute: 30) == nil)
    }
}

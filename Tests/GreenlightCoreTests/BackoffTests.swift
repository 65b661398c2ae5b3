import Testing

@testable import GreenlightCore

@Suite("Backoff")
struct BackoffTests {
    @Test("delays double from initial, stay in the upper half of their ceiling, and stop at maximum")
    func bounds() {
        for failures in 0..<40 {
            let ceiling = min(300, 0.5 * Double(1 << min(failures, 20)))
            for _ in 0..<20 {
                let delay = Backoff.delay(afterFailures: failures, initial: 0.5, maximum: 300)
                #expect(delay >= ceiling / 2 && delay <= ceiling, "failures \(failures): \(delay)")
            }
        }
    }

    @Test("reset starts over")
    func reset() {
        var backoff = Backoff(initial: 1, maximum: 100)
        for _ in 0..<5 { _ = backoff.next() }
        #expect(backoff.next() >= 16)
        backoff.reset()
        #expect(backoff.next() <= 1)
    }
}

import Foundation
import GreenlightCore
import GreenlightTestSupport
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// Instants are stored as milliseconds in an `Int64`; no `Date` may trap on the way (issue 16: a policy timeout of
/// 200000000000d once stopped the server when the first gate under it was written, and again after every restart).
@Suite("Stored instants")
struct StoredInstantTests {
    @Test("milliseconds are exact for real instants and clamped, in order, for any other Date")
    func millis() {
        let now = Date(timeIntervalSince1970: 1_800_000_000.123)
        #expect(SQLiteRows.millis(now) == 1_800_000_000_123)
        #expect(SQLiteRows.date(SQLiteRows.millis(now)) == Timestamp.truncated(now))
        #expect(SQLiteRows.millis(Date(timeIntervalSince1970: -1.5)) == -1_500)
        #expect(SQLiteRows.millis(.distantFuture) == Int64((Date.distantFuture.timeIntervalSince1970 * 1000).rounded(.down)))
        #expect(SQLiteRows.millis(Date(timeIntervalSince1970: 200_000_000_000 * 86_400)) == .max)
        #expect(SQLiteRows.millis(Date(timeIntervalSince1970: 1e300)) == .max)
        #expect(SQLiteRows.millis(Date(timeIntervalSince1970: .infinity)) == .max)
        #expect(SQLiteRows.millis(Date(timeIntervalSince1970: -1e300)) == .min)
        #expect(SQLiteRows.millis(Date(timeIntervalSince1970: -.infinity)) == .min)
        #expect(SQLiteRows.millis(Date(timeIntervalSince1970: .nan)) == .max, "not an instant: the far future, so that it never fires early")
    }

    @Test("a gate whose deadline lies past what milliseconds hold is stored, waits, and is read back")
    func farDeadline() async throws {
        let fixture = try TemporaryStore()
        let gate = StoreFixtures.gate(timeout: 200_000_000_000 * 86_400)
        #expect(try await fixture.ledger.open(gate, idempotencyKey: nil) == .created(gate))
        let stored = try #require(try await fixture.store.gate(gate.id))
        #expect(stored.plan == gate.plan)
        #expect(try #require(stored.deadline) > Date.distantFuture)
        #expect(try await fixture.ledger.decideExpiredGates(at: StoreFixtures.start.addingTimeInterval(PolicyDuration.maximum.seconds)).isEmpty)
    }

    @Test("a gate under the longest timeout a policy may write keeps its exact deadline and times out at it")
    func longestTimeout() async throws {
        let fixture = try TemporaryStore()
        let gate = StoreFixtures.gate(timeout: PolicyDuration.maximum.seconds)
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        #expect(try await fixture.store.gate(gate.id) == gate)
        #expect(try await fixture.ledger.nextDeadline() == StoreFixtures.start.addingTimeInterval(365 * 86_400))
        let end = StoreFixtures.start.addingTimeInterval(PolicyDuration.maximum.seconds)
        #expect(try await fixture.ledger.decideExpiredGates(at: end.addingTimeInterval(-1)).isEmpty)
        #expect(try await fixture.ledger.decideExpiredGates(at: end).map(\.id) == [gate.id])
    }
}

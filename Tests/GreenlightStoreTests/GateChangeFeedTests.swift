import Foundation
import GreenlightCore
import GreenlightTestSupport
import Synchronization
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// The synchronous observers of the change feed: called once per committed change, on the committing thread, before
/// the writer gets its answer; and never again once cancelled.
@Suite("Change feed observers")
struct GateChangeFeedTests {
    @Test("an observer sees each committed change before the writer's call returns, and nothing after cancel", arguments: StoreFactory.all)
    func observeAll(_ factory: StoreFactory) async throws {
        let fixture = try await factory.make()
        let (store, ledger) = (fixture.store, fixture.ledger)
        let seen = Mutex<[Int]>([])
        let observation = store.changes.observeAll { gate in seen.withLock { $0.append(gate.version) } }

        let gate = StoreFixtures.gate()
        _ = try await ledger.open(gate, idempotencyKey: nil)
        #expect(seen.withLock { $0 } == [1], "the new gate, published before open returned")
        _ = try await ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        #expect(seen.withLock { $0 } == [1, 2])

        observation.cancel()
        _ = try await ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: gate.id)
        #expect(seen.withLock { $0 } == [1, 2], "no call after cancel")
    }

    @Test("an outbox observer is called on each ring until cancelled")
    func observeOutboxRings() {
        let feed = GateChangeFeed()
        let rings = Mutex(0)
        let observation = feed.observeOutboxRings { rings.withLock { $0 += 1 } }
        feed.ringOutbox()
        feed.ringOutbox()
        #expect(rings.withLock { $0 } == 2)
        observation.cancel()
        feed.ringOutbox()
        #expect(rings.withLock { $0 } == 2)
    }
}

import Foundation
import GreenlightCore
import Testing

@testable import GreenlightStore

@Suite("Checkpoints and the frozen-parts memo")
struct WALCheckpointTests {
    @Test("the write-ahead log stays short without SQLite's in-commit checkpoint: the checkpointer copies it out")
    func walStaysShort() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        let wal = temporary.path + "-wal"
        func size() throws -> Int { (try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0 }
        var sizes: [Int] = []
        for round in 0..<12 {
            for index in 0..<WALCheckpointer.commitsBetween {
                _ = try await store.open(StoreFixtures.gate(commit: "c\(round)x\(index)abcdef"), idempotencyKey: nil)
            }
            store.checkpointer.drain()
            sizes.append(try size())
        }
        // Without checkpoints the log would hold all 384 commits and grow every round; with them it is reused.
        #expect(sizes.last ?? 0 <= (sizes.first ?? 0) * 2, "WAL sizes per round: \(sizes)")
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test("the write-once memo computes a value once, and forgets the oldest beyond its capacity")
    func memo() throws {
        let memo = WriteOnceMemo<GateID, (GateRequest, GatePlan)>(capacity: 64)
        let gate = StoreFixtures.gate()
        var decoded = 0
        func decode() -> (GateRequest, GatePlan) {
            decoded += 1
            return (gate.request, gate.plan)
        }
        let ids = (0...memo.capacity).map { _ in GateID.generate() }
        for id in ids { _ = memo.value(for: id, make: decode) }
        #expect(decoded == ids.count)
        _ = memo.value(for: ids[1], make: decode)
        #expect(decoded == ids.count, "a remembered gate is not decoded again")
        _ = memo.value(for: ids[0], make: decode)
        #expect(decoded == ids.count + 1, "the oldest was forgotten")
    }
}

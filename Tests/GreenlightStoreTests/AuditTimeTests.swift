import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightTestSupport
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// The stored `at` of an audit event, the text its hash covers and the text `audit query` prints are one millisecond,
/// and logs hashed before schema v5 still verify as they were hashed.
@Suite("Audit times")
struct AuditTimeTests {
    /// Instants a millisecond apart and less, as a busy server stamps them: x.0005 s, x.9999 s and the like.
    static func instant(_ index: Int) -> Date {
        let fractions: [TimeInterval] = [0.0005, 0.9999, 0.000_499_9, 0.001_000_1, 0.333_333_3, 0.5, 0.999_999_9, 0.123_456_7]
        return StoreFixtures.start.addingTimeInterval(Double(index) * 0.7 + fractions[index % fractions.count])
    }

    @Test("the legacy time text is what Foundation printed for the stored millisecond before schema v5")
    func legacyTextIsFoundations() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var generator = SystemRandomNumberGenerator()
        var samples: [Int64] = (0..<3_000).map { 1_800_000_000_000 + Int64($0) } + (0..<2_000).map { 978_307_199_000 + Int64($0) }
        samples += (0..<20_000).map { _ in Int64.random(in: 0...4_102_444_800_000, using: &generator) }
        let wrong = samples.filter { AuditChain.legacyText(milliseconds: $0) != style.format(Date(timeIntervalSince1970: Double($0) / 1000)) }
        #expect(wrong.isEmpty, "\(wrong.count) of \(samples.count) differ, first \(wrong.prefix(3))")
        // And it is the old form's flaw this schema fixes: about half read a millisecond early.
        let early = samples.filter { AuditChain.legacyText(milliseconds: $0) != Timestamp.format(milliseconds: $0) }.count
        #expect(early > samples.count / 3)
    }

    @Test("every event's hash covers the stored millisecond, which is what audit query prints")
    func storedTimeIsHashedTime() async throws {
        let fixture = try TemporaryStore()
        for index in 0..<400 {
            try await fixture.store.record(AuditDraft(at: Self.instant(index), actor: "operator", action: .policyLoaded, details: ["n": "\(index)"]))
        }
        let rows = try await fixture.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT sequence, at FROM audit_event ORDER BY sequence").map {
                (sequence: $0["sequence"] as Int64, at: $0["at"] as Int64)
            }
        }
        let events = try await fixture.store.auditEvents(AuditQuery(limit: 1_000))
        #expect(events.count == rows.count)
        var printedWrong: [Int64] = []
        var hashedWrong: [Int64] = []
        for (event, row) in zip(events, rows) {
            if Timestamp.format(event.at) != Timestamp.format(milliseconds: row.at) { printedWrong.append(row.sequence) }
            // What the hash covers: the canonical form, whose `at` must be the text of the stored column.
            let canonical = String(decoding: AuditChain.canonicalBytes(of: event), as: UTF8.self)
            if !canonical.contains(#""at":"\#(Timestamp.format(milliseconds: row.at))""#) { hashedWrong.append(row.sequence) }
        }
        #expect(printedWrong.isEmpty, "printed at differs from the stored column for \(printedWrong.count) of \(rows.count)")
        #expect(hashedWrong.isEmpty, "the hash does not cover the stored column for \(hashedWrong.count) of \(rows.count)")
        #expect(try await fixture.store.verifyAudit().isIntact)
    }

    @Test("a log hashed before schema v5 still verifies after the upgrade, new events after it, and an edit is still caught")
    func logFromBeforeV5() async throws {
        let old = try OldAuditLog(events: 300)
        let store = try SQLiteGateStore(path: old.path)
        let from = try await store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT stored_millisecond_from FROM audit_time_format") }
        #expect(from == 301, "the first event hashed with the stored millisecond is the first one after the upgrade")
        #expect(try await store.verifyAudit().isIntact)
        for index in 300..<600 {
            try await store.record(AuditDraft(at: Self.instant(index), actor: "operator", action: .policyLoaded, details: ["n": "\(index)"]))
        }
        guard case .intact(let count, _) = try await store.verifyAudit() else {
            Issue.record("the upgraded log does not verify: \(try await store.verifyAudit())")
            return
        }
        #expect(count == 600)
        // The old events really were hashed the old way: verified as new ones, about half of them fail.
        let strict = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_event WHERE sequence <= 300").map(SQLiteRows.auditEvent)
        }
        #expect(strict.filter { AuditChain.hash(of: $0) != $0.hash }.count > 100)

        try await store.pool.write { db in try db.execute(sql: "UPDATE audit_event SET actor = 'mallory' WHERE sequence = 120") }
        #expect(try await store.verifyAudit() == .broken(sequence: 120, problem: "its content does not match its hash (the event was edited)"))
    }
}

/// A database as versions before schema v5 left it: migrated to v4, with audit events hashed over the old time text.
final class OldAuditLog {
    let directory: URL
    let path: String

    init(events: Int) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-old-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("greenlight.db").path
        let queue = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(queue, upTo: "v4: break-glass decisions")
        try queue.write { db in
            var previous = AuditChain.genesisHash
            for index in 0..<events {
                let draft = AuditDraft(
                    at: AuditTimeTests.instant(index), actor: "pipeline:ci", action: .gateOpened, gateID: "g_\(index)", service: "shop",
                    environment: "production", artifact: "shop@sha256:abc", details: ["n": "\(index)", "note": "ünïcode \"q\"\n\u{1}"])
                var event = AuditChain.link(draft, sequence: Int64(index + 1), previousHash: previous)
                event.hash = AuditChain.hash(of: event, time: .beforeSchemaV5)
                try db.execute(
                    sql: """
                        INSERT INTO audit_event (sequence, at, actor, action, gate_id, service, environment, artifact, details, previous_hash, hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        event.sequence, Timestamp.milliseconds(event.at), event.actor, event.action, event.gateID, event.service,
                        event.environment, event.artifact, StoredFormat.json(event.details), event.previousHash, event.hash,
                    ])
                previous = event.hash
            }
            try db.execute(sql: "INSERT INTO audit_head (id, sequence, hash) VALUES (1, ?, ?)", arguments: [events, previous])
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

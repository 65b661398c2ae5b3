import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import GreenlightTransparency
import Testing

/// Each test edits the database behind the store's back, as someone with file access could, and checks that
/// verification names the first bad event.
@Suite("Audit chain tampering")
struct AuditTamperingTests {
    /// A store with 6 events: opened, 2 votes, a decision, a second gate opened, a refusal.
    private func populated(_ factory: StoreFactory) async throws -> StoreUnderTest {
        let fixture = try await factory.make()
        let gate = StoreFixtures.gate()
        _ = try await fixture.ledger.open(gate, idempotencyKey: nil)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: gate.id)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: gate.id)
        let second = StoreFixtures.gate()
        _ = try await fixture.ledger.open(second, idempotencyKey: nil)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("mallory"), on: second.id)
        #expect(try await fixture.store.verifyAudit() == .intact(events: 6, headHash: try await headHash(fixture)))
        return fixture
    }

    private func headHash(_ fixture: StoreUnderTest) async throws -> String {
        try await fixture.strings("SELECT hash FROM audit_head").first ?? ""
    }

    private func tamper(_ fixture: StoreUnderTest, _ sql: String) async throws {
        try await fixture.execute(sql)
    }

    private func brokenAt(_ fixture: StoreUnderTest) async throws -> Int64? {
        if case .broken(let sequence, _) = try await fixture.store.verifyAudit() { return sequence }
        return nil
    }

    @Test("an edited actor is caught at that event", arguments: StoreFactory.all)
    func edited(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        try await tamper(fixture, "UPDATE audit_event SET actor = 'carol' WHERE sequence = 2")
        #expect(try await brokenAt(fixture) == 2)
    }

    @Test("edited details are caught", arguments: StoreFactory.all)
    func editedDetails(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        try await tamper(fixture, #"UPDATE audit_event SET details = '{"decision":"reject","via":"api"}' WHERE sequence = 3"#)
        #expect(try await brokenAt(fixture) == 3)
    }

    @Test("an edit that recomputes the event's own hash is still caught by the next link", arguments: StoreFactory.all)
    func rehashed(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        let events = try await fixture.store.auditEvents(AuditQuery(gateID: nil))
        var forged = events[1]
        forged.actor = "carol"
        forged.hash = AuditChain.hash(of: forged)
        // Both are plain text the SQL can carry: an actor name and a hex hash.
        try await tamper(fixture, "UPDATE audit_event SET actor = '\(forged.actor)', hash = '\(forged.hash)' WHERE sequence = 2")
        #expect(try await brokenAt(fixture) == 3)
    }

    @Test("a removed event is caught where the gap is", arguments: StoreFactory.all)
    func removed(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        try await tamper(fixture, "DELETE FROM audit_event WHERE sequence = 3")
        #expect(try await brokenAt(fixture) == 4)
    }

    @Test("events cut off the end are caught by the recorded head", arguments: StoreFactory.all)
    func truncated(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        try await tamper(fixture, "DELETE FROM audit_event WHERE sequence >= 5")
        #expect(try await brokenAt(fixture) == 5)
    }

    @Test("two events swapped are caught", arguments: StoreFactory.all)
    func reordered(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        try await tamper(
            fixture,
            """
            UPDATE audit_event SET sequence = -1 WHERE sequence = 2;
            UPDATE audit_event SET sequence = 2 WHERE sequence = 3;
            UPDATE audit_event SET sequence = 3 WHERE sequence = -1;
            """
        )
        #expect(try await brokenAt(fixture) == 2)
    }

    @Test("the canonical encoding is stable: a known event has a known hash")
    func knownVector() {
        let draft = AuditDraft(
            at: Date(timeIntervalSince1970: 1_800_000_000), actor: "alice", action: .voteRecorded, gateID: "g_aaaaaaaaaaaaaaaaaaaa",
            service: "shop", environment: "production", artifact: "shop@sha256:abc", details: ["decision": "approve", "note": "ünïcode \"q\"\n"]
        )
        let event = AuditChain.link(draft, sequence: 1, previousHash: AuditChain.genesisHash)
        let canonical = String(decoding: AuditChain.canonicalBytes(of: event), as: UTF8.self)
        #expect(
            canonical
                == #"{"action":"vote.recorded","actor":"alice","artifact":"shop@sha256:abc","at":"2027-01-15T08:00:00.000Z","details":{"decision":"approve","note":"ünïcode \"q\"\n"},"environment":"production","gate_id":"g_aaaaaaaaaaaaaaaaaaaa","sequence":1,"service":"shop"}"#
        )
        // SHA-256 of 64 zeros, a newline and the canonical bytes above: computed independently with
        // printf '%s\n%s' "$(printf '0%.0s' {1..64})" "$canonical" | sha256sum
        #expect(event.hash == "6f5cddaeed8f9b6df665ae030749f4a53b84d3a4238d926af9ef43a8696bcada")
        #expect(AuditChain.hash(of: event) == event.hash)
    }

    // MARK: The Merkle log

    private func tree(_ fixture: StoreUnderTest) async throws -> AuditTreeBuilder {
        var tree = AuditTreeBuilder()
        for event in try await fixture.store.auditEvents(AuditQuery(limit: 1_000)) { try tree.append(event) }
        return tree
    }

    @Test("every stored event reads back from its leaf, and the export verifies against a checkpoint of it", arguments: StoreFactory.all)
    func leavesRoundTrip(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        let events = try await fixture.store.auditEvents(AuditQuery(limit: 1_000))
        for event in events { #expect(try AuditLeaves.event(fromLeaf: AuditLeaves.leaf(of: event)) == event) }
        let tree = try await tree(fixture)
        var verifier = AuditExportVerifier(
            checkpoint: Checkpoint(origin: "test", size: 4, root: MerkleTree.root(of: events.prefix(4).map(AuditLeaves.leafHash))))
        for event in events { try verifier.check(line: AuditLeaves.leaf(of: event)) }
        #expect(try verifier.finish().hasPrefix("export intact: 6 event(s), Merkle root \(tree.root)"))
    }

    @Test("a chain rewritten with every hash recomputed passes the chain's check, not a checkpoint's root", arguments: StoreFactory.all)
    func rewrittenChain(_ factory: StoreFactory) async throws {
        let fixture = try await populated(factory)
        let signed = try await tree(fixture)
        var previous = AuditChain.genesisHash
        for var event in try await fixture.store.auditEvents(AuditQuery(limit: 1_000)) {
            if event.sequence == 2 { event.actor = "carol" }
            event.previousHash = previous
            event.hash = AuditChain.hash(of: event)
            previous = event.hash
            // Plain text the SQL can carry: an actor name and hex hashes.
            try await tamper(
                fixture,
                "UPDATE audit_event SET actor = '\(event.actor)', previous_hash = '\(event.previousHash)', hash = '\(event.hash)' WHERE sequence = \(event.sequence)"
            )
        }
        try await tamper(fixture, "UPDATE audit_head SET hash = '\(previous)'")
        #expect(try await fixture.store.verifyAudit().isIntact, "the rewrite fools the chain")
        let now = try await tree(fixture)
        #expect(now.size == signed.size)
        #expect(now.root != signed.root)
        var verifier = AuditExportVerifier(checkpoint: Checkpoint(origin: "test", size: signed.size, root: signed.root))
        for event in try await fixture.store.auditEvents(AuditQuery(limit: 1_000)) { try verifier.check(line: AuditLeaves.leaf(of: event)) }
        #expect(throws: AuditExportProblem.self) { try verifier.finish() }
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Testing

/// Each test edits a row behind the store's back — what one SQL statement does with the server stopped — and checks
/// that the row no longer agrees with the log (``LogAgreement``), on every store.
@Suite("State rows against the log")
struct StateTamperingTests {
    /// A store with an approved gate (alice and bob), a pending one, and a pipeline token, all through the store's API.
    private func populated(_ factory: StoreFactory) async throws -> (StoreUnderTest, approved: Gate, pending: Gate, token: AccessToken) {
        let fixture = try await factory.make()
        let approved = StoreFixtures.gate()
        _ = try await fixture.ledger.open(approved, idempotencyKey: nil)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("alice"), on: approved.id)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: approved.id)
        let pending = StoreFixtures.gate()
        _ = try await fixture.ledger.open(pending, idempotencyKey: nil)
        _ = try await fixture.ledger.castVote(StoreFixtures.vote("carol"), on: pending.id)
        let token = AccessToken(name: "ci", kind: .pipeline, createdAt: StoreFixtures.start)
        try await fixture.store.createToken(token, secretHash: TokenSecret.hash("secret-ci"))
        return (fixture, approved, pending, token)
    }

    private func disagreement(_ fixture: StoreUnderTest, _ id: GateID) async throws -> String? {
        StoredGateRow.forget(id)
        let gate = try #require(try await fixture.store.gate(id))
        return LogAgreement.disagreement(of: gate, with: try await fixture.store.auditEvents(AuditQuery(gateID: id.description)))
    }

    private func tokenDisagreement(_ fixture: StoreUnderTest) async throws -> [String] {
        let created = try await fixture.store.auditEvents(AuditQuery(action: AuditAction.tokenCreated.rawValue))
        return try await fixture.store.allTokens().compactMap { LogAgreement.disagreement(of: $0.token, secretHash: $0.secretHash, with: created) }
    }

    @Test("untouched rows agree with the log, and are listed", arguments: StoreFactory.all)
    func untouched(_ factory: StoreFactory) async throws {
        let (fixture, approved, pending, _) = try await populated(factory)
        #expect(try await disagreement(fixture, approved.id) == nil)
        #expect(try await disagreement(fixture, pending.id) == nil)
        #expect(try await tokenDisagreement(fixture).isEmpty)
        let ids = try await fixture.store.gateIDs(after: nil, limit: 10)
        #expect(Set(ids) == [approved.id, pending.id])
        #expect(try await fixture.store.gateIDs(after: ids[0], limit: 10) == [ids[1]])
    }

    @Test("a flipped decision disagrees", arguments: StoreFactory.all)
    func flipped(_ factory: StoreFactory) async throws {
        let (fixture, approved, pending, _) = try await populated(factory)
        try await fixture.execute("UPDATE gate SET state = 'rejected', outcome = 'rejected' WHERE id = '\(approved.id)'")
        #expect(try await disagreement(fixture, approved.id)?.contains("state is 'rejected' in its row, but 'approved' in the log") == true)
        try await fixture.execute("UPDATE gate SET state = 'approved', outcome = 'approved' WHERE id = '\(pending.id)'")
        #expect(try await disagreement(fixture, pending.id)?.contains("never recorded its decision") == true)
    }

    @Test("a person swapped into a pending gate's plan disagrees", arguments: StoreFactory.all)
    func swappedApprover(_ factory: StoreFactory) async throws {
        let (fixture, _, pending, _) = try await populated(factory)
        try await fixture.execute("UPDATE gate SET plan = replace(plan, '\"carol\"', '\"mallory\"') WHERE id = '\(pending.id)'")
        let problem = try await disagreement(fixture, pending.id)
        #expect(problem?.contains("plan_hash") == true, "\(problem ?? "agreed")")
    }

    @Test("a deleted vote disagrees", arguments: StoreFactory.all)
    func deletedVote(_ factory: StoreFactory) async throws {
        let (fixture, _, pending, _) = try await populated(factory)
        try await fixture.execute("DELETE FROM vote WHERE gate_id = '\(pending.id)' AND voter = 'carol'")
        #expect(try await disagreement(fixture, pending.id)?.contains("'carol approve' is in the log but not in its row") == true)
    }

    @Test("a token minted with no token.created, or one whose kind was changed, disagrees", arguments: StoreFactory.all)
    func mintedToken(_ factory: StoreFactory) async throws {
        let (fixture, _, _, _) = try await populated(factory)
        try await fixture.execute(
            "INSERT INTO token (secret_hash, name, kind, services, environments, created_at) VALUES ('\(TokenSecret.hash("minted"))', 'minted', 'auditor', '[]', '[]', 0)"
        )
        #expect(try await tokenDisagreement(fixture).count == 1)
        try await fixture.execute("UPDATE token SET kind = 'approver', \(factory.name == "SQLite" ? "user" : "\"user\"") = 'alice' WHERE name = 'ci'")
        #expect(try await tokenDisagreement(fixture).count == 2)
    }

    @Test("a token's secret replaced in its row disagrees: the log binds the secret too", arguments: StoreFactory.all)
    func replacedSecret(_ factory: StoreFactory) async throws {
        let (fixture, _, _, _) = try await populated(factory)
        #expect(try await tokenDisagreement(fixture).isEmpty)
        try await fixture.execute("UPDATE token SET secret_hash = '\(TokenSecret.hash("attacker"))' WHERE name = 'ci'")
        #expect(try await tokenDisagreement(fixture).first?.contains("token 'ci'") == true)
    }
}

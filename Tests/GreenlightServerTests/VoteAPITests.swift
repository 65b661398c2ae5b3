import Foundation
import GreenlightAPI
import GreenlightCore
import GreenlightStore
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightServer

@Suite("Votes and cancels")
struct VoteAPITests {
    /// A production gate (2 of leads) authored by alice and triggered by bob: only carol of the leads may vote.
    @Test("quorum: each eligible approval counts once; the gate decides on the last one")
    func quorum() async throws {
        let app = try await TestGreenlight()
        let json = #"{"service":"shop","environment":"production","artifact":"a@sha256:1","commit":"0123abcd"}"#
        try await app.test { client in
            let gate = try await client.openGate(app, json: json)
            let first = try await client.vote(app, gate.id, as: "alice")
            #expect(first.status == .ok)
            #expect(try first.decode(GateResource.self).requirements.first?.approvals == ["alice"])
            let again = try await client.vote(app, gate.id, as: "alice")
            #expect(again.status == .conflict)
            #expect(again.error?.error == "already_voted")
            let second = try await client.vote(app, gate.id, as: "bob")
            let decided = try second.decode(GateResource.self)
            #expect(decided.state == .approved)
            #expect(decided.decidedBy == "bob")
            #expect(decided.votes.map(\.via) == ["api", "api"])
        }
    }

    @Test("the author and the triggerer are refused with 403, and the attempts are audited")
    func separationOfDuties() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            let author = try await client.vote(app, gate.id, as: "alice")
            #expect(author.status == .forbidden)
            #expect(author.error?.error == "separation_of_duties")
            #expect(author.error?.message.contains("an author of this change") == true)
            let triggerer = try await client.vote(app, gate.id, as: "bob", "reject", comment: "no")
            #expect(triggerer.status == .forbidden)
            let outsider = try await client.vote(app, gate.id, as: "mallory")
            #expect(outsider.status == .forbidden)
            #expect(outsider.error?.error == "not_an_approver")
        }
        let refusals = try await app.store.auditEvents(AuditQuery(action: "vote.refused"))
        #expect(refusals.map(\.actor) == ["alice", "bob", "mallory"])
        #expect(refusals.map { $0.details["reason"] } == ["separation_of_duties", "separation_of_duties", "not_an_approver"])
    }

    @Test("one reject decides; a later vote is 409 and says who decided and when")
    func rejectThenLate() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            let reject = try await client.vote(app, gate.id, as: "carol", "reject", comment: "migration unreviewed")
            let rejected = try reject.decode(GateResource.self)
            #expect(rejected.state == .rejected)
            #expect(rejected.reason == "rejected by carol: migration unreviewed")
            let late = try await client.vote(app, gate.id, as: "carol")
            #expect(late.status == .conflict)
            #expect(late.error?.error == "gate_decided")
            #expect(late.error?.message.contains("already rejected by carol at \(rejected.decidedAt ?? "?")") == true)
        }
    }

    @Test("only approver tokens vote; votes on unknown gates are 404; bad bodies are 400")
    func wrongVoters() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            #expect(try await client.vote(app, gate.id, as: "ci").status == .forbidden)
            #expect(try await client.vote(app, gate.id, as: "auditor").status == .forbidden)
            #expect(try await client.vote(app, "g_aaaaaaaaaaaaaaaaaaaa", as: "carol").status == .notFound)
            #expect(try await client.vote(app, "nonsense", as: "carol").status == .notFound)
            let maybe = try await client.vote(app, gate.id, as: "carol", "maybe")
            #expect(maybe.status == .badRequest)
            #expect(maybe.error?.message.contains("decision") == true)
        }
        let refused = try await app.store.auditEvents(AuditQuery(action: "vote.refused"))
        #expect(refused.map(\.actor) == ["pipeline:ci", "auditor:auditor"])
        #expect(refused.allSatisfy { $0.details["reason"] == "not_an_approver_token" && $0.service == "shop" })
    }

    @Test("only the pipeline that opened a gate cancels it; a decided gate cannot be cancelled")
    func cancel() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            try await client.execute(uri: "/v1/gates/\(gate.id)/cancel", method: .post, headers: app.headers("other-ci")) { response in
                #expect(response.status == .forbidden)
                #expect(response.error?.error == "not_opener")
            }
            try await client.execute(
                uri: "/v1/gates/\(gate.id)/cancel", method: .post, headers: app.headers("ci"), body: TestGreenlight.body(#"{"reason":"superseded"}"#)
            ) {
                #expect($0.status == .ok)
                let cancelled = try $0.decode(GateResource.self)
                #expect(cancelled.state == .cancelled)
                #expect(cancelled.reason == "cancelled by pipeline:ci: superseded")
            }
            try await client.execute(uri: "/v1/gates/\(gate.id)/cancel", method: .post, headers: app.headers("ci")) {
                #expect($0.status == .conflict)
            }
        }
        #expect(try await app.store.auditEvents(AuditQuery(action: "cancel.refused")).map(\.actor) == ["pipeline:other-ci", "pipeline:ci"])
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightServer

@Suite("Audit API")
struct AuditAPITests {
    struct Page: Decodable {
        var events: [AuditEvent]
        var next_after: Int64?
    }

    @Test("auditors read events filtered by service, environment, actor and time")
    func query() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app)
            _ = try await client.vote(app, gate.id, as: "carol")
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .custom { decoder in
                let text = try decoder.singleValueContainer().decode(String.self)
                return Timestamp.parse(text) ?? .distantPast
            }
            try await client.execute(uri: "/v1/audit?service=shop&environment=production", method: .get, headers: app.headers("auditor")) {
                response in
                #expect(response.status == .ok)
                let page = try decoder.decode(Page.self, from: Data(response.body.readableBytesView))
                #expect(page.events.map(\.action) == ["gate.opened", "vote.recorded"])
                #expect(page.events.first?.gateID == gate.id)
                #expect(page.events.first?.details["policy_hash"] == app.gatekeeper.policy.hash)
            }
            try await client.execute(uri: "/v1/audit?actor=carol&limit=1", method: .get, headers: app.headers("auditor")) { response in
                let page = try decoder.decode(Page.self, from: Data(response.body.readableBytesView))
                #expect(page.events.map(\.action) == ["vote.recorded"])
                #expect(page.next_after == page.events.last?.sequence)
            }
            let later = Timestamp.format(app.clock.now().addingTimeInterval(1))
            let page = try await client.execute(uri: "/v1/audit?since=\(later)", method: .get, headers: app.headers("auditor")) { response in
                try decoder.decode(Page.self, from: Data(response.body.readableBytesView))
            }
            #expect(page.events.isEmpty)
        }
    }

    @Test("only auditor tokens read the log; bad filters are 400")
    func refusals() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            try await client.execute(uri: "/v1/audit", method: .get, headers: app.headers("ci")) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/audit", method: .get, headers: app.headers("alice")) { #expect($0.status == .forbidden) }
            for query in ["since=yesterday", "limit=0", "limit=5000", "colour=blue"] {
                try await client.execute(uri: "/v1/audit?\(query)", method: .get, headers: app.headers("auditor")) { response in
                    #expect(response.status == .badRequest, "\(query)")
                }
            }
            let gate = try await client.openGate(app)
            try await client.execute(uri: "/v1/gates/\(gate.id)", method: .get, headers: app.headers("auditor")) {
                #expect($0.status == .forbidden)
            }
        }
        let refused = try await app.store.auditEvents(AuditQuery(action: "audit.read_refused"))
        #expect(refused.map(\.actor) == ["pipeline:ci", "alice"])
    }
}

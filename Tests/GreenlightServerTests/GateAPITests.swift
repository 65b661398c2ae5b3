import Foundation
import GreenlightAPI
import GreenlightCore
import GreenlightStore
import Hummingbird
import HummingbirdTesting
import Testing

@testable import GreenlightServer

@Suite("Gate API")
struct GateAPITests {
    @Test("health and readiness answer without a token")
    func health() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("no token, a malformed header or an unknown token is 401 in the JSON error shape")
    func unauthorized() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            for headers: HTTPFields in [[:], [.authorization: "Basic abc"], [.authorization: "Bearer glt_unknown"]] {
                try await client.execute(uri: "/v1/gates", method: .post, headers: headers, body: TestGreenlight.body(TestGreenlight.gateJSON)) {
                    response in
                    #expect(response.status == .unauthorized)
                    #expect(response.error?.error == "unauthorized")
                }
            }
        }
    }

    @Test("a pipeline opens a gate: 201 with the contract's fields, the frozen rule and claimed facts")
    func open() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            try await client.execute(uri: "/v1/gates", method: .post, headers: app.headers("ci"), body: TestGreenlight.body(TestGreenlight.gateJSON))
            { response in
                #expect(response.status == .created)
                let gate = try response.decode(GateResource.self)
                #expect(response.headers[.location] == "https://greenlight.example.com/v1/gates/\(gate.id)")
                #expect(gate.state == .pending)
                #expect(gate.rule == "environments.production")
                let requirement = try #require(gate.requirements.first)
                #expect(gate.requirements.count == 1)
                #expect(requirement.rule == "2 of group leads")
                #expect(requirement.count == 2)
                #expect(requirement.approvals.isEmpty)
                #expect(requirement.eligible == ["carol"])
                #expect(gate.excluded.map(\.identity) == ["alice-gh", "alice", "bob"])
                #expect(gate.deadline == Timestamp.format(app.clock.now().addingTimeInterval(3_600)))
                let commit = try #require(gate.facts["commit"])
                #expect(commit.value == .string("0123abcd"))
                #expect(!commit.verified)
                #expect(commit.claimedBy == "pipeline:ci")
                #expect(gate.policyHash == app.gatekeeper.policy.hash)
                let raw = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                #expect(raw?["decided_at"] is NSNull, "a pending gate's decided_at is null")
                for field in [
                    "outcome", "id", "state", "service", "environment", "artifact", "commit", "tier", "requirements", "votes", "deadline",
                    "decided_at",
                    "decided_by", "reason", "policy_hash", "url", "facts",
                ] {
                    #expect(raw?.keys.contains(field) == true, "missing \(field)")
                }
            }
        }
    }

    @Test("an environment with gate: none is recorded and approved at once")
    func ungated() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let gate = try await client.openGate(app, json: TestGreenlight.gateJSON.replacingOccurrences(of: "production", with: "staging"))
            #expect(gate.state == .approved)
            #expect(gate.reason == "no approval needed: environments.staging has gate: none")
        }
    }

    @Test(
        "client mistakes are 4xx with a message naming the field, never 500",
        arguments: [
            (#"{"service":"shop"#, 400, "invalid_json", "not a JSON object"),
            (#"[1,2]"#, 400, "invalid_json", "not a JSON object"),
            (#"{"service":"shop","environment":"production","artifact":"a"}"#, 400, "invalid_field", "missing required field 'commit'"),
            (
                #"{"service":"shop","environment":"production","artifact":"a","commit":"0123abcd","triggerd_by":"x"}"#, 400, "unknown_field",
                "unknown field 'triggerd_by'"
            ),
            (
                #"{"service":"shop","environment":"production","artifact":"a","commit":"0123abcd","labels":["x"]}"#, 400, "invalid_field",
                "field 'labels' must be"
            ),
            (
                #"{"service":"shop","environment":"production","artifact":"a","commit":"main"}"#, 422, "invalid_request",
                "commit: 'main' is not a commit hash"
            ),
            (
                #"{"service":"","environment":"production","artifact":"a","commit":"0123abcd","callback_url":"https://10.1.2.3/"}"#, 422,
                "invalid_request", "callback_url"
            ),
        ]
    )
    func badBodies(body: String, status: Int, code: String, message: String) async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            try await client.execute(uri: "/v1/gates", method: .post, headers: app.headers("ci"), body: TestGreenlight.body(body)) { response in
                #expect(response.status.code == status)
                #expect(response.error?.error == code)
                #expect(response.error?.message.contains(message) == true, "message: \(response.error?.message ?? "none")")
            }
        }
        #expect(try await app.store.auditEvents(AuditQuery(action: "gate.opened")).isEmpty)
    }

    @Test("a body over 1 MiB is 413")
    func tooLarge() async throws {
        let app = try await TestGreenlight()
        let huge = #"{"service":"shop","summary":""# + String(repeating: "x", count: 1 << 20) + #""}"#
        try await app.test { client in
            try await client.execute(uri: "/v1/gates", method: .post, headers: app.headers("ci"), body: TestGreenlight.body(huge)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.error?.error == "request_too_large")
            }
        }
    }

    @Test("a pipeline token outside its scope is 403 and the attempt is audited")
    func scope() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            try await client.execute(
                uri: "/v1/gates", method: .post, headers: app.headers("ci-shop"), body: TestGreenlight.body(TestGreenlight.gateJSON)
            ) { response in
                #expect(response.status == .forbidden)
                #expect(response.error?.message.contains("only for environments staging") == true)
            }
            try await client.execute(
                uri: "/v1/gates", method: .post, headers: app.headers("alice"), body: TestGreenlight.body(TestGreenlight.gateJSON)
            ) { response in
                #expect(response.status == .forbidden)
            }
        }
        let refused = try await app.store.auditEvents(AuditQuery(action: "gate.open_refused"))
        #expect(refused.map(\.actor) == ["pipeline:ci-shop", "alice"])
    }

    @Test("a retried request with the same Idempotency-Key returns the same gate")
    func idempotency() async throws {
        let app = try await TestGreenlight()
        try await app.test { client in
            let headers = app.headers("ci", [.idempotencyKey: "run-7"])
            let first = try await client.execute(
                uri: "/v1/gates", method: .post, headers: headers, body: TestGreenlight.body(TestGreenlight.gateJSON)
            ) { response in
                #expect(response.status == .created)
                return try response.decode(GateResource.self)
            }
            try await client.execute(uri: "/v1/gates", method: .post, headers: headers, body: TestGreenlight.body(TestGreenlight.gateJSON)) {
                response in
                #expect(response.status == .ok)
                #expect(response.headers[.idempotentReplayed] == "true")
                let replayed = try response.decode(GateResource.self)
                #expect(replayed.id == first.id)
            }
            let different = TestGreenlight.gateJSON.replacingOccurrences(of: "0123abcd", with: "fedc4321")
            try await client.execute(uri: "/v1/gates", method: .post, headers: headers, body: TestGreenlight.body(different)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.error?.error == "idempotency_key_reused")
            }
        }
    }
}

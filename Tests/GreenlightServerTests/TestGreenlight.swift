import Foundation
import GreenlightAPI
import GreenlightCore
import GreenlightPolicyFile
import GreenlightSQLite
import GreenlightStore
import GreenlightTestSupport
import Hummingbird
import HummingbirdTesting
import NIOCore

@testable import GreenlightServer

/// A Greenlight application on a fresh SQLite file, with a manual clock and one token of each kind.
final class TestGreenlight: Sendable {
    static let policyYAML = """
        people:
          alice: { github: alice-gh }
          carol: { slack: U0CAROL }
        groups:
          leads: { members: [alice, bob, carol] }
          sre: { members: [carol] }
        environments:
          production:
            require: [ { group: leads, count: 2 } ]
            timeout: 1h
          staging: { gate: none }
          quick: { require: [ { group: leads, count: 1 } ], timeout: 60s, channel: C1 }
          staged:
            timeout: 2h
            stages:
              - { name: leads, require: [ { group: leads, count: 1 } ] }
              - { name: sre, require: [ { group: sre, count: 1 } ], timeout: 60s }
          hotfix:
            require: [ { group: leads, count: 2 } ]
            break_glass: { allowed: [group: sre], reason: required, max_per_day: 1 }
        default: { require: [ { group: leads, count: 1 } ], timeout: 4h }
        """

    let directory: URL
    let store: SQLiteGateStore
    let clock = ManualWallClock()
    let gatekeeper: Gatekeeper

    /// Secrets by token name: `ci` (pipeline, any), `ci-shop` (pipeline, shop in staging only), `other-ci`,
    /// `alice`, `bob`, `carol`, `mallory` (approvers), `auditor`.
    let secrets: [String: String]

    /// - Parameter channels: the channels gate changes enqueue outbound work for (`.slack` for tests of cards and clicks).
    init(notifying channels: Set<NotificationChannel> = []) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteGateStore(path: directory.appendingPathComponent("greenlight.db").path)
        let policy = try PolicyParser(file: "test.yaml").parse(Self.policyYAML).policy
        gatekeeper = Gatekeeper(store: store, policy: policy, clock: clock, notifying: channels)
        let tokens = [
            AccessToken(name: "ci", kind: .pipeline, createdAt: clock.now()),
            AccessToken(name: "ci-shop", kind: .pipeline, services: ["shop"], environments: ["staging"], createdAt: clock.now()),
            AccessToken(name: "other-ci", kind: .pipeline, createdAt: clock.now()),
            AccessToken(name: "alice", kind: .approver, user: "alice", createdAt: clock.now()),
            AccessToken(name: "bob", kind: .approver, user: "bob", createdAt: clock.now()),
            AccessToken(name: "carol", kind: .approver, user: "carol", createdAt: clock.now()),
            AccessToken(name: "mallory", kind: .approver, user: "mallory", createdAt: clock.now()),
            AccessToken(name: "auditor", kind: .auditor, createdAt: clock.now()),
        ]
        var secrets: [String: String] = [:]
        for token in tokens {
            let secret = TokenSecret.generate()
            try await store.createToken(token, secretHash: TokenSecret.hash(secret))
            secrets[token.name] = secret
        }
        self.secrets = secrets
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `test` against the application through Hummingbird's router test client.
    func test<Value: Sendable>(
        slack: SlackIntegration? = nil, _ test: @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        let router = GreenlightApplication.router(
            store: store, gatekeeper: gatekeeper, publicURL: PublicURL("https://greenlight.example.com"), slack: slack)
        return try await Application(router: router).test(.router, test)
    }

    func headers(_ token: String?, _ extra: HTTPFields = [:]) -> HTTPFields {
        var fields = extra
        fields[.contentType] = "application/json"
        if let token { fields[.authorization] = "Bearer \(secrets[token] ?? token)" }
        return fields
    }

    static func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }

    static let gateJSON =
        #"{"service":"shop","environment":"production","artifact":"reg/shop@sha256:abc","commit":"0123abcd","triggered_by":"bob","authors":["alice-gh"]}"#
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
    }

    var error: ErrorBody? { try? decode(ErrorBody.self) }
}

extension TestClientProtocol {
    /// Opens a gate as `ci` and returns it.
    func openGate(_ app: TestGreenlight, json: String = TestGreenlight.gateJSON) async throws -> GateResource {
        try await execute(uri: "/v1/gates", method: .post, headers: app.headers("ci"), body: TestGreenlight.body(json)) { response in
            guard response.status == .created else {
                throw TestFailure("opening a gate answered \(response.status): \(String(buffer: response.body))")
            }
            return try response.decode(GateResource.self)
        }
    }

    /// `GET /v1/gates/{id}?wait=…` as `ci`, returning the gate once the request ends.
    func longPoll(_ app: TestGreenlight, _ id: String, seconds: Int) async throws -> GateResource {
        try await execute(uri: "/v1/gates/\(id)?wait=\(seconds)", method: .get, headers: app.headers("ci")) { response in
            try response.decode(GateResource.self)
        }
    }

    func vote(
        _ app: TestGreenlight, _ id: String, as person: String, _ decision: String = "approve", comment: String? = nil
    ) async throws -> TestResponse {
        let comment = comment.map { #","comment":"\#($0)""# } ?? ""
        return try await execute(
            uri: "/v1/gates/\(id)/votes", method: .post, headers: app.headers(person),
            body: TestGreenlight.body(#"{"decision":"\#(decision)"\#(comment)}"#)
        )
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

import Foundation
import GreenlightAPI
import Testing

/// The real `greenlight` binary on a PostgreSQL database: server, tokens, pipeline, people and `audit verify`.
@Suite(
    "End to end on PostgreSQL", .timeLimit(.minutes(2)),
    .enabled(if: PostgresDatabase.server != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct PostgresEndToEndTests {
    @Test("two approvals release a waiting pipeline; after a SIGKILL and a restart the decision and the chain are there")
    func approvedAcrossARestart() async throws {
        let database = try await PostgresDatabase.create()
        let deployment = try await Deployment(database: database)
        let first = try await deployment.start()
        let request = try deployment.cli(Deployment.requestAndWait("production"), as: "ci")
        let id = try #require(Deployment.gateID(in: await request.line(containing: "waiting for gate")))
        #expect(try await deployment.run(["approve", id], as: "alice").status == 0)

        first.signal(SIGKILL)
        _ = await first.finished()
        _ = await request.line(containing: "reconnecting in")
        try await deployment.start()
        #expect(try await deployment.run(["approve", id], as: "alice").status == 64, "the vote before the kill was kept")
        #expect(try await deployment.run(["approve", id], as: "bob").status == 0)
        let result = await request.finished()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("\(id) approved by bob"))

        let verified = try await deployment.audit(["verify"])
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.stdout.contains("audit log intact"))
        let events = try await deployment.audit(["query", "--gate", id])
        #expect(events.status == 0, "\(events.output)")
        for action in ["gate.opened", "vote.recorded", "gate.decided"] { #expect(events.stdout.contains(action), "\(events.stdout)") }
    }

    @Test("a database URL that cannot be used is refused before anything starts, and its password is not printed")
    func badURL() async throws {
        let result = try await RunningCommand(["audit", "verify", "--database", "postgres://u:hunter2@127.0.0.1:99999/x"]).finished()
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains("port 99999"))
        #expect(!result.output.contains("hunter2"))
    }
}

/// Databases on the test server (`GREENLIGHT_TEST_POSTGRES_URL`), made with `psql`, which Debian's `postgresql` brings.
enum PostgresDatabase {
    static let server = ProcessInfo.processInfo.environment["GREENLIGHT_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// A new, empty database; returns its URL.
    static func create() async throws -> String {
        let server = try #require(server)
        let name = "greenlight_e2e_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", server, "-q", "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE \(name)"]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "psql could not create \(name)")
        guard let slash = server.lastIndex(of: "/") else { throw CocoaError(.fileReadInvalidFileName) }
        return server[..<slash] + "/" + name
    }
}

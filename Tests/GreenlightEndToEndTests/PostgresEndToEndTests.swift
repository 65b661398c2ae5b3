import Foundation
import GreenlightAPI
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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

    @Test("while the database is away /readyz and the API answer 503 with Retry-After; once it is back the server carries on unrestarted")
    func databaseAway() async throws {
        let database = try await PostgresDatabase.create()
        let deployment = try await Deployment(database: database)
        try await deployment.start()
        let gate = try await deployment.open(environment: "production")
        #expect(try await HTTP.get(deployment.url + "/readyz").status == 200)

        try PostgresDatabase.refuseConnections(true, to: database)
        let ready = try await HTTP.get(deployment.url + "/readyz")
        #expect(ready.status == 503)
        #expect(ready.retryAfter == "5")
        let read = try await HTTP.get(deployment.url + "/v1/gates/\(gate.id)", token: deployment.tokens["ci"])
        #expect(read.status == 503, "\(read.body)")
        #expect(read.retryAfter == "5")
        #expect(read.body.contains("database_unavailable"), "\(read.body)")
        let vote = try await deployment.run(["approve", gate.id], as: "alice")
        #expect(vote.status != 0)
        #expect(vote.output.contains("503"), "\(vote.output)")

        try PostgresDatabase.refuseConnections(false, to: database)
        // From outside, the only way to know the probe found it again: ask until it says so (the probe asks every second).
        var readyAgain = false
        for _ in 0..<100 where !readyAgain {
            readyAgain = try await HTTP.get(deployment.url + "/readyz").status == 200
            if !readyAgain { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(readyAgain)
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["approve", gate.id], as: "bob").status == 0)
        let verified = try await deployment.audit(["verify"])
        #expect(verified.status == 0, "\(verified.output)")
    }

    @Test("migrate copies an SQLite store into PostgreSQL, where the server carries on with its gates, votes and tokens; a used target is refused")
    func migrateFromSQLite() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start()
        let pending = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["approve", pending.id], as: "alice").status == 0)
        // An environment the policy does not name: the default rule, one lead within 4 h. ("quick" times out after
        // 2 s, which a loaded CI machine has passed between opening the gate and bob's approval.)
        let decided = try await deployment.open(environment: "staging")
        #expect(try await deployment.run(["approve", decided.id], as: "bob").status == 0)
        server.signal(SIGTERM)
        _ = await server.finished()

        let target = try await PostgresDatabase.create()
        let migrated = try await RunningCommand(["migrate", "--from", "sqlite://" + deployment.database, "--to", target]).finished()
        #expect(migrated.status == 0, "\(migrated.output)")
        #expect(migrated.stdout.contains("copied 2 gates, 2 votes, 5 tokens"), "\(migrated.stdout)")
        #expect(migrated.stdout.contains("audit log intact"), "\(migrated.stdout)")
        let again = try await RunningCommand(["migrate", "--from", "sqlite://" + deployment.database, "--to", target]).finished()
        #expect(again.status != 0)
        #expect(again.output.contains("already holds"), "\(again.output)")

        // The same tokens work on the new database; the vote cast before the move counts.
        try await deployment.start(database: target)
        #expect(try await deployment.run(["approve", pending.id], as: "alice").status == 64, "alice's vote was copied")
        #expect(try await deployment.run(["approve", pending.id], as: "carol").status == 0)
        let verified = try await RunningCommand(["audit", "verify", "--database", target]).finished()
        #expect(verified.status == 0, "\(verified.output)")
    }

    @Test("migrate refuses a source whose audit chain is broken, and copies nothing")
    func migrateRefusesABrokenChain() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start()
        _ = try await deployment.open(environment: "production")
        server.signal(SIGTERM)
        _ = await server.finished()
        let tamper = Process()
        tamper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tamper.arguments = [
            "python3", "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_event SET actor = 'mallory' WHERE sequence = 1\"); c.commit()",
            deployment.database,
        ]
        try tamper.run()
        tamper.waitUntilExit()
        let target = try await PostgresDatabase.create()
        let migrated = try await RunningCommand(["migrate", "--from", deployment.database, "--to", target]).finished()
        #expect(migrated.status == 1, "\(migrated.output)")
        #expect(migrated.output.contains("broken"), "\(migrated.output)")
        let events = try await RunningCommand(["audit", "query", "--database", target]).finished()
        #expect(events.stdout.isEmpty, "nothing copied")
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
    /// Runs `sql` with `psql` on the server's own database, or on the database at `url`.
    static func psql(_ sql: String, on url: String? = nil) throws {
        let server = try #require(url ?? server)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", server, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "psql failed: \(sql)")
    }

    /// Makes the database at `url` refuse new connections and drops those it has, or lets them in again: the
    /// database gone away, as the server sees it.
    static func refuseConnections(_ refuse: Bool, to url: String) throws {
        let name = String(url[url.index(after: try #require(url.lastIndex(of: "/")))...])
        try psql("ALTER DATABASE \(name) ALLOW_CONNECTIONS \(!refuse)")
        if refuse { try psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'") }
    }

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

/// Plain HTTP requests to the server, for what the CLI does not show (statuses, headers).
enum HTTP {
    struct Answer {
        var status: Int
        var retryAfter: String?
        var body: String
    }

    static func get(_ url: String, token: String? = nil) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.timeoutInterval = 30
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return Answer(status: http.statusCode, retryAfter: http.value(forHTTPHeaderField: "Retry-After"), body: String(decoding: data, as: UTF8.self))
    }
}

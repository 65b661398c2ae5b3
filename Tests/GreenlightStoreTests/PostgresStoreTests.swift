import Foundation
import GreenlightCore
import GreenlightStore
import Testing

@testable import GreenlightPostgres

@Suite("PostgreSQL locations")
struct PostgresLocationTests {
    @Test("a full URL is read part by part, percent-decoded, and printed with its password masked")
    func fullURL() throws {
        let location = try PostgresLocation(parsing: "postgres://green%40light:s%2Fcret@db.internal:6543/gates?sslmode=verify-full")
        #expect(
            location
                == PostgresLocation(host: "db.internal", port: 6543, user: "green@light", password: "s/cret", database: "gates", tls: .verifyFull))
        #expect(!location.description.contains("cret"))
        #expect(location.description == "postgres://green%40light:***@db.internal:6543/gates?sslmode=verify-full")
        #expect(
            try DatabaseLocation(parsing: " postgresql://u@h/d ", environment: [:])
                == .postgres(PostgresLocation(host: "h", user: "u", database: "d")))
    }

    @Test("what the URL leaves out comes from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and PGSSLMODE; the URL wins")
    func environment() throws {
        let environment = [
            "PGHOST": "pg.example", "PGPORT": "5433", "PGUSER": "ci", "PGPASSWORD": "pw", "PGDATABASE": "greenlight", "PGSSLMODE": "require",
        ]
        #expect(
            try PostgresLocation(parsing: "postgres://", environment: environment)
                == PostgresLocation(host: "pg.example", port: 5433, user: "ci", password: "pw", database: "greenlight", tls: .require))
        #expect(
            try PostgresLocation(parsing: "postgres://me@here:1/mine?sslmode=disable", environment: environment)
                == PostgresLocation(host: "here", port: 1, user: "me", password: "pw", database: "mine", tls: .disable))
        // libpq's defaults: localhost, 5432, the user's name as the database.
        #expect(try PostgresLocation(parsing: "postgres://me@") == PostgresLocation(host: "localhost", user: "me", database: "me"))
    }

    @Test(
        "a URL that cannot be used is refused with what is wrong, and never echoes its password",
        arguments: [
            ("postgres://u:hunter2@h:99999/d", "port"),
            ("postgres://u:hunter2@h/d?sslmode=sometimes", "sslmode 'sometimes'"),
            ("postgres://u:hunter2@h/d?application_name=x", "'application_name'"),
            ("postgres://:hunter2@h/d", "no user"),
            ("postgres://u:hunter2@h/a/b", "'/'"),
        ])
    func refused(_ url: String, _ expected: String) {
        #expect {
            try PostgresLocation(parsing: url)
        } throws: { error in
            let text = "\(error)"
            return text.contains(expected) && !text.contains("hunter2")
        }
    }
}

@Suite("The PostgreSQL store", .enabled(if: PostgresTestServer.url != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
struct PostgresStoreTests {
    @Test("replicas starting at once on a new database apply each migration once, under the advisory lock")
    func concurrentMigrations() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresGateStore.self) { group in
            for _ in 0..<6 { group.addTask { try await PostgresGateStore.open(location, logger: PostgresTestServer.logger) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 6)
        let applied = try await PostgresTestServer.strings("SELECT version::text FROM greenlight_schema ORDER BY version", on: location)
        #expect(applied == (1...PostgresSchema.migrations.count).map(String.init))
        for store in stores { try await store.checkReachable() }
    }

    @Test("a database whose schema is newer than this version is refused at open, naming both versions")
    func newerSchema() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        _ = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        let newer = PostgresSchema.migrations.count + 1
        try await PostgresTestServer.run("INSERT INTO greenlight_schema (version, name) VALUES (\(newer), 'from the future')", on: location)
        await #expect(throws: StoreError.schemaTooNew(location.description, version: newer, known: PostgresSchema.migrations.count)) {
            _ = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        }
    }

    @Test("a server that is not there is a clear error, without the password")
    func unreachable() async throws {
        // A port nothing listens on: bound and closed at once.
        let location = PostgresLocation(host: "127.0.0.1", port: 1, user: "nobody", password: "hunter2", database: "none", tls: .disable)
        await #expect {
            _ = try await PostgresGateStore.open(location, logger: PostgresTestServer.logger)
        } throws: { error in
            guard case StoreError.databaseUnreachable(let where_, _) = error else { return false }
            return where_.contains("127.0.0.1:1") && !"\(error)".contains("hunter2")
        }
    }
}

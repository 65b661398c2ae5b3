import Foundation
import GRDB
import Testing

@testable import GreenlightSQLite
@testable import GreenlightStore

/// The database holds the audit log and the tokens' hashes: its files are for the account that runs Greenlight.
@Suite("Database file modes")
struct DatabaseFileModeTests {
    private func modes(_ database: String) throws -> [String: Int] {
        var modes: [String: Int] = [:]
        for path in DatabaseFiles.paths(of: database) {
            let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            modes[URL(fileURLWithPath: path).lastPathComponent] = permissions
        }
        return modes
    }

    @Test("a new database, its -wal and its -shm are created 0600")
    func createdOwnerOnly() throws {
        let fixture = try TemporaryStore()
        _ = fixture.store
        #expect(try modes(fixture.path) == ["greenlight.db": 0o600, "greenlight.db-wal": 0o600, "greenlight.db-shm": 0o600])
    }

    @Test("an existing database left readable by others (0644) is tightened to 0600 when opened, its -wal and -shm too")
    func existingTightened() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-modes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("greenlight.db").path
        // As earlier versions left it: WAL mode, and the three files world-readable while a connection is open.
        var configuration = Configuration()
        configuration.journalMode = .wal
        let earlier = try DatabaseQueue(path: path, configuration: configuration)
        try earlier.write { db in try db.execute(sql: "CREATE TABLE earlier (id INTEGER PRIMARY KEY)") }
        for file in DatabaseFiles.paths(of: path) {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        }
        #expect(try modes(path).values.allSatisfy { $0 == 0o644 })

        _ = try SQLiteGateStore(path: path)
        #expect(try modes(path) == ["greenlight.db": 0o600, "greenlight.db-wal": 0o600, "greenlight.db-shm": 0o600])
        try earlier.close()
    }
}

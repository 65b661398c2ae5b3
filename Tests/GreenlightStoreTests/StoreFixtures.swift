import Foundation
import GreenlightCore

@testable import GreenlightSQLite
@testable import GreenlightStore

/// A store in a fresh temporary directory, removed when the test ends.
final class TemporaryStore: Sendable {
    let directory: URL
    let path: String
    let store: SQLiteGateStore
    /// The rules over the store: every change of a gate goes through here.
    let ledger: GateLedger

    /// - Parameters:
    ///   - channels: the channels changes enqueue outbound work for (`.slack` as when Slack is set up).
    ///   - walSizeLimit: the write-ahead log's size past which the store restarts it.
    init(notifying channels: Set<NotificationChannel> = [], walSizeLimit: Int = WALCheckpointer.defaultSizeLimit) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("greenlight.db").path
        store = try SQLiteGateStore(path: path, create: true, walSizeLimit: walSizeLimit)
        ledger = GateLedger(store: store, notifying: channels)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

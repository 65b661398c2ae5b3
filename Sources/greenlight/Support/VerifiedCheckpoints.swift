import Foundation
import GreenlightCore
import GreenlightTransparency

/// What `audit verify` was shown before: per log key, the largest checkpoint it verified, so that the next run checks
/// the log against it too. A log that no longer begins with a tree it once verified — rewritten, or rewound and grown
/// again — fails, even when the checkpoint given this time is a new one signed over the rewrite.
///
/// Kept in `--state FILE`, else `GREENLIGHT_AUDIT_STATE`, else `$XDG_STATE_HOME/greenlight/checkpoints.json`
/// (`~/.local/state/…`), created 0600.
struct VerifiedCheckpoints {
    struct Entry: Codable {
        var size: UInt64
        var root: String
        var verifiedAt: String

        enum CodingKeys: String, CodingKey {
            case size, root
            case verifiedAt = "verified_at"
        }
    }

    let path: String
    private(set) var entries: [String: Entry]

    static func defaultPath() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["GREENLIGHT_AUDIT_STATE"], !path.isEmpty { return path }
        let base = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.local/state")
        return base + "/greenlight/checkpoints.json"
    }

    init(path: String?) throws {
        self.path = path ?? Self.defaultPath()
        guard let data = FileManager.default.contents(atPath: self.path) else {
            entries = [:]
            return
        }
        guard let entries = try? JSONDecoder().decode([String: Entry].self, from: data) else {
            throw Exit.fail("\(self.path) is not the checkpoints 'audit verify' keeps; move it away to start afresh")
        }
        self.entries = entries
    }

    /// The largest checkpoint verified before under `key`.
    func last(for key: NoteVerifierKey) -> (size: UInt64, root: TreeHash, at: String)? {
        guard let entry = entries[key.description], let root = TreeHash(base64: entry.root) else { return nil }
        return (entry.size, root, entry.verifiedAt)
    }

    /// Remembers `checkpoint` under `key` if it is larger than the one kept.
    mutating func remember(_ checkpoint: Checkpoint, key: NoteVerifierKey) throws {
        if let last = last(for: key), last.size >= checkpoint.size { return }
        entries[key.description] = Entry(size: checkpoint.size, root: checkpoint.root.base64, verifiedAt: Timestamp.now())
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try OutputFile.replace(path, with: Array(try encoder.encode(entries)))
    }
}

extension Timestamp {
    fileprivate static func now() -> String { format(Date()) }
}

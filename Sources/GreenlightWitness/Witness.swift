import Foundation
import GreenlightTransparency
import Synchronization

/// A C2SP `tlog-witness`: it cosigns a log's checkpoint only if it extends, by a consistency proof, the last one it
/// cosigned for that log, so that a log cannot show one tree to some and another to others, or take events back,
/// without a witness noticing.
///
/// For Greenlight's tests, and for a small deployment that has no witness of its own (one run by another team, on
/// another machine, is what makes it worth having). What it has cosigned is kept in one file, written before it answers.
public final class Witness: Sendable {
    /// The witness's cosignature key (``NoteKeyType/cosignatureV1``).
    public let key: NoteSignerKey
    /// The logs it witnesses; the origin of a log's checkpoints is its key's name.
    public let logs: [NoteVerifierKey]
    private let ledger: Mutex<WitnessLedger>
    private let now: @Sendable () -> Date

    /// What the witness answers to an `add-checkpoint`.
    public enum Answer: Sendable, Equatable {
        /// 200: its cosignature lines.
        case cosigned(String)
        /// 409: the size of the last checkpoint it cosigned for the log.
        case conflict(size: UInt64)
        /// 400, 403, 404 or 422, and why.
        case refused(status: Int, message: String)
    }

    /// - Parameters:
    ///   - statePath: the file that keeps the last checkpoint cosigned for each log (made, mode 0600, if missing).
    public init(key: NoteSignerKey, logs: [NoteVerifierKey], statePath: String, now: @escaping @Sendable () -> Date = Date.init) throws {
        guard key.verifier.type == .cosignatureV1 else { throw WitnessError("the witness's key must be a cosignature key (type 0x04)") }
        self.key = key
        self.logs = logs
        self.now = now
        ledger = Mutex(try WitnessLedger(path: statePath))
    }

    /// The size of the last checkpoint cosigned for `origin`, if any.
    public func cosignedSize(of origin: String) -> UInt64? { ledger.withLock { $0.entries[origin]?.size } }

    /// Handles an `add-checkpoint` body, in the order the protocol gives its checks.
    public func addCheckpoint(_ body: String) -> Answer {
        let request: AddCheckpointRequest
        do { request = try AddCheckpointRequest(parsing: body) } catch { return .refused(status: 400, message: error.description) }
        let origin = request.checkpoint.text.prefix { $0 != "\n" }
        let known = logs.filter { $0.name.utf8.elementsEqual(origin.utf8) && $0.type == .ed25519 }
        guard !known.isEmpty else { return .refused(status: 404, message: "this witness does not witness the log '\(origin.prefix(100))'") }
        do { _ = try request.checkpoint.open(with: known) } catch {
            return .refused(status: 403, message: "the checkpoint is not signed by a key of \(origin): \(error.description)")
        }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(text: request.checkpoint.text) } catch { return .refused(status: 400, message: error.description) }
        guard request.oldSize <= checkpoint.size else {
            return .refused(status: 400, message: "old size \(request.oldSize) is above the checkpoint's \(checkpoint.size)")
        }
        // Checked and recorded under one lock: two requests racing cannot roll the witness back.
        return ledger.withLock { ledger -> Answer in
            let last = ledger.entries[checkpoint.origin]
            let lastSize = last?.size ?? 0
            guard request.oldSize == lastSize else { return .conflict(size: lastSize) }
            let lastRoot = last?.root ?? MerkleTree.emptyRoot
            if request.oldSize == checkpoint.size {
                guard request.proof.isEmpty else { return .refused(status: 422, message: "a proof between equal sizes is empty") }
                guard lastRoot == checkpoint.root else { return .conflict(size: lastSize) }
            } else if request.oldSize == 0 {
                guard request.proof.isEmpty else { return .refused(status: 422, message: "the proof from size 0 is empty") }
            } else {
                do {
                    try MerkleTree.verifyConsistency(
                        from: request.oldSize, to: checkpoint.size, proof: request.proof, fromRoot: lastRoot, toRoot: checkpoint.root)
                } catch {
                    return .refused(status: 422, message: "the consistency proof from \(request.oldSize) does not verify: \(error)")
                }
            }
            do {
                try ledger.record(origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root)
            } catch {
                return .refused(status: 500, message: "the witness could not keep what it cosigned: \(error)")
            }
            let time = UInt64(max(0, now().timeIntervalSince1970.rounded(.down)))
            do {
                let signature = try key.cosignature(for: request.checkpoint.text, at: time)
                return .cosigned("— \(signature.keyName) \(signature.base64)\n")
            } catch {
                return .refused(status: 500, message: "\(error)")
            }
        }
    }
}

public struct WitnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The last checkpoint cosigned per log, in a JSON file replaced atomically (written, synced, renamed) before an
/// answer goes out.
struct WitnessLedger {
    struct Entry: Codable {
        var size: UInt64
        var rootBase64: String
        var root: TreeHash? { TreeHash(base64: rootBase64) }

        enum CodingKeys: String, CodingKey {
            case size
            case rootBase64 = "root"
        }
    }

    let path: String
    private(set) var entries: [String: Entry]

    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            entries = [:]
            return
        }
        do {
            entries = try JSONDecoder().decode([String: Entry].self, from: data)
        } catch {
            throw WitnessError("the witness state \(path) is not what this witness writes: \(error)")
        }
        if let bad = entries.first(where: { $0.value.root == nil }) { throw WitnessError("the witness state \(path) has no root for \(bad.key)") }
    }

    mutating func record(origin: String, size: UInt64, root: TreeHash) throws {
        var next = entries
        next[origin] = Entry(size: size, rootBase64: root.base64)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try Self.replace(path, with: try encoder.encode(next))
        entries = next
    }

    private static func replace(_ path: String, with data: Data) throws {
        let temporary = path + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw WitnessError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(descriptor) == 0 else {
            throw WitnessError("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else { throw WitnessError("cannot replace \(path): \(String(cString: strerror(errno)))") }
        let directory = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent, O_RDONLY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}

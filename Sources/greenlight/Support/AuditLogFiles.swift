import ArgumentParser
import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTransparency

/// A checkpoint file opened with the verifier key it must be signed by.
struct SignedCheckpoint {
    let checkpoint: Checkpoint
    let key: NoteVerifierKey

    /// Reads `path` and checks its signature with `key` (the `vkey` text, or a file holding it).
    static func read(_ path: String, key: String) throws -> SignedCheckpoint {
        let keyText =
            FileManager.default.fileExists(atPath: key) ? String(decoding: FileManager.default.contents(atPath: key) ?? Data(), as: UTF8.self) : key
        let verifier: NoteVerifierKey
        do {
            verifier = try NoteVerifierKey(keyText)
        } catch {
            throw Exit.fail("--key: \(error.description)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw Exit.fail("--checkpoint: cannot read \(path)") }
        do {
            let note = try SignedNote(parsing: String(decoding: data, as: UTF8.self))
            _ = try note.open(with: [verifier])
            return SignedCheckpoint(checkpoint: try Checkpoint(text: note.text), key: verifier)
        } catch {
            printError("\(path): \(error.description)")
            throw ExitCode(1)
        }
    }

    /// The line saying the stored log's tree at the checkpoint's size is the checkpoint's; exits 1 if it is not.
    func matches(_ tree: AuditTreeBuilder) throws -> String {
        guard tree.size == checkpoint.size else {
            printError("the checkpoint is of \(checkpoint.size) event(s) but the log holds \(tree.size): events were removed")
            throw ExitCode(1)
        }
        guard tree.root == checkpoint.root else {
            printError(
                "the log's first \(checkpoint.size) event(s) have root \(tree.root), the checkpoint signed \(checkpoint.root): the log was rewritten")
            throw ExitCode(1)
        }
        return "Merkle root at \(checkpoint.size) event(s) is the one the checkpoint of \(checkpoint.origin) signed (\(key.name))"
    }
}

/// Reading the whole log from a store, a page at a time.
enum AuditEvents {
    static let page = 5_000

    /// Calls `body` with each page of events, oldest first; returns how many there were.
    @discardableResult
    static func forEach(in store: any GateStore, _ body: ([AuditEvent]) throws -> Void) async throws -> Int {
        var after: Int64 = 0
        var count = 0
        while true {
            let events = try await store.auditEvents(AuditQuery(after: after, limit: page))
            guard let last = events.last else { return count }
            try body(events)
            count += events.count
            after = last.sequence
        }
    }

    /// The tree of the log's first `size` events (all of them when `nil`); exits 1 naming an event out of sequence.
    static func tree(of store: any GateStore, upTo size: UInt64?) async throws -> AuditTreeBuilder {
        var tree = AuditTreeBuilder()
        do {
            try await forEach(in: store) { events in
                for event in events where size.map({ tree.size < $0 }) ?? true { try tree.append(event) }
            }
        } catch let error as AuditTreeError {
            printError("audit log broken: \(error.description)")
            throw ExitCode(1)
        }
        return tree
    }
}

/// `audit verify --export`: the file, line by line.
enum ExportVerifier {
    static func verify(path: String, against signed: SignedCheckpoint?) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Exit.fail("--export: cannot read \(path)") }
        defer { try? handle.close() }
        var verifier = AuditExportVerifier(checkpoint: signed?.checkpoint)
        var pending: [UInt8] = []
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                pending += chunk
                var start = pending.startIndex
                while let newline = pending[start...].firstIndex(of: 0x0A) {
                    try verifier.check(line: pending[start..<newline])
                    start = newline + 1
                }
                pending.removeSubrange(..<start)
            }
            if !pending.isEmpty { try verifier.check(line: pending) }
            return try verifier.finish()
        } catch let problem as AuditExportProblem {
            printError(problem.description)
            throw ExitCode(1)
        }
    }
}

/// `audit export --format csv`.
enum AuditCSV {
    static let header = "sequence,at,actor,action,gate_id,service,environment,artifact,details,previous_hash,hash"

    static func row(_ event: AuditEvent) -> String {
        let details = AuditChain.detailsJSON(event.details)
        return [
            String(event.sequence), Timestamp.format(milliseconds: Timestamp.milliseconds(event.at)), event.actor, event.action,
            event.gateID ?? "", event.service ?? "", event.environment ?? "", event.artifact ?? "", details, event.previousHash, event.hash,
        ].map(field).joined(separator: ",")
    }

    /// RFC 4180: quoted when it holds a comma, a quote or a line break, its quotes doubled.
    static func field(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Standard output, or a file made for the command's output.
struct OutputFile {
    private let handle: FileHandle
    private let isFile: Bool

    /// `path` nil is standard output. A file is created 0600 (what it holds is evidence); over an existing one only
    /// when `replacing`.
    init(_ path: String?, replacing: Bool = false) throws {
        guard let path else {
            handle = .standardOutput
            isFile = false
            return
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (replacing ? O_TRUNC : O_EXCL)
        let descriptor = open(path, flags, 0o600)
        guard descriptor >= 0 else { throw Exit.fail("--output: cannot create \(path): \(String(cString: strerror(errno)))") }
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        isFile = true
    }

    func write(_ bytes: [UInt8]) throws {
        try handle.write(contentsOf: bytes)
    }

    func close() throws {
        if isFile {
            try handle.synchronize()
            try handle.close()
        }
    }
}

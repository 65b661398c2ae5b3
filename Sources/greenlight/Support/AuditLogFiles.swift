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

    /// Reads `path` and checks its signature with `key`: the `vkey` text, or else a file holding it. The text is
    /// tried first, so that a file that happens to be named like the key (a vkey is a valid relative path) cannot
    /// stand in for it.
    static func read(_ path: String, key: String) throws -> SignedCheckpoint {
        let verifier = try Self.verifier(key, what: "--key")
        let text = try Self.text(of: path, limit: SignedNote.sizeLimit, what: "--checkpoint")
        do {
            let note = try SignedNote(parsing: text)
            _ = try note.open(with: [verifier])
            let checkpoint = try Checkpoint(text: note.text)
            guard checkpoint.origin == verifier.name else {
                throw NoteError.badCheckpoint("it is of the log '\(checkpoint.origin)', and the key is of '\(verifier.name)'")
            }
            return SignedCheckpoint(checkpoint: checkpoint, key: verifier)
        } catch {
            printError("\(path): \(error)")
            throw ExitCode(1)
        }
    }

    /// A verifier key given as its `vkey` text, or else as a file holding it.
    static func verifier(_ key: String, what: String) throws -> NoteVerifierKey {
        do {
            if let given = try? NoteVerifierKey(key) { return given }
            if FileManager.default.fileExists(atPath: key) { return try NoteVerifierKey(try Self.text(of: key, limit: 4096, what: what)) }
            return try NoteVerifierKey(key)
        } catch let error as NoteError {
            throw Exit.fail("\(what): \(error.description)")
        }
    }

    /// The file's text: refused when it is larger than `limit` or not UTF-8 (a note must be; repairing it would
    /// verify something else than the file).
    static func text(of path: String, limit: Int, what: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Exit.fail("\(what): cannot read \(path)") }
        defer { try? handle.close() }
        guard let data = try handle.read(upToCount: limit + 1) else { return "" }
        guard data.count <= limit else { throw Exit.fail("\(what): \(path) is over \(limit) bytes") }
        guard let text = String(validating: data, as: UTF8.self) else { throw Exit.fail("\(what): \(path) is not UTF-8") }
        return text
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
        return "Merkle root at \(checkpoint.size) event(s) is the one the checkpoint of \(checkpoint.origin) signed (key \(key))"
    }
}

/// Reading the whole log from a store, a page at a time.
enum AuditEvents {
    /// Calls `body` with each page of events, oldest first; returns how many there were.
    @discardableResult
    static func forEach(in store: any GateStore, _ body: ([AuditEvent]) throws -> Void) async throws -> Int {
        var count = 0
        try await store.forEachAuditPage { events in
            try body(events)
            count += events.count
            return true
        }
        return count
    }

    /// The tree of the log's first `size` events (all of them when `nil`); exits 1 naming an event out of sequence.
    static func tree(of store: any GateStore, upTo size: UInt64?) async throws -> AuditTreeBuilder {
        try await tree(of: store, upTo: size, rootAt: nil).tree
    }

    /// ``tree(of:upTo:)``, with the root the tree had at `rootAt` events on the way (`nil` if it never had that many).
    static func tree(of store: any GateStore, upTo size: UInt64?, rootAt: UInt64?) async throws -> (tree: AuditTreeBuilder, rootAt: TreeHash?) {
        var tree = AuditTreeBuilder()
        var root = rootAt == 0 ? MerkleTree.emptyRoot : nil
        do {
            try await forEach(in: store) { events in
                for event in events where size.map({ tree.size < $0 }) ?? true {
                    try tree.append(event)
                    if tree.size == rootAt { root = tree.root }
                }
            }
        } catch let error as AuditTreeError {
            printError("audit log broken: \(error.description)")
            throw ExitCode(1)
        }
        return (tree, root)
    }
}

/// `audit verify --export`: the file, line by line.
enum ExportVerifier {
    /// Far beyond an event (the request's fields are bounded, docs/api.md), so that a file with no newline cannot
    /// take the memory.
    static let lineLimit = 4 << 20

    /// The offsets of `bytes`' newlines, found with `memchr`.
    static func newlines(in bytes: [UInt8]) -> [Int] {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return [] }
            var offsets: [Int] = []
            var offset = 0
            while offset < buffer.count, let found = memchr(base + offset, 0x0A, buffer.count - offset) {
                let position = base.distance(to: UnsafeRawPointer(found))
                offsets.append(position)
                offset = position + 1
            }
            return offsets
        }
    }

    static func verify(path: String, against signed: SignedCheckpoint?) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Exit.fail("--export: cannot read \(path)") }
        defer { try? handle.close() }
        var verifier = AuditExportVerifier(checkpoint: signed?.checkpoint)
        var pending: [UInt8] = []
        do {
            // A few megabytes at a time, their lines checked together (the hashing spread over the cores).
            while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
                pending += chunk
                var lines: [ArraySlice<UInt8>] = []
                var start = pending.startIndex
                for newline in Self.newlines(in: pending) {
                    lines.append(pending[start..<newline])
                    start = newline + 1
                }
                try verifier.check(lines: lines)
                pending.removeSubrange(..<start)
                guard pending.count <= Self.lineLimit else {
                    printError("export broken after line \(lines.count): a line of over \(Self.lineLimit) bytes is no audit event")
                    throw ExitCode(1)
                }
            }
            if !pending.isEmpty { try verifier.check(line: pending) }
            return try verifier.finish()
        } catch let problem as AuditExportProblem {
            printError(problem.description)
            throw ExitCode(1)
        }
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

    /// Replaces the file at `path` with `bytes` as one step: a new file (0600) renamed over it, so that a crash leaves
    /// the old contents or the new, never a part.
    static func replace(_ path: String, with bytes: [UInt8]) throws {
        let temporary = path + ".new"
        unlink(temporary)
        let file = try OutputFile(temporary)
        try file.write(bytes)
        try file.close()
        guard rename(temporary, path) == 0 else { throw Exit.fail("cannot write \(path): \(String(cString: strerror(errno)))") }
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

/// `audit verify`'s replay: every gate and token row held against the log's events of it.
enum RowReplay {
    /// The first row that disagrees with the log, and how many gates and tokens were compared.
    static func firstDisagreement(in store: any GateStore) async throws -> (problem: String?, gates: Int, tokens: Int) {
        let created = try await store.allEvents(AuditQuery(action: AuditAction.tokenCreated.rawValue))
        let tokens = try await store.allTokens()
        for (token, secretHash) in tokens {
            if let problem = LogAgreement.disagreement(of: token, secretHash: secretHash, with: created.filter { $0.details["name"] == token.name }) {
                return (problem, 0, tokens.count)
            }
        }
        var gates = 0
        var last: GateID?
        while true {
            let ids = try await store.gateIDs(after: last, limit: 500)
            for id in ids {
                // A live log: a vote committed between the row's read and its events' is not a disagreement. Read
                // again until the row is the same after its events as before them.
                var problem: String?
                for _ in 0..<5 {
                    guard let gate = try await store.gate(id) else { break }
                    let events = try await store.allEvents(ofGate: id.description)
                    problem = LogAgreement.disagreement(of: gate, with: events)
                    guard problem != nil, try await store.gate(id)?.version != gate.version else { break }
                }
                if let problem { return (problem, gates, tokens.count) }
                gates += 1
            }
            guard ids.count == 500 else { break }
            last = ids.last
        }
        return (nil, gates, tokens.count)
    }
}

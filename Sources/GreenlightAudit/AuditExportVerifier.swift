import Crypto
import Dispatch
import Foundation
import GreenlightTransparency

/// Checks an export of the audit log (`audit export --format jsonl`) line by line, with nothing but the file and,
/// optionally, a checkpoint whose signature the caller has checked: each line is an event written as its leaf, in
/// sequence from 1, linked to the one before by the chain's hashes; and the tree of the first `checkpoint.size`
/// events has the checkpoint's root.
///
/// The chain names the first edited event when its hash was left as it was; an editor who recomputed the hashes
/// after it is caught by the checkpoint's root, which no edit of the file can reach.
public struct AuditExportVerifier: Sendable {
    private let checkpoint: Checkpoint?
    private var tree = AuditTreeBuilder()
    private var previousHash = AuditChain.genesisHash
    private var rootAtCheckpoint: TreeHash?

    public init(checkpoint: Checkpoint?) {
        self.checkpoint = checkpoint
        if checkpoint?.size == 0 { rootAtCheckpoint = MerkleTree.emptyRoot }
    }

    /// Checks the next lines (each without its newline), in order. The hashing is spread over the machine's cores: an
    /// export of a million events is checked in about the time `sha256sum` reads it (README, Performance).
    public mutating func check(lines: [ArraySlice<UInt8>]) throws(AuditExportProblem) {
        var digests = [DigestedLine?](repeating: nil, count: lines.count)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8, lines.count))
        digests.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let buffer = buffer
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for index in stride(from: worker, to: lines.count, by: workers) { buffer[index] = DigestedLine(lines[index]) }
            }
        }
        for (line, digest) in zip(lines, digests) {
            let expected = Int64(clamping: tree.size) + 1
            if let digest, digest.chainHolds, digest.sequence == expected, digest.previousHash.utf8.elementsEqual(previousHash.utf8) {
                tree.append(leafHash: digest.leafHash)
                previousHash = digest.hash
                if tree.size == checkpoint?.size { rootAtCheckpoint = tree.root }
            } else {
                // Whatever is wrong (or an event hashed before schema v5), the full reading says it, or accepts it.
                try check(line: line)
            }
        }
    }

    /// Checks the next line (without its newline), reading it in full.
    public mutating func check(line: some Collection<UInt8>) throws(AuditExportProblem) {
        let number = tree.size + 1
        let event: AuditEvent
        do {
            event = try AuditLeaves.event(fromLeaf: line)
        } catch {
            throw .line(number, error.description)
        }
        do {
            try tree.append(event)
        } catch {
            throw .line(number, error.description)
        }
        guard event.previousHash == previousHash else {
            throw .line(number, "event \(event.sequence) does not link to the event before it (an event before it was removed or edited)")
        }
        // An event written before schema v5 was hashed with its old time text (docs/audit.md); either form is its own.
        guard event.hash == AuditChain.hash(of: event) || event.hash == AuditChain.hash(of: event, time: .beforeSchemaV5) else {
            throw .line(number, "event \(event.sequence) does not match its hash: it was edited")
        }
        previousHash = event.hash
        if tree.size == checkpoint?.size { rootAtCheckpoint = tree.root }
    }

    /// What was verified, once every line is checked.
    public func finish() throws(AuditExportProblem) -> String {
        var verdict = "export intact: \(tree.size) event(s), Merkle root \(tree.root)"
        if let checkpoint {
            guard let root = rootAtCheckpoint else {
                throw .checkpoint("the checkpoint is of \(checkpoint.size) event(s) but the export holds \(tree.size): events were cut off")
            }
            guard root == checkpoint.root else {
                throw .checkpoint(
                    "the export's first \(checkpoint.size) event(s) have root \(root), the checkpoint signed \(checkpoint.root): the log was rewritten"
                )
            }
            verdict += "; its first \(checkpoint.size) event(s) are the ones the checkpoint of \(checkpoint.origin) signed"
        }
        return verdict
    }
}

public enum AuditExportProblem: Error, Equatable, CustomStringConvertible {
    case line(UInt64, String)
    case checkpoint(String)

    public var description: String {
        switch self {
        case .line(let number, let why): "export broken at line \(number): \(why)"
        case .checkpoint(let why): "export does not match the checkpoint: \(why)"
        }
    }
}

/// What the fast path learns of a line with no JSON parsing, relying on the leaf's canonical layout: the chain's
/// canonical form of an event (docs/audit.md) is its leaf without the `hash` and `previous_hash` members, which sit
/// together, after `details` and `gate_id` (keys are sorted) and before `sequence`. Inside a JSON string a quote is
/// escaped, so the last `,"hash":"` of a line is the top-level one.
///
/// It checks the bytes the hashes cover, which is what matters: a line that is not what Greenlight writes but whose
/// hashes hold was made by someone who recomputed them, and only the checkpoint's root can catch that — the full
/// reading could not either.
struct DigestedLine: Sendable {
    var sequence: Int64
    var previousHash: String
    var hash: String
    var leafHash: TreeHash
    /// SHA-256(previous hash ‖ "\n" ‖ the event's canonical form) is the line's `hash`.
    var chainHolds: Bool

    private static let hashKey = Array(#","hash":""#.utf8)
    private static let previousKey = Array(#"","previous_hash":""#.utf8)
    private static let sequenceKey = Array(#"","sequence":"#.utf8)
    private static let serviceKey = Array(#","service":"#.utf8)
    private static let opening = Array(#"{"action":""#.utf8)

    init?(_ line: ArraySlice<UInt8>) {
        guard line.starts(with: Self.opening), line.last == UInt8(ascii: "}"), let at = Self.lastIndex(of: Self.hashKey, in: line) else { return nil }
        let hashStart = at + Self.hashKey.count
        let previousStart = hashStart + 64 + Self.previousKey.count
        let afterPrevious = previousStart + 64
        let digitsStart = afterPrevious + Self.sequenceKey.count
        guard digitsStart < line.endIndex,
            line[(hashStart + 64)..<previousStart].elementsEqual(Self.previousKey),
            line[afterPrevious..<digitsStart].elementsEqual(Self.sequenceKey)
        else { return nil }
        let hashText = line[hashStart..<(hashStart + 64)]
        let previousText = line[previousStart..<afterPrevious]
        guard let stated = TreeHash(hexBytes: hashText), TreeHash(hexBytes: previousText) != nil else { return nil }
        var digitsEnd = digitsStart
        var sequence: Int64 = 0
        while digitsEnd < line.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[digitsEnd]), digitsEnd - digitsStart < 18 {
            sequence = sequence * 10 + Int64(line[digitsEnd] - UInt8(ascii: "0"))
            digitsEnd += 1
        }
        guard digitsEnd > digitsStart, line[digitsStart] != UInt8(ascii: "0"), line[digitsEnd...].starts(with: Self.serviceKey) else { return nil }

        var chain = SHA256()
        chain.update(data: previousText)
        chain.update(data: [0x0A])
        chain.update(data: line[..<at])
        // The canonical form goes on with `,"sequence":`: the byte after the previous hash's closing quote.
        chain.update(data: line[(afterPrevious + 1)...])
        chainHolds = Array(chain.finalize()) == stated.bytes
        self.sequence = sequence
        previousHash = String(decoding: previousText, as: UTF8.self)
        hash = String(decoding: hashText, as: UTF8.self)
        leafHash = MerkleTree.leafHash(line)
    }

    /// The start of the last occurrence of `pattern` in `line`.
    private static func lastIndex(of pattern: [UInt8], in line: ArraySlice<UInt8>) -> Int? {
        var start = line.endIndex - pattern.count
        while start >= line.startIndex {
            if line[start] == pattern[0], line[start..<(start + pattern.count)].elementsEqual(pattern) { return start }
            start -= 1
        }
        return nil
    }
}

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
            if let digest, digest.chainHolds, digest.sequence == expected, digest.previousHash == previousHash {
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
        // On the bytes themselves: a million lines are read this way, and generic collection code costs more than
        // the hashing.
        guard let digested = line.withUnsafeBufferPointer({ Self.digest($0) }) else { return nil }
        self = digested
    }

    private init(sequence: Int64, previousHash: String, hash: String, leafHash: TreeHash, chainHolds: Bool) {
        self.sequence = sequence
        self.previousHash = previousHash
        self.hash = hash
        self.leafHash = leafHash
        self.chainHolds = chainHolds
    }

    private static func digest(_ line: UnsafeBufferPointer<UInt8>) -> DigestedLine? {
        let count = line.count
        guard count > opening.count, matches(opening, in: line, at: 0), line[count - 1] == UInt8(ascii: "}"),
            let at = lastIndex(of: hashKey, in: line)
        else { return nil }
        let hashStart = at + hashKey.count
        let previousStart = hashStart + 64 + previousKey.count
        let afterPrevious = previousStart + 64
        let digitsStart = afterPrevious + sequenceKey.count
        guard digitsStart < count, matches(previousKey, in: line, at: hashStart + 64), matches(sequenceKey, in: line, at: afterPrevious),
            let stated = hexDigest(line, at: hashStart), hexDigest(line, at: previousStart) != nil
        else { return nil }
        var digitsEnd = digitsStart
        var sequence: Int64 = 0
        while digitsEnd < count, line[digitsEnd] &- UInt8(ascii: "0") < 10, digitsEnd - digitsStart < 18 {
            sequence = sequence * 10 + Int64(line[digitsEnd] &- UInt8(ascii: "0"))
            digitsEnd += 1
        }
        guard digitsEnd > digitsStart, line[digitsStart] != UInt8(ascii: "0"), matches(serviceKey, in: line, at: digitsEnd) else { return nil }

        let raw = UnsafeRawBufferPointer(line)
        var chain = SHA256()
        chain.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[previousStart..<afterPrevious]))
        withUnsafeBytes(of: UInt8(0x0A)) { chain.update(bufferPointer: $0) }
        chain.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[..<at]))
        // The canonical form goes on with `,"sequence":`: the byte after the previous hash's closing quote.
        chain.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[(afterPrevious + 1)...]))
        let chainHolds = chain.finalize().withUnsafeBytes { computed in computed.elementsEqual(stated) }
        var leaf = SHA256()
        withUnsafeBytes(of: UInt8(0x00)) { leaf.update(bufferPointer: $0) }
        leaf.update(bufferPointer: raw)
        return DigestedLine(
            sequence: sequence, previousHash: String(decoding: line[previousStart..<afterPrevious], as: UTF8.self),
            hash: String(decoding: line[hashStart..<(hashStart + 64)], as: UTF8.self), leafHash: TreeHash(digest: leaf.finalize()),
            chainHolds: chainHolds)
    }

    private static func matches(_ pattern: [UInt8], in line: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        guard start >= 0, start + pattern.count <= line.count else { return false }
        for offset in 0..<pattern.count where line[start + offset] != pattern[offset] { return false }
        return true
    }

    /// The 32 bytes of the 64 lowercase hexadecimal digits at `start`.
    private static func hexDigest(_ line: UnsafeBufferPointer<UInt8>, at start: Int) -> [UInt8]? {
        guard start + 64 <= line.count else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            guard let high = nibble(line[start + 2 * index]), let low = nibble(line[start + 2 * index + 1]) else { return nil }
            bytes[index] = high << 4 | low
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        if digit &- UInt8(ascii: "0") < 10 { return digit &- UInt8(ascii: "0") }
        if digit &- UInt8(ascii: "a") < 6 { return digit &- UInt8(ascii: "a") + 10 }
        return nil
    }

    /// The start of the last occurrence of `pattern` in `line`.
    private static func lastIndex(of pattern: [UInt8], in line: UnsafeBufferPointer<UInt8>) -> Int? {
        var start = line.count - pattern.count
        while start >= 0 {
            if line[start] == pattern[0], matches(pattern, in: line, at: start) { return start }
            start -= 1
        }
        return nil
    }
}

import Foundation
import GreenlightCore
import GreenlightTransparency

/// The audit log as a Merkle log (RFC 6962): event `n` (sequence `n`, from 1) is leaf `n - 1`, and the leaf is the
/// event exactly as `greenlight audit export` writes it — one JSON object, UTF-8, no newline: every field, the chain's
/// `previous_hash` and `hash` included, with sorted keys and no insignificant white space (docs/audit.md) — so that
/// anyone holding an export can recompute the tree's root and check it against a signed checkpoint.
///
/// The leaves are computed from the stored events, so a log begun as a hash chain is a Merkle log already: its old
/// events are its first leaves.
public enum AuditLeaves {
    /// The leaf of `event`, with `at` as the stored millisecond (whatever its chain hash covers).
    public static func leaf(of event: AuditEvent) -> [UInt8] {
        CanonicalJSON.object([
            ("action", .string(event.action)),
            ("actor", .string(event.actor)),
            ("artifact", event.artifact.map(CanonicalJSON.string) ?? .null),
            ("at", .string(Timestamp.format(milliseconds: Timestamp.milliseconds(event.at)))),
            ("details", .object(event.details.map { ($0.key, .string($0.value)) })),
            ("environment", event.environment.map(CanonicalJSON.string) ?? .null),
            ("gate_id", event.gateID.map(CanonicalJSON.string) ?? .null),
            ("hash", .string(event.hash)),
            ("previous_hash", .string(event.previousHash)),
            ("sequence", .integer(event.sequence)),
            ("service", event.service.map(CanonicalJSON.string) ?? .null),
        ]).bytes
    }

    public static func leafHash(of event: AuditEvent) -> TreeHash {
        MerkleTree.leafHash(leaf(of: event))
    }

    /// The event an export's line holds. Throws unless the line is exactly the leaf of that event: a line reformatted
    /// (keys reordered, spaces, escapes written differently) would hash to another leaf, and is named as such.
    public static func event(fromLeaf line: some Collection<UInt8>) throws(AuditLeafError) -> AuditEvent {
        let bytes = Array(line)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw .notAnEvent("not a JSON object")
        }
        func text(_ key: String) throws(AuditLeafError) -> String {
            guard let value = object[key] as? String else { throw .notAnEvent("'\(key)' is not a string") }
            return value
        }
        func optional(_ key: String) throws(AuditLeafError) -> String? {
            if object[key] is NSNull { return nil }
            return try text(key)
        }
        guard let sequence = (object["sequence"] as? Int).map(Int64.init) ?? (object["sequence"] as? Int64) else {
            throw .notAnEvent("'sequence' is not a whole number")
        }
        guard let at = Timestamp.parse(try text("at")) else { throw .notAnEvent("'at' is not an RFC 3339 time") }
        guard let details = object["details"] as? [String: String] else { throw .notAnEvent("'details' is not an object of strings") }
        let event = AuditEvent(
            sequence: sequence, at: at, actor: try text("actor"), action: try text("action"), gateID: try optional("gate_id"),
            service: try optional("service"), environment: try optional("environment"), artifact: try optional("artifact"),
            details: details, previousHash: try text("previous_hash"), hash: try text("hash"))
        guard leaf(of: event) == bytes else { throw .notCanonical(sequence: sequence) }
        return event
    }
}

public enum AuditLeafError: Error, Equatable, CustomStringConvertible {
    case notAnEvent(String)
    case notCanonical(sequence: Int64)

    public var description: String {
        switch self {
        case .notAnEvent(let why): "not an exported audit event: \(why)"
        case .notCanonical(let sequence):
            "event \(sequence) is not written as the log writes it (sorted keys, no spaces, minimal escapes): it would hash to another leaf"
        }
    }
}

/// The tree's root while events are read in order: for `audit verify` and checkpoints, over a log of any length in
/// memory that grows with its logarithm. Refuses an event out of sequence, which would make the root of something else.
public struct AuditTreeBuilder: Sendable {
    public private(set) var range = CompactRange()

    public init() {}

    /// Adds the next event; throws unless its sequence is the next leaf's.
    public mutating func append(_ event: AuditEvent) throws(AuditTreeError) {
        let expected = Int64(clamping: range.size) + 1
        guard event.sequence == expected else { throw .outOfSequence(expected: expected, found: event.sequence) }
        range.append(AuditLeaves.leafHash(of: event))
    }

    /// Adds the next leaf's hash, its sequence checked by the caller.
    mutating func append(leafHash: TreeHash) {
        range.append(leafHash)
    }

    public var size: UInt64 { range.size }
    public var root: TreeHash { range.root }
}

public enum AuditTreeError: Error, Equatable, CustomStringConvertible {
    case outOfSequence(expected: Int64, found: Int64)

    public var description: String {
        switch self {
        case .outOfSequence(let expected, let found):
            found > expected
                ? "event \(expected) is missing (the next is \(found))"
                : "event \(found) comes where event \(expected) should (reordered or repeated)"
        }
    }
}

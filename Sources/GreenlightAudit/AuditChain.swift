import Crypto
import Foundation
import GreenlightCore

/// The hash chain that makes the audit log tamper-evident.
///
/// Each event's hash is `SHA-256(previous_hash ‖ "\n" ‖ canonical(event))`, where `canonical` is the event's fields
/// (not its hash) as JSON with sorted keys and no insignificant white space (see docs/audit.md). Editing, removing or
/// reordering any event changes a hash that every later event depends on. The chain's head (last sequence and hash)
/// is also kept apart from the events, so that cutting events off the end is caught too.
public enum AuditChain {
    /// The `previous_hash` of the first event.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// The event `draft` becomes when appended after an event with `previousHash` at `sequence - 1`.
    public static func link(_ draft: AuditDraft, sequence: Int64, previousHash: String) -> AuditEvent {
        var event = AuditEvent(
            sequence: sequence,
            at: draft.at,
            actor: draft.actor,
            action: draft.action.rawValue,
            gateID: draft.gateID,
            service: draft.service,
            environment: draft.environment,
            artifact: draft.artifact,
            details: draft.details,
            previousHash: previousHash,
            hash: ""
        )
        event.hash = hash(of: event)
        return event
    }

    /// How the canonical form writes an event's `at`. New events use ``storedMillisecond``; the store records the
    /// first event that did (schema v5), and verifies the events before it as they were hashed.
    public enum TimeText: Sendable, Equatable {
        /// ``Timestamp/format(milliseconds:)`` of the stored millisecond: the text `audit query` and the API print.
        case storedMillisecond
        /// What versions before schema v5 hashed: Foundation's RFC 3339 of the `Date` made from the stored
        /// millisecond, which truncates its binary fraction and so reads one millisecond early for about half of all
        /// instants. ``legacyText(milliseconds:)`` computes it without Foundation, as docs/audit.md describes it.
        case beforeSchemaV5
    }

    /// The hash `event` should carry, computed from its content and its `previousHash`.
    public static func hash(of event: AuditEvent, time: TimeText = .storedMillisecond) -> String {
        var bytes = Data(event.previousHash.utf8)
        bytes.append(0x0A)
        bytes.append(contentsOf: canonicalBytes(of: event, time: time))
        return SHA256.hash(data: bytes).hexEncoded
    }

    /// The text versions before schema v5 hashed for the stored millisecond `milliseconds`: the seconds since 2001 as
    /// a `Double` (`milliseconds / 1000 - 978307200`, each step rounded as IEEE 754 does), its whole seconds, and the
    /// milliseconds of its fraction rounded down. Pinned here so that old logs verify whatever Foundation does next.
    public static func legacyText(milliseconds: Int64) -> String {
        let sinceReference = Double(milliseconds) / 1000 - Date.timeIntervalBetween1970AndReferenceDate
        let seconds = sinceReference.rounded(.down)
        let fraction = Int64(((sinceReference - seconds) * 1000).rounded(.down))
        let whole = Int64(seconds) + Int64(Date.timeIntervalBetween1970AndReferenceDate)
        return Timestamp.format(milliseconds: whole * 1000 + fraction)
    }

    /// An event's details as the JSON object the stores keep: the canonical form's own writer (sorted keys, only what
    /// JSON requires escaped), which costs a fraction of a `JSONEncoder` on every change of a gate.
    public static func detailsJSON(_ details: [String: String]) -> String {
        var output: [UInt8] = []
        CanonicalJSON.object(details.map { ($0.key, .string($0.value)) }).write(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// The canonical JSON of an event's content: sorted keys, UTF-8, `null` for absent fields, time as RFC 3339 UTC ms.
    public static func canonicalBytes(of event: AuditEvent, time: TimeText = .storedMillisecond) -> [UInt8] {
        let parts = canonicalParts(of: event, time: time)
        return parts.beforeSequence + Array(String(event.sequence).utf8) + parts.afterSequence
    }

    /// The canonical JSON of an event's content around its sequence number, which is written between the two as JSON
    /// writes an integer (and PostgreSQL's `bigint::text`): a store that assigns the sequence where it appends (the
    /// PostgreSQL store, inside the database) hashes the same bytes as ``canonicalBytes(of:time:)``.
    public static func canonicalParts(
        of event: AuditEvent, time: TimeText = .storedMillisecond
    ) -> (beforeSequence: [UInt8], afterSequence: [UInt8]) {
        let milliseconds = Timestamp.milliseconds(event.at)
        let at =
            switch time {
            case .storedMillisecond: Timestamp.format(milliseconds: milliseconds)
            case .beforeSchemaV5: legacyText(milliseconds: milliseconds)
            }
        // The keys in their sorted order (by UTF-8 bytes), `sequence` between `gate_id` and `service`.
        var before: [UInt8] = []
        CanonicalJSON.fields(
            [
                ("action", .string(event.action)),
                ("actor", .string(event.actor)),
                ("artifact", event.artifact.map(CanonicalJSON.string) ?? .null),
                ("at", .string(at)),
                ("details", .object(event.details.map { ($0.key, .string($0.value)) })),
                ("environment", event.environment.map(CanonicalJSON.string) ?? .null),
                ("gate_id", event.gateID.map(CanonicalJSON.string) ?? .null),
            ], opening: true, to: &before)
        before.append(contentsOf: #","sequence":"#.utf8)
        var after: [UInt8] = []
        CanonicalJSON.fields([("service", event.service.map(CanonicalJSON.string) ?? .null)], opening: false, to: &after)
        after.append(UInt8(ascii: "}"))
        return (before, after)
    }

    /// ``canonicalParts(of:time:)`` of the event `draft` becomes, whatever its sequence and previous hash.
    public static func canonicalParts(of draft: AuditDraft) -> (beforeSequence: [UInt8], afterSequence: [UInt8]) {
        canonicalParts(
            of: AuditEvent(
                sequence: 0, at: draft.at, actor: draft.actor, action: draft.action.rawValue, gateID: draft.gateID, service: draft.service,
                environment: draft.environment, artifact: draft.artifact, details: draft.details, previousHash: "", hash: ""))
    }
}

/// The smallest JSON writer that is byte-for-byte deterministic, so that the hashes do not depend on the version of
/// Foundation that wrote them. Object keys are sorted by their UTF-8 bytes; strings escape only what JSON requires.
/// The PostgreSQL store writes its units of work with it too (flags and lists are for those; events have none).
public enum CanonicalJSON: Sendable {
    case null
    case string(String)
    case integer(Int64)
    case boolean(Bool)
    case array([CanonicalJSON])
    case object([(String, CanonicalJSON)])

    /// The JSON text.
    public var bytes: [UInt8] {
        var output: [UInt8] = []
        write(to: &output)
        return output
    }

    public func write(to output: inout [UInt8]) {
        switch self {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .boolean(let value):
            output.append(contentsOf: (value ? "true" : "false").utf8)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .integer(let value):
            output.append(contentsOf: String(value).utf8)
        case .string(let value):
            Self.writeString(value, to: &output)
        case .object(let fields):
            output.append(UInt8(ascii: "{"))
            for (index, field) in fields.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(field.0, to: &output)
                output.append(UInt8(ascii: ":"))
                field.1.write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Writes `fields` (already in sorted order) as part of an object: with its opening brace, or as a continuation
    /// after fields written before.
    static func fields(_ fields: [(String, CanonicalJSON)], opening: Bool, to output: inout [UInt8]) {
        if opening { output.append(UInt8(ascii: "{")) }
        for (index, field) in fields.enumerated() {
            if index > 0 || !opening { output.append(UInt8(ascii: ",")) }
            writeString(field.0, to: &output)
            output.append(UInt8(ascii: ":"))
            field.1.write(to: &output)
        }
    }

    private static func writeString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): output.append(contentsOf: "\\\\".utf8)
            case 0x0A: output.append(contentsOf: "\\n".utf8)
            case 0x0D: output.append(contentsOf: "\\r".utf8)
            case 0x09: output.append(contentsOf: "\\t".utf8)
            case 0x00..<0x20: output.append(contentsOf: String(format: "\\u%04x", byte).utf8)
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

import Crypto
import Foundation

/// The body of a C2SP `tlog-witness` `add-checkpoint` request: the size the witness last cosigned (`old N`), the
/// consistency proof from it, a blank line, and the checkpoint as a signed note.
public struct AddCheckpointRequest: Sendable, Equatable {
    /// The protocol's limit on proof lines.
    public static let proofLimit = 63

    public var oldSize: UInt64
    public var proof: [TreeHash]
    public var checkpoint: SignedNote

    public init(oldSize: UInt64, proof: [TreeHash], checkpoint: SignedNote) {
        self.oldSize = oldSize
        self.proof = proof
        self.checkpoint = checkpoint
    }

    public var encoded: String {
        "old \(oldSize)\n" + proof.map { $0.base64 + "\n" }.joined() + "\n" + checkpoint.encoded
    }

    /// Reads a request body; throws saying what is wrong, as a witness answers 400.
    public init(parsing body: some StringProtocol) throws(NoteError) {
        let body = String(body)
        guard let blank = body.range(of: "\n\n", options: .literal) else {
            throw .malformed("an add-checkpoint body is 'old N', the proof lines, a blank line and the checkpoint")
        }
        let lines = body[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, first.hasPrefix("old "), let size = Self.decimalSize(first.dropFirst(4)) else {
            throw .malformed("the first line is not 'old <size>' with a decimal size")
        }
        guard lines.count - 1 <= Self.proofLimit else { throw .malformed("more than \(Self.proofLimit) proof lines") }
        oldSize = size
        proof = try lines.dropFirst().enumerated().map { (number, line) throws(NoteError) in
            guard let hash = TreeHash(base64: line) else { throw .malformed("proof line \(number + 1) is not base64 of 32 bytes") }
            return hash
        }
        checkpoint = try SignedNote(parsing: body[blank.upperBound...])
    }

    /// A decimal with no sign and no leading zero (but "0"), as sizes are written throughout these formats.
    public static func decimalSize(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), text == "0" || !text.hasPrefix("0") else { return nil }
        return UInt64(text)
    }
}

/// A C2SP `tlog-proof` (`.tlog-proof`): that one entry is in a log, checkable with no access to the log — the
/// entry's index, its inclusion proof, and a checkpoint (with its witnesses' cosignatures) of a tree that holds it.
public struct TransparencyProof: Sendable, Equatable {
    public static let header = "c2sp.org/tlog-proof@v1"

    /// Data the format carries unauthenticated. Greenlight puts the entry itself here (the audit event's leaf bytes):
    /// it is authenticated by hashing to the leaf the proof includes.
    public var extra: [UInt8]?
    public var index: UInt64
    public var proof: [TreeHash]
    public var checkpoint: SignedNote

    public init(extra: [UInt8]?, index: UInt64, proof: [TreeHash], checkpoint: SignedNote) {
        self.extra = extra
        self.index = index
        self.proof = proof
        self.checkpoint = checkpoint
    }

    public var encoded: String {
        var text = Self.header + "\n"
        if let extra { text += "extra \(Data(extra).base64EncodedString())\n" }
        text += "index \(index)\n"
        text += proof.map { $0.base64 + "\n" }.joined()
        return text + "\n" + checkpoint.encoded
    }

    public init(parsing text: some StringProtocol) throws(NoteError) {
        let text = String(text)
        guard text.utf8.count <= SignedNote.sizeLimit * 2 else { throw .malformed("the proof is over \(SignedNote.sizeLimit * 2) bytes") }
        guard let blank = text.range(of: "\n\n", options: .literal) else {
            throw .malformed("no blank line separates the proof from its checkpoint")
        }
        var lines = text[..<blank.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)[...]
        guard lines.popFirst() == Substring(Self.header) else { throw .malformed("the first line is not '\(Self.header)'") }
        extra = nil
        if let line = lines.first, line.hasPrefix("extra ") {
            guard let data = StrictBase64.decode(line.dropFirst(6)) else { throw .malformed("the extra line is not base64") }
            extra = Array(data)
            lines.removeFirst()
        }
        guard let line = lines.popFirst(), line.hasPrefix("index "), let index = AddCheckpointRequest.decimalSize(line.dropFirst(6)) else {
            throw .malformed("the index line is not 'index <decimal>'")
        }
        self.index = index
        guard lines.count <= 64 else { throw .malformed("an inclusion proof has at most 64 hashes") }
        proof = try lines.enumerated().map { (number, line) throws(NoteError) in
            guard let hash = TreeHash(base64: line) else { throw .malformed("proof line \(number + 1) is not base64 of 32 bytes") }
            return hash
        }
        checkpoint = try SignedNote(parsing: text[blank.upperBound...])
    }
}

/// A C2SP `tlog-policy`: the logs and witnesses known, and the quorum of witnesses whose cosignatures make a
/// checkpoint count — `all`, `any` or k of a group, groups of witnesses or of groups.
public struct WitnessPolicy: Sendable, Equatable {
    public struct Witness: Sendable, Equatable {
        public var name: String
        public var key: NoteVerifierKey
        public var url: String?
    }

    public indirect enum Rule: Sendable, Equatable {
        case none
        case witness(String)
        case group(threshold: Int, members: [Rule])
    }

    public var logs: [NoteVerifierKey]
    public var witnesses: [Witness]
    public var quorum: Rule

    public init(logs: [NoteVerifierKey] = [], witnesses: [Witness], quorum: Rule) {
        self.logs = logs
        self.witnesses = witnesses
        self.quorum = quorum
    }

    /// A policy that asks every one of `witnesses` (none: no quorum), as `--witness` flags give them.
    public static func all(of witnesses: [NoteVerifierKey]) -> WitnessPolicy {
        let named = witnesses.map { Witness(name: $0.name, key: $0, url: nil) }
        return WitnessPolicy(
            witnesses: named, quorum: named.isEmpty ? .none : .group(threshold: named.count, members: named.map { .witness($0.name) }))
    }

    /// Reads a policy file; throws naming the line and what is wrong with it.
    public init(parsing text: some StringProtocol) throws(NoteError) {
        var logs: [NoteVerifierKey] = []
        var witnesses: [Witness] = []
        var rules: [String: Rule] = ["none": Rule.none]
        var quorum: Rule?
        for (number, raw) in String(text).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            func refuse(_ why: String) -> NoteError { .malformed("policy line \(number + 1): \(why)") }
            if let bad = raw.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) {
                throw refuse("the control character U+\(String(format: "%04X", bad.value))")
            }
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first, !keyword.hasPrefix("#") else { continue }
            let key = { (text: Substring) throws(NoteError) -> NoteVerifierKey in
                do { return try NoteVerifierKey(text) } catch { throw refuse("\(error)") }
            }
            switch keyword {
            case "log":
                guard (2...3).contains(words.count) else { throw refuse("a log is 'log <vkey> [<url>]'") }
                let log = try key(words[1])
                guard !logs.contains(where: { $0.sameKey(as: log) }) else { throw refuse("the log \(log.name) is listed twice") }
                logs.append(log)
            case "witness":
                guard (3...4).contains(words.count) else { throw refuse("a witness is 'witness <name> <vkey> [<url>]'") }
                let name = String(words[1])
                guard rules[name] == nil else { throw refuse("the name \(name) is already defined") }
                let witness = try key(words[2])
                guard witness.type == .cosignatureV1 else { throw refuse("the key of witness \(name) is not a cosignature key (type 0x04)") }
                guard !witnesses.contains(where: { $0.key.sameKey(as: witness) }) else { throw refuse("the key of \(name) is listed twice") }
                witnesses.append(Witness(name: name, key: witness, url: words.count == 4 ? String(words[3]) : nil))
                rules[name] = .witness(name)
            case "group":
                guard words.count >= 4 else { throw refuse("a group is 'group <name> all|any|<k> <member>...'") }
                let name = String(words[1])
                guard rules[name] == nil else { throw refuse("the name \(name) is already defined") }
                var members: [Rule] = []
                var seen: Set<Substring> = []
                for member in words.dropFirst(3) {
                    guard member != "none", let rule = rules[String(member)] else {
                        throw refuse("\(member) is not a witness or group defined above")
                    }
                    guard seen.insert(member).inserted else { throw refuse("\(member) is a member twice") }
                    members.append(rule)
                }
                let threshold: Int
                switch words[2] {
                case "all": threshold = members.count
                case "any": threshold = 1
                default:
                    guard let k = AddCheckpointRequest.decimalSize(words[2]), k >= 1, k <= UInt64(members.count) else {
                        throw refuse("the threshold '\(words[2].prefix(20))' is not all, any or a number from 1 to \(members.count)")
                    }
                    threshold = Int(k)
                }
                rules[name] = .group(threshold: threshold, members: members)
            case "quorum":
                guard words.count == 2 else { throw refuse("the quorum is 'quorum <name>'") }
                guard quorum == nil else { throw refuse("a policy has one quorum line") }
                guard let rule = rules[String(words[1])] else { throw refuse("\(words[1]) is not a witness or group defined above") }
                quorum = rule
            default:
                throw refuse("unknown keyword '\(keyword.prefix(30))' (log, witness, group, quorum)")
            }
        }
        guard let quorum else { throw .malformed("the policy has no quorum line (write 'quorum none' for none)") }
        self.init(logs: logs, witnesses: witnesses, quorum: quorum)
    }

    /// Whether the witnesses named in `cosigned` meet the quorum.
    public func isSatisfied(byWitnessesNamed cosigned: Set<String>) -> Bool {
        func holds(_ rule: Rule) -> Bool {
            switch rule {
            case .none: true
            case .witness(let name): cosigned.contains(name)
            case .group(let threshold, let members): members.lazy.filter(holds).count >= threshold
            }
        }
        return holds(quorum)
    }

    /// The witnesses whose cosignatures on `note` verify. A known witness's bad cosignature refuses the note, as a
    /// known key's bad signature does.
    public func cosigners(of note: SignedNote) throws(NoteError) -> Set<String> {
        var names = Set<String>()
        for signature in note.signatures {
            guard let witness = witnesses.first(where: { $0.key.name.utf8.elementsEqual(signature.keyName.utf8) && $0.key.keyID == signature.keyID })
            else { continue }
            guard witness.key.isValidSignature(signature, for: note.text) else { throw .badSignature(keyName: witness.key.name) }
            names.insert(witness.name)
        }
        return names
    }
}

extension NoteVerifierKey {
    /// Whether two keys wrap the same public key, whatever their names: a policy lists a key once.
    func sameKey(as other: NoteVerifierKey) -> Bool { publicKey.rawRepresentation == other.publicKey.rawRepresentation }
}

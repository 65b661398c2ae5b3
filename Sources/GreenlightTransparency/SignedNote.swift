import Foundation

/// A text signed by one or more keys, in the C2SP `signed-note` format (as Go's `golang.org/x/mod/sumdb/note` reads
/// and writes it): the text, ending in a newline; a blank line; then one line per signature, `— <key name>
/// base64(key ID ‖ signature)`.
///
/// A checkpoint of the audit log is one; witnesses add their cosignatures as further lines.
public struct SignedNote: Sendable, Equatable {
    /// The signed text, its final newline included.
    public var text: String
    public var signatures: [NoteSignature]

    /// The most signature lines a note may carry (the format asks verifiers to accept at least 16).
    public static let signatureLimit = 100
    /// The longest note accepted, in bytes: a checkpoint with its cosignatures is well under a kilobyte.
    public static let sizeLimit = 1 << 20

    public init(text: String, signatures: [NoteSignature] = []) {
        self.text = text
        self.signatures = signatures
    }

    /// The note as its bytes are sent and stored.
    public var encoded: String {
        text + "\n" + signatures.map { "— \($0.keyName) \($0.base64)\n" }.joined()
    }

    /// Reads a note, checking its form only: which signatures are good is for ``open(with:)`` to say.
    public init(parsing note: some StringProtocol) throws(NoteError) {
        let note = String(note)
        guard note.utf8.count <= Self.sizeLimit else { throw .malformed("the note is over \(Self.sizeLimit) bytes") }
        if let control = note.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\n" }) {
            throw .malformed("the note holds the control character U+\(String(format: "%04X", control.value))")
        }
        // The signatures follow the last blank line.
        guard note.utf8.last == 0x0A, let blank = note.range(of: "\n\n", options: [.backwards, .literal]) else {
            throw .malformed("no blank line separates the text from the signatures")
        }
        text = String(note[..<blank.lowerBound]) + "\n"
        let lines = note[blank.upperBound...].dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty, lines.count <= Self.signatureLimit else {
            throw .malformed(lines.isEmpty ? "the note has no signature" : "the note has more than \(Self.signatureLimit) signatures")
        }
        signatures = try lines.enumerated().map { (number, line) throws(NoteError) in
            try NoteSignature(line: line, number: number + 1)
        }
    }

    /// The text, if a known key's signature verifies and none of the known keys' fails: the rules of `signed-note`.
    /// Signatures by unknown keys (a key name or ID of no verifier, such as a witness not configured) are ignored.
    public func open(with verifiers: [NoteVerifierKey]) throws(NoteError) -> [NoteVerifierKey] {
        var verified: [NoteVerifierKey] = []
        for signature in signatures {
            // Names compare as bytes, as Go's note package compares them: not by Unicode equivalence.
            guard let key = verifiers.first(where: { $0.name.utf8.elementsEqual(signature.keyName.utf8) && $0.keyID == signature.keyID }) else {
                continue
            }
            guard key.isValidSignature(signature, for: text) else { throw .badSignature(keyName: key.name) }
            if !verified.contains(key) { verified.append(key) }
        }
        guard !verified.isEmpty else {
            throw .noKnownSignature(names: signatures.map(\.keyName), known: verifiers.map(\.name))
        }
        return verified
    }
}

/// One signature line of a note.
public struct NoteSignature: Sendable, Equatable {
    public var keyName: String
    public var keyID: UInt32
    /// What the algorithm signed: 64 bytes for Ed25519; for a witness's cosignature, its timestamp and then those.
    public var signature: [UInt8]

    public init(keyName: String, keyID: UInt32, signature: [UInt8]) {
        self.keyName = keyName
        self.keyID = keyID
        self.signature = signature
    }

    /// base64(key ID, big-endian ‖ signature): the line's last word.
    public var base64: String {
        Data(withUnsafeBytes(of: keyID.bigEndian, Array.init) + signature).base64EncodedString()
    }

    init(line: Substring, number: Int) throws(NoteError) {
        let prefix = "— "
        guard line.hasPrefix(prefix) else { throw .malformed("signature line \(number) does not begin with an em dash and a space") }
        let words = line.dropFirst(prefix.count).split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 2, NoteVerifierKey.isValidName(words[0]) else {
            throw .malformed("signature line \(number) is not '— <key name> <base64 signature>'")
        }
        guard let blob = StrictBase64.decode(words[1]), blob.count > 4 else {
            throw .malformed("the signature on line \(number) is not base64 of a key ID and a signature")
        }
        keyName = String(words[0])
        keyID = blob.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
        signature = Array(blob.dropFirst(4))
    }
}

/// Why a note, a key or a checkpoint was refused.
public enum NoteError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case badKey(String)
    case badSignature(keyName: String)
    case noKnownSignature(names: [String], known: [String])
    case badCheckpoint(String)

    public var description: String {
        switch self {
        case .malformed(let why): "not a signed note: \(why)"
        case .badKey(let why): "not a key: \(why)"
        case .badSignature(let name): "the signature of \(name) does not verify: the note was changed, or signed with another key"
        case .noKnownSignature(let names, let known):
            "no signature by a known key: the note is signed by \(names.joined(separator: ", ")), the known keys are \(known.joined(separator: ", "))"
        case .badCheckpoint(let why): "not a checkpoint: \(why)"
        }
    }
}

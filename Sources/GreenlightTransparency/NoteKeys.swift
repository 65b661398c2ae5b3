import Crypto
import Foundation

/// What a note key's signatures are: the byte that begins its key in a `vkey` and goes into its key ID.
public enum NoteKeyType: UInt8, Sendable, Hashable {
    /// A log's (or anyone's) Ed25519 signature of the note's text (`signed-note`).
    case ed25519 = 0x01
    /// A witness's C2SP `tlog-cosignature` v1: Ed25519 over "cosignature/v1", the time, and the checkpoint, the
    /// signature prefixed by that time (8 bytes, big-endian).
    case cosignatureV1 = 0x04
}

/// A public key that checks notes, in the `vkey` form Go's `golang.org/x/mod/sumdb/note` reads:
/// `<name>+<key ID, 8 hex digits>+<base64(type ‖ 32-byte Ed25519 public key)>`, the type 0x01 for a log's key and
/// 0x04 for a witness's (``NoteKeyType``).
///
/// The key ID is the first four bytes of SHA-256(name ‖ "\n" ‖ type ‖ public key), so a key given with a name or an
/// ID that does not belong to it is refused when read, not when a signature fails to verify.
public struct NoteVerifierKey: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let keyID: UInt32
    public let type: NoteKeyType
    let publicKey: Curve25519.Signing.PublicKey
    private let rawKey: [UInt8]

    init(name: String, type: NoteKeyType, publicKey: Curve25519.Signing.PublicKey) {
        self.name = name
        self.type = type
        self.publicKey = publicKey
        rawKey = Array(publicKey.rawRepresentation)
        keyID = Self.keyID(name: name, type: type.rawValue, key: rawKey)
    }

    /// Reads a `vkey`; throws saying which part is wrong.
    public init(_ text: some StringProtocol) throws(NoteError) {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // The base64 may hold '+' itself: only the first two separate.
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .badKey("a verifier key is '<name>+<8 hex digits>+<base64 key>', got '\(text.prefix(80))'") }
        let (name, id, encoded) = (String(parts[0]), parts[1], String(parts[2]))
        guard Self.isValidName(name) else { throw .badKey("the key name '\(name.prefix(80))' is empty or holds a space or '+'") }
        guard id.utf8.count == 8, id.utf8.allSatisfy(\.isLowercaseHexDigit), let declared = UInt32(id, radix: 16) else {
            throw .badKey("the key ID '\(id.prefix(20))' of \(name) is not 8 lowercase hexadecimal digits")
        }
        guard let blob = StrictBase64.decode(encoded) else { throw .badKey("the key of \(name) is not base64") }
        guard let type = blob.first.flatMap(NoteKeyType.init(rawValue:)), blob.count == 33 else {
            throw .badKey("the key of \(name) is not an Ed25519 key (type 0x01, or 0x04 for a witness, and 32 bytes)")
        }
        guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: blob.dropFirst()) else {
            throw .badKey("the key of \(name) is not an Ed25519 public key")
        }
        self.init(name: name, type: type, publicKey: publicKey)
        guard keyID == declared else {
            throw .badKey("the key ID \(id) of \(name) does not match its key (which has \(Self.hex(keyID)))")
        }
    }

    /// The `vkey` text.
    public var description: String {
        "\(name)+\(Self.hex(keyID))+\(Data([type.rawValue] + rawKey).base64EncodedString())"
    }

    /// Whether `signature` is this key's over `text` (for a cosignature: over its time and `text`).
    public func isValidSignature(_ signature: NoteSignature, for text: String) -> Bool {
        guard signature.keyName.utf8.elementsEqual(name.utf8), signature.keyID == keyID else { return false }
        switch type {
        case .ed25519:
            return publicKey.isValidSignature(signature.signature, for: Array(text.utf8))
        case .cosignatureV1:
            guard let time = Self.cosignatureTime(signature) else { return false }
            return publicKey.isValidSignature(signature.signature.dropFirst(8), for: Self.cosignedMessage(text, time: time))
        }
    }

    /// The time a cosignature says it was made (seconds since the epoch), if `signature` has the form of one.
    public static func cosignatureTime(_ signature: NoteSignature) -> UInt64? {
        guard signature.signature.count == 8 + 64 else { return nil }
        let time = signature.signature.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return time <= UInt64(Int64.max) ? time : nil
    }

    /// What a `tlog-cosignature` v1 signs: its header line, its time line, then the checkpoint's text.
    static func cosignedMessage(_ text: String, time: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(time)\n".utf8) + Array(text.utf8)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.name == rhs.name && lhs.type == rhs.type && lhs.rawKey == rhs.rawKey }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(type)
        hasher.combine(rawKey)
    }

    /// A key name is not empty and holds no Unicode space and no '+'.
    static func isValidName(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && !name.unicodeScalars.contains { $0.properties.isWhitespace || $0 == "+" }
    }

    static func keyID(name: String, type: UInt8, key: [UInt8]) -> UInt32 {
        let digest = Array(SHA256.hash(data: Array(name.utf8) + [0x0A, type] + key))
        return digest.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func hex(_ id: UInt32) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// A private key that signs notes, in the form Go's `note.NewSigner` reads:
/// `PRIVATE+KEY+<name>+<key ID>+<base64(type ‖ 32-byte Ed25519 seed)>` (type 0x04 for a witness's, which Go's
/// package does not read). Never logged: ``description`` says only whose key it is.
public struct NoteSignerKey: Sendable, CustomStringConvertible {
    static let prefix = "PRIVATE+KEY+"

    public let verifier: NoteVerifierKey
    private let privateKey: Curve25519.Signing.PrivateKey
    var privateKeyForSigning: Curve25519.Signing.PrivateKey { privateKey }

    /// A new key, for a log (``NoteKeyType/ed25519``) or a witness (``NoteKeyType/cosignatureV1``) named `name`
    /// (a schema-less URL, such as `greenlight.example.com/audit`).
    public init(generatingFor name: String, type: NoteKeyType = .ed25519) throws(NoteError) {
        guard NoteVerifierKey.isValidName(name) else { throw .badKey("the key name '\(name.prefix(80))' is empty or holds a space or '+'") }
        privateKey = Curve25519.Signing.PrivateKey()
        verifier = NoteVerifierKey(name: name, type: type, publicKey: privateKey.publicKey)
    }

    /// Reads a signer key's text; throws saying which part is wrong, never quoting the key.
    public init(_ text: some StringProtocol) throws(NoteError) {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix(Self.prefix) else { throw .badKey("a signing key begins with '\(Self.prefix)'") }
        let parts = text.dropFirst(Self.prefix.count).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .badKey("a signing key is 'PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>'") }
        let (name, id) = (String(parts[0]), parts[1])
        guard NoteVerifierKey.isValidName(name) else { throw .badKey("the name of the signing key is empty or holds a space or '+'") }
        guard id.utf8.count == 8, id.utf8.allSatisfy(\.isLowercaseHexDigit), let declared = UInt32(id, radix: 16) else {
            throw .badKey("the key ID of signing key \(name) is not 8 lowercase hexadecimal digits")
        }
        guard let blob = StrictBase64.decode(parts[2]), let type = blob.first.flatMap(NoteKeyType.init(rawValue:)), blob.count == 33,
            let privateKey = try? Curve25519.Signing.PrivateKey(rawRepresentation: blob.dropFirst())
        else { throw .badKey("signing key \(name) is not base64 of type 0x01 or 0x04 and a 32-byte Ed25519 seed") }
        self.privateKey = privateKey
        verifier = NoteVerifierKey(name: name, type: type, publicKey: privateKey.publicKey)
        guard verifier.keyID == declared else { throw .badKey("the key ID of signing key \(name) does not match the key") }
    }

    /// The signer key's text: for the file that keeps it, never for a log.
    public var secretText: String {
        "\(Self.prefix)\(verifier.name)+\(NoteVerifierKey.hex(verifier.keyID))+"
            + Data([verifier.type.rawValue] + Array(privateKey.rawRepresentation)).base64EncodedString()
    }

    public var description: String { "the signing key of \(verifier.name) (\(NoteVerifierKey.hex(verifier.keyID)))" }

    /// This key's signature of `text` (a note's text, with its final newline). A log's key only: a witness's
    /// cosigns (``cosignature(for:at:)``).
    public func signature(for text: String) throws(NoteError) -> NoteSignature {
        guard verifier.type == .ed25519 else { throw .badKey("\(verifier.name)'s key is a witness's: it cosigns, with a time") }
        guard let signature = try? privateKey.signature(for: Array(text.utf8)) else { throw .badKey("Ed25519 signing failed") }
        return NoteSignature(keyName: verifier.name, keyID: verifier.keyID, signature: Array(signature))
    }

    /// A witness's `tlog-cosignature` v1 of a checkpoint's `text` at `time` (seconds since the epoch).
    public func cosignature(for text: String, at time: UInt64) throws(NoteError) -> NoteSignature {
        guard verifier.type == .cosignatureV1 else { throw .badKey("\(verifier.name)'s key is a log's: it signs, it does not cosign") }
        guard time <= UInt64(Int64.max) else { throw .badKey("a cosignature's time is at most 2^63 - 1") }
        let message = NoteVerifierKey.cosignedMessage(text, time: time)
        guard let signature = try? privateKey.signature(for: message) else { throw .badKey("Ed25519 signing failed") }
        return NoteSignature(
            keyName: verifier.name, keyID: verifier.keyID, signature: withUnsafeBytes(of: time.bigEndian, Array.init) + Array(signature))
    }

    /// `text` signed by this key, as a note.
    public func sign(_ text: String) throws(NoteError) -> SignedNote {
        guard text.hasSuffix("\n") else { throw .malformed("a note's text ends in a newline") }
        return SignedNote(text: text, signatures: [try signature(for: text)])
    }
}

extension UInt8 {
    fileprivate var isLowercaseHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
    }
}

/// Standard base64 (RFC 4648 §4) as Go's `StdEncoding` reads it: padded, and only in its one canonical spelling —
/// no extra padding, no stray bits — whatever the installed Foundation tolerates.
enum StrictBase64 {
    static func decode(_ text: some StringProtocol) -> Data? {
        let text = String(text)
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
        return data
    }
}

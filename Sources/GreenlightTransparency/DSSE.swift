import Crypto
import Foundation

/// A DSSE envelope (secure-systems-lab/dsse, v1.0): a payload, its type, and signatures over the pre-authentication
/// encoding `PAE(type, payload)` = "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload, so that a signature binds
/// the type as well as the bytes. Greenlight signs with the log's Ed25519 key; the signature's `keyid` is the key's
/// name and ID (`<name>+<8 hex digits>`), the first two parts of its `vkey`.
public struct DSSEEnvelope: Sendable, Equatable, Codable {
    public struct Signature: Sendable, Equatable, Codable {
        public var keyid: String
        public var sig: String
    }

    /// base64 of the payload's bytes.
    public var payload: String
    public var payloadType: String
    public var signatures: [Signature]

    /// The encoding every signature covers.
    public static func preAuthenticationEncoding(type: String, payload: [UInt8]) -> [UInt8] {
        Array("DSSEv1 \(type.utf8.count) \(type) \(payload.count) ".utf8) + payload
    }

    /// `payload` of `type`, signed by `key` (a log's key).
    public init(payload: [UInt8], type: String, signedBy key: NoteSignerKey) throws(NoteError) {
        guard key.verifier.type == .ed25519 else { throw .badKey("a DSSE envelope is signed with a log's key, not a witness's") }
        let signature = try key.rawSignature(for: Self.preAuthenticationEncoding(type: type, payload: payload))
        self.payload = Data(payload).base64EncodedString()
        payloadType = type
        signatures = [Signature(keyid: Self.keyID(of: key.verifier), sig: Data(signature).base64EncodedString())]
    }

    /// The `keyid` Greenlight writes for `key`.
    public static func keyID(of key: NoteVerifierKey) -> String { "\(key.name)+\(NoteVerifierKey.hex(key.keyID))" }

    /// The payload, if a signature of `key` verifies over it; throws otherwise.
    public func verifiedPayload(key: NoteVerifierKey) throws(NoteError) -> [UInt8] {
        guard let bytes = StrictBase64.decode(payload) else { throw .malformed("the envelope's payload is not base64") }
        let encoding = Self.preAuthenticationEncoding(type: payloadType, payload: Array(bytes))
        let mine = signatures.filter { $0.keyid == Self.keyID(of: key) }
        guard !mine.isEmpty else {
            throw .noKnownSignature(names: signatures.map(\.keyid), known: [Self.keyID(of: key)])
        }
        for signature in mine {
            guard let raw = StrictBase64.decode(signature.sig), key.publicKey.isValidSignature(raw, for: encoding) else {
                throw .badSignature(keyName: key.name)
            }
        }
        return Array(bytes)
    }
}

extension NoteSignerKey {
    /// An Ed25519 signature of `bytes` as they are: for DSSE, whose encoding is not a note.
    func rawSignature(for bytes: [UInt8]) throws(NoteError) -> [UInt8] {
        guard let signature = try? privateKeyForSigning.signature(for: bytes) else { throw .badKey("Ed25519 signing failed") }
        return Array(signature)
    }
}

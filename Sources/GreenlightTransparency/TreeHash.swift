import Crypto
import Foundation

/// A SHA-256 hash in a Merkle tree: a leaf's, an interior node's, or a whole tree's root.
public struct TreeHash: Hashable, Sendable, CustomStringConvertible {
    /// Always 32 bytes.
    public let bytes: [UInt8]

    /// `nil` unless `bytes` is 32 bytes long.
    public init?(bytes: some Sequence<UInt8>) {
        let bytes = Array(bytes)
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    public init(digest: SHA256.Digest) {
        bytes = Array(digest)
    }

    /// The hash written as 64 hexadecimal digits (either case), as the test vectors of RFC 6962 implementations are.
    public init?(hex: String) {
        self.init(hexBytes: hex.utf8)
    }

    /// ``init(hex:)`` from the digits' bytes.
    public init?(hexBytes: some Collection<UInt8>) {
        guard hexBytes.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for character in hexBytes {
            guard let nibble = Self.nibble(character) else { return nil }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        self.bytes = bytes
    }

    /// The hash in standard base64 (RFC 4648 §4, padded), as a checkpoint's root line and a proof's lines hold it.
    public init?(base64: some StringProtocol) {
        guard base64.utf8.count == 44, let data = StrictBase64.decode(base64) else { return nil }
        self.init(bytes: data)
    }

    public var base64: String { Data(bytes).base64EncodedString() }

    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public var description: String { hex }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

import Crypto
import Foundation
import GreenlightCore

/// Why a request claiming to come from Slack was refused.
public enum SlackSignatureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `X-Slack-Signature` or `X-Slack-Request-Timestamp` is missing.
    case missingHeaders
    /// The timestamp is not a whole number of seconds.
    case malformedTimestamp(String)
    /// The timestamp is more than five minutes from now: a replay, or a badly wrong clock.
    case stale(skewSeconds: Int64)
    /// The signature is not `v0=` and 64 hexadecimal characters, or does not match the body.
    case mismatch

    /// A short machine-readable reason, for the audit record of the refused request.
    public var code: String {
        switch self {
        case .missingHeaders: "unsigned"
        case .malformedTimestamp: "malformed_timestamp"
        case .stale: "stale"
        case .mismatch: "forged"
        }
    }

    public var description: String {
        switch self {
        case .missingHeaders: "missing X-Slack-Signature or X-Slack-Request-Timestamp"
        case .malformedTimestamp(let value): "X-Slack-Request-Timestamp '\(value.prefix(40))' is not a Unix time"
        case .stale(let skew): "the request is \(abs(skew)) s from now; Slack requests older or newer than 300 s are refused"
        case .mismatch: "the signature does not match the body and the signing secret"
        }
    }
}

/// Verifies Slack's request signatures (`X-Slack-Signature`, version `v0`) on the raw body, as Slack specifies:
/// `v0=` + hex(HMAC-SHA256(signing secret as UTF-8, "v0:" + timestamp + ":" + body)), with the timestamp within five
/// minutes of now. The comparison is HMAC's constant-time check, never a string comparison.
public struct SlackRequestVerifier: Sendable {
    /// The largest accepted difference between the request's timestamp and now; exactly 300 s passes, as in Slack's SDKs.
    public static let maximumSkew: Int64 = 300

    private let key: SymmetricKey
    private let clock: any WallClock

    /// - Parameter signingSecret: the app's signing secret, used as UTF-8 text (not hex-decoded).
    public init(signingSecret: String, clock: any WallClock) {
        self.key = SymmetricKey(data: Data(signingSecret.utf8))
        self.clock = clock
    }

    /// Accepts the request or says why not. `body` is the raw body as received, before any decoding.
    public func verify(body: some DataProtocol, timestamp: String?, signature: String?) throws(SlackSignatureError) {
        guard let timestamp, let signature else { throw .missingHeaders }
        // At most 12 digits: a Unix time for the next 30,000 years, and no way to overflow the subtraction below.
        guard (1...12).contains(timestamp.utf8.count), timestamp.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let seconds = Int64(timestamp)
        else { throw .malformedTimestamp(timestamp) }
        let skew = Int64(clock.now().timeIntervalSince1970.rounded(.down)) - seconds
        guard abs(skew) <= Self.maximumSkew else { throw .stale(skewSeconds: skew) }
        guard signature.hasPrefix("v0="), let mac = Self.bytes(fromHex: signature.dropFirst(3)), mac.count == SHA256.byteCount else {
            throw .mismatch
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.baseString(timestamp: timestamp, body: body), using: key) else {
            throw .mismatch
        }
    }

    /// The signature Slack would send for `body` at `timestamp` (for the simulator and tests).
    public func signature(body: some DataProtocol, timestamp: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Self.baseString(timestamp: timestamp, body: body), using: key)
        return "v0=" + mac.hexEncoded
    }

    private static func baseString(timestamp: String, body: some DataProtocol) -> Data {
        var data = Data("v0:\(timestamp):".utf8)
        data.append(contentsOf: body)
        return data
    }

    private static func bytes(fromHex hex: Substring) -> [UInt8]? {
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

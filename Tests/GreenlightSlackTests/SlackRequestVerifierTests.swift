import Foundation
import GreenlightCore
import GreenlightSlack
import GreenlightTestSupport
import Testing

/// The vectors of protocols.md 1.2: Slack's published one, and a block_actions body made the way Slack makes them.
@Suite("Slack request signatures")
struct SlackRequestVerifierTests {
    static let secret = "8f742231b10e8888abcd99yyyzzz85a5"
    static let timestamp = "1531420618"
    static let body =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    static let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    static let blockActionsBody =
        "payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U123APPROVER%22%2C%22username%22%3A%22alice%22%2C%22team_id%22%3A%22T123%22%7D%2C%22api_app_id%22%3A%22A123%22%2C%22container%22%3A%7B%22type%22%3A%22message%22%2C%22message_ts%22%3A%221700000000.000100%22%2C%22channel_id%22%3A%22C123%22%2C%22is_ephemeral%22%3Afalse%7D%2C%22trigger_id%22%3A%22111.222.abc%22%2C%22team%22%3A%7B%22id%22%3A%22T123%22%2C%22domain%22%3A%22example%22%7D%2C%22channel%22%3A%7B%22id%22%3A%22C123%22%2C%22name%22%3A%22deploys%22%7D%2C%22message%22%3A%7B%22type%22%3A%22message%22%2C%22ts%22%3A%221700000000.000100%22%2C%22text%22%3A%22Deploy%20approval%22%7D%2C%22response_url%22%3A%22https%3A%2F%2Fhooks.slack.com%2Factions%2FT123%2F1%2Fabc%22%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22deploy_approve%22%2C%22block_id%22%3A%22gate%22%2C%22text%22%3A%7B%22type%22%3A%22plain_text%22%2C%22text%22%3A%22Approve%22%7D%2C%22value%22%3A%22gate-42%22%2C%22style%22%3A%22primary%22%2C%22type%22%3A%22button%22%2C%22action_ts%22%3A%221700000001.000200%22%7D%5D%7D"
    static let blockActionsSignature = "v0=1a513dd2bd1f185c9ff5ddd848b18c7105c6eefbc4ee25e910e3f920e6e7f1a0"

    /// A verifier whose clock reads `offset` seconds after the vector's timestamp.
    func verifier(secret: String = secret, offset: TimeInterval = 0) -> SlackRequestVerifier {
        SlackRequestVerifier(signingSecret: secret, clock: ManualWallClock(now: Date(timeIntervalSince1970: 1_531_420_618 + offset)))
    }

    @Test("Slack's published vector verifies, and signing reproduces it")
    func publishedVector() throws {
        #expect(Self.body.utf8.count == 362)
        try verifier().verify(body: Data(Self.body.utf8), timestamp: Self.timestamp, signature: Self.signature)
        #expect(verifier().signature(body: Data(Self.body.utf8), timestamp: Self.timestamp) == Self.signature)
    }

    @Test("a block_actions form body verifies on its raw, still-encoded bytes")
    func blockActionsVector() throws {
        #expect(Self.blockActionsBody.utf8.count == 1060)
        try verifier().verify(body: Data(Self.blockActionsBody.utf8), timestamp: Self.timestamp, signature: Self.blockActionsSignature)
        let decoded = Self.blockActionsBody.removingPercentEncoding ?? ""
        #expect(throws: SlackSignatureError.mismatch) {
            try verifier().verify(body: Data(decoded.utf8), timestamp: Self.timestamp, signature: Self.blockActionsSignature)
        }
    }

    @Test("one changed byte of the body fails")
    func modifiedBody() {
        var body = Array(Self.body.utf8)
        body[body.count - 1] ^= 0x01
        #expect(throws: SlackSignatureError.mismatch) { try verifier().verify(body: body, timestamp: Self.timestamp, signature: Self.signature) }
        #expect(throws: SlackSignatureError.mismatch) {
            try verifier().verify(body: Data((Self.body + "&extra=1").utf8), timestamp: Self.timestamp, signature: Self.signature)
        }
    }

    @Test("a wrong secret fails, including the secret hex-decoded")
    func wrongSecret() {
        for secret in ["8f742231b10e8888abcd99yyyzzz85a6", "", "8F742231B10E8888ABCD99YYYZZZ85A5"] {
            #expect(throws: SlackSignatureError.mismatch) {
                try verifier(secret: secret).verify(body: Data(Self.body.utf8), timestamp: Self.timestamp, signature: Self.signature)
            }
        }
    }

    @Test("a signature for another timestamp fails: the timestamp is signed")
    func timestampIsSigned() {
        #expect(throws: SlackSignatureError.mismatch) {
            try verifier(offset: 1).verify(body: Data(Self.body.utf8), timestamp: "1531420619", signature: Self.signature)
        }
    }

    @Test("missing headers and malformed values are refused")
    func missingAndMalformed() {
        let body = Data(Self.body.utf8)
        #expect(throws: SlackSignatureError.missingHeaders) { try verifier().verify(body: body, timestamp: nil, signature: Self.signature) }
        #expect(throws: SlackSignatureError.missingHeaders) { try verifier().verify(body: body, timestamp: Self.timestamp, signature: nil) }
        #expect(throws: SlackSignatureError.malformedTimestamp("soon")) {
            try verifier().verify(body: body, timestamp: "soon", signature: Self.signature)
        }
        // Values that would overflow the skew arithmetic (and crash a careless server) before the signature is checked.
        for timestamp in ["-9223372036854775808", "9223372036854775807", "-1", "+1531420618", " 1531420618", "", "1531420618000000"] {
            #expect(throws: SlackSignatureError.malformedTimestamp(timestamp)) {
                try verifier().verify(body: body, timestamp: timestamp, signature: Self.signature)
            }
        }
        for signature in [
            "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v1=a2114d57", "v0=zz", "v0=" + String(repeating: "0", count: 64), "",
        ] {
            #expect(throws: SlackSignatureError.mismatch) { try verifier().verify(body: body, timestamp: Self.timestamp, signature: signature) }
        }
    }

    @Test(
        "timestamps more than 300 s in the past or future are refused; exactly 300 s passes",
        arguments: [
            (300.0, true), (-300, true), (300.9, true), (301, false), (-301, false), (86_400, false),
        ])
    func replayWindow(offset: TimeInterval, accepted: Bool) {
        let check = { try verifier(offset: offset).verify(body: Data(Self.body.utf8), timestamp: Self.timestamp, signature: Self.signature) }
        if accepted {
            #expect(throws: Never.self, performing: check)
        } else {
            #expect(throws: SlackSignatureError.self, performing: check)
        }
    }
}

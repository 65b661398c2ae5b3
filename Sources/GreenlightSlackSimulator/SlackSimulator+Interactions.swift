import AsyncHTTPClient
import Foundation
import GreenlightCore
import NIOCore

extension SlackSimulator {
    /// A `view_submission` payload for `user` submitting the modal `callbackID` opened with `privateMetadata`, with
    /// `values` by block id and action id (as `view.state.values` carries them).
    public static func viewSubmission(user: String, callbackID: String, privateMetadata: String, values: [String: [String: String]]) -> JSONValue {
        let state = values.mapValues { inputs in
            JSONValue.object(inputs.mapValues { .object(["type": .string("plain_text_input"), "value": .string($0)]) })
        }
        return .object([
            "type": .string("view_submission"),
            "user": .object(["id": .string(user), "username": .string(user.lowercased()), "team_id": .string("T0SIM")]),
            "api_app_id": .string("A0SIM"),
            "team": .object(["id": .string("T0SIM"), "domain": .string("simulator")]),
            "trigger_id": .string("333.444.trigger"),
            "view": .object([
                "id": .string("V0SIM"), "type": .string("modal"), "callback_id": .string(callbackID),
                "private_metadata": .string(privateMetadata), "state": .object(["values": .object(state)]),
            ]),
        ])
    }

    /// The answer Greenlight gave to a delivered interaction.
    public struct Delivered: Sendable {
        public var status: Int
        public var body: String
    }

    /// POSTs `payload` to `url` (Greenlight's `/slack/interactions`) the way Slack does: form-encoded and signed at
    /// `timestamp`. `signature` replaces the computed signature, to play a forger.
    public func deliver(_ payload: JSONValue, to url: String, at timestamp: Date = Date(), signature: String? = nil) async throws -> Delivered {
        let signed = try signedRequest(payload: payload, timestamp: timestamp)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in signed.headers {
            request.headers.add(name: name, value: name == "X-Slack-Signature" ? (signature ?? value) : value)
        }
        request.body = .bytes(ByteBuffer(string: signed.body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Delivered(status: Int(response.status.code), body: String(buffer: body))
    }
}

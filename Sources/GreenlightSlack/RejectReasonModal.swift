import Foundation
import GreenlightCore

/// The modal that asks for a reason when someone clicks Reject: a rejection without a reason leaves the pipeline's
/// owner guessing, so the card's Reject button opens this (`views.open`) and the vote is recorded when it is submitted.
public enum RejectReasonModal {
    /// The `callback_id` of the modal, which tells its `view_submission` apart from any other.
    public static let callbackID = "gate_reject_reason"
    /// Where the reason is in the submission's values: `block_id.action_id`.
    public static let reasonKey = "reason.reason"

    /// What the modal carries through Slack, in `private_metadata`: the gate, and the card the click came from (where
    /// a refusal is then told).
    public struct Context: Sendable, Equatable, Codable {
        public var gate: String
        public var channel: String?
        public var ts: String?

        public init(gate: String, channel: String?, ts: String?) {
            self.gate = gate
            self.channel = channel
            self.ts = ts
        }

        /// The context as `private_metadata` text.
        public var encoded: String { SlackJSON.string(self) }

        /// The context a submission carries back, or `nil` when it is not one of ours.
        public static func decode(_ metadata: String) -> Context? {
            try? JSONDecoder().decode(Context.self, from: Data(metadata.utf8))
        }
    }

    /// The `view` argument of `views.open` for rejecting `gate`.
    public static func view(for gate: Gate, context: Context) -> JSONValue {
        let target = SlackText.escape("\(gate.request.service) → \(gate.request.environment)")
        let intro = "Reject deploying *\(target)* (`\(SlackText.escape(String(gate.request.artifact.suffix(80))))`)? One reject decides the gate."
        return .object([
            "type": .string("modal"),
            "callback_id": .string(callbackID),
            "private_metadata": .string(context.encoded),
            // Modal titles are limited to 24 characters.
            "title": plain("Reject deploy"),
            "submit": plain("Reject"),
            "close": plain("Cancel"),
            "blocks": .array([
                .object([
                    "type": .string("section"), "text": .object(["type": .string("mrkdwn"), "text": .string(SlackText.truncate(intro, to: 3_000))]),
                ]),
                .object([
                    "type": .string("input"),
                    "block_id": .string("reason"),
                    "label": plain("Why are you rejecting it?"),
                    "element": .object([
                        "type": .string("plain_text_input"), "action_id": .string("reason"), "multiline": .bool(true),
                        // plain_text_input allows at most 3,000 characters; a vote's comment may hold 4,000.
                        "max_length": .number(3_000),
                    ]),
                ]),
            ]),
        ])
    }

    private static func plain(_ text: String) -> JSONValue {
        .object(["type": .string("plain_text"), "text": .string(text)])
    }
}

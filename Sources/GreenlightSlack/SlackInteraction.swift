import Foundation
import GreenlightCore

/// Why an interaction request's body could not be read. Each says what was wrong and where.
public enum SlackInteractionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body has no `payload=` form field.
    case noPayload
    /// The payload is not a JSON object.
    case invalidJSON
    /// A field the interaction needs is missing or of the wrong type (a dotted path: `actions[0].value`).
    case missingField(String)
    /// An interaction type Greenlight does not handle (`shortcut`, `message_action`, …).
    case unsupportedType(String)

    public var description: String {
        switch self {
        case .noPayload: "the body has no 'payload' form field"
        case .invalidJSON: "the 'payload' field is not a JSON object"
        case .missingField(let path): "the payload lacks '\(path)'"
        case .unsupportedType(let type): "interactions of type '\(type)' are not handled"
        }
    }
}

/// What a person did in Slack, as far as Greenlight cares.
public enum SlackInteraction: Sendable, Equatable {
    /// A button on a message (`block_actions`).
    case buttonClick(ButtonClick)
    /// A modal submitted (`view_submission`): the reject-reason dialog.
    case viewSubmission(ViewSubmission)

    /// A button click: who, which button (action and value), on which message.
    public struct ButtonClick: Sendable, Equatable {
        public var userID: String
        public var userName: String?
        public var teamID: String?
        public var actionID: String
        public var value: String
        public var actionTS: String?
        public var channelID: String?
        public var messageTS: String?
        public var triggerID: String?

        /// Identifies one click however often Slack delivers it: (user, message, action, action time).
        public var deliveryKey: String {
            [userID, messageTS ?? "-", actionID, actionTS ?? "-"].joined(separator: "|")
        }
    }

    /// A submitted modal: its callback id, the private metadata it was opened with, and its input values by
    /// `block_id.action_id`.
    public struct ViewSubmission: Sendable, Equatable {
        public var userID: String
        public var viewID: String?
        public var callbackID: String
        public var privateMetadata: String
        public var values: [String: String]
    }

    /// Reads an interaction from the raw form body Slack POSTs: `payload=<url-encoded JSON>`. Verify the signature on
    /// the same raw bytes first.
    public static func decode(formBody: some DataProtocol) throws(SlackInteractionError) -> SlackInteraction {
        let body = String(decoding: formBody, as: UTF8.self)
        guard
            let field = body.split(separator: "&").first(where: { $0.hasPrefix("payload=") }),
            let json = field.dropFirst("payload=".count).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        else { throw .noPayload }
        guard let payload = try? JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8)) else { throw .invalidJSON }
        return try decode(payload: payload)
    }

    /// Reads an interaction from its decoded JSON payload (as Socket Mode delivers it).
    public static func decode(payload: [String: JSONValue]) throws(SlackInteractionError) -> SlackInteraction {
        let type = try string(payload, "type")
        let user = try object(payload, "user")
        let userID = try string(user, "id", path: "user.id")
        switch type {
        case "block_actions":
            guard case .array(let actions)? = payload["actions"], case .object(let action)? = actions.first else {
                throw .missingField("actions[0]")
            }
            var container: [String: JSONValue] = [:]
            if case .object(let fields)? = payload["container"] { container = fields }
            return .buttonClick(
                ButtonClick(
                    userID: userID,
                    userName: user["username"]?.stringValue ?? user["name"]?.stringValue,
                    teamID: user["team_id"]?.stringValue,
                    actionID: try string(action, "action_id", path: "actions[0].action_id"),
                    value: try string(action, "value", path: "actions[0].value"),
                    actionTS: action["action_ts"]?.stringValue,
                    channelID: container["channel_id"]?.stringValue,
                    messageTS: container["message_ts"]?.stringValue,
                    triggerID: payload["trigger_id"]?.stringValue
                ))
        case "view_submission":
            let view = try object(payload, "view")
            var values: [String: String] = [:]
            if case .object(let state)? = view["state"], case .object(let blocks)? = state["values"] {
                for (blockID, block) in blocks {
                    guard case .object(let inputs) = block else { continue }
                    for (actionID, input) in inputs {
                        if case .object(let fields) = input, let value = fields["value"]?.stringValue { values["\(blockID).\(actionID)"] = value }
                    }
                }
            }
            return .viewSubmission(
                ViewSubmission(
                    userID: userID,
                    viewID: view["id"]?.stringValue,
                    callbackID: try string(view, "callback_id", path: "view.callback_id"),
                    privateMetadata: view["private_metadata"]?.stringValue ?? "",
                    values: values
                ))
        default:
            throw .unsupportedType(type)
        }
    }

    private static func string(_ object: [String: JSONValue], _ key: String, path: String? = nil) throws(SlackInteractionError) -> String {
        guard let value = object[key]?.stringValue, !value.isEmpty else { throw .missingField(path ?? key) }
        return value
    }

    private static func object(_ object: [String: JSONValue], _ key: String) throws(SlackInteractionError) -> [String: JSONValue] {
        guard case .object(let fields)? = object[key] else { throw .missingField(key) }
        return fields
    }
}

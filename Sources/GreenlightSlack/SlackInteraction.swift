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
        guard let json = FormField.value(of: "payload", in: Array(formBody)) else { throw .noPayload }
        return try decode(json: Data(json))
    }

    /// Reads an interaction from its decoded JSON payload (as Socket Mode delivers it).
    public static func decode(payload: [String: JSONValue]) throws(SlackInteractionError) -> SlackInteraction {
        guard let json = try? JSONEncoder().encode(payload) else { throw .invalidJSON }
        return try decode(json: json)
    }

    /// Reads the fields Greenlight uses straight into typed values: decoding the whole payload into `JSONValue`s
    /// first cost more than everything else a click does.
    static func decode(json: Data) throws(SlackInteractionError) -> SlackInteraction {
        let payload: Payload
        do {
            payload = try JSONDecoder().decode(Payload.self, from: json)
        } catch {
            throw .invalidJSON
        }
        let type = try required(payload.type, "type")
        let user = try required(payload.user, "user")
        let userID = try required(user.id, "user.id")
        switch type {
        case "block_actions":
            let action = try required(payload.actions?.first, "actions[0]")
            return .buttonClick(
                ButtonClick(
                    userID: userID,
                    userName: user.username ?? user.name,
                    teamID: user.team_id,
                    actionID: try required(action.action_id, "actions[0].action_id"),
                    value: try required(action.value, "actions[0].value"),
                    actionTS: action.action_ts,
                    channelID: payload.container?.channel_id,
                    messageTS: payload.container?.message_ts,
                    triggerID: payload.trigger_id
                ))
        case "view_submission":
            let view = try required(payload.view, "view")
            var values: [String: String] = [:]
            for (blockID, inputs) in view.state?.values ?? [:] {
                for (actionID, input) in inputs {
                    if let value = input.value { values["\(blockID).\(actionID)"] = value }
                }
            }
            return .viewSubmission(
                ViewSubmission(
                    userID: userID,
                    viewID: view.id,
                    callbackID: try required(view.callback_id, "view.callback_id"),
                    privateMetadata: view.private_metadata ?? "",
                    values: values
                ))
        default:
            throw .unsupportedType(type)
        }
    }

    private static func required<T>(_ value: T?, _ path: String) throws(SlackInteractionError) -> T {
        guard let value else { throw .missingField(path) }
        if let text = value as? String, text.isEmpty { throw .missingField(path) }
        return value
    }

    /// The parts of an interaction payload Greenlight reads, named as Slack names them (protocols.md 2.2). Every field
    /// is optional here, so that a missing one is reported by its path rather than as unreadable JSON.
    struct Payload: Decodable {
        struct User: Decodable {
            var id: String?
            var username: String?
            var name: String?
            var team_id: String?
        }
        struct Container: Decodable {
            var channel_id: String?
            var message_ts: String?
        }
        struct Action: Decodable {
            var action_id: String?
            var value: String?
            var action_ts: String?
        }
        struct View: Decodable {
            struct State: Decodable {
                var values: [String: [String: Input]]?
            }
            /// One input's state: a text input has `value`; other kinds (selects, dates) have other keys, not read.
            struct Input: Decodable {
                var value: String?
            }
            var id: String?
            var callback_id: String?
            var private_metadata: String?
            var state: State?
        }
        var type: String?
        var user: User?
        var trigger_id: String?
        var container: Container?
        var actions: [Action]?
        var view: View?
    }
}

/// Reads one field of an `application/x-www-form-urlencoded` body, on bytes: `+` is a space and `%XX` a byte, as the
/// form rules say. (Foundation's percent decoding goes through `NSString`, and cost more than the vote.)
enum FormField {
    static func value(of name: String, in body: [UInt8]) -> [UInt8]? {
        let key = Array(name.utf8) + [UInt8(ascii: "=")]
        for field in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) where field.starts(with: key) {
            return decode(field.dropFirst(key.count))
        }
        return nil
    }

    /// The bytes `encoded` stands for, or `nil` when a `%` is not followed by two hexadecimal digits.
    static func decode(_ encoded: ArraySlice<UInt8>) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let byte = encoded[index]
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard encoded.endIndex - index > 2, let high = hex(encoded[index + 1]), let low = hex(encoded[index + 2])
                else { return nil }
                bytes.append(high << 4 | low)
                index += 2
            default:
                bytes.append(byte)
            }
            index += 1
        }
        return bytes
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

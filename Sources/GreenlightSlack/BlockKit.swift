import Foundation

/// The part of Slack's Block Kit that Greenlight's messages use, as values that encode to Slack's JSON.
public enum Block: Sendable, Equatable, Encodable {
    case header(TextObject)
    case section(text: TextObject?, fields: [TextObject])
    case context([TextObject])
    case actions(blockID: String, elements: [Button])
    case divider

    enum CodingKeys: String, CodingKey {
        case type, text, fields, elements
        case blockID = "block_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .header(let text):
            try container.encode("header", forKey: .type)
            try container.encode(text, forKey: .text)
        case .section(let text, let fields):
            try container.encode("section", forKey: .type)
            try container.encodeIfPresent(text, forKey: .text)
            if !fields.isEmpty { try container.encode(fields, forKey: .fields) }
        case .context(let elements):
            try container.encode("context", forKey: .type)
            try container.encode(elements, forKey: .elements)
        case .actions(let blockID, let elements):
            try container.encode("actions", forKey: .type)
            try container.encode(blockID, forKey: .blockID)
            try container.encode(elements, forKey: .elements)
        case .divider:
            try container.encode("divider", forKey: .type)
        }
    }
}

/// A text object: `plain_text` (shown as written) or `mrkdwn` (Slack's markup; see ``SlackText/escape(_:)``).
public struct TextObject: Sendable, Equatable, Encodable {
    public enum Kind: String, Sendable, Encodable {
        case plainText = "plain_text"
        case mrkdwn
    }

    public var type: Kind
    public var text: String

    public init(type: Kind, text: String) {
        self.type = type
        self.text = text
    }

    public static func plain(_ text: String) -> TextObject { TextObject(type: .plainText, text: text) }
    public static func mrkdwn(_ text: String) -> TextObject { TextObject(type: .mrkdwn, text: text) }
}

/// A button of an `actions` block.
public struct Button: Sendable, Equatable, Encodable {
    public enum Style: String, Sendable, Encodable {
        case primary
        case danger
    }

    public var actionID: String
    public var text: TextObject
    public var value: String
    public var style: Style?
    public var confirm: ConfirmationDialog?

    public init(actionID: String, text: TextObject, value: String, style: Style? = nil, confirm: ConfirmationDialog? = nil) {
        self.actionID = actionID
        self.text = text
        self.value = value
        self.style = style
        self.confirm = confirm
    }

    enum CodingKeys: String, CodingKey {
        case type, text, value, style, confirm
        case actionID = "action_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("button", forKey: .type)
        try container.encode(actionID, forKey: .actionID)
        try container.encode(text, forKey: .text)
        try container.encode(value, forKey: .value)
        try container.encodeIfPresent(style, forKey: .style)
        try container.encodeIfPresent(confirm, forKey: .confirm)
    }
}

/// The "are you sure?" dialog Slack shows before a button's action is sent: a guard against fat fingers on a phone.
public struct ConfirmationDialog: Sendable, Equatable, Encodable {
    public var title: TextObject
    public var text: TextObject
    public var confirm: TextObject
    public var deny: TextObject
    public var style: Button.Style?

    public init(title: TextObject, text: TextObject, confirm: TextObject, deny: TextObject, style: Button.Style? = nil) {
        self.title = title
        self.text = text
        self.confirm = confirm
        self.deny = deny
        self.style = style
    }
}

/// A message for `chat.postMessage` / `chat.update`: `text` is the fallback shown in notifications. A message without
/// `blocks` (a thread reply) is plain text; `chat.update` with an empty `blocks` removes the old ones.
public struct SlackMessage: Sendable, Equatable, Encodable {
    public var channel: String?
    public var text: String
    public var blocks: [Block]?

    public init(channel: String?, text: String, blocks: [Block]?) {
        self.channel = channel
        self.text = text
        self.blocks = blocks
    }
}

/// The JSON encoding of everything sent to Slack: UTF-8, slashes unescaped (so URLs read as written in logs and
/// recordings), keys sorted so that equal messages encode to equal bytes.
public enum SlackJSON {
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return try encoder.encode(value)
    }

    /// The encoding as text, for values that travel inside a string (`private_metadata`, an outbox payload). Values of
    /// plain strings and numbers cannot fail to encode; `{}` stands for the impossible failure.
    public static func string(_ value: some Encodable) -> String {
        (try? encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

import Foundation

/// A way Greenlight tells people about a gate: Slack today; e-mail, webhooks and GitHub to come. The raw value is
/// stored with every piece of outbound work: never rename one.
public struct NotificationChannel: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    /// A Slack channel, through the bot's Web API.
    public static let slack = NotificationChannel("slack")
}

/// Where a gate's notices go, frozen into its plan from the policy when it opens: a channel and an address on it (a
/// Slack channel id; later an e-mail address, a webhook's URL).
public struct NotificationTarget: Hashable, Sendable {
    public var channel: NotificationChannel
    public var address: String

    public init(channel: NotificationChannel, address: String) {
        self.channel = channel
        self.address = address
    }

    /// The Slack channel `id`.
    public static func slack(_ id: String) -> NotificationTarget { NotificationTarget(channel: .slack, address: id) }
}

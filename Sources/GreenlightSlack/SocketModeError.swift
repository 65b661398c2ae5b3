/// Why the Socket Mode client gave up: Slack refused the app-level token in a way no retry can fix. Every other
/// failure (network, 5xx, rate limits, dropped sockets) is retried by the client itself.
public enum SocketModeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `apps.connections.open` answered with one of `unrecoverableCodes`.
    case appTokenRefused(code: String)

    /// The `apps.connections.open` error codes that mean the token or the workspace must be fixed by a person
    /// (node-slack-sdk stops on the same ones, plus `not_allowed_token_type` for a bot token given by mistake).
    public static let unrecoverableCodes: Set<String> = [
        "not_authed", "invalid_auth", "account_inactive", "user_removed_from_team", "team_disabled", "not_allowed_token_type",
    ]

    public var description: String {
        switch self {
        case .appTokenRefused(let code):
            switch code {
            case "not_authed":
                "SLACK_APP_TOKEN was refused by Slack (not_authed): no token reached Slack; set SLACK_APP_TOKEN to an app-level token (xapp-…)"
            case "not_allowed_token_type":
                "SLACK_APP_TOKEN was refused by Slack (not_allowed_token_type): it must be an app-level token (xapp-…), not the bot token; "
                    + "create one with the connections:write scope under Basic Information → App-Level Tokens"
            case "account_inactive", "user_removed_from_team", "team_disabled":
                "SLACK_APP_TOKEN was refused by Slack (\(code)): the app or its workspace is no longer active; reinstall the app and "
                    + "create a new app-level token with connections:write"
            default:
                "SLACK_APP_TOKEN was refused by Slack (\(code)); create an app-level token (xapp-…) with the connections:write scope "
                    + "under Basic Information → App-Level Tokens, and check that Socket Mode is enabled"
            }
        }
    }
}

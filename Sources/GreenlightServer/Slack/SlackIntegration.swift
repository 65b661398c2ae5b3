import GreenlightCore
import GreenlightSlack

/// Everything Slack needs in the server, set up from `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`, `SLACK_APP_TOKEN` and
/// the policy.
public struct SlackIntegration: Sendable {
    /// The bot's Web API (`xoxb-`): cards, ephemeral messages, threads, the reason modal, user groups.
    public var api: SlackWebAPI
    public var directory: SlackDirectory
    /// Verifies `POST /slack/interactions`; without it the route answers 404 saying what to set.
    public var verifier: SlackRequestVerifier?
    /// Receives interactions over Socket Mode (`SLACK_APP_TOKEN`), instead of or beside the HTTP route.
    public var socketMode: SocketModeClient?
    /// Where verified interactions wait for ``SlackApprovals``.
    public var inbox: SlackInteractionInbox

    public init(
        api: SlackWebAPI, directory: SlackDirectory, verifier: SlackRequestVerifier?, socketMode: SocketModeClient? = nil,
        inbox: SlackInteractionInbox = SlackInteractionInbox()
    ) {
        self.api = api
        self.directory = directory
        self.verifier = verifier
        self.socketMode = socketMode
        self.inbox = inbox
    }
}

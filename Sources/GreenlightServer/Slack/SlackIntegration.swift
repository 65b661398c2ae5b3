import GreenlightCore
import GreenlightSlack

/// Everything Slack needs in the server, set up from `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET` and the policy.
public struct SlackIntegration: Sendable {
    /// The bot's Web API (`xoxb-`): cards, ephemeral messages, threads, the reason modal, user groups.
    public var api: SlackWebAPI
    public var directory: SlackDirectory
    /// Verifies `POST /slack/interactions`; without it the route answers 404 saying what to set.
    public var verifier: SlackRequestVerifier?
    /// Where verified interactions wait for ``SlackApprovals``.
    public var inbox: SlackInteractionInbox

    public init(api: SlackWebAPI, directory: SlackDirectory, verifier: SlackRequestVerifier?, inbox: SlackInteractionInbox = SlackInteractionInbox())
    {
        self.api = api
        self.directory = directory
        self.verifier = verifier
        self.inbox = inbox
    }
}

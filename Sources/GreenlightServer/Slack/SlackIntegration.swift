import GreenlightCore
import GreenlightSlack
import GreenlightStore
import Logging

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
    /// Clicks seen lately, to handle a click Slack delivers twice once.
    let seen = WriteOnceMemo<String, Void>(capacity: 10_000)

    public init(
        api: SlackWebAPI, directory: SlackDirectory, verifier: SlackRequestVerifier?, socketMode: SocketModeClient? = nil
    ) {
        self.api = api
        self.directory = directory
        self.verifier = verifier
        self.socketMode = socketMode
    }
}

extension SlackIntegration {
    func approvals(gatekeeper: Gatekeeper, store: any GateRecords & GateOutbox & AuditLog, logger: Logger) -> SlackApprovals {
        SlackApprovals(gatekeeper: gatekeeper, store: store, slack: api, directory: directory, logger: logger, seen: seen)
    }
}

import GreenlightCore
import GreenlightSlack
import Logging
import ServiceLifecycle

/// Receives Slack's interactions over Socket Mode (`SLACK_APP_TOKEN`), for teams that cannot give Slack a public URL.
/// They are handled as `POST /slack/interactions` handles them, by the same rules; the WebSocket is authenticated by
/// the app-level token, so there is no request signature to check. Each interaction is acknowledged once it is
/// stored (within Slack's three seconds, as the HTTP route answers 200), and left unacknowledged when it could not be.
///
/// If Slack refuses the app token, the error is logged and Socket Mode stays off: the server, its API, the CLI and
/// the Slack cards go on, since Slack is a view (invariant 3), but the card's buttons do nothing until the token is
/// fixed.
struct SlackSocketMode: Service {
    let client: SocketModeClient
    let approvals: SlackApprovals
    let logger: Logger

    func run() async throws {
        let approvals = approvals
        let logger = logger
        do {
            try await cancelWhenGracefulShutdown {
                try await client.run { payload in
                    switch Result(catching: { () throws(SlackInteractionError) in try SlackInteraction.decode(payload: payload) }) {
                    case .success(let interaction):
                        do {
                            try await approvals.handle(interaction)
                            return true
                        } catch {
                            return false  // logged by handle; Slack shows the clicker an error
                        }
                    case .failure(.unsupportedType):
                        return true
                    case .failure(let error):
                        logger.warning("ignored a Socket Mode interaction Greenlight cannot read", metadata: ["error": "\(error)"])
                        return true
                    }
                }
            }
        } catch let error as SocketModeError {
            logger.critical("Socket Mode is off: \(error)")
            try await gracefulShutdown()
        }
    }
}

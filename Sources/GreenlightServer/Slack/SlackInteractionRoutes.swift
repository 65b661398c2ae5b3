import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
import GreenlightStore
import HTTPTypes
import Hummingbird
import Logging

/// `POST /slack/interactions`: Slack's Request URL for the card's buttons and the reason modal.
///
/// The signature is checked on the raw body before anything is decoded; a forged, stale or unsigned request is answered
/// 401 and audited (within a ``RefusalAuditBudget``), and changes nothing. A genuine one is decoded and handed to ``SlackApprovals``, and answered 200
/// once the vote is committed (a millisecond or two): a 200 then means the click is stored, and a crash cannot lose an
/// acknowledged click. One that cannot be stored within Slack's time (a database locked by another process) is
/// answered 503, which Slack shows the clicker as an error, never 200. Slack shows the clicker an error after three seconds; handling stays well inside that, the one
/// outside call (`views.open`) being bounded by the trigger's own three seconds. The vote shows on the card, and
/// refusals in an ephemeral message, not in this answer.
struct SlackInteractionRoutes {
    let verifier: SlackRequestVerifier
    let approvals: SlackApprovals
    let store: any AuditLog
    let clock: any WallClock
    let refusals = RefusalAuditBudget()

    func register(on router: Router<GreenlightRequestContext>) {
        router.post("slack/interactions", use: receive)
    }

    @Sendable func receive(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let body = Data(try await request.body.collect(upTo: context.maxUploadSize).readableBytesView)
        let timestamp = request.headers[.slackRequestTimestamp]
        let signature = request.headers[.slackSignature]
        if case .failure(let error) = Result(catching: { () throws(SlackSignatureError) in
            try verifier.verify(body: body, timestamp: timestamp, signature: signature)
        }) {
            // Audited: a forged or replayed click is evidence someone tried to decide a gate without Slack.
            let remote = context.remoteAddress ?? "unknown"
            let (admission, due) = refusals.admit(remote: remote, at: clock.now())
            if let due {
                try await store.record(AuditDraft(SlackRequestRefused(.overBudget(due)), by: .unverified, at: clock.now()))
                context.logger.warning(
                    "\(due.unwritten) refused Slack request(s) from \(due.addresses) address(es) were over the audit budget; audited as one count",
                    metadata: ["from": "\(Timestamp.format(due.from))", "top": "\(due.details["top"] ?? "")"])
            }
            switch admission {
            case .audit:
                let record = SlackRequestRefused(.request(reason: error.code, message: error.description, remote: remote))
                try await store.record(AuditDraft(record, by: .unverified, at: clock.now()))
                context.logger.warning("refused a Slack request", metadata: ["reason": "\(error)", "remote": "\(remote)"])
            case .suppress(let first):
                context.logger.log(
                    level: first ? .warning : .debug,
                    "refused a Slack request over the audit budget for refused requests: this minute's others are counted, and audited as one count",
                    metadata: ["reason": "\(error)", "remote": "\(remote)"])
            }
            throw APIError(.unauthorized, code: "invalid_slack_signature", message: error.description)
        }
        let interaction: SlackInteraction
        switch Result(catching: { () throws(SlackInteractionError) in try SlackInteraction.decode(formBody: body) }) {
        case .success(let decoded):
            interaction = decoded
        case .failure(.unsupportedType):
            // A shortcut or another surface Greenlight does not offer: acknowledge, so that nobody sees an error.
            return Response(status: .ok)
        case .failure(let error):
            throw APIError.badRequest("not a Slack interaction Greenlight can read: \(error.description)", code: "invalid_slack_payload")
        }
        do {
            try await approvals.handle(interaction)
        } catch {
            // Not a 200: Slack shows the clicker an error instead of a silently lost vote, and they can click again.
            throw APIError(.serviceUnavailable, code: "not_stored", message: error.description)
        }
        return Response(status: .ok)
    }
}

extension HTTPField.Name {
    static let slackSignature = Self("X-Slack-Signature")!
    static let slackRequestTimestamp = Self("X-Slack-Request-Timestamp")!
}

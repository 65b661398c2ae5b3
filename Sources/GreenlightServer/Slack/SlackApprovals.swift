import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
import GreenlightStore
import Logging

/// Acts on what people do with the approval card in Slack: an Approve click votes; a Reject click opens the reason
/// modal, whose submission votes; anything refused is told to the clicker alone, in an ephemeral message. The HTTP
/// route calls it before answering (so that a 200 means the vote is stored), Socket Mode after acknowledging.
///
/// A Slack click is a vote like any other: the clicking Slack user becomes a ``Principal`` through the policy
/// (`people.<name>.slack`), the ``Authorizer`` says whether they may vote at all (a Slack id the policy does not map to
/// a person, a user group member, may not decide a gate whose separation of duties names someone the policy cannot
/// resolve either: they might be the same person), and the store applies the gate's frozen rules (group, quorum,
/// separation of duties, decided already) and audits a refusal. Two checks are Slack's own: the button must be on the
/// card Greenlight posted for the gate it names (a value copied onto another message decides nothing), and a click
/// Slack delivers twice is handled once (the store's one-vote-per-person would refuse the second anyway; this spares
/// the clicker a confusing "already voted").
struct SlackApprovals: Sendable {
    let gatekeeper: Gatekeeper
    /// What a click reads and writes itself: the gate and its card's address, the audit events of refusals that are
    /// Slack's own, and the messages telling the clicker why.
    let store: any GateRecords & GateOutbox & AuditLog
    /// The bot's Web API, for `views.open`: the reason modal must open within the click's three-second trigger, so it
    /// is the one call that cannot wait in the outbox.
    let slack: SlackWebAPI
    let directory: SlackDirectory
    let logger: Logger
    /// Clicks seen lately, shared by every path a click can arrive on (HTTP, Socket Mode).
    let seen: WriteOnceMemo<String, Void>

    /// How long one of the interaction's writes may wait to be stored: Slack shows the clicker an error when no answer
    /// comes within three seconds, and a database locked by another process would hold a write for the store's whole
    /// busy timeout (10 s).
    static let answerWithin: TimeInterval = 2.5

    /// Acts on one interaction.
    ///
    /// Returns once what the interaction did is stored (a vote; a refusal and the message telling why), so that the
    /// caller may acknowledge it to Slack as stored. Throws when it could not be (a database locked by another process,
    /// a full disk): a write not begun within ``answerWithin`` is dropped, one begun is finished and answered, so
    /// nothing of the vote was written, and the caller must not acknowledge it — Slack shows the clicker an error, and
    /// a click again (or Slack's redelivery) counts, once.
    func handle(_ interaction: SlackInteraction) async throws(SlackInteractionNotStored) {
        do {
            switch interaction {
            case .buttonClick(let click): try await handle(click)
            case .viewSubmission(let submission): try await handle(submission)
            }
        } catch {
            if case .buttonClick(let click) = interaction { seen.forget(click.deliveryKey) }
            let cause = error is CancellationError ? "not stored within \(Self.answerWithin) s" : "\(error)"
            logger.error(
                "a Slack interaction could not be stored; it is not acknowledged, so the clicker sees an error and can click again",
                metadata: ["error": "\(cause)"])
            throw SlackInteractionNotStored(cause: cause)
        }
    }

    /// Runs one of the interaction's writes, giving up on it after ``answerWithin``: the group commit then drops it if
    /// it has not begun (`CancellationError`), or finishes it and answers. Reads, the card's wait and `views.open` have
    /// bounds of their own and do not count against it.
    private func storing<T: Sendable>(_ write: @escaping @Sendable () async throws -> T) async throws -> T {
        let clock = gatekeeper.clock
        let deadline = clock.now().addingTimeInterval(Self.answerWithin)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await write() }
            group.addTask {
                try? await clock.sleep(until: deadline)
                return nil
            }
            // The first to end: the write, or the deadline, after which the write is cancelled and its outcome
            // (dropped, or finished because it had begun) awaited.
            var first = try await group.next() ?? nil
            group.cancelAll()
            while first == nil, let next = try await group.next() { first = next }
            guard let first else { throw CancellationError() }
            return first
        }
    }

    /// Who clicked or submitted, as a vote needs them: the person they are as a principal, where to tell them.
    private struct Clicker {
        var person: ActingPerson
        var channel: String?

        /// The Slack user `userID`, as the policy maps them, clicking in `channel`.
        init(slackUser userID: String, directory: SlackDirectory, channel: String?) {
            person = .slack(user: userID, as: directory.identity(forSlackUser: userID))
            self.channel = channel
        }

        var principal: Principal { .person(person) }
        var slackUser: String { person.slackUser ?? person.name }
    }

    private func handle(_ click: SlackInteraction.ButtonClick) async throws {
        guard click.actionID == GateCard.approveActionID || click.actionID == GateCard.rejectActionID else { return }
        guard seen.remember((), for: click.deliveryKey) else {
            logger.debug("ignoring a repeated delivery of a Slack click", metadata: ["key": "\(click.deliveryKey)"])
            return
        }
        let clicker = Clicker(slackUser: click.userID, directory: directory, channel: click.channelID)
        let decision: VoteDecision = click.actionID == GateCard.approveActionID ? .approve : .reject
        let store = store
        let unknown = "the button names gate '\(click.value.prefix(60))', which does not exist"
        guard let id = GateID(click.value) else {
            try await refuse(clicker, decision, gate: nil, gateID: click.value, code: "unknown_gate", message: unknown)
            return
        }
        // The button must sit on the card Greenlight posted for this very gate: a value pasted onto another message
        // (or a card of a superseded run) must not decide the gate it names. The gate is read at most once here, and
        // only when needed: an approval on its own card goes straight to the vote (whose authorizer reads it for a
        // Slack account the policy does not map).
        var gate: Gate?
        var card = try await store.postedCard(for: id)
        if card == nil {
            gate = try await store.gate(id)
            guard gate != nil else {
                try await refuse(clicker, decision, gate: nil, gateID: click.value, code: "unknown_gate", message: unknown)
                return
            }
            card = try await waitForCard(of: id)
        }
        if gate == nil, card?.channel != click.channelID || card?.ts != click.messageTS || decision == .reject {
            gate = try await store.gate(id)
        }
        guard let card, card.channel == click.channelID, card.ts == click.messageTS else {
            try await refuse(
                clicker, decision, gate: gate, gateID: id.rawValue, code: "wrong_message",
                message: "this button is not on the card Greenlight posted for gate \(id); use the buttons on that card")
            return
        }
        if decision == .reject, let gate, let trigger = click.triggerID,
            (try? gate.recording(Vote(voter: clicker.person.name, decision: .reject, at: gate.createdAt))) != nil
        {
            // Whether they may vote at all is asked before they are asked for a reason.
            guard try await admitted(clicker, decision, on: gate) else { return }
            // Ask for the reason; the submission records the vote. If the modal cannot open (the trigger expired, Slack
            // is down), the reject still counts, without a comment.
            let context = RejectReasonModal.Context(gate: id.rawValue, channel: card.channel, ts: card.ts)
            do {
                try await slack.openView(triggerID: trigger, view: RejectReasonModal.view(for: gate, context: context))
                return
            } catch {
                logger.warning("the reject-reason modal did not open; recording the reject without a reason", metadata: ["error": "\(error)"])
            }
        }
        try await vote(clicker, decision, comment: nil, on: id)
    }

    /// Whether the authorizer lets `clicker` vote on `gate`; a refusal is audited (by the gatekeeper) and told.
    private func admitted(_ clicker: Clicker, _ decision: VoteDecision, on gate: Gate) async throws -> Bool {
        let (gatekeeper, principal) = (gatekeeper, clicker.principal)
        do {
            try await storing { try await gatekeeper.admitVote(decision, on: gate, by: principal) }
            return true
        } catch let refusal as AccessRefusal {
            try await tell(clicker, ThreadMessage.refusal(refusal.description, gate: gate), gate: gate.id)
            return false
        }
    }

    /// Where `gate`'s card was posted, once it is known. A click can only come from a posted card, but it can race the
    /// worker's recording of the card's address by a few milliseconds: then wait for it, a little.
    private func waitForCard(of gate: GateID, patience: TimeInterval = 2) async throws -> PostedCard? {
        let store = store
        let clock = gatekeeper.clock
        // Observed before the first read, so that a card recorded in between still rings.
        let wake = WakeSignal()
        let rings = store.changes.observeOutboxRings { wake.ring() }
        defer { rings.cancel() }
        let until = clock.now().addingTimeInterval(patience)
        while true {
            if let card = try await store.postedCard(for: gate) { return card }
            guard clock.now() < until, !Task.isCancelled else { return nil }
            await wake.sleep(until: until, on: clock)
        }
    }

    private func handle(_ submission: SlackInteraction.ViewSubmission) async throws {
        guard submission.callbackID == RejectReasonModal.callbackID, let context = RejectReasonModal.Context.decode(submission.privateMetadata),
            let id = GateID(context.gate)
        else { return }
        let clicker = Clicker(slackUser: submission.userID, directory: directory, channel: context.channel)
        try await vote(clicker, .reject, comment: submission.values[RejectReasonModal.reasonKey], on: id)
    }

    private func vote(_ clicker: Clicker, _ decision: VoteDecision, comment: String?, on id: GateID) async throws {
        let (gatekeeper, principal) = (gatekeeper, clicker.principal)
        let change: GateChange
        do {
            change = try await storing { try await gatekeeper.castVote(decision, comment: comment, on: id, by: principal) }
        } catch let refusal as AccessRefusal {
            // The gatekeeper has audited the refusal; the clicker hears why.
            try await tell(clicker, ThreadMessage.refusal(refusal.description, gate: try await store.gate(id)), gate: id)
            return
        }
        switch change {
        case .recorded(let gate):
            logger.info(
                "vote from Slack",
                metadata: [
                    "gate": "\(id)", "voter": "\(clicker.person.name)", "decision": "\(decision.rawValue)", "state": "\(gate.state.rawValue)",
                ])
        case .refused(let refusal, let gate):
            // The store has audited the refusal; the clicker hears why.
            var text = refusal.description
            if case .notAnApprover = refusal, clicker.person.isUnmappedSlackAccount {
                text +=
                    ". Your Slack account (\(clicker.slackUser)) is not linked to a person in the policy: ask for "
                    + "'slack: \(clicker.slackUser)' under your name in people"
            }
            try await tell(clicker, ThreadMessage.refusal(text, gate: gate), gate: id)
        }
    }

    /// A click refused before it reached a gate's rules, for a reason of Slack's own (no such gate, or not its card):
    /// audited, and told to the clicker.
    private func refuse(_ clicker: Clicker, _ decision: VoteDecision, gate: Gate?, gateID: String, code: String, message: String) async throws {
        let (now, actor) = (gatekeeper.clock.now(), clicker.principal.actor)
        let person = clicker.person
        let draft: AuditDraft
        if let gate {
            let record = VoteRefused(decision: decision, reason: code, message: message, via: person.via, slackUser: person.slackUser)
            draft = AuditDraft(record, by: actor, at: now, gate: gate)
        } else {
            let record = VoteRefused(
                decision: decision, reason: code, message: message, via: person.via, slackUser: person.slackUser, namedGate: gateID)
            draft = AuditDraft(record, by: actor, at: now)
        }
        let store = store
        try await storing { try await store.record(draft) }
        try await tell(clicker, ThreadMessage.refusal(message, gate: gate), gate: gate?.id)
    }

    /// An ephemeral message to the clicker, through the outbox.
    private func tell(_ clicker: Clicker, _ text: String, gate: GateID?) async throws {
        guard let channel = clicker.channel else { return }
        let notice = EphemeralNotice(channel: channel, user: clicker.slackUser, text: text)
        let (store, now) = (store, gatekeeper.clock.now())
        try await storing { try await store.enqueueOutboxMessage(.slackEphemeral, gate: gate, payload: notice.encoded, at: now) }
    }
}

/// A Slack interaction that could not be stored in time: it must not be acknowledged as if it had been.
struct SlackInteractionNotStored: Error, CustomStringConvertible {
    var cause: String

    /// What the clicker's side hears: no store error text (it names tables and statements), which is in the log.
    var description: String { "the interaction could not be stored in time; nothing of it was recorded: click again" }
}

/// The payload of a `slack.ephemeral` outbox item: `chat.postEphemeral`'s arguments.
struct EphemeralNotice: Sendable, Equatable, Codable {
    var channel: String
    var user: String
    var text: String

    var encoded: String { SlackJSON.string(self) }

    static func decode(_ payload: String?) -> EphemeralNotice? {
        payload.flatMap { try? JSONDecoder().decode(EphemeralNotice.self, from: Data($0.utf8)) }
    }
}

import Foundation
import GreenlightAPI
import GreenlightClient
import GreenlightCore
import GreenlightSlack
import GreenlightSlackSimulator
import Testing

/// Approving in Slack, with the real binary: the simulator posts signed clicks and modal submissions to
/// `/slack/interactions`, and records what Greenlight says back.
@Suite("Slack interactions end to end", .timeLimit(.minutes(2)))
struct SlackInteractionEndToEndTests {
    /// A deployment with Slack fully set up (bot token, signing secret), the simulator knowing the `oncall` user group.
    func start() async throws -> (Deployment, SlackSimulator) {
        let slack = SlackSimulator(usergroups: ["S0ONCALL": ["U0DAVE"]])
        let url = try await slack.start()
        let deployment = try await Deployment()
        try await deployment.start(
            environment: [
                "SLACK_BOT_TOKEN": slack.botToken, "SLACK_SIGNING_SECRET": "simulator-signing-secret", "GREENLIGHT_SLACK_API_URL": url,
            ], logLevel: "notice")
        return (deployment, slack)
    }

    /// The address of `gate`'s card, once posted.
    func card(of gate: GateResource, in slack: SlackSimulator) async throws -> (channel: String, ts: String) {
        while true {
            // Counted before looking, so that a post landing in between is not waited for twice.
            let seen = slack.calls(to: "chat.postMessage").count
            let posted = slack.postedMessages.first { message in
                message.arguments["thread_ts"] == nil
                    && String(decoding: (try? JSONEncoder().encode(message.arguments)) ?? Data(), as: UTF8.self).contains(gate.id)
            }
            if let posted { return (posted.channel, posted.ts) }
            try Task.checkCancellation()
            await slack.waitForCalls(to: "chat.postMessage", count: seen + 1)
        }
    }

    /// `user` clicking `action` on `gate`'s card, delivered to the server; expects the 200 acknowledgement.
    func click(
        _ action: String, on gate: GateResource, as user: String, slack: SlackSimulator, deployment: Deployment, actionTS: String? = nil
    ) async throws {
        let (channel, ts) = try await card(of: gate, in: slack)
        var payload = SlackSimulator.blockActions(user: user, actionID: action, value: gate.id, channel: channel, ts: ts)
        if let actionTS, case .object(var fields) = payload, case .array(var actions)? = fields["actions"], case .object(var first) = actions[0] {
            first["action_ts"] = .string(actionTS)
            actions[0] = .object(first)
            fields["actions"] = .array(actions)
            payload = .object(fields)
        }
        let answer = try await slack.deliver(payload, to: "\(deployment.url)/slack/interactions")
        #expect(answer.status == 200, "\(answer.body)")
    }

    func fetch(_ id: String, _ deployment: Deployment) async throws -> GateResource {
        try await GreenlightClient(server: deployment.url, token: deployment.tokens["alice"]).gate(id)
    }

    /// The text of the ephemeral messages sent to `user`.
    func ephemerals(to user: String, _ slack: SlackSimulator) -> [String] {
        slack.calls(to: "chat.postEphemeral").filter { $0.arguments["user"] == .string(user) }.compactMap { $0.arguments["text"]?.stringValue }
    }

    @Test("approvers' clicks decide the gate; a click delivered twice counts once; the card ends resolved")
    func clicksDecide() async throws {
        let (deployment, slack) = try await start()
        defer { slack.stop() }
        let opened = try await deployment.open(environment: "production")
        // The same click, delivered twice at once.
        async let first: Void = click(GateCard.approveActionID, on: opened, as: "U0ALICE", slack: slack, deployment: deployment)
        async let second: Void = click(GateCard.approveActionID, on: opened, as: "U0ALICE", slack: slack, deployment: deployment)
        _ = try await (first, second)
        await slack.waitForCalls(to: "chat.update", count: 1)
        #expect(slack.calls(to: "chat.update").last?.arguments["text"]?.stringValue?.contains("approved so far: alice") == true)

        try await click(GateCard.approveActionID, on: opened, as: "U0BOB", slack: slack, deployment: deployment)
        let decided = try await deployment.run(["wait", opened.id], as: "ci")
        #expect(decided.status == 0, "\(decided.output)")
        let gate = try await fetch(opened.id, deployment)
        #expect(gate.votes.map(\.voter) == ["alice", "bob"])
        #expect(gate.votes.allSatisfy { $0.via == "slack" })

        await slack.waitForCalls(to: "chat.update", count: 2)
        let (channel, ts) = try await card(of: opened, in: slack)
        let resolved = try #require(slack.message(channel: channel, ts: ts))
        let json = String(decoding: try JSONEncoder().encode(resolved), as: UTF8.self)
        #expect(!json.contains(GateCard.approveActionID), "the resolved card still has buttons")
        #expect(resolved["text"]?.stringValue?.contains("approved by bob") == true)
        #expect(slack.calls(to: "chat.postEphemeral").isEmpty, "a repeated delivery must not be told 'already voted'")
    }

    @Test("a click from someone who may not decide changes nothing and only they are told why")
    func refusals() async throws {
        let (deployment, slack) = try await start()
        defer { slack.stop() }
        // Named with white space around it and in another case, as a careless or hostile pipeline might: still alice.
        let opened = try await deployment.open(environment: "production", triggeredBy: " Alice\u{00A0}")
        // Not in the group.
        try await click(GateCard.approveActionID, on: opened, as: "U0MALLORY", slack: slack, deployment: deployment)
        // Triggered the deploy: separation of duties, however the pipeline spelt her name.
        try await click(GateCard.approveActionID, on: opened, as: "U0ALICE", slack: slack, deployment: deployment)
        // Unknown to the policy.
        try await click(GateCard.rejectActionID, on: opened, as: "U0STRANGER", slack: slack, deployment: deployment)
        await slack.waitForCalls(to: "chat.postEphemeral", count: 3)

        #expect(ephemerals(to: "U0MALLORY", slack).first?.contains("not a member of 'leads'") == true, "\(ephemerals(to: "U0MALLORY", slack))")
        #expect(ephemerals(to: "U0ALICE", slack).first?.contains("separation_of_duties") == true, "\(ephemerals(to: "U0ALICE", slack))")
        #expect(ephemerals(to: "U0STRANGER", slack).first?.contains("not linked to a person") == true, "\(ephemerals(to: "U0STRANGER", slack))")
        #expect(slack.calls(to: "views.open").isEmpty, "a person who may not reject gets no reason dialog")
        let gate = try await fetch(opened.id, deployment)
        #expect(gate.state == .pending)
        #expect(gate.votes.isEmpty)
        let refused = try await deployment.audit(["query", "--action", "vote.refused"])
        #expect(refused.stdout.split(separator: "\n").count == 3, "\(refused.output)")
    }

    @Test("a button whose value names another gate, or no gate, decides nothing")
    func wrongMessage() async throws {
        let (deployment, slack) = try await start()
        defer { slack.stop() }
        let target = try await deployment.open(environment: "production")
        let other = try await deployment.open(environment: "quick")
        await slack.waitForCalls(to: "chat.postMessage", count: 2)
        let (channel, ts) = try await card(of: other, in: slack)
        // Alice may approve `target`, but this button sits on `other`'s card.
        let moved = SlackSimulator.blockActions(user: "U0ALICE", actionID: GateCard.approveActionID, value: target.id, channel: channel, ts: ts)
        #expect(try await slack.deliver(moved, to: "\(deployment.url)/slack/interactions").status == 200)
        let missing = SlackSimulator.blockActions(
            user: "U0BOB", actionID: GateCard.approveActionID, value: "g_aaaaaaaaaaaaaaaaaaaa", channel: channel, ts: ts)
        #expect(try await slack.deliver(missing, to: "\(deployment.url)/slack/interactions").status == 200)
        await slack.waitForCalls(to: "chat.postEphemeral", count: 2)
        #expect(ephemerals(to: "U0ALICE", slack).first?.contains("not on the card Greenlight posted") == true, "\(ephemerals(to: "U0ALICE", slack))")
        #expect(ephemerals(to: "U0BOB", slack).first?.contains("does not exist") == true, "\(ephemerals(to: "U0BOB", slack))")
        #expect(try await fetch(target.id, deployment).votes.isEmpty)
        #expect(try await fetch(other.id, deployment).votes.isEmpty)
    }

    @Test("Reject asks for a reason in a modal and the submission rejects with it; without the modal it still rejects")
    func rejectWithReason() async throws {
        let (deployment, slack) = try await start()
        defer { slack.stop() }
        let opened = try await deployment.open(environment: "production")
        try await click(GateCard.rejectActionID, on: opened, as: "U0CAROL", slack: slack, deployment: deployment)
        await slack.waitForCalls(to: "views.open", count: 1)
        let call = try #require(slack.calls(to: "views.open").first)
        #expect(call.arguments["trigger_id"] == .string("111.222.trigger"))
        guard case .object(let view)? = call.arguments["view"], let metadata = view["private_metadata"]?.stringValue else {
            Issue.record("views.open without a view: \(call.arguments)")
            return
        }
        #expect(try await fetch(opened.id, deployment).state == .pending, "the click alone must not reject before the reason is given")
        let submission = SlackSimulator.viewSubmission(
            user: "U0CAROL", callbackID: RejectReasonModal.callbackID, privateMetadata: metadata, values: ["reason": ["reason": "error rate doubled"]]
        )
        #expect(try await slack.deliver(submission, to: "\(deployment.url)/slack/interactions").status == 200)
        let decided = try await deployment.run(["wait", opened.id], as: "ci")
        #expect(decided.status == 1)
        let gate = try await fetch(opened.id, deployment)
        #expect(gate.decidedBy == "carol")
        #expect(gate.votes.first?.comment == "error rate doubled")
        await slack.waitForCalls(to: "chat.update", count: 1)
        #expect(slack.calls(to: "chat.update").last?.arguments["text"]?.stringValue?.contains("rejected by carol") == true)

        // The trigger expired (or Slack failed): the reject counts anyway, without a reason.
        slack.inject(.error("trigger_expired"), into: "views.open")
        let second = try await deployment.open(environment: "production")
        try await click(GateCard.rejectActionID, on: second, as: "U0BOB", slack: slack, deployment: deployment)
        #expect(try await deployment.run(["wait", second.id], as: "ci").status == 1)
        #expect(try await fetch(second.id, deployment).votes.first?.comment == nil)
    }

    @Test("forged, stale and unsigned requests are refused with 401, audited, and change nothing")
    func forged() async throws {
        let (deployment, slack) = try await start()
        defer { slack.stop() }
        let opened = try await deployment.open(environment: "quick")
        let (channel, ts) = try await card(of: opened, in: slack)
        let payload = SlackSimulator.blockActions(user: "U0ALICE", actionID: GateCard.approveActionID, value: opened.id, channel: channel, ts: ts)
        let url = "\(deployment.url)/slack/interactions"
        let forged = try await slack.deliver(payload, to: url, signature: "v0=" + String(repeating: "0", count: 64))
        #expect(forged.status == 401)
        #expect(forged.body.contains("does not match"))
        let stale = try await slack.deliver(payload, to: url, at: Date().addingTimeInterval(-301))
        #expect(stale.status == 401)
        let wrongSecret = SlackSimulator(signingSecret: "not-the-secret")
        #expect(try await wrongSecret.deliver(payload, to: url).status == 401)
        let refused = try await deployment.audit(["query", "--action", "slack.request_refused"])
        #expect(refused.stdout.split(separator: "\n").count == 3, "\(refused.output)")
        #expect(try await fetch(opened.id, deployment).votes.isEmpty)
    }

    @Test("a member of a Slack user group approves; the deadline's decision resolves the card too")
    func usergroupAndDeadline() async throws {
        let (deployment, slack) = try await start()
        defer { slack.stop() }
        // Gates needing the user group open once it has been read.
        _ = await deployment.server?.line(containing: "read Slack user group S0ONCALL: 1 member(s)")
        // Triggered by a GitHub login the policy cannot resolve: U0DAVE, unknown to the policy too, might be that person.
        let unsure = try await deployment.open(environment: "hotfix", triggeredBy: "dave-gh")
        try await click(GateCard.approveActionID, on: unsure, as: "U0DAVE", slack: slack, deployment: deployment)
        await slack.waitForCalls(to: "chat.postEphemeral", count: 1)
        #expect(
            ephemerals(to: "U0DAVE", slack).first?.contains("cannot tell whether your Slack account") == true, "\(ephemerals(to: "U0DAVE", slack))")
        #expect(try await fetch(unsure.id, deployment).votes.isEmpty)
        let refused = try await deployment.audit(["query", "--action", "vote.refused"])
        #expect(refused.stdout.contains("unverified_identity"), "\(refused.output)")

        let hotfix = try await deployment.open(environment: "hotfix")
        #expect(hotfix.requirements.first?.eligible == ["U0DAVE"])
        try await click(GateCard.approveActionID, on: hotfix, as: "U0DAVE", slack: slack, deployment: deployment)
        #expect(try await deployment.run(["wait", hotfix.id], as: "ci").status == 0)

        let quick = try await deployment.open(environment: "quick")
        #expect(try await deployment.run(["wait", quick.id], as: "ci").status == 2)
        let (channel, ts) = try await card(of: quick, in: slack)
        while slack.message(channel: channel, ts: ts)?["text"]?.stringValue?.contains("timed out") != true {
            await slack.waitForCalls(to: "chat.update", count: slack.calls(to: "chat.update").count + 1)
        }
        let json = String(decoding: try JSONEncoder().encode(slack.message(channel: channel, ts: ts)), as: UTF8.self)
        #expect(!json.contains(GateCard.approveActionID))
    }

    @Test("the reminder and the escalation arrive in the card's thread, once each, and are audited")
    func reminderAndEscalation() async throws {
        let (deployment, slack) = try await start()
        defer { slack.stop() }
        let opened = try await deployment.open(environment: "nudge")
        try await click(GateCard.approveActionID, on: opened, as: "U0ALICE", slack: slack, deployment: deployment)
        // The card, then the reminder and the escalation in its thread.
        await slack.waitForCalls(to: "chat.postMessage", count: 3)
        let (_, ts) = try await card(of: opened, in: slack)
        let thread = slack.calls(to: "chat.postMessage").filter { $0.arguments["thread_ts"] == .string(ts) }.compactMap {
            $0.arguments["text"]?.stringValue
        }
        #expect(thread.count == 2, "\(thread)")
        let reminder = try #require(thread.first { $0.contains("Reminder") })
        #expect(reminder.contains("<@U0BOB>") && reminder.contains("<@U0CAROL>"))
        #expect(!reminder.contains("<@U0ALICE>"), "alice has approved already")
        let escalation = try #require(thread.first { $0.contains("Escalation") })
        #expect(escalation.contains("<!subteam^S0ONCALL>"))
        for action in ["gate.reminded", "gate.escalated"] {
            let events = try await deployment.audit(["query", "--action", action])
            #expect(events.stdout.split(separator: "\n").count == 1, "\(action): \(events.output)")
        }
    }

    @Test("over Socket Mode, with no public URL: clicks are acknowledged and decide, also after Slack asks to reconnect")
    func socketMode() async throws {
        let slack = SlackSimulator()
        let url = try await slack.start()
        defer { slack.stop() }
        let deployment = try await Deployment()
        try await deployment.start(environment: [
            "SLACK_BOT_TOKEN": slack.botToken, "SLACK_APP_TOKEN": slack.appToken, "GREENLIGHT_SLACK_API_URL": url,
        ])
        await slack.waitForConnections(1)
        let opened = try await deployment.open(environment: "production")
        let (channel, ts) = try await card(of: opened, in: slack)
        let alice = try await slack.sendInteraction(
            SlackSimulator.blockActions(user: "U0ALICE", actionID: GateCard.approveActionID, value: opened.id, channel: channel, ts: ts))
        await slack.waitForAck(alice)
        await slack.waitForCalls(to: "chat.update", count: 1)

        // Slack refreshes the connection: Greenlight opens a new one and the next click still arrives.
        await slack.disconnectSockets(reason: "refresh_requested")
        await slack.waitForConnections(2)
        let bob = try await slack.sendInteraction(
            SlackSimulator.blockActions(user: "U0BOB", actionID: GateCard.approveActionID, value: opened.id, channel: channel, ts: ts))
        await slack.waitForAck(bob)
        let decided = try await deployment.run(["wait", opened.id], as: "ci")
        #expect(decided.status == 0, "\(decided.output)")
        #expect(try await fetch(opened.id, deployment).votes.map(\.via) == ["slack", "slack"])
        #expect(slack.calls(to: "apps.connections.open").count == 2)
        // Without a signing secret, the HTTP route is not open to anyone.
        let payload = SlackSimulator.blockActions(user: "U0CAROL", actionID: GateCard.rejectActionID, value: opened.id, channel: channel, ts: ts)
        #expect(try await slack.deliver(payload, to: "\(deployment.url)/slack/interactions").status == 404)
    }
}

import Foundation
import GreenlightCore
import Testing

@testable import GreenlightSlack

/// The reason modal and the messages posted in a card's thread or to one person.
@Suite("Reject modal and thread messages")
struct ThreadMessageTests {
    func gate(service: String = "shop") -> Gate {
        let plan = GatePlan(
            gated: true, rule: "environments.production", tier: "production",
            requirements: [ApprovalRequirement(group: "leads", count: 2, eligible: ["alice", "bob"])], exclusions: [],
            timeout: PolicyDuration(seconds: 3_600), onTimeout: .reject, channel: "C1", policyHash: String(repeating: "a", count: 64),
            escalation: Policy.Escalation(after: PolicyDuration(seconds: 600), to: ["oncall"]))
        let request = GateRequest(service: service, environment: "production", artifact: "reg/shop@sha256:abc", commit: "0123abcd")
        return Gate(id: .generate(), request: request, openedBy: "ci", plan: plan, createdAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test("the modal carries the gate and card in private_metadata, asks for a reason, and fits Slack's limits")
    func modal() throws {
        let gate = gate(service: "<!channel> shop")
        let context = RejectReasonModal.Context(gate: gate.id.rawValue, channel: "C1", ts: "1.2")
        let view = RejectReasonModal.view(for: gate, context: context)
        guard case .object(let fields) = view, case .object(let title)? = fields["title"], case .array(let blocks)? = fields["blocks"] else {
            Issue.record("not a modal: \(view)")
            return
        }
        #expect(fields["callback_id"] == .string(RejectReasonModal.callbackID))
        #expect((title["text"]?.stringValue?.count ?? 99) <= 24, "modal titles are at most 24 characters")
        #expect(RejectReasonModal.Context.decode(fields["private_metadata"]?.stringValue ?? "") == context)
        let json = String(decoding: try SlackJSON.encode(view), as: UTF8.self)
        #expect(json.contains(#""block_id":"reason""#) && json.contains(#""action_id":"reason""#))
        #expect(RejectReasonModal.reasonKey == "reason.reason")
        #expect(!json.contains("<!channel>"), "claimed text must be escaped")
        #expect(blocks.count == 2)
        #expect(RejectReasonModal.Context.decode("not json") == nil)
    }

    @Test("the reminder says what is still needed and mentions as given; the escalation names its groups")
    func thread() throws {
        var gate = gate()
        gate = try gate.recording(Vote(voter: "alice", decision: .approve, at: gate.createdAt.addingTimeInterval(5)))
        let reminder = ThreadMessage.reminder(for: gate, mentions: ["<@U0BOB>"])
        #expect(reminder.contains("1 of 2 from leads (approved so far: alice)"))
        #expect(reminder.contains("<!date^1800003600^"))
        #expect(reminder.hasSuffix("Can approve: <@U0BOB>"))
        let escalation = ThreadMessage.escalation(for: gate, mentions: ["<!subteam^S0ONCALL>"])
        #expect(escalation.contains("Calling in: <!subteam^S0ONCALL> (oncall)"))
        let refusal = ThreadMessage.refusal("alice <is> out", gate: nil)
        #expect(refusal == ":no_entry: Your click was not recorded: alice &lt;is&gt; out")
        let long = ThreadMessage.reminder(for: gate, mentions: Array(repeating: "<@U0SOMEONEWITHALONGID>", count: 1_000))
        #expect(long.count <= BlockKitLimits.messageText)
        #expect(long.contains("more"))
    }

    @Test("a staged gate's card and reminder name the open stage")
    func stagedCard() throws {
        var gate = gate()
        gate.plan.stages = [
            PlanStage(name: "platform", requirements: [ApprovalRequirement(group: "leads", count: 1, eligible: ["alice", "bob"])]),
            PlanStage(name: "finance", requirements: [ApprovalRequirement(group: "finance", count: 1, eligible: ["erin"])]),
        ]
        #expect(GateCard.needs(gate) == "1 of 1 from leads, in stage 1 of 2 (platform)")
        let leads = try gate.recording(Vote(voter: "alice", decision: .approve, at: gate.createdAt.addingTimeInterval(60)))
        #expect(GateCard.needs(leads) == "1 of 1 from finance, in stage 2 of 2 (finance)")
        #expect(ThreadMessage.reminder(for: leads, mentions: []).contains("in stage 2 of 2 (finance)"))
    }

    @Test("a break-glass is announced to the whole channel, with who, what, why and where to review it; claimed text is escaped")
    func breakGlass() throws {
        var gate = gate(service: "<!channel> shop")
        gate.plan.breakGlass = PlanBreakGlass(groups: ["sre"], eligible: ["dan"], maxPerDay: 1)
        let broken = try gate.breakingGlass(by: "dan", reason: "SEV1 <!everyone>", at: gate.createdAt.addingTimeInterval(60))
        let text = ThreadMessage.breakGlass(for: broken)
        #expect(text.hasPrefix("<!here> :rotating_light: *Break-glass:* dan approved"))
        #expect(text.contains("2 of leads"))
        #expect(text.contains("greenlight audit query --break-glass"))
        #expect(!text.contains("<!channel>") && !text.contains("<!everyone>"))
        #expect(GateCard.status(broken).contains("Approved (break-glass)"))
        let given = ThreadMessage.breakGlass(for: broken, reason: "SEV1")
        #expect(given.contains("*Reason:* SEV1\n"), "the reason as given, not the gate's 'break-glass by dan: …'")

        var frozenPlan = gate.plan
        frozenPlan.frozen = ActiveFreeze(name: "holidays", endsAt: gate.createdAt.addingTimeInterval(86_400))
        let frozen = Gate(id: .generate(), request: gate.request, openedBy: "ci", plan: frozenPlan, createdAt: gate.createdAt)
        let grant = ThreadMessage.breakGlassGrant(for: frozen, person: "dan", reason: "hotfix")
        #expect(grant.contains("broke the freeze 'holidays'"))
        #expect(grant.contains("next attempt at this deploy is approved"))
    }
}

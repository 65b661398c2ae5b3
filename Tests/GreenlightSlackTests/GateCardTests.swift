import Foundation
import GreenlightCore
import Testing

@testable import GreenlightSlack

@Suite("Gate card")
struct GateCardTests {
    static func gate(_ request: GateRequest = request(), count: Int = 2) -> Gate {
        let plan = GatePlan(
            gated: true, rule: "environments.production", tier: "production",
            requirements: [ApprovalRequirement(group: "platform-leads", count: count, eligible: ["alice", "bob", "carol"])], exclusions: [],
            timeout: PolicyDuration(seconds: 3_600), onTimeout: .reject, channel: "C0DEPLOYS", policyHash: String(repeating: "ab", count: 32)
        )
        return Gate(id: .generate(), request: request, openedBy: "ci", plan: plan, createdAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    static func request() -> GateRequest {
        GateRequest(
            service: "shop", environment: "production", artifact: "registry.example.com/shop@sha256:4f1e",
            commit: "9fceb02d0ae598e95dc970b74767f19372d61af8",
            baseCommit: "1234567890abcdef", pullRequest: "https://github.com/acme/shop/pull/42", ticket: "OPS-7",
            runURL: "https://ci.example.com/runs/99?attempt=1&x=2", triggeredBy: "dave", authors: ["erin"], summary: "Add checkout",
            changedPaths: ["db/migrations/001.sql", "Sources/App.swift"], labels: ["version": "v1.4.2"]
        )
    }

    func json(_ message: SlackMessage) throws -> [String: Any] {
        let data = try SlackJSON.encode(message)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("a pending card has the facts, what is still needed, and Approve/Reject buttons with confirm dialogs")
    func pending() throws {
        let gate = try Self.gate().recording(Vote(voter: "alice", decision: .approve, at: Date(timeIntervalSince1970: 1_800_000_060)))
        let message = GateCard.message(for: gate, channel: "C0DEPLOYS", url: "https://greenlight.example.com/v1/gates/\(gate.id)")
        #expect(BlockKitLimits.violations(of: message).isEmpty)
        #expect(message.text == "Deploy shop → production needs approval: 1 of 2 from platform-leads (approved so far: alice)")
        guard case .header(let header) = message.blocks?.first else { throw TestFailure("no header") }
        #expect(header.text == "shop → production v1.4.2")

        let object = try json(message)
        #expect(object["channel"] as? String == "C0DEPLOYS")
        let blocks = try #require(object["blocks"] as? [[String: Any]])
        let actions = try #require(blocks.first { $0["type"] as? String == "actions" })
        let buttons = try #require(actions["elements"] as? [[String: Any]])
        #expect(buttons.map { $0["action_id"] as? String } == ["gate_approve", "gate_reject"])
        #expect(buttons.map { $0["value"] as? String } == [gate.id.rawValue, gate.id.rawValue])
        #expect(buttons.map { $0["style"] as? String } == ["primary", "danger"])
        for button in buttons {
            let confirm = try #require(button["confirm"] as? [String: Any])
            for key in ["title", "text", "confirm", "deny"] { #expect(confirm[key] != nil, "confirm dialog lacks \(key)") }
        }
        let text = String(decoding: try SlackJSON.encode(message), as: UTF8.self)
        #expect(text.contains("<!date^1800003600^{date_short_pretty} at {time}|2027-01-15T09:00:00.000Z>"))
        #expect(text.contains("_(claimed)_"))
        #expect(text.contains("`1234567890ab..9fceb02d0ae5`"))
        #expect(text.contains("<https://ci.example.com/runs/99?attempt=1&amp;x=2|pipeline run>"))
    }

    @Test("a decided card has no buttons and says who decided, when and why", arguments: [GateState.approved, .rejected, .timedOut, .cancelled])
    func decided(state: GateState) throws {
        let pending = Self.gate(count: 1)
        let at = Date(timeIntervalSince1970: 1_800_000_100)
        let gate: Gate =
            switch state {
            case .approved: try pending.recording(Vote(voter: "bob", decision: .approve, at: at))
            case .rejected: try pending.recording(Vote(voter: "bob", decision: .reject, comment: "not during the sale", at: at))
            case .timedOut: try #require(pending.timingOut(at: at.addingTimeInterval(7_200)))
            default: try pending.cancelling(by: .pipeline("ci"), reason: "superseded", at: at)
            }
        let message = GateCard.message(for: gate, channel: nil, url: "https://g.example.com/x")
        #expect(BlockKitLimits.violations(of: message).isEmpty)
        #expect(!(message.blocks ?? []).contains { if case .actions = $0 { true } else { false } }, "a decided card still offers buttons")
        let text = String(decoding: try SlackJSON.encode(message), as: UTF8.self)
        let expected = [
            "approved": "Approved* by bob", "rejected": "Rejected* by bob", "timed_out": "Timed out* by greenlight",
            "cancelled": "Cancelled* by pipeline:ci",
        ]
        #expect(text.contains(expected[state.rawValue] ?? "?"), "\(text)")
        #expect(text.contains("<!date^"))
        if state == .rejected { #expect(text.contains("not during the sale")) }
    }

    @Test("text the pipeline claimed cannot mention @channel, forge a link or break markup")
    func escaping() throws {
        var request = Self.request()
        request.summary = "<!channel> urgent & <https://evil.example|click here>"
        request.triggeredBy = "<@U0ADMIN>"
        request.runURL = "https://ci.example.com/run|<!here>"
        let message = GateCard.message(for: Self.gate(request), channel: nil, url: "https://g.example.com/x")
        let text = String(decoding: try SlackJSON.encode(message), as: UTF8.self)
        #expect(!text.contains("<!channel>"))
        #expect(!text.contains("<!here>"))
        #expect(!text.contains("<@U0ADMIN>"))
        #expect(!text.contains("<https://evil.example"))
        #expect(text.contains("&lt;!channel&gt; urgent &amp; &lt;https://evil.example|click here&gt;"))
    }

    @Test("huge requests are cut to fit every Block Kit limit, saying how much was left out")
    func limits() throws {
        var request = Self.request()
        request.service = String(repeating: "s", count: 100)
        request.environment = String(repeating: "e", count: 100)
        request.summary = String(repeating: "word ", count: 2_000)
        request.changedPaths = (0..<10_000).map { "src/module\($0)/" + String(repeating: "f", count: 150) + ".swift" }
        request.authors = (0..<100).map { "author-with-a-long-name-\($0)" }
        request.artifact = "registry.example.com/" + String(repeating: "x", count: 3_000) + "@sha256:abc"
        let message = GateCard.message(for: Self.gate(request), channel: nil, url: "https://g.example.com/x")
        #expect(BlockKitLimits.violations(of: message) == [])
        let text = String(decoding: try SlackJSON.encode(message), as: UTF8.self)
        #expect(text.contains("10000 changed file(s)"))
        #expect(text.contains("and 9990 more"))
        #expect(text.contains(" more _(claimed)_"), "the author list says how many were left out")
    }

    @Test("the limits check catches what Slack would refuse")
    func checker() {
        let tooLong = SlackMessage(
            channel: nil, text: "x",
            blocks: [
                .header(.mrkdwn(String(repeating: "h", count: 151))),
                .section(text: nil, fields: []),
                .actions(
                    blockID: "b",
                    elements: [
                        Button(actionID: "same", text: .plain("A"), value: "v", style: nil, confirm: nil),
                        Button(actionID: "same", text: .plain(String(repeating: "B", count: 76)), value: "v", style: nil, confirm: nil),
                    ]),
            ])
        #expect(BlockKitLimits.violations(of: tooLong).count == 5)
    }

    @Test("lists say how many were left out")
    func lists() {
        #expect(SlackText.list(["a", "b", "c"], limit: 100) == "a, b, c")
        #expect(SlackText.list(["alpha", "beta", "gamma", "delta"], limit: 22) == "alpha, beta and 2 more")
        #expect(SlackText.list(["alpha", "beta", "gamma", "delta"], limit: 21) == "alpha and 3 more")
        #expect(SlackText.truncate("abcdef", to: 4) == "abc…")
        #expect(SlackText.escape("a<b>&c") == "a&lt;b&gt;&amp;c")
    }
}

struct TestFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

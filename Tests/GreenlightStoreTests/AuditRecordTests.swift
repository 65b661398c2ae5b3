import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Testing

/// The typed audit records: one per action, each declaring its keys; docs/audit.md names the same keys; and each renders
/// the details the hand-written dictionaries did before them, byte for byte (the stored form is what is hashed).
@Suite("Audit records")
struct AuditRecordTests {
    static let auditDoc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/audit.md")

    /// The table of docs/audit.md whose columns are action, when and details: each action's detail keys, as written in
    /// backquotes in its details column.
    static func documentedKeys() throws -> [(action: String, keys: Set<String>)] {
        let lines = try String(contentsOf: auditDoc, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("| action | when | details |") }) else {
            throw TestFailure("docs/audit.md has no table '| action | when | details |'")
        }
        var rows: [(String, Set<String>)] = []
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count == 3 else { throw TestFailure("a row of docs/audit.md's table has \(cells.count) cells, not 3: \(line)") }
            rows.append((quoted(cells[0]).first ?? cells[0], Set(quoted(cells[2]))))
        }
        return rows
    }

    /// Every `…` in `text`.
    static func quoted(_ text: String) -> [String] {
        text.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    @Test("docs/audit.md lists every action once, with exactly the detail keys its record declares")
    func documentation() throws {
        let documented = try Self.documentedKeys()
        #expect(documented.map(\.action).sorted() == AuditAction.allCases.map(\.rawValue).sorted(), "each action, once")
        for (action, keys) in documented {
            let known = try #require(AuditAction(rawValue: action), "docs/audit.md documents '\(action)', which is no action")
            #expect(keys == known.detailKeys, "\(action): documented \(keys.sorted()), declared \(known.detailKeys.sorted())")
        }
    }

    @Test("each action has one record, whose action it is")
    func oneRecordPerAction() {
        for action in AuditAction.allCases {
            #expect(action.record.action == action)
            #expect(!action.detailKeys.isEmpty, "\(action) declares no keys")
        }
    }

    static let at = StoreFixtures.start

    @Test("a gate's opening and decision render as they always have")
    func gateDetails() {
        var gate = StoreFixtures.gate(exclusions: [Exclusion(identity: "erin", role: .author), Exclusion(identity: "dave", role: .triggerer)])
        gate.request.authors = ["erin", "erin-gh"]
        #expect(
            GateOpened(gate).details == [
                "commit": "0123456789abcdef", "rule": "environments.production", "tier": "production",
                "policy_hash": String(repeating: "a", count: 64),
                "requirements": "2 of leads", "on_timeout": "reject", "deadline": Timestamp.format(gate.deadline!), "triggered_by": "dave",
                "authors": "erin, erin-gh", "excluded": "erin (author), dave (triggerer)",
                // The plan's canonical hash, pinned: a change of its form would make every stored gate disagree.
                "plan_hash": "7a9a57d61c151ea32f1c42bf872d510397ba563b397a1d0ec7e71dedc40dbb8c",
            ])
        var swapped = gate
        swapped.plan.stages[0].requirements[0].eligible[2] = "mallory"
        #expect(LogAgreement.planHash(swapped.plan) != LogAgreement.planHash(gate.plan))
        var ungated = gate
        ungated.deadline = nil
        ungated.request.triggeredBy = nil
        ungated.request.authors = []
        ungated.plan.exclusions = []
        #expect(Set(GateOpened(ungated).details.keys) == ["commit", "rule", "tier", "policy_hash", "requirements", "on_timeout", "plan_hash"])

        var decided = gate
        decided.state = .timedOut
        decided.outcome = .approved
        decided.reason = "no decision"
        decided.failOpen = true
        decided.plan.failOpenReason = "low risk"
        decided.plan.frozen = ActiveFreeze(name: "holidays", endsAt: Self.at)
        decided.votes = [StoreFixtures.vote("alice"), StoreFixtures.vote("bob", .reject), StoreFixtures.vote("carol")]
        #expect(
            GateDecided(decided).details == [
                "state": "timed_out", "outcome": "approved", "reason": "no decision", "fail_open": "true", "fail_open_reason": "low risk",
                "frozen": "holidays", "freeze_ends_at": Timestamp.format(Self.at), "approvals": "alice, carol",
            ])
        #expect(GateDecided(StoreFixtures.gate()).details == ["state": "pending", "outcome": "", "reason": ""])
    }

    @Test("votes and their refusals render as they always have")
    func voteDetails() {
        let vote = Vote(voter: "alice", decision: .reject, comment: "no", at: Self.at, via: .cli)
        #expect(VoteRecorded(vote).details == ["decision": "reject", "comment": "no", "via": "cli"])
        #expect(VoteRecorded(StoreFixtures.vote("bob")).details == ["decision": "approve", "via": "api"])
        let refusal = VoteRefusal.notAnApprover(person: "alice", groups: ["leads"])
        #expect(
            VoteRefused(vote, refusal).details == ["decision": "reject", "reason": "not_an_approver", "message": refusal.description, "via": "cli"])
        let token = AccessRefusal.notAPerson(.pipeline(named: "ci"), doing: .vote)
        #expect(
            VoteRefused(.approve, token, by: .pipeline(named: "ci")).details == [
                "decision": "approve", "reason": "not_an_approver_token", "message": "only approver tokens vote; 'ci' is a pipeline token",
            ])
        let unverified = AccessRefusal.unverifiedIdentity(slackUser: "U0ZED", barred: Exclusion(identity: "erin", role: .author))
        #expect(
            VoteRefused(.approve, unverified, by: .person(.slack(user: "U0ZED", as: "U0ZED"))).details == [
                "decision": "approve", "reason": "unverified_identity", "message": unverified.description, "via": "slack", "slack_user": "U0ZED",
            ])
        let long = String(repeating: "g", count: 150)
        #expect(
            VoteRefused(decision: .reject, reason: "unknown_gate", message: "no such gate", via: .slack, slackUser: "U1", namedGate: long).details
                == [
                    "decision": "reject", "reason": "unknown_gate", "message": "no such gate", "via": "slack", "slack_user": "U1",
                    "gate": String(repeating: "g", count: 100),
                ])
        #expect(
            CancelRefused(AccessRefusal.notTheOpener(openedBy: "ci")).details == [
                "reason": "not_opener", "message": "only the pipeline token that opened this gate ('ci') may cancel it",
            ])
    }

    @Test("break-glass, used and refused, renders as it always has")
    func breakGlassDetails() {
        let expires = Self.at.addingTimeInterval(3_600)
        let count = BreakGlassUsed.Count(usesIn24h: 2, maxPerDay: 3)
        #expect(
            BreakGlassUsed(reason: "SEV1", .approved(bypassed: "2 of leads; then 1 of sre", count: count)).details == [
                "reason": "SEV1", "uses_in_24h": "2", "max_per_day": "3", "bypassed": "2 of leads; then 1 of sre",
            ])
        #expect(
            BreakGlassUsed(reason: "SEV1", .granted(frozen: "holidays", expiresAt: expires, count: count)).details == [
                "reason": "SEV1", "uses_in_24h": "2", "max_per_day": "3", "frozen": "holidays",
                "applies_to": "the same deploy opened again before \(Timestamp.format(expires))",
            ])
        let earlier = GateID.generate()
        #expect(
            BreakGlassUsed(reason: "SEV1", .grantUsed(grantedOn: earlier, frozen: "holidays")).details == [
                "reason": "SEV1", "granted_on": earlier.rawValue, "frozen": "holidays",
            ])
        let missing = VoteRefusal.breakGlassReasonMissing
        #expect(
            BreakGlassRefused(missing, givenReason: " ").details == [
                "reason": "reason_required", "message": missing.description, "given_reason": " ",
            ])
        #expect(
            BreakGlassRefused(missing, grantedOn: earlier).details == [
                "reason": "reason_required", "message": missing.description, "granted_on": earlier.rawValue,
            ])
        let token = AccessRefusal.notAPerson(.auditor(token: "sox"), doing: .breakGlass)
        #expect(BreakGlassRefused(token).details == ["reason": "not_an_approver_token", "message": token.description])
    }

    @Test("the records around gates render as they always have")
    func serverDetails() {
        let token = AccessToken(name: "ci", kind: .pipeline, services: ["shop", "cart"], environments: ["prod"], createdAt: Self.at)
        #expect(TokenCreated(token).details == ["name": "ci", "kind": "pipeline", "services": "shop,cart", "environments": "prod"])
        let approver = AccessToken(name: "alice", kind: .approver, user: "alice", createdAt: Self.at)
        #expect(TokenCreated(approver).details == ["name": "alice", "kind": "approver", "user": "alice"])
        #expect(AuditDraft.tokenCreated(approver).actor == "operator")
        // The secret is bound by a hash of its stored hash, never written itself.
        let bound = TokenCreated(approver, secretHash: TokenSecret.hash("s3cret")).details
        #expect(bound["secret_binding"] == LogAgreement.secretBinding(ofSecretHash: TokenSecret.hash("s3cret")))
        #expect(!bound.values.contains { $0.contains("s3cret") || $0 == TokenSecret.hash("s3cret") })

        #expect(
            PolicyRefused(source: "p.yaml", inForce: "old", .invalid(refusedHash: "new", errors: ["a", "b"])).details == [
                "source": "p.yaml", "reason": "invalid", "refused_hash": "new", "policy_hash": "old", "errors": "a\nb",
            ])
        #expect(
            PolicyRefused(source: "p.yaml", inForce: "old", .unreadable("gone")).details == [
                "source": "p.yaml", "reason": "unreadable", "policy_hash": "old", "errors": "gone",
            ])
        #expect(
            SlackRequestRefused(.request(reason: "forged", message: "bad", remote: "192.0.2.1")).details == [
                "reason": "forged", "message": "bad", "remote": "192.0.2.1",
            ])
        let minute = SlackRequestRefused.OverBudget(
            from: Self.at, to: Self.at.addingTimeInterval(60), unwritten: 7, addresses: 2, fromUncountedAddresses: 0,
            top: [.init(address: "192.0.2.1", count: 5), .init(address: "192.0.2.2", count: 2)])
        #expect(
            SlackRequestRefused(.overBudget(minute)).details == [
                "reason": "over_audit_budget", "unwritten": "7", "addresses": "2", "from": Timestamp.format(Self.at),
                "to": Timestamp.format(Self.at.addingTimeInterval(60)), "top": "192.0.2.1 ×5, 192.0.2.2 ×2",
            ])
        #expect(GateNotified(channel: "C1", ts: "1.1").details == ["via": "slack", "channel": "C1", "ts": "1.1"])
        #expect(
            NotificationFailed(kind: "slack.card", method: "chat.postMessage", error: "channel_not_found").details == [
                "kind": "slack.card", "method": "chat.postMessage", "error": "channel_not_found",
            ])
    }

    @Test("a typed draft is the raw draft it replaces: the same actor text, action, subject and details")
    func drafts() {
        let gate = StoreFixtures.gate()
        let typed = AuditDraft(GateOpened(gate), by: .pipeline("ci"), at: Self.at, gate: gate)
        #expect(typed == AuditDraft(at: Self.at, actor: "pipeline:ci", action: .gateOpened, gate: gate, details: GateOpened(gate).details))
        let refusal = AccessRefusal.notAnAuditor(.approver("alice"))
        #expect(
            AuditDraft(AuditReadRefused(refusal), by: .person("alice"), at: Self.at)
                == AuditDraft(at: Self.at, actor: "alice", action: .auditReadRefused, details: ["reason": "not_an_auditor_token"]))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

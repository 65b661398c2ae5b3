import Foundation
import GreenlightCore
import GreenlightPolicyFile
import GreenlightTestSupport
import Synchronization
import Testing

/// Who may do what: every principal against every act, with the refusal's code where it is refused. A rule dropped
/// from the ``Authorizer`` turns one of these cells from a refusal into an allowance (or the other way round).
@Suite("Authorizer")
struct AuthorizerTests {
    /// `erin` (the author) has no Slack id; `carol` is mapped to one.
    static let policy = try! PolicyParser(file: "authorizer.yaml").parse(
        """
        people:
          carol: { slack: U0CAROL }
          erin: { github: erin-gh }
          dave: { slack: U0DAVE }
        groups:
          leads: { members: [alice, carol, U0ZED] }
        default: { require: [ { group: leads, count: 1 } ] }
        """
    ).policy

    let authorizer = Authorizer(policy: Self.policy)
    /// A production gate of `shop`, opened by `ci`, authored by erin (whom no Slack id is known for).
    let gate = Fixtures.gate(
        Fixtures.plan([("leads", 1, ["alice", "carol", "U0ZED"])], exclusions: [Exclusion(identity: "erin", role: .author)]))

    enum Who: String, CaseIterable {
        case pipeline, scopedPipeline, otherPipeline, approver, slackPerson, unmappedSlack, auditor, greenlight, `operator`

        var principal: Principal {
            switch self {
            case .pipeline: .pipeline(named: "ci")
            case .scopedPipeline: .pipeline(named: "ci-shop", services: ["shop"], environments: ["staging"])
            case .otherPipeline: .pipeline(named: "other-ci")
            case .approver: .approver("alice")
            case .slackPerson: .person(.slack(user: "U0CAROL", as: "carol"))
            case .unmappedSlack: .person(.slack(user: "U0ZED", as: "U0ZED"))
            case .auditor: .auditor(token: "sox")
            case .greenlight: .greenlight
            case .operator: .operator
            }
        }
    }

    enum What: String, CaseIterable {
        case open, findGate, readGate, voteUnread, voteRead, cancel, breakGlass, readAudit, readPolicy
    }

    func act(_ what: What) -> Act {
        switch what {
        case .open: .openGate(service: "shop", environment: "production")
        case .findGate: .readGate(.unread(gate.id))
        case .readGate: .readGate(.read(gate))
        case .voteUnread: .vote(.unread(gate.id))
        case .voteRead: .vote(.read(gate))
        case .cancel: .cancel(gate)
        case .breakGlass: .breakGlass(gate.id)
        case .readAudit: .readAudit
        case .readPolicy: .readPolicy
        }
    }

    /// `nil`: allowed; otherwise the refusal's code.
    static let expected: [Who: [What: String?]] = {
        let person = "not_an_approver_token"
        let auditor = "not_an_auditor_token"
        let pipeline: [What: String?] = [
            .open: nil, .findGate: nil, .readGate: nil, .voteUnread: person, .voteRead: person, .cancel: nil, .breakGlass: person,
            .readAudit: auditor, .readPolicy: nil,
        ]
        var scoped = pipeline
        scoped[.open] = "out_of_scope"
        scoped[.readGate] = "out_of_scope"
        scoped[.cancel] = "not_opener"
        var other = pipeline
        other[.cancel] = "not_opener"
        let people: [What: String?] = [
            .open: "out_of_scope", .findGate: nil, .readGate: nil, .voteUnread: nil, .voteRead: nil, .cancel: "not_opener", .breakGlass: nil,
            .readAudit: auditor, .readPolicy: nil,
        ]
        var unmapped = people
        unmapped[.voteRead] = "unverified_identity"
        let noGates: [What: String?] = [
            .open: "out_of_scope", .findGate: "not_allowed", .readGate: "not_allowed", .voteUnread: person, .voteRead: person,
            .cancel: "not_opener", .breakGlass: person, .readAudit: auditor, .readPolicy: nil,
        ]
        var auditorCells = noGates
        auditorCells[.readAudit] = .some(nil)  // allowed (assigning nil would remove the cell)
        return [
            .pipeline: pipeline, .scopedPipeline: scoped, .otherPipeline: other, .approver: people, .slackPerson: people,
            .unmappedSlack: unmapped, .auditor: auditorCells, .greenlight: noGates, .operator: noGates,
        ]
    }()

    @Test("each principal × each act: allowed, or refused with the expected code", arguments: Who.allCases, What.allCases)
    func matrix(_ who: Who, _ what: What) throws {
        let expected = try #require(Self.expected[who]?[what], "no expectation for \(who) × \(what)")
        let refusal = authorizer.refusal(of: who.principal, to: act(what))
        #expect(refusal?.code == expected, "\(who.rawValue) × \(what.rawValue): \(refusal.map(\.description) ?? "allowed")")
    }

    @Test("the act-specific questions answer with who was allowed")
    func answers() throws {
        #expect(try authorizer.opener(.pipeline(named: "ci"), service: "shop", environment: "production").name == "ci")
        #expect(try authorizer.canceller(.pipeline(named: "ci"), of: gate).name == "ci")
        #expect(
            try authorizer.voter(.approver("alice", via: .cli), on: .read(gate))
                == ActingPerson(name: "alice", via: .cli, credential: .token("alice")))
        #expect(try authorizer.breaker(.approver("alice"), on: gate.id).name == "alice")
    }

    @Test("a pipeline's scope holds for services and environments separately, and empty means any")
    func scope() {
        let services = Principal.pipeline(named: "shop-ci", services: ["shop"])
        #expect(authorizer.refusal(of: services, to: .openGate(service: "shop", environment: "anything")) == nil)
        #expect(
            authorizer.refusal(of: services, to: .openGate(service: "cart", environment: "production"))
                == .outOfScope(pipeline: "shop-ci", scope: .services, allowed: ["shop"], asked: "cart"))
        let environments = Principal.pipeline(named: "stage-ci", environments: ["staging"])
        #expect(
            authorizer.refusal(of: environments, to: .openGate(service: "cart", environment: "production"))
                == .outOfScope(pipeline: "stage-ci", scope: .environments, allowed: ["staging"], asked: "production"))
    }

    @Test("an unmapped Slack account is refused only where someone barred has no known Slack id; mapped people never")
    func unmappedSlackAccount() throws {
        let unmapped = Principal.person(.slack(user: "U0ZED", as: "U0ZED"))
        let barredWithSlack = Fixtures.gate(
            Fixtures.plan([("leads", 1, ["alice", "U0ZED"])], exclusions: [Exclusion(identity: "dave", role: .triggerer)]))
        #expect(authorizer.refusal(of: unmapped, to: .vote(.read(barredWithSlack))) == nil, "dave's Slack id is known: U0ZED is not dave")
        let nobodyBarred = Fixtures.gate(Fixtures.plan([("leads", 1, ["U0ZED"])]))
        #expect(authorizer.refusal(of: unmapped, to: .vote(.read(nobodyBarred))) == nil)
        let unknownAuthor = Fixtures.gate(
            Fixtures.plan([("leads", 1, ["U0ZED"])], exclusions: [Exclusion(identity: "someone-gh", role: .author)]))
        #expect(
            authorizer.refusal(of: unmapped, to: .vote(.read(unknownAuthor)))
                == .unverifiedIdentity(slackUser: "U0ZED", barred: Exclusion(identity: "someone-gh", role: .author)))
        // The same gate, from a token or a mapped account: the rule is about not knowing who the account is.
        #expect(authorizer.refusal(of: .approver("U0ZED"), to: .vote(.read(unknownAuthor))) == nil)
        #expect(authorizer.refusal(of: .person(.slack(user: "U0CAROL", as: "carol")), to: .vote(.read(unknownAuthor))) == nil)
    }

    @Test("the policy is read when the decision is made: an edit that maps the barred author's Slack id admits the account")
    func livePolicy() throws {
        let edited = try PolicyParser(file: "edited.yaml").parse(
            "people:\n  erin: { github: erin-gh, slack: U0ERIN }\ngroups:\n  leads: { members: [U0ZED] }\ndefault: { require: [ { group: leads, count: 1 } ] }"
        ).policy
        let current = Mutex(Self.policy)
        let live = Authorizer { current.withLock { $0 } }
        let unmapped = Principal.person(.slack(user: "U0ZED", as: "U0ZED"))
        #expect(live.refusal(of: unmapped, to: .vote(.read(gate)))?.code == "unverified_identity")
        current.withLock { $0 = edited }
        #expect(live.refusal(of: unmapped, to: .vote(.read(gate))) == nil)
    }

    @Test("refusals say what to do, naming the token as it was issued")
    func messages() {
        let alice = Principal.approver("alice")
        #expect(AccessRefusal.notAPipeline(alice).description == "only pipeline tokens open gates; 'alice' is an approver token")
        #expect(
            AccessRefusal.notAPerson(.pipeline(named: "ci"), doing: .vote).description == "only approver tokens vote; 'ci' is a pipeline token")
        #expect(
            AccessRefusal.notAPerson(.auditor(token: "sox"), doing: .breakGlass).description
                == "only approver tokens break glass; 'sox' is an auditor token")
        #expect(
            AccessRefusal.notAnAuditor(.pipeline(named: "ci")).description == "only auditor tokens read the audit log; 'ci' is a pipeline token")
        #expect(
            AccessRefusal.readsNoGates(.auditor(token: "sox"), gate: gate.id).description
                == "auditor tokens read the audit log (GET /v1/audit?gate=\(gate.id)), not gates")
        #expect(
            AccessRefusal.notTheOpener(openedBy: "ci").description == "only the pipeline token that opened this gate ('ci') may cancel it")
        #expect(
            AccessRefusal.outOfScope(pipeline: "ci-shop", scope: .services, allowed: ["shop", "cart"], asked: "bank").description
                == "token 'ci-shop' may open gates only for services shop, cart, not 'bank'")
        #expect(
            AccessRefusal.unverifiedIdentity(slackUser: "U0ZED", barred: Exclusion(identity: "erin", role: .author)).description
                == "separation of duties bars erin (the author) from this gate, and Greenlight cannot tell whether your Slack account "
                + "(U0ZED) is theirs: ask for 'slack: U0ZED' under your name in the policy's people")
    }
}

/// The principals a bearer token authenticates, and how the audit log names each.
@Suite("Principal")
struct PrincipalTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("each kind of token is its principal; an approver token that names no person is none")
    func fromTokens() {
        let pipeline = AccessToken(name: "ci", kind: .pipeline, services: ["shop"], environments: ["prod"], createdAt: now)
        #expect(Principal(token: pipeline, via: .api) == .pipeline(named: "ci", services: ["shop"], environments: ["prod"]))
        let approver = AccessToken(name: "alice-laptop", kind: .approver, user: "alice", createdAt: now)
        #expect(Principal(token: approver, via: .cli) == .person(ActingPerson(name: "alice", via: .cli, credential: .token("alice-laptop"))))
        #expect(Principal(token: AccessToken(name: "sox", kind: .auditor, createdAt: now), via: .api) == .auditor(token: "sox"))
        #expect(Principal(token: AccessToken(name: "nobody", kind: .approver, createdAt: now), via: .api) == nil)
    }

    @Test("the audit log's actors, rendered as docs/audit.md spells them")
    func actors() {
        #expect(Principal.pipeline(named: "ci").actor.description == "pipeline:ci")
        #expect(Principal.approver("alice").actor.description == "alice")
        #expect(Principal.person(.slack(user: "U0ZED", as: "U0ZED")).actor.description == "U0ZED")
        #expect(Principal.auditor(token: "sox").actor.description == "auditor:sox")
        #expect(Principal.greenlight.actor.description == "greenlight")
        #expect(Principal.operator.actor.description == "operator")
        #expect(AuditActor.unverified.description == "unverified")
    }

    @Test(
        "a stored actor read back renders the very same bytes, whatever it holds",
        arguments: [
            "greenlight", "operator", "unverified", "pipeline:ci", "auditor:sox", "alice", "pipeline:", "Pipeline:ci", "pipeline:\u{301}x",
            "U0ZED", "pipeline:a:b", "greenlight ", "",
        ])
    func renderedRoundTrip(_ rendered: String) {
        #expect(Array(AuditActor(rendered: rendered).description.utf8) == Array(rendered.utf8))
    }

    @Test("the fixed forms read back as what they are")
    func renderedKinds() {
        #expect(AuditActor(rendered: "greenlight") == .greenlight)
        #expect(AuditActor(rendered: "pipeline:ci") == .pipeline("ci"))
        #expect(AuditActor(rendered: "auditor:sox") == .auditor("sox"))
        #expect(AuditActor(rendered: "carol") == .person("carol"))
    }

    @Test("Slack people are unmapped exactly when they vote as their bare id")
    func unmapped() {
        #expect(ActingPerson.slack(user: "U0ZED", as: "U0ZED").isUnmappedSlackAccount)
        #expect(!ActingPerson.slack(user: "U0CAROL", as: "carol").isUnmappedSlackAccount)
        #expect(!ActingPerson(name: "U0ZED", via: .api, credential: .token("U0ZED")).isUnmappedSlackAccount)
    }
}

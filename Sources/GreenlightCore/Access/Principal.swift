import Foundation

/// Who is acting, however they were authenticated: the one input of every decision on who may do what (``Authorizer``).
///
/// Each transport turns its own credentials into a principal — HTTP a bearer token, Slack its request signature (or the
/// app's Socket Mode connection) and the policy's `people.<name>.slack`, and later the web page a session — so that the
/// rules are written once, whatever carried the request, and the audit log names the actor the same way everywhere.
public enum Principal: Sendable, Equatable {
    /// A CI/CD pipeline, by its token: opens, reads and cancels gates within the token's scope.
    case pipeline(PipelineToken)
    /// A person, by the name the gates' rules know them by, and the channel they act through.
    case person(ActingPerson)
    /// An auditor, by its token's name: reads the audit log.
    case auditor(token: String)
    /// Greenlight itself: deadlines, reminders, policy loads, notifications. It acts on the store, never through a
    /// transport, so the authorizer lets it do nothing there.
    case greenlight
    /// The operator at the CLI, working on the store itself (`token create`, `audit verify`); not through a transport
    /// either.
    case `operator`

    /// The principal a bearer `token` authenticates, acting through `via` (the API, or the CLI that says so); `nil` for
    /// an approver token that names no person, which can vouch for nobody.
    public init?(token: AccessToken, via: VoteChannel) {
        switch token.kind {
        case .pipeline:
            self = .pipeline(PipelineToken(name: token.name, services: token.services, environments: token.environments))
        case .approver:
            guard let user = token.user else { return nil }
            self = .person(ActingPerson(name: user, via: via, credential: .token(token.name)))
        case .auditor:
            self = .auditor(token: token.name)
        }
    }

    /// How the audit log names this principal: `pipeline:ci`, `alice`, `auditor:sox`, `greenlight`, `operator`.
    public var actor: AuditActor {
        switch self {
        case .pipeline(let pipeline): .pipeline(pipeline.name)
        case .person(let person): .person(person.name)
        case .auditor(let name): .auditor(name)
        case .greenlight: .greenlight
        case .operator: .operator
        }
    }

    /// The person acting, if a person is.
    public var person: ActingPerson? {
        if case .person(let person) = self { return person }
        return nil
    }

    /// What the principal is, in the words of a refusal that tells it to use another: "'ci' is a pipeline token".
    var credentialDescription: String {
        switch self {
        case .pipeline(let pipeline): "'\(pipeline.name)' is a pipeline token"
        case .person(let person):
            switch person.credential {
            case .token(let name): "'\(name)' is an approver token"
            case .slack(let user): "\(user) is a Slack account"
            }
        case .auditor(let name): "'\(name)' is an auditor token"
        case .greenlight: "Greenlight itself acts on the store, not through a token"
        case .operator: "the operator works on the store at the CLI, not through a token"
        }
    }
}

/// A pipeline's token: its name (which gates record as their opener) and its scope.
public struct PipelineToken: Sendable, Equatable {
    public var name: String
    /// Services the pipeline may act on; empty means any.
    public var services: [String]
    /// Environments the pipeline may act on; empty means any.
    public var environments: [String]

    public init(name: String, services: [String] = [], environments: [String] = []) {
        self.name = name
        self.services = services
        self.environments = environments
    }
}

/// A person acting: the name the gates' rules know them by, the channel they act through, and what vouches for them.
public struct ActingPerson: Sendable, Equatable {
    /// A name from the policy's people or a group's members; for a Slack account the policy does not map to a person
    /// (a user-group member), the bare Slack user id, which is what such a member votes as.
    public var name: String
    public var via: VoteChannel
    public var credential: Credential

    /// What vouches that the person is who they say.
    public enum Credential: Sendable, Equatable {
        /// An approver token, by its name.
        case token(String)
        /// A Slack account, by its user id: Slack signed the request, or sent it over the app's own connection.
        case slack(user: String)
    }

    public init(name: String, via: VoteChannel, credential: Credential) {
        self.name = name
        self.via = via
        self.credential = credential
    }

    /// A Slack user as the policy maps them: `person` is ``SlackDirectory``'s answer for `user`.
    public static func slack(user: String, as person: String) -> ActingPerson {
        ActingPerson(name: person, via: .slack, credential: .slack(user: user))
    }

    /// The Slack account the person acts from, when they act from one.
    public var slackUser: String? {
        if case .slack(let user) = credential { return user }
        return nil
    }

    /// Whether the person acts from a Slack account the policy's people do not map, voting as the bare id: then they
    /// could be anyone, including someone the policy knows under another name.
    public var isUnmappedSlackAccount: Bool { slackUser.map { $0 == name } ?? false }
}

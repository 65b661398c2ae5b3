import Foundation

/// The three kinds of token, each allowed exactly what its holder needs (least privilege).
public enum TokenKind: String, Sendable, Codable, CaseIterable {
    /// A CI/CD pipeline: opens and cancels gates for its services and environments, and reads them.
    case pipeline
    /// A person: reads gates and votes on them as that person.
    case approver
    /// An auditor: reads the audit log.
    case auditor
}

/// A bearer token's identity and scope, as stored. The secret itself is never stored: only its SHA-256.
public struct AccessToken: Sendable, Equatable, Codable {
    public var name: String
    public var kind: TokenKind
    /// The person an approver token votes as (a name from the policy's `people` or a group's `members`).
    public var user: String?
    /// Services a pipeline token may open gates for; empty means any.
    public var services: [String]
    /// Environments a pipeline token may open gates for; empty means any.
    public var environments: [String]
    public var createdAt: Date

    public init(name: String, kind: TokenKind, user: String? = nil, services: [String] = [], environments: [String] = [], createdAt: Date) {
        self.name = name
        self.kind = kind
        self.user = user
        self.services = services
        self.environments = environments
        self.createdAt = createdAt
    }
}

/// The body of `POST /v1/gates/{id}/votes`.
public struct VoteBody: Sendable, Equatable, Codable {
    public var decision: VoteDecision
    public var comment: String?

    public init(decision: VoteDecision, comment: String? = nil) {
        self.decision = decision
        self.comment = comment
    }
}

/// The body of `POST /v1/gates/{id}/cancel`.
public struct CancelBody: Sendable, Equatable, Codable {
    public var reason: String?

    public init(reason: String? = nil) {
        self.reason = reason
    }
}

/// The body of `POST /v1/gates/{id}/break-glass`.
public struct BreakGlassBody: Sendable, Equatable, Codable {
    public var reason: String?

    public init(reason: String? = nil) {
        self.reason = reason
    }
}

/// The answer of `GET /v1/policy`: the policy new gates open under.
public struct PolicyResource: Sendable, Equatable, Codable {
    /// Where it was read from: a file path, or `built-in`.
    public var source: String
    /// SHA-256 of the document: the `policy_hash` gates opened under it record.
    public var hash: String
    public var loadedAt: String
    /// The document as written.
    public var document: String

    public init(source: String, hash: String, loadedAt: String, document: String) {
        self.source = source
        self.hash = hash
        self.loadedAt = loadedAt
        self.document = document
    }

    enum CodingKeys: String, CodingKey {
        case source, hash, document
        case loadedAt = "loaded_at"
    }
}

/// Every error the API returns: a stable machine-readable `error` code and a `message` that says what to do.
public struct ErrorBody: Sendable, Equatable, Codable {
    public var error: String
    public var message: String

    public init(error: String, message: String) {
        self.error = error
        self.message = message
    }
}

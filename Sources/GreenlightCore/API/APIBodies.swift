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

/// Every error the API returns: a stable machine-readable `error` code and a `message` that says what to do.
public struct ErrorBody: Sendable, Equatable, Codable {
    public var error: String
    public var message: String

    public init(error: String, message: String) {
        self.error = error
        self.message = message
    }
}

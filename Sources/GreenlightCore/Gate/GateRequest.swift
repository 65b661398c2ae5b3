import Foundation

/// What a pipeline tells Greenlight when it opens a gate: the deploy it wants to make.
///
/// Everything here is *claimed* by the pipeline. Facts that Greenlight can fetch itself (digest, commit range,
/// pull-request author) are re-fetched by later versions; until then every view marks them as claimed.
public struct GateRequest: Sendable, Equatable, Codable {
    public var service: String
    public var environment: String
    public var artifact: String
    public var commit: String
    public var baseCommit: String?
    public var pullRequest: String?
    public var ticket: String?
    public var runURL: String?
    public var triggeredBy: String?
    public var authors: [String]
    public var summary: String?
    public var changedPaths: [String]
    public var costDeltaMonthly: Double?
    public var labels: [String: String]
    public var callbackURL: String?

    public init(
        service: String,
        environment: String,
        artifact: String,
        commit: String,
        baseCommit: String? = nil,
        pullRequest: String? = nil,
        ticket: String? = nil,
        runURL: String? = nil,
        triggeredBy: String? = nil,
        authors: [String] = [],
        summary: String? = nil,
        changedPaths: [String] = [],
        costDeltaMonthly: Double? = nil,
        labels: [String: String] = [:],
        callbackURL: String? = nil
    ) {
        self.service = service
        self.environment = environment
        self.artifact = artifact
        self.commit = commit
        self.baseCommit = baseCommit
        self.pullRequest = pullRequest
        self.ticket = ticket
        self.runURL = runURL
        self.triggeredBy = triggeredBy
        self.authors = authors
        self.summary = summary
        self.changedPaths = changedPaths
        self.costDeltaMonthly = costDeltaMonthly
        self.labels = labels
        self.callbackURL = callbackURL
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case service, environment, artifact, commit
        case baseCommit = "base_commit"
        case pullRequest = "pull_request"
        case ticket
        case runURL = "run_url"
        case triggeredBy = "triggered_by"
        case authors, summary
        case changedPaths = "changed_paths"
        case costDeltaMonthly = "cost_delta_monthly"
        case labels
        case callbackURL = "callback_url"
    }

    /// The names of every field a request may carry, for rejecting misspelt ones.
    public static let fieldNames: Set<String> = Set(CodingKeys.allCases.map(\.rawValue))

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.service = try container.decode(String.self, forKey: .service)
        self.environment = try container.decode(String.self, forKey: .environment)
        self.artifact = try container.decode(String.self, forKey: .artifact)
        self.commit = try container.decode(String.self, forKey: .commit)
        self.baseCommit = try container.decodeIfPresent(String.self, forKey: .baseCommit)
        self.pullRequest = try container.decodeIfPresent(String.self, forKey: .pullRequest)
        self.ticket = try container.decodeIfPresent(String.self, forKey: .ticket)
        self.runURL = try container.decodeIfPresent(String.self, forKey: .runURL)
        self.triggeredBy = try container.decodeIfPresent(String.self, forKey: .triggeredBy)
        self.authors = try container.decodeIfPresent([String].self, forKey: .authors) ?? []
        self.summary = try container.decodeIfPresent(String.self, forKey: .summary)
        self.changedPaths = try container.decodeIfPresent([String].self, forKey: .changedPaths) ?? []
        self.costDeltaMonthly = try container.decodeIfPresent(Double.self, forKey: .costDeltaMonthly)
        self.labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        self.callbackURL = try container.decodeIfPresent(String.self, forKey: .callbackURL)
    }
}

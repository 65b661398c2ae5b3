import Foundation

/// A field of a gate request that cannot be accepted, and why.
public struct RequestFieldError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "\(field): \(problem)" }
}

extension GateRequest {
    /// Limits that keep one request from filling the store or a Slack card.
    public enum Limits {
        public static let nameLength = 100
        public static let textLength = 4_000
        public static let changedPaths = 10_000
        public static let authors = 100
        public static let labels = 100
    }

    /// The request with the identities it names (`authors`, `triggered_by`) in the one form Greenlight matches people
    /// in (``Identity/normalized(_:)``), each author once. Identities that cannot be normalised are left as given, for
    /// ``validationErrors()`` to refuse.
    public func normalizingIdentities() -> GateRequest {
        // Over the limit the request is refused anyway: no work on what will not be kept.
        guard authors.count <= Limits.authors else { return self }
        var request = self
        var seen = Set<String>()
        request.authors = authors.map { (try? Identity.normalized($0).get()) ?? $0 }.filter { seen.insert(Identity.matchKey($0)).inserted }
        request.triggeredBy = triggeredBy.map { (try? Identity.normalized($0).get()) ?? $0 }
        return request
    }

    /// Checks the request's shape. Returns every problem at once so that a pipeline author fixes them in one go.
    public func validationErrors() -> [RequestFieldError] {
        var errors: [RequestFieldError] = []
        func name(_ value: String, _ field: String) {
            if value.isEmpty {
                errors.append(.init(field: field, problem: "must not be empty"))
            } else if value.count > Limits.nameLength {
                errors.append(.init(field: field, problem: "must be at most \(Limits.nameLength) characters"))
            } else if !value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-/".contains($0)) }) {
                errors.append(.init(field: field, problem: "'\(value)' may contain only letters, digits, '.', '_', '-' and '/'"))
            }
        }
        func text(_ value: String?, _ field: String) {
            if let value, value.count > Limits.textLength {
                errors.append(.init(field: field, problem: "must be at most \(Limits.textLength) characters"))
            }
        }
        name(service, "service")
        name(environment, "environment")
        if artifact.trimmingCharacters(in: .whitespaces).isEmpty {
            errors.append(.init(field: "artifact", problem: "must name the artifact, ideally by digest (image@sha256:…)"))
        }
        text(artifact, "artifact")
        if !Self.isCommitHash(commit) {
            errors.append(.init(field: "commit", problem: "'\(commit)' is not a commit hash (7 to 64 hexadecimal characters)"))
        }
        if let baseCommit, !Self.isCommitHash(baseCommit) {
            errors.append(.init(field: "base_commit", problem: "'\(baseCommit)' is not a commit hash (7 to 64 hexadecimal characters)"))
        }
        for (value, field) in [
            (pullRequest, "pull_request"), (ticket, "ticket"), (runURL, "run_url"), (triggeredBy, "triggered_by"), (summary, "summary"),
        ] {
            text(value, field)
        }
        if authors.count > Limits.authors { errors.append(.init(field: "authors", problem: "at most \(Limits.authors) authors")) }
        // Separation of duties bars these people: an identity that cannot be matched safely is refused, not passed.
        for (index, author) in authors.enumerated().prefix(Limits.authors) {
            if case .failure(let problem) = Identity.normalized(author) {
                errors.append(.init(field: "authors[\(index)]", problem: "'\(author.debugEscaped)' \(problem)"))
            }
        }
        if let triggeredBy, case .failure(let problem) = Identity.normalized(triggeredBy) {
            errors.append(.init(field: "triggered_by", problem: "'\(triggeredBy.debugEscaped)' \(problem)"))
        }
        if changedPaths.count > Limits.changedPaths {
            errors.append(.init(field: "changed_paths", problem: "at most \(Limits.changedPaths) paths"))
        }
        if labels.count > Limits.labels { errors.append(.init(field: "labels", problem: "at most \(Limits.labels) labels")) }
        if let cost = costDeltaMonthly, !cost.isFinite {
            errors.append(.init(field: "cost_delta_monthly", problem: "must be a finite number"))
        }
        if let runURL, !Self.isWebURL(runURL) {
            errors.append(.init(field: "run_url", problem: "'\(runURL)' is not an http(s) URL"))
        }
        if let callbackURL {
            if let problem = CallbackAddress.problem(with: callbackURL) {
                errors.append(.init(field: "callback_url", problem: problem))
            }
        }
        return errors
    }

    static func isCommitHash(_ value: String) -> Bool {
        (7...64).contains(value.count) && value.allSatisfy(\.isHexDigit)
    }

    static func isWebURL(_ value: String) -> Bool {
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), url.host != nil else { return false }
        return scheme == "http" || scheme == "https"
    }
}

/// Decides whether a callback URL may be called. Greenlight refuses to call private, loopback and link-local
/// addresses so that a pipeline token cannot turn the server into a probe of its own network.
public enum CallbackAddress {
    /// A reason the URL is refused, or `nil` when it may be used.
    public static func problem(with value: String, allowedHosts: Set<String> = []) -> String? {
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else {
            return "'\(value)' is not a URL"
        }
        if allowedHosts.contains(host) { return nil }
        guard scheme == "https" else { return "must use https" }
        if host == "localhost" || host.hasSuffix(".localhost") || host.hasSuffix(".internal") || host.hasSuffix(".local") {
            return "'\(host)' is a private name; callbacks go only to public addresses unless allow-listed"
        }
        if isPrivateIPv4(host) || host.contains(":") {
            return "'\(host)' is a private or literal address; callbacks go only to public host names unless allow-listed"
        }
        return nil
    }

    static func isPrivateIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4, host.split(separator: ".").count == 4 else { return false }
        switch (parts[0], parts[1]) {
        case (10, _), (127, _), (0, _), (169, 254), (192, 168): return true
        case (172, 16...31), (100, 64...127): return true
        default: return false
        }
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// Authenticates `Authorization: Bearer <token>` against the store, which keeps only SHA-256 hashes of tokens, and
/// turns the token into the ``Principal`` the routes act for (what it may do is the ``Authorizer``'s to say).
///
/// The lookup is by hash, so the secret is never compared byte by byte in application code. A missing or unknown
/// token is 401 and is logged without the token itself.
struct BearerAuthentication: RouterMiddleware {
    typealias Context = GreenlightRequestContext
    let store: any TokenRecords & AuditLog
    let recorded: RecordedTokens

    init(store: any TokenRecords & AuditLog, clock: any WallClock) {
        self.store = store
        recorded = RecordedTokens(store: store, clock: clock)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let (token, principal, secretHash) = try await Self.authenticate(request.headers, store: store) {
            context.logger.notice("refused an unknown bearer token", metadata: ["path": "\(request.uri.path)"])
        }
        try await recorded.require(token, secretHash: secretHash, logger: context.logger)
        var context = context
        context.principal = principal
        context.logger[metadataKey: "token"] = "\(token.name)"
        return try await next(request, context)
    }
}

extension BearerAuthentication {
    /// The token a request's `Authorization` header names, and the principal it acts for; an ``APIError`` (401) when
    /// there is none.
    static func authenticate(
        _ headers: HTTPFields, store: any TokenRecords, unknown: () -> Void = {}
    ) async throws -> (AccessToken, Principal, secretHash: String) {
        guard let header = headers[.authorization] else {
            throw APIError.unauthorized("missing 'Authorization: Bearer <token>'; create a token with 'greenlight token create'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        let secretHash = TokenSecret.hash(String(parts[1]))
        guard let token = try await store.token(secretHash: secretHash) else {
            unknown()
            throw APIError.unauthorized("the token is not known to this server (revoked, mistyped, or from another server)")
        }
        // The CLI says so, so that the audit log can tell a vote from the command line from one through the API.
        let via: VoteChannel = headers[.greenlightClient] == "cli" ? .cli : .api
        guard let principal = Principal(token: token, via: via) else {
            // `token create` refuses to make one; a row like it was written some other way, and vouches for nobody.
            throw APIError.unauthorized(
                "the approver token '\(token.name)' names no person; create one with 'greenlight token create --kind approver --user PERSON'")
        }
        return (token, principal, secretHash)
    }
}

/// The tokens whose `token.created` the log holds, as far as this process has checked: a token row written by hand
/// into the database, with no such event, does not authenticate. A token checked once stays checked (its row's kind,
/// person and scope were compared with the event), so a request costs one log read per token per process.
final class RecordedTokens: Sendable {
    private let store: any AuditLog
    private let clock: any WallClock
    /// One check per token (by the hash of its secret), shared by the requests that arrive while it runs (10,000 long-polls at start must not read
    /// the log 10,000 times): its answer is nil when the token agrees with its `token.created`, else why not.
    private let checks = Mutex<[String: (token: AccessToken, check: Task<String?, any Error>)]>([:])

    init(store: any AuditLog, clock: any WallClock) {
        self.store = store
        self.clock = clock
    }

    func require(_ token: AccessToken, secretHash: String, logger: Logger) async throws {
        let check = checks.withLock { checks -> Task<String?, any Error> in
            if let existing = checks[secretHash], existing.token == token { return existing.check }
            let check = Task { [store, clock] in try await Self.disagreement(of: token, secretHash: secretHash, in: store, clock: clock) }
            checks[secretHash] = (token, check)
            return check
        }
        let why: String?
        do {
            why = try await check.value
        } catch {
            // A store error is not remembered: the next request asks again.
            checks.withLock { checks in
                if checks[secretHash]?.token == token { checks[secretHash] = nil }
            }
            throw error
        }
        guard why != nil else { return }
        logger.warning("refused a token the audit log never recorded", metadata: ["token": "\(token.name)"])
        throw APIError.unauthorized(
            "the token '\(token.name)' is not in the audit log (no token.created): it was not made by Greenlight, and is refused")
    }

    private static func disagreement(
        of token: AccessToken, secretHash: String, in store: any AuditLog, clock: any WallClock
    ) async throws -> String? {
        let created = try await store.allEvents(AuditQuery(action: AuditAction.tokenCreated.rawValue)).filter { $0.details["name"] == token.name }
        // Said and audited once per token and process, however often it is presented.
        guard let why = LogAgreement.disagreement(of: token, secretHash: secretHash, with: created) else { return nil }
        Logger(label: "greenlight").critical("a token the audit log never recorded is stored: \(why)")
        try? await store.record(AuditDraft(StateMismatch(message: why, token: token.name), by: .greenlight, at: clock.now()))
        return why
    }
}

extension HTTPField.Name {
    /// Set by the `greenlight` CLI so that the audit log can say a vote came from the command line.
    static let greenlightClient = Self("X-Greenlight-Client")!
}

import GreenlightCore
import GreenlightStore
import HTTPTypes
import Hummingbird

/// Authenticates `Authorization: Bearer <token>` against the store, which keeps only SHA-256 hashes of tokens, and
/// turns the token into the ``Principal`` the routes act for (what it may do is the ``Authorizer``'s to say).
///
/// The lookup is by hash, so the secret is never compared byte by byte in application code. A missing or unknown
/// token is 401 and is logged without the token itself.
struct BearerAuthentication: RouterMiddleware {
    typealias Context = GreenlightRequestContext
    let store: any TokenRecords

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let (token, principal) = try await Self.authenticate(request.headers, store: store) {
            context.logger.notice("refused an unknown bearer token", metadata: ["path": "\(request.uri.path)"])
        }
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
    ) async throws -> (AccessToken, Principal) {
        guard let header = headers[.authorization] else {
            throw APIError.unauthorized("missing 'Authorization: Bearer <token>'; create a token with 'greenlight token create'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        guard let token = try await store.token(secretHash: TokenSecret.hash(String(parts[1]))) else {
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
        return (token, principal)
    }
}

extension HTTPField.Name {
    /// Set by the `greenlight` CLI so that the audit log can say a vote came from the command line.
    static let greenlightClient = Self("X-Greenlight-Client")!
}

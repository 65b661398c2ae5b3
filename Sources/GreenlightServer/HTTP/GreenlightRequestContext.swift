import GreenlightCore
import Hummingbird

/// The request context of every Greenlight route: the authenticated token (when there is one) and the body limit.
public struct GreenlightRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``BearerAuthentication`` for `/v1` routes.
    public var token: AccessToken?
    /// The peer's IP address, for the audit record of a refused request.
    public let remoteAddress: String?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies over 1 MiB are refused with 413: no gate request, vote or Slack payload comes near it.
    public var maxUploadSize: Int { 1 << 20 }

    /// The authenticated token; the authentication middleware guarantees one on `/v1` routes.
    func requireToken() throws -> AccessToken {
        guard let token else { throw APIError.unauthorized("this route needs 'Authorization: Bearer <token>'") }
        return token
    }
}

import GreenlightCore
import Hummingbird

/// The request context of every Greenlight route: who is acting (when authenticated) and the body limit.
public struct GreenlightRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Who is acting: set by ``BearerAuthentication`` for `/v1` routes.
    public var principal: Principal?
    /// The peer's IP address, for the audit record of a refused request.
    public let remoteAddress: String?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies over 1 MiB are refused with 413: no gate request, vote or Slack payload comes near it.
    public var maxUploadSize: Int { 1 << 20 }

    /// Who is acting; the authentication middleware guarantees one on `/v1` routes.
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw APIError.unauthorized("this route needs 'Authorization: Bearer <token>'") }
        return principal
    }
}

import GreenlightAPI
import GreenlightCore
import GreenlightStore
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error a route throws into the API's JSON error shape, so that clients see one format.
///
/// Errors that carry an HTTP status (a 404 from the router, a 413 from the body limit) keep it; anything else is an
/// unexpected failure: 500, logged with the request, and a message that gives nothing away.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Seconds a client is asked to wait while the database is away: a few of the store's one-second probes.
    static var unavailableRetryAfter: Int { 5 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as StoreError where error.isRetryable {
            // Other writers kept changing what this request's change was computed from (the ledger retried it): nothing
            // was written, and the same request may well succeed at once.
            context.logger.warning("a change kept conflicting with other writers", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return JSONResponse.make(
                status: .serviceUnavailable, ErrorBody(error: "conflict", message: error.description), headers: [.retryAfter: "1"])
        } catch let error as StoreError where error.isUnavailable {
            // The database is away: the store answers at once while it is (it does not hold requests), and the client
            // tries again; /readyz fails meanwhile, so a load balancer sends the requests to replicas that can.
            context.logger.warning("the database is unavailable", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return JSONResponse.make(
                status: .serviceUnavailable, ErrorBody(error: "database_unavailable", message: error.description),
                headers: [.retryAfter: "\(Self.unavailableRetryAfter)"])
        } catch let error as any HTTPResponseError {
            let (code, message) = Self.describe(error.status)
            return JSONResponse.make(status: error.status, ErrorBody(error: code, message: message))
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return JSONResponse.make(
                status: .internalServerError,
                ErrorBody(error: "internal", message: "the server failed to handle the request; it has been logged (request id \(context.id))")
            )
        }
    }

    static func describe(_ status: HTTPResponse.Status) -> (String, String) {
        switch status {
        case .contentTooLarge: ("request_too_large", "the request body is larger than 1 MiB")
        case .notFound: ("not_found", "no such route; see DESIGN.md section 3.2 for the API")
        case .methodNotAllowed: ("method_not_allowed", "this route does not take that method")
        default: ("http_\(status.code)", status.reasonPhrase)
        }
    }
}

import Foundation
import GreenlightAPI
import GreenlightCore
import Hummingbird

/// An error answer of the API: a status, a stable `error` code and a `message` that says what to do.
public struct APIError: Error, HTTPResponseError, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status: status, ErrorBody(error: code, message: message))
    }

    static func badRequest(_ message: String, code: String = "bad_request") -> APIError { .init(.badRequest, code: code, message: message) }
    static func unauthorized(_ message: String) -> APIError { .init(.unauthorized, code: "unauthorized", message: message) }
    static func forbidden(_ message: String, code: String = "forbidden") -> APIError { .init(.forbidden, code: code, message: message) }
    static func notFound(_ message: String) -> APIError { .init(.notFound, code: "not_found", message: message) }
    static func conflict(_ message: String, code: String) -> APIError { .init(.conflict, code: code, message: message) }
    static func unprocessable(_ message: String, code: String = "invalid_request") -> APIError {
        .init(.unprocessableContent, code: code, message: message)
    }

    /// The answer to a principal the ``Authorizer`` refused: 403 with the refusal's code, but for a read of the audit
    /// log, whose refusal the API has answered `forbidden` since it began (the audit event's reason is the precise
    /// `not_an_auditor_token`).
    init(_ refusal: AccessRefusal) {
        switch refusal {
        case .notAnAuditor: self = .forbidden(refusal.description)
        case .notAPipeline, .outOfScope, .readsNoGates, .notAPerson, .notTheOpener, .unverifiedIdentity:
            self = .forbidden(refusal.description, code: refusal.code)
        }
    }

    /// The answer to a refused vote, cancel or break-glass: 409 when the gate's state forbids it, 403 when the person may
    /// not, 422 without a reason, 429 past the daily break-glass limit.
    static func refusal(_ refusal: VoteRefusal) -> APIError {
        switch refusal {
        case .gateDecided, .alreadyVoted, .stageNotOpen, .stageMet: .conflict(refusal.description, code: refusal.code)
        case .separationOfDuties, .notAnApprover, .breakGlassNotConfigured, .breakGlassNotAllowed: .forbidden(refusal.description, code: refusal.code)
        case .breakGlassReasonMissing: .unprocessable(refusal.description, code: refusal.code)
        case .breakGlassLimitReached: .init(.tooManyRequests, code: refusal.code, message: refusal.description)
        }
    }
}

/// Builds JSON responses with the encoder every Greenlight answer uses.
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = Timestamp.jsonEncodingStrategy
        return encoder
    }()

    static func make(status: HTTPResponse.Status = .ok, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        var data = (try? encoder.encode(value)) ?? Data(#"{"error":"internal","message":"the answer could not be encoded"}"#.utf8)
        data.append(0x0A)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTransparency
import Hummingbird

/// `GET /v1/audit`: the evidence, for auditor tokens.
struct AuditRoutes {
    let store: any AuditLog
    let authorizer: Authorizer
    let clock: any WallClock
    /// Signs the log's checkpoints, when the server has a signing key.
    let checkpoints: AuditCheckpoints?

    /// A page of events. `next_after` is the `after` to ask for the next page, present when this page is full.
    struct Page: Encodable {
        var events: [AuditEvent]
        var nextAfter: Int64?

        enum CodingKeys: String, CodingKey {
            case events
            case nextAfter = "next_after"
        }
    }

    func register(on group: RouterGroup<GreenlightRequestContext>) {
        group.get("audit", use: query)
        group.get("audit/log/checkpoint", use: checkpoint)
    }

    /// `GET /v1/audit/log/checkpoint`: the latest signed checkpoint, as the C2SP note it is (text/plain).
    @Sendable func checkpoint(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        do throws(AccessRefusal) { try authorizer.auditReader(principal) } catch {
            try await store.record(AuditDraft(AuditReadRefused(error), by: principal.actor, at: clock.now()))
            throw APIError(error)
        }
        guard let checkpoints else {
            throw APIError(
                .notFound, code: "checkpoints_off",
                message: "this server signs no checkpoints: give it a key with --signing-key-file or GREENLIGHT_SIGNING_KEY")
        }
        guard let note = checkpoints.latest else {
            throw APIError(.serviceUnavailable, code: "no_checkpoint_yet", message: "the first checkpoint is not signed yet; ask again in a second")
        }
        var response = Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: note.encoded)))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func query(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        do throws(AccessRefusal) { try authorizer.auditReader(principal) } catch {
            try await store.record(AuditDraft(AuditReadRefused(error), by: principal.actor, at: clock.now()))
            throw APIError(error)
        }
        let parameters = request.uri.queryParameters
        let known: Set<String> = ["service", "environment", "actor", "gate", "action", "since", "until", "after", "limit"]
        if let unknown = parameters.map({ String($0.key) }).first(where: { !known.contains($0) }) {
            throw APIError.badRequest(
                "unknown parameter '\(unknown)'; the filters are \(known.sorted().joined(separator: ", "))", code: "unknown_parameter")
        }
        func text(_ name: String) -> String? { parameters.get(name).flatMap { $0.isEmpty ? nil : $0 } }
        func date(_ name: String) throws -> Date? {
            guard let value = text(name) else { return nil }
            guard let date = Timestamp.parse(value) else {
                throw APIError.badRequest("\(name) must be an RFC 3339 time like 2026-11-22T14:32:00Z, not '\(value)'", code: "invalid_parameter")
            }
            return date
        }
        func integer(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
            guard let value = text(name) else { return nil }
            guard let number = Int64(value), range.contains(number) else {
                throw APIError.badRequest(
                    "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(value)'", code: "invalid_parameter")
            }
            return number
        }
        let limit = Int(try integer("limit", in: 1...1_000) ?? 1_000)
        let query = AuditQuery(
            service: text("service"),
            environment: text("environment"),
            actor: text("actor"),
            gateID: text("gate"),
            action: text("action"),
            since: try date("since"),
            until: try date("until"),
            after: try integer("after", in: 0...Int64.max),
            limit: limit
        )
        let events = try await store.auditEvents(query)
        return JSONResponse.make(Page(events: events, nextAfter: events.count == limit ? events.last?.sequence : nil))
    }
}

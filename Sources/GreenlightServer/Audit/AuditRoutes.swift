import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Hummingbird

/// `GET /v1/audit`: the evidence, for auditor tokens.
struct AuditRoutes {
    let store: any AuditLog
    let authorizer: Authorizer
    let clock: any WallClock

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

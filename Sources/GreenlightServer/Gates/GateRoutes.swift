import Foundation
import GreenlightAPI
import GreenlightCore
import GreenlightStore
import HTTPTypes
import Hummingbird

/// `/v1/gates`: open, read (and long-poll), vote, cancel, break glass; `/v1/policy`: the policy in force.
struct GateRoutes {
    let gatekeeper: Gatekeeper
    let publicURL: PublicURL

    func register(on group: RouterGroup<GreenlightRequestContext>) {
        group.post("gates", use: open)
        group.get("gates/:id", use: show)
        group.post("gates/:id/votes", use: vote)
        group.post("gates/:id/cancel", use: cancel)
        group.post("gates/:id/break-glass", use: breakGlass)
        group.get("policy", use: policy)
    }

    @Sendable func open(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let body = try await StrictJSONBody.decode(GateRequest.self, fields: GateRequest.fieldNames, from: request, context: context)
        let opened = try await gatekeeper.open(body, by: principal, idempotencyKey: request.headers[.idempotencyKey])
        try await gatekeeper.checkAgainstLog(opened.gate, for: principal)
        let resource = GateResource(opened.gate, baseURL: publicURL.value)
        switch opened {
        case .created:
            return JSONResponse.make(status: .created, resource, headers: [.location: resource.url])
        case .replayed:
            return JSONResponse.make(status: .ok, resource, headers: [.idempotentReplayed: "true"])
        }
    }

    @Sendable func show(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try gateID(context)
        let gate: Gate
        if let wait = request.uri.queryParameters.get("wait") {
            guard let seconds = Double(wait), seconds.isFinite, (0...Gatekeeper.maximumWait).contains(seconds) else {
                throw APIError.badRequest(
                    "wait must be a number of seconds from 0 to \(Int(Gatekeeper.maximumWait)), not '\(wait)'", code: "invalid_wait")
            }
            gate = try await gatekeeper.waitForDecision(id, for: principal, seconds: seconds)
        } else {
            gate = try await gatekeeper.gate(id, for: principal)
        }
        try await gatekeeper.checkAgainstLog(gate, for: principal)
        return JSONResponse.make(GateResource(gate, baseURL: publicURL.value))
    }

    @Sendable func vote(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try gateID(context)
        let body = try await StrictJSONBody.decode(VoteBody.self, fields: ["decision", "comment"], from: request, context: context)
        let gate = try await gatekeeper.vote(body, on: id, by: principal)
        return JSONResponse.make(GateResource(gate, baseURL: publicURL.value))
    }

    @Sendable func cancel(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try gateID(context)
        let body = try await StrictJSONBody.decode(CancelBody.self, fields: ["reason"], from: request, context: context, emptyAs: CancelBody())
        let gate = try await gatekeeper.cancel(id, reason: body.reason, by: principal)
        return JSONResponse.make(GateResource(gate, baseURL: publicURL.value))
    }

    @Sendable func breakGlass(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try gateID(context)
        let body = try await StrictJSONBody.decode(
            BreakGlassBody.self, fields: ["reason"], from: request, context: context, emptyAs: BreakGlassBody())
        let gate = try await gatekeeper.breakGlass(id, reason: body.reason, by: principal)
        return JSONResponse.make(GateResource(gate, baseURL: publicURL.value))
    }

    /// Any valid token may read the policy: pipelines and approvers are entitled to know the rules they are held to.
    @Sendable func policy(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        do throws(AccessRefusal) { try gatekeeper.authorizer.authorize(principal, to: .readPolicy) } catch { throw APIError(error) }
        let policy = gatekeeper.policy
        let resource = PolicyResource(
            source: policy.source, hash: policy.hash, loadedAt: Timestamp.format(gatekeeper.livePolicy.loadedAt), document: policy.document)
        return JSONResponse.make(resource)
    }

    private func gateID(_ context: GreenlightRequestContext) throws -> GateID {
        let raw = context.parameters.get("id") ?? ""
        guard let id = GateID(raw) else { throw APIError.notFound("no gate \(raw): gate ids look like g_ followed by 20 characters") }
        return id
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}

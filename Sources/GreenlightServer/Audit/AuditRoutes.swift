import Foundation
import GreenlightAPI
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTransparency
import Hummingbird

/// `GET /v1/audit`: the evidence, for auditor tokens.
struct AuditRoutes {
    let store: any AuditLog
    let gatekeeper: Gatekeeper
    let clock: any WallClock
    var authorizer: Authorizer { gatekeeper.authorizer }
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
        group.get("audit/log/tile/**", use: tile)
        group.get("audit/proof/inclusion", use: inclusionProof)
        group.get("audit/proof/consistency", use: consistencyProof)
        group.get("gates/:id/proof", use: gateProof)
        group.get("gates/:id/attestation", use: attestation)
        group.get("gates/:id/evidence", use: evidence)
    }

    /// RFC 6962's names for the proofs (`get-proof-by-hash`, `get-sth-consistency`), the hashes in base64.
    struct InclusionProof: Encodable {
        var leafIndex: UInt64
        var treeSize: UInt64
        var auditPath: [String]

        enum CodingKeys: String, CodingKey {
            case leafIndex = "leaf_index"
            case treeSize = "tree_size"
            case auditPath = "audit_path"
        }
    }

    struct ConsistencyProof: Encodable {
        var first: UInt64
        var second: UInt64
        var consistency: [String]
    }

    /// `GET /v1/audit/proof/inclusion?index=N&size=M`: that event N (leaf N, the event of sequence N + 1) is in the
    /// tree of the first M, to check against a checkpoint of size M.
    @Sendable func inclusionProof(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        try await requireAuditor(context)
        let parameters = try ProofParameters(request, names: ["index", "size"])
        let (index, size) = (try parameters.number("index"), try parameters.number("size"))
        guard index < size else {
            throw APIError.badRequest("index must be below size (leaf \(index) is not in a tree of \(size))", code: "invalid_parameter")
        }
        let proof = try await proving { checkpoints in try await checkpoints.inclusionProof(index: index, size: size) }
        return JSONResponse.make(InclusionProof(leafIndex: index, treeSize: size, auditPath: proof.map(\.base64)))
    }

    /// `GET /v1/audit/proof/consistency?from=A&to=B`: that the tree of the first A events is the beginning of the
    /// tree of the first B, to check one checkpoint against a later one.
    @Sendable func consistencyProof(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        try await requireAuditor(context)
        let parameters = try ProofParameters(request, names: ["from", "to"])
        let (from, to) = (try parameters.number("from"), try parameters.number("to"))
        guard from <= to else { throw APIError.badRequest("from must not be above to", code: "invalid_parameter") }
        let proof = try await proving { checkpoints in try await checkpoints.consistencyProof(from: from, to: to) }
        return JSONResponse.make(ConsistencyProof(first: from, second: to, consistency: proof.map(\.base64)))
    }

    /// `GET /v1/gates/{id}/proof`: the decided gate's C2SP `tlog-proof` — its `gate.decided` event's index, the
    /// inclusion proof, and the latest published checkpoint — with the event itself as the proof's extra data, so that
    /// `greenlight audit verify --proof` checks the decision with no server. For whoever may read the gate.
    @Sendable func gateProof(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let (gate, checkpoints) = try await decidedGate(context)
        guard let (_, proof) = try await decisionProof(of: gate.id, checkpoints: checkpoints) else { return Self.proofNotReady() }
        var response = Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: proof.encoded)))
        response.headers[.contentDisposition] = "attachment; filename=\"\(gate.id).tlog-proof\""
        return response
    }

    /// `GET /v1/gates/{id}/attestation`: an approved gate's DSSE envelope (``DeploymentAttestation``), for whoever
    /// may read the gate. 409 for a gate not approved, or whose artifact is not named by digest.
    @Sendable func attestation(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let (gate, checkpoints) = try await decidedGate(context)
        guard let (decided, proof) = try await decisionProof(of: gate.id, checkpoints: checkpoints) else { return Self.proofNotReady() }
        // Signed from a row the log agrees with only: an artifact or environment edited into the row is never attested.
        try await gatekeeper.requireAgreement(of: gate, refusing: "no attestation is signed")
        let statement: [UInt8]
        do {
            statement = try DeploymentAttestation.statement(for: gate, decided: decided, proof: proof)
        } catch {
            switch error {
            case .notApproved: throw APIError(.conflict, code: "not_approved", message: error.description)
            case .noDigest: throw APIError(.conflict, code: "no_digest", message: error.description)
            default: throw APIError(.internalServerError, code: "attestation_failed", message: error.description)
            }
        }
        let envelope = try checkpoints.envelope(payload: statement, type: DeploymentAttestation.payloadType)
        var response = JSONResponse.make(envelope)
        response.headers[.contentDisposition] = "attachment; filename=\"\(gate.id).intoto.json\""
        return response
    }

    /// The gate of the `:id` parameter, decided, as its reader may see it; and the transparency log.
    private func decidedGate(_ context: GreenlightRequestContext) async throws -> (Gate, AuditCheckpoints) {
        let principal = try context.requirePrincipal()
        let raw = context.parameters.get("id") ?? ""
        guard let id = GateID(raw) else { throw APIError.notFound("no gate \(raw): gate ids look like g_ followed by 20 characters") }
        let gate = try await gatekeeper.gate(id, for: principal)
        guard gate.state.isDecided else {
            throw APIError(.conflict, code: "gate_pending", message: "gate \(id) is pending: there is no decision to prove yet")
        }
        return (gate, try requireCheckpoints())
    }

    /// The gate's `gate.decided` event and its C2SP `tlog-proof` in the latest published checkpoint, the event as the
    /// proof's extra data; nil until a published checkpoint holds it.
    private func decisionProof(of gate: GateID, checkpoints: AuditCheckpoints) async throws -> (AuditEvent, TransparencyProof)? {
        let query = AuditQuery(gateID: gate.description, action: AuditAction.gateDecided.rawValue, limit: 1)
        guard let decided = try await store.auditEvents(query).first, decided.sequence >= 1 else {
            throw APIError(
                .internalServerError, code: "audit_log_broken", message: "gate \(gate) is decided but its gate.decided event is missing")
        }
        let index = UInt64(decided.sequence - 1)
        guard let note = checkpoints.latest, let size = try? GreenlightTransparency.Checkpoint(text: note.text).size, size > index else {
            return nil
        }
        let path = try await proving { checkpoints in try await checkpoints.inclusionProof(index: index, size: size) }
        return (decided, TransparencyProof(extra: AuditLeaves.leaf(of: decided), index: index, proof: path, checkpoint: note))
    }

    /// `GET /v1/gates/{id}/evidence`: the deploy record (``DeployEvidence``), from the gate's audit events and its
    /// decision's proof, for auditor tokens.
    @Sendable func evidence(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        try await requireAuditor(context)
        let raw = context.parameters.get("id") ?? ""
        guard let id = GateID(raw) else { throw APIError.notFound("no gate \(raw): gate ids look like g_ followed by 20 characters") }
        let events = try await store.allEvents(ofGate: id.description)
        guard !events.isEmpty else { throw APIError.notFound("the audit log has no events of gate \(id)") }
        var proof: TransparencyProof?
        if events.contains(where: { $0.action == AuditAction.gateDecided.rawValue }), let checkpoints {
            proof = try await decisionProof(of: id, checkpoints: checkpoints)?.1
        }
        let document = DeployEvidence.document(gateID: id.description, events: events, proof: proof)
        let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func proofNotReady() -> Response {
        let message = "the decision is not in a published checkpoint yet (one is signed, and cosigned, about every second); ask again"
        return JSONResponse.make(status: .serviceUnavailable, ErrorBody(error: "proof_not_ready", message: message), headers: [.retryAfter: "1"])
    }

    /// A proof from the tree the checkpoint signer keeps. A size beyond it is the client's mistake (404, as RFC 6962
    /// logs answer).
    private func proving(_ body: (AuditCheckpoints) async throws -> [TreeHash]) async throws -> [TreeHash] {
        let checkpoints = try requireCheckpoints()
        do {
            return try await body(checkpoints)
        } catch let error as ProofError {
            if case .treeTooSmall(let size, let have) = error {
                throw APIError(.notFound, code: "tree_too_large", message: "the log's tree holds \(have) event(s), fewer than \(size)")
            }
            throw APIError(.internalServerError, code: "audit_log_broken", message: "no proof could be made: \(error)")
        }
    }

    private func requireCheckpoints() throws -> AuditCheckpoints {
        guard let checkpoints else {
            throw APIError(
                .notFound, code: "checkpoints_off",
                message: "this server keeps no transparency log: give it a key with --signing-key-file or GREENLIGHT_SIGNING_KEY")
        }
        return checkpoints
    }

    /// `GET /v1/audit/log/tile/<L>/<N>[.p/<W>]` and `…/tile/entries/<N>[.p/<W>]`: the log in C2SP `tlog-tiles` form,
    /// so that tile-reading tools and file mirrors can fetch and check it. Immutable once served: a tile not (yet)
    /// in the tree is 404, never a shorter one.
    @Sendable func tile(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        try await requireAuditor(context)
        let checkpoints = try requireCheckpoints()
        let elements = context.parameters.getCatchAll()
        guard let path = TilePath(elements: elements) else {
            throw APIError(
                .notFound, code: "no_such_tile",
                message:
                    "'tile/\(elements.joined(separator: "/").prefix(80))' is not a tile: tile/<level>/<index>[.p/<width>] or tile/entries/<index>[.p/<width>], the index in x-prefixed groups of three digits"
            )
        }
        let body: [UInt8]
        switch path.content {
        case .hashes(let level) where level >= 1:
            guard let hashes = checkpoints.tile(level: level, index: path.index, width: path.width) else { throw Self.noTile(path) }
            body = hashes.flatMap(\.bytes)
        case .hashes:
            let events = try await checkpoints.events(ofTile: path.index)
            guard events.count >= path.width else { throw Self.noTile(path) }
            body = events.prefix(path.width).flatMap { AuditLeaves.leafHash(of: $0).bytes }
        case .entries:
            let events = try await checkpoints.events(ofTile: path.index)
            guard events.count >= path.width else { throw Self.noTile(path) }
            guard let bundle = EntryBundle.encode(events.prefix(path.width).map(AuditLeaves.leaf(of:))) else {
                throw APIError(
                    .internalServerError, code: "entry_too_large",
                    message: "an event of \(path) is over \(EntryBundle.entryLimit) bytes, more than an entry bundle holds")
            }
            body = bundle
        }
        var response = Response(
            status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        // Behind a token: a shared cache must not keep it, the client may for good.
        response.headers[.cacheControl] = "private, max-age=31536000, immutable"
        return response
    }

    private static func noTile(_ path: TilePath) -> APIError {
        APIError(.notFound, code: "no_such_tile", message: "the log holds no \(path.isPartial ? "partial " : "")\(path) yet")
    }

    /// Lets an auditor through; audits and answers the refusal of anyone else.
    private func requireAuditor(_ context: GreenlightRequestContext) async throws {
        let principal = try context.requirePrincipal()
        do throws(AccessRefusal) { try authorizer.auditReader(principal) } catch {
            try await store.record(AuditDraft(AuditReadRefused(error), by: principal.actor, at: clock.now()))
            throw APIError(error)
        }
    }

    /// A proof's two numbers: each required, a whole number from 0 to 2^63 − 1, and nothing else in the query.
    private struct ProofParameters {
        let parameters: [String: String]

        init(_ request: Request, names: Set<String>) throws {
            var parameters: [String: String] = [:]
            for (key, value) in request.uri.queryParameters {
                guard names.contains(String(key)) else {
                    throw APIError.badRequest(
                        "unknown parameter '\(key)'; a proof takes \(names.sorted().joined(separator: " and "))", code: "unknown_parameter")
                }
                parameters[String(key)] = String(value)
            }
            self.parameters = parameters
        }

        func number(_ name: String) throws -> UInt64 {
            guard let text = parameters[name] else { throw APIError.badRequest("\(name) is required", code: "missing_parameter") }
            guard let number = UInt64(text), number <= UInt64(Int64.max) else {
                throw APIError.badRequest(
                    "\(name) must be a whole number from 0 to \(Int64.max), not '\(text.prefix(40))'", code: "invalid_parameter")
            }
            return number
        }
    }

    /// `GET /v1/audit/log/checkpoint`: the latest signed checkpoint, as the C2SP note it is (text/plain).
    @Sendable func checkpoint(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        try await requireAuditor(context)
        let checkpoints = try requireCheckpoints()
        guard let note = checkpoints.latest else {
            throw APIError(.serviceUnavailable, code: "no_checkpoint_yet", message: "the first checkpoint is not signed yet; ask again in a second")
        }
        var response = Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: note.encoded)))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func query(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        try await requireAuditor(context)
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

import Foundation
import GreenlightAPI
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging

/// What the API does with gates, whatever carries the request (HTTP today; Slack and the web page later): who may
/// do what, evaluated once here, with every change and refusal committed by the store.
public struct Gatekeeper: Sendable {
    public let store: any GateStore
    /// Every change of a gate goes through here: the store-neutral rules that compute it and have the store apply it.
    public let ledger: GateLedger
    /// The policy in force, replaced when an edited policy file validates (see ``PolicyReloader``).
    public let livePolicy: LivePolicy
    public let clock: any WallClock
    /// Members of groups kept in Slack user groups, by group name, as last read from Slack (empty without Slack).
    let usergroupMembers: @Sendable () -> [String: [String]]
    /// The longest `?wait=` a client may ask for.
    public static let maximumWait: Double = 300
    let drain: OneShotSignal

    /// - Parameter channels: the channels gate changes enqueue outbound work for (`.slack` when Slack is set up; none
    ///   when nothing is configured to deliver it).
    public init(
        store: any GateStore, policy: Policy, clock: any WallClock, notifying channels: Set<NotificationChannel> = [],
        usergroupMembers: @escaping @Sendable () -> [String: [String]] = { [:] }
    ) {
        self.init(store: store, livePolicy: LivePolicy(policy), clock: clock, notifying: channels, usergroupMembers: usergroupMembers)
    }

    public init(
        store: any GateStore, livePolicy: LivePolicy, clock: any WallClock, notifying channels: Set<NotificationChannel> = [],
        usergroupMembers: @escaping @Sendable () -> [String: [String]] = { [:] }
    ) {
        self.store = store
        self.ledger = GateLedger(store: store, notifying: channels)
        self.livePolicy = livePolicy
        self.clock = clock
        self.usergroupMembers = usergroupMembers
        self.drain = OneShotSignal()
    }

    /// The policy new gates open under. A gate already open keeps the plan it opened with (invariant 7).
    public var policy: Policy { livePolicy.current }

    /// Opens a gate for `request` on behalf of a pipeline `token`. A gate opened inside a freeze window is stored
    /// rejected at once, with reason `frozen:<name>`.
    public func open(_ request: GateRequest, token: AccessToken, idempotencyKey: String?) async throws -> OpenedGate {
        // Identities are put in one form here, where they enter, so that separation of duties matches them.
        let request = request.normalizingIdentities()
        let errors = request.validationErrors()
        if !errors.isEmpty {
            throw APIError.unprocessable(errors.map(\.description).joined(separator: "; "))
        }
        let refusal: String? =
            token.kind != .pipeline
            ? "only pipeline tokens open gates; '\(token.name)' is an \(token.kind.rawValue) token"
            : token.scopeRefusal(service: request.service, environment: request.environment)
        if let refusal {
            try await store.record(
                AuditDraft(
                    at: clock.now(), actor: token.actor, action: .gateOpenRefused, service: request.service, environment: request.environment,
                    artifact: request.artifact, details: ["reason": "out_of_scope", "message": refusal]
                )
            )
            throw APIError.forbidden(refusal, code: "out_of_scope")
        }
        if let key = idempotencyKey, key.isEmpty || key.count > 200 {
            throw APIError.badRequest("Idempotency-Key must be 1 to 200 characters", code: "invalid_idempotency_key")
        }
        let policy = policy
        let now = Timestamp.truncated(clock.now())
        let plan = policy.plan(for: request, usergroupMembers: usergroupMembers(), at: now)
        // A rule whose group lives in a Slack user group not read yet would freeze nobody as eligible, and the gate could
        // only time out: refuse it now, with what to check, and let the pipeline retry.
        for requirement in plan.requirements where plan.gated && plan.frozen == nil && requirement.eligible.isEmpty {
            let usergroup = policy.groups[requirement.group]?.slackUsergroup ?? "-"
            throw APIError(
                .serviceUnavailable, code: "approvers_unknown",
                message:
                    "group '\(requirement.group)' has no known members yet: its Slack user group \(usergroup) has not been read "
                    + "(check the bot token's usergroups:read scope and the server log); retry in a minute")
        }
        let gate = Gate(id: .generate(), request: request, openedBy: token.name, plan: plan, createdAt: now)
        do {
            return try await ledger.open(gate, idempotencyKey: idempotencyKey)
        } catch let error as StoreError {
            if case .idempotencyKeyReused = error { throw APIError.unprocessable(error.description, code: "idempotency_key_reused") }
            throw error
        }
    }

    /// The gate `id` as `token` may see it.
    public func gate(_ id: GateID, token: AccessToken) async throws -> Gate {
        if token.kind == .auditor {
            throw APIError.forbidden("auditor tokens read the audit log (GET /v1/audit?gate=\(id)), not gates", code: "not_allowed")
        }
        guard let gate = try await store.gate(id) else { throw APIError.notFound("no gate \(id)") }
        if token.kind == .pipeline, let refusal = token.scopeRefusal(service: gate.request.service, environment: gate.request.environment) {
            throw APIError.forbidden(refusal, code: "out_of_scope")
        }
        return gate
    }

    /// The gate once it is decided, or as it is when `seconds` have passed (or the server begins shutting down).
    ///
    /// Subscribes to the gate's changes before reading it, so that a decision committed in between is not missed; then
    /// waits on the subscription. No polling: the response leaves the moment the deciding transaction commits.
    public func waitForDecision(_ id: GateID, token: AccessToken, seconds: Double) async throws -> Gate {
        let changes = store.changes.subscribe(to: id)
        defer { changes.cancel() }
        let current = try await gate(id, token: token)
        guard !current.state.isDecided, seconds > 0, !drain.isFired else { return current }
        let deadline = clock.now().addingTimeInterval(seconds)
        let decided = await withTaskGroup(of: Gate?.self) { group in
            group.addTask {
                for await gate in changes where gate.state.isDecided { return gate }
                return nil
            }
            group.addTask { [clock] in
                try? await clock.sleep(until: deadline)
                return nil
            }
            group.addTask { [drain] in
                await drain.wait()
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let decided { return decided }
        return try await store.gate(id) ?? current
    }

    /// Records `token`'s person's vote.
    public func vote(_ body: VoteBody, on id: GateID, token: AccessToken, via: VoteChannel) async throws -> Gate {
        guard token.kind == .approver, let person = token.user else {
            throw try await refuseNonPerson(
                token, on: id, doing: "vote", action: .voteRefused, details: ["decision": body.decision.rawValue])
        }
        if let comment = body.comment, comment.count > GateRequest.Limits.textLength {
            throw APIError.unprocessable("comment must be at most \(GateRequest.Limits.textLength) characters")
        }
        do {
            switch try await castVote(as: person, body.decision, comment: body.comment, on: id, via: via) {
            case .recorded(let gate): return gate
            case .refused(let refusal, _): throw APIError.refusal(refusal)
            }
        } catch StoreError.gateNotFound {
            throw APIError.notFound("no gate \(id)")
        }
    }

    /// Records `person`'s vote, however they were authenticated (a token, or Slack's signature and the policy's
    /// `people.<name>.slack`). The store applies the gate's frozen rules and audits a refusal.
    public func castVote(as person: String, _ decision: VoteDecision, comment: String?, on id: GateID, via: VoteChannel) async throws -> GateChange {
        let comment = comment?.nilIfBlank.map { String($0.prefix(GateRequest.Limits.textLength)) }
        return try await ledger.castVote(Vote(voter: person, decision: decision, comment: comment, at: clock.now(), via: via), on: id)
    }

    /// Cancels a pending gate; only the pipeline token that opened it may.
    public func cancel(_ id: GateID, reason: String?, token: AccessToken) async throws -> Gate {
        guard let gate = try await store.gate(id) else { throw APIError.notFound("no gate \(id)") }
        guard token.kind == .pipeline, token.name == gate.openedBy else {
            let message = "only the pipeline token that opened this gate ('\(gate.openedBy)') may cancel it"
            try await store.record(
                AuditDraft(
                    at: clock.now(), actor: token.actor, action: .cancelRefused, gate: gate, details: ["reason": "not_opener", "message": message]))
            throw APIError.forbidden(message, code: "not_opener")
        }
        switch try await ledger.cancel(id, actor: .pipeline(token.name), reason: reason?.nilIfBlank, at: clock.now()) {
        case .recorded(let gate): return gate
        case .refused(let refusal, _): throw APIError.refusal(refusal)
        }
    }

    /// Approves a pending gate at once for `token`'s person, if the gate's policy lets them break glass.
    public func breakGlass(_ id: GateID, reason: String?, token: AccessToken) async throws -> Gate {
        guard token.kind == .approver, let person = token.user else {
            throw try await refuseNonPerson(token, on: id, doing: "break glass", action: .breakGlassRefused, details: [:])
        }
        let reason = reason.map { String($0.prefix(GateRequest.Limits.textLength)) } ?? ""
        do {
            switch try await ledger.breakGlass(id, person: person, reason: reason, at: clock.now()) {
            case .recorded(let gate): return gate
            case .refused(let refusal, _): throw APIError.refusal(refusal)
            }
        } catch StoreError.gateNotFound {
            throw APIError.notFound("no gate \(id)")
        }
    }

    /// Audits and returns the refusal of a token that names no person (a pipeline's or an auditor's) trying to act
    /// as one on gate `id`: only approver tokens vote or break glass.
    private func refuseNonPerson(
        _ token: AccessToken, on id: GateID, doing what: String, action: AuditAction, details: [String: String]
    ) async throws -> APIError {
        let message = "only approver tokens \(what); '\(token.name)' is a \(token.kind.rawValue) token"
        let gate = try await store.gate(id)
        var draft = AuditDraft(
            at: clock.now(), actor: token.actor, action: action, gateID: id.rawValue,
            details: details.merging(["reason": "not_an_approver_token", "message": message]) { first, _ in first })
        draft.service = gate?.request.service
        draft.environment = gate?.request.environment
        draft.artifact = gate?.request.artifact
        try await store.record(draft)
        return APIError.forbidden(message, code: "not_an_approver_token")
    }

    /// Releases every long-poll at once (their clients reconnect); called when the server begins shutting down.
    public func releaseWaiters() {
        drain.fire()
    }
}

extension String {
    var nilIfBlank: String? {
        trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : self
    }
}

import Foundation
import GreenlightAPI
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging

/// What the API does with gates, whatever carries the request (HTTP, Slack; the web page later): asks the
/// ``Authorizer`` who may do what, audits its refusals, and has the ledger compute and the store commit every change.
///
/// Its methods take the ``Principal`` a transport authenticated. Those the HTTP routes call answer a refusal as the
/// API's error; ``castVote(_:comment:on:by:)``, which every transport's votes go through, throws the authorizer's
/// ``AccessRefusal`` itself, for the transport to translate.
public struct Gatekeeper: Sendable {
    /// What the gatekeeper reads and writes itself: gates, and the audit events of refused attempts. Not handed out:
    /// each consumer of the store is given the role it needs where the application is put together.
    private let store: any GateRecords & AuditLog
    /// The gates whose opening was checked against their `gate.opened` (``requireOpeningAgreement(_:)``).
    private let verifiedOpenings = WriteOnceMemo<GateID, Void>(capacity: 100_000)
    /// Every change of a gate goes through here: the store-neutral rules that compute it and have the store apply it.
    public let ledger: GateLedger
    /// The policy in force, replaced when an edited policy file validates (see ``PolicyReloader``).
    public let livePolicy: LivePolicy
    public let clock: any WallClock
    /// Who may do what, for every transport; it reads the policy in force.
    public let authorizer: Authorizer
    /// Members of groups kept in Slack user groups, by group name, as last read from Slack (empty without Slack).
    let usergroupMembers: @Sendable () -> [String: [String]]
    /// The longest `?wait=` a client may ask for.
    public static let maximumWait: Double = 300
    let drain: OneShotSignal
    /// The long-polls waiting for a decision now, however they arrived.
    public let waiting = WaitingCount()

    /// - Parameter channels: the channels gate changes enqueue outbound work for (`.slack` when Slack is set up; none
    ///   when nothing is configured to deliver it).
    public init(
        store: any GateRecords & TimerRecords & AuditLog, policy: Policy, clock: any WallClock,
        notifying channels: Set<NotificationChannel> = [],
        usergroupMembers: @escaping @Sendable () -> [String: [String]] = { [:] }
    ) {
        self.init(store: store, livePolicy: LivePolicy(policy), clock: clock, notifying: channels, usergroupMembers: usergroupMembers)
    }

    public init(
        store: any GateRecords & TimerRecords & AuditLog, livePolicy: LivePolicy, clock: any WallClock,
        notifying channels: Set<NotificationChannel> = [],
        usergroupMembers: @escaping @Sendable () -> [String: [String]] = { [:] }
    ) {
        self.store = store
        self.ledger = GateLedger(store: store, notifying: channels)
        self.livePolicy = livePolicy
        self.clock = clock
        self.authorizer = Authorizer { livePolicy.current }
        self.usergroupMembers = usergroupMembers
        self.drain = OneShotSignal()
    }

    /// The policy new gates open under. A gate already open keeps the plan it opened with (invariant 7).
    public var policy: Policy { livePolicy.current }

    /// Opens a gate for `request` on behalf of the pipeline `principal`. A gate opened inside a freeze window is stored
    /// rejected at once, with reason `frozen:<name>`.
    public func open(_ request: GateRequest, by principal: Principal, idempotencyKey: String?) async throws -> OpenedGate {
        // Identities are put in one form here, where they enter, so that separation of duties matches them.
        let request = request.normalizingIdentities()
        let errors = request.validationErrors()
        if !errors.isEmpty {
            throw APIError.unprocessable(errors.map(\.description).joined(separator: "; "))
        }
        let pipeline: PipelineToken
        do throws(AccessRefusal) {
            pipeline = try authorizer.opener(principal, service: request.service, environment: request.environment)
        } catch {
            try await store.record(
                AuditDraft(
                    GateOpenRefused(error), by: principal.actor, at: clock.now(), service: request.service, environment: request.environment,
                    artifact: request.artifact))
            throw APIError(error)
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
        let gate = Gate(id: .generate(), request: request, openedBy: pipeline.name, plan: plan, createdAt: now)
        do {
            return try await ledger.open(gate, idempotencyKey: idempotencyKey)
        } catch let error as StoreError {
            if case .idempotencyKeyReused = error { throw APIError.unprocessable(error.description, code: "idempotency_key_reused") }
            throw error
        }
    }

    /// The gate `id` as `principal` may see it. Whether the principal reads gates at all is asked before the gate is
    /// read, so that the answer says nothing of whether it exists.
    public func gate(_ id: GateID, for principal: Principal) async throws -> Gate {
        do throws(AccessRefusal) { try authorizer.reader(principal, of: .unread(id)) } catch { throw APIError(error) }
        guard let gate = try await store.gate(id) else { throw APIError.notFound("no gate \(id)") }
        do throws(AccessRefusal) { try authorizer.reader(principal, of: .read(gate)) } catch { throw APIError(error) }
        return gate
    }

    /// Refuses, loudly and audited, to tell a pipeline a decision that its row and the audit log disagree on: a row
    /// edited behind the server's back (a rejection flipped to an approval, a vote deleted, a person swapped into the
    /// plan) must not deploy anything.
    public func checkAgainstLog(_ gate: Gate, for principal: Principal) async throws {
        guard case .pipeline = principal, gate.state.isDecided else { return }
        // A decided gate takes no more votes: its row and its events are read after both were final.
        try await requireAgreement(of: gate, refusing: "its decision is not given")
    }

    /// Throws, audited, unless `gate`'s row agrees with all its events (``LogAgreement``): what every refusal to act on
    /// an edited row goes through. `refusing` says what is not done, for the message.
    public func requireAgreement(of gate: Gate, refusing what: String) async throws {
        guard let why = LogAgreement.disagreement(of: gate, with: try await store.allEvents(ofGate: gate.id.description)) else { return }
        try await refuse(gate, disagreeing: why, refusing: what)
    }

    private func refuse(_ gate: Gate, disagreeing why: String, refusing what: String) async throws -> Never {
        try? await store.record(AuditDraft(StateMismatch(message: why), by: .greenlight, at: clock.now(), gate: gate))
        throw APIError(
            .internalServerError, code: "state_disagrees_with_log",
            message:
                "the stored gate disagrees with the audit log, so \(what): \(why). An operator must look: the database was written behind the server's back"
        )
    }

    /// Refuses, audited, to break glass on a gate whose opening disagrees with the log: a person swapped into its
    /// frozen plan must not be able to approve at once. An opening is written once, and the store keeps the plan it
    /// decoded, so it is checked once per gate and process. (Votes are not checked here: it cost each first click on a
    /// gate 0.45 ms of CPU, and a pipeline's decision is checked anyway.)
    func requireOpeningAgreement(_ id: GateID) async throws {
        if verifiedOpenings[id] != nil { return }
        guard let gate = try await store.gate(id) else { return }
        let opened = try await store.auditEvents(AuditQuery(gateID: id.description, action: AuditAction.gateOpened.rawValue, limit: 1))
        guard let why = LogAgreement.openingDisagreement(of: gate, opened: opened.first) else {
            _ = verifiedOpenings.remember((), for: id)
            return
        }
        try await refuse(gate, disagreeing: why, refusing: "no one may break glass on it")
    }

    /// The gate once it is decided, or as it is when `seconds` have passed (or the server begins shutting down).
    public func waitForDecision(_ id: GateID, for principal: Principal, seconds: Double) async throws -> Gate {
        // Subscribed before the gate is read, so that a decision committed in between is not missed.
        let watch = watchDecision(of: id)
        defer { watch.cancel() }
        let current = try await gate(id, for: principal)
        guard !current.state.isDecided, seconds > 0 else { return current }
        await wait(for: watch, until: clock.now().addingTimeInterval(seconds))
        return try await store.gate(id) ?? current
    }

    /// A subscription to gate `id`'s decision. Taken before the gate is read: a decision committed after the read
    /// ends the wait at once, and one before it shows in the read.
    func watchDecision(of id: GateID) -> DecisionWatch {
        let waiter = DecisionWaiter()
        let observation = store.changes.observe(id) { gate in
            if gate.state.isDecided { waiter.finish() }
        }
        return DecisionWatch(waiter: waiter, observation: observation)
    }

    /// Arms a timer that calls its action at a moment, and returns what disarms it: how a waiter is told its deadline
    /// has come.
    typealias WaitTimer = @Sendable (_ at: Date, _ action: @escaping @Sendable () -> Void) -> @Sendable () -> Void

    /// Returns once the gate `watch` watches is decided, at `deadline`, when the server begins shutting down, or when
    /// the task is cancelled — whichever comes first. Who may read the gate, and whether it is pending, is the
    /// caller's to have asked, after taking the watch.
    ///
    /// No polling: it returns the moment the deciding transaction commits. One continuation, resumed by whichever
    /// comes first: the deciding change (a feed callback: no stream, no task), the deadline, the drain, or
    /// cancellation. No task group, and no copy of the gate: a waiting long-poll holds a few small frames.
    ///
    /// - Parameter timer: arms the deadline; by default a small task sleeping on ``clock``. A caller on a NIO event
    ///   loop passes one scheduled on the loop, which costs no task at all.
    func wait(for watch: DecisionWatch, until deadline: Date, timer: WaitTimer? = nil) async {
        guard deadline > clock.now(), !drain.isFired else { return }
        let waiter = watch.waiter
        let stopDrain = drain.onFire { waiter.finish() }
        let disarm: @Sendable () -> Void
        if let timer {
            disarm = timer(deadline) { waiter.finish() }
        } else {
            let task = Task { [clock] in
                try? await clock.sleep(until: deadline)
                waiter.finish()
            }
            disarm = { task.cancel() }
        }
        waiting.enter()
        await withTaskCancellationHandler {
            await waiter.wait()
        } onCancel: {
            waiter.finish()
        }
        waiting.leave()
        disarm()
        stopDrain()
    }

    /// Records the vote `body` of the person `principal` (the HTTP API's vote).
    public func vote(_ body: VoteBody, on id: GateID, by principal: Principal) async throws -> Gate {
        // Who may vote is asked before the comment is read, so that a pipeline's attempt is refused (and audited) as such.
        do throws(AccessRefusal) { _ = try authorizer.voter(principal, on: .unread(id)) } catch {
            throw APIError(try await audit(error, voting: body.decision, on: id, by: principal))
        }
        if let comment = body.comment, comment.count > GateRequest.Limits.textLength {
            throw APIError.unprocessable("comment must be at most \(GateRequest.Limits.textLength) characters")
        }
        do {
            switch try await castVote(body.decision, comment: body.comment, on: id, by: principal) {
            case .recorded(let gate): return gate
            case .refused(let refusal, _): throw APIError.refusal(refusal)
            }
        } catch let refusal as AccessRefusal {
            throw APIError(refusal)
        } catch StoreError.gateNotFound {
            throw APIError.notFound("no gate \(id)")
        }
    }

    /// Records the vote of `principal`, however they were authenticated (a token, or Slack's signature and the policy's
    /// `people.<name>.slack`). The authorizer says whether they may vote at all (a refusal is audited and thrown as the
    /// ``AccessRefusal``); the store applies the gate's frozen rules and audits a refusal of those.
    public func castVote(_ decision: VoteDecision, comment: String?, on id: GateID, by principal: Principal) async throws -> GateChange {
        let person: ActingPerson
        do throws(AccessRefusal) { person = try authorizer.voter(principal, on: .unread(id)) } catch {
            throw try await audit(error, voting: decision, on: id, by: principal)
        }
        // The one rule that needs the gate before the vote: read only for a Slack account the policy does not map.
        if person.isUnmappedSlackAccount {
            guard let gate = try await store.gate(id) else { throw StoreError.gateNotFound(id) }
            try await admitVote(decision, on: gate, by: principal)
        }
        // Not checked against the log here (it cost each first click on a gate 0.45 ms of CPU): a vote counted on an
        // edited plan still never reaches the pipeline, whose decision is checked (`checkAgainstLog`).
        let comment = comment?.nilIfBlank.map { String($0.prefix(GateRequest.Limits.textLength)) }
        let vote = Vote(voter: person.name, decision: decision, comment: comment, at: clock.now(), via: person.via)
        return try await ledger.castVote(vote, on: id)
    }

    /// Whether `principal` may vote on `gate` as read, before its own rules are applied: a transport that asks before
    /// the vote itself (Slack, before it opens the reject-reason modal). A refusal is audited and thrown.
    public func admitVote(_ decision: VoteDecision, on gate: Gate, by principal: Principal) async throws {
        do throws(AccessRefusal) { _ = try authorizer.voter(principal, on: .read(gate)) } catch {
            try await store.record(AuditDraft(VoteRefused(decision, error, by: principal), by: principal.actor, at: clock.now(), gate: gate))
            throw error
        }
    }

    /// Cancels a pending gate; only the pipeline whose token opened it may.
    public func cancel(_ id: GateID, reason: String?, by principal: Principal) async throws -> Gate {
        guard let gate = try await store.gate(id) else { throw APIError.notFound("no gate \(id)") }
        let pipeline: PipelineToken
        do throws(AccessRefusal) { pipeline = try authorizer.canceller(principal, of: gate) } catch {
            try await store.record(AuditDraft(CancelRefused(error), by: principal.actor, at: clock.now(), gate: gate))
            throw APIError(error)
        }
        switch try await ledger.cancel(id, actor: Principal.pipeline(pipeline).actor, reason: reason?.nilIfBlank, at: clock.now()) {
        case .recorded(let gate): return gate
        case .refused(let refusal, _): throw APIError.refusal(refusal)
        }
    }

    /// Approves a pending gate at once for the person `principal`, if the gate's policy lets them break glass.
    public func breakGlass(_ id: GateID, reason: String?, by principal: Principal) async throws -> Gate {
        let person: ActingPerson
        do throws(AccessRefusal) { person = try authorizer.breaker(principal, on: id) } catch {
            try await store.record(try await draft(BreakGlassRefused(error), by: principal, at: clock.now(), on: id))
            throw APIError(error)
        }
        let reason = reason.map { String($0.prefix(GateRequest.Limits.textLength)) } ?? ""
        try await requireOpeningAgreement(id)
        do {
            switch try await ledger.breakGlass(id, person: person.name, reason: reason, at: clock.now()) {
            case .recorded(let gate): return gate
            case .refused(let refusal, _): throw APIError.refusal(refusal)
            }
        } catch StoreError.gateNotFound {
            throw APIError.notFound("no gate \(id)")
        }
    }

    /// Audits the refusal of `principal`'s vote on gate `id` before its rules, and returns it.
    private func audit(
        _ refusal: AccessRefusal, voting decision: VoteDecision, on id: GateID, by principal: Principal
    ) async throws
        -> AccessRefusal
    {
        try await store.record(try await draft(VoteRefused(decision, refusal, by: principal), by: principal, at: clock.now(), on: id))
        return refusal
    }

    /// The event `record` makes about the gate `id`, which may not exist: then it names the id alone.
    private func draft(_ record: some AuditRecord, by principal: Principal, at date: Date, on id: GateID) async throws -> AuditDraft {
        let gate = try await store.gate(id)
        return AuditDraft(
            record, by: principal.actor, at: date, gateID: id.rawValue, service: gate?.request.service, environment: gate?.request.environment,
            artifact: gate?.request.artifact)
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

/// A subscription to one gate's decision (``Gatekeeper/watchDecision(of:)``); cancel it when done waiting.
struct DecisionWatch: Sendable {
    let waiter: DecisionWaiter
    let observation: FeedObservation

    func cancel() { observation.cancel() }
}

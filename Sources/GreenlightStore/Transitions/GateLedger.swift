import Crypto
import Foundation
import GreenlightAudit
import GreenlightCore

/// The store-neutral half of durable state: computes every change of a gate (open, vote, cancel, break-glass, grant,
/// timeout, a timer firing) as a ``GateTransition`` from what the store answers, and has the store apply it.
///
/// The rules live here once, for every store: idempotency-key replay and hand-over, break-glass and its daily limit,
/// grants, which timers to arm, the audit events each change writes and the outbound work it enqueues. A store only
/// reads and applies (``GateRecords``, ``TimerRecords``). A transition computed from a gate another writer changed
/// meanwhile fails its conditions; the ledger then computes it again from what is there now, a few times, before
/// reporting ``StoreError/conflict(_:)``.
public struct GateLedger: Sendable {
    /// Not handed out, so that `gatekeeper.ledger` is no way round the gatekeeper to the store.
    let store: any GateRecords & TimerRecords
    /// The channels changes enqueue outbound work for: those a notifier is configured to deliver (none without any),
    /// for the targets each gate's plan names on them.
    public let channels: Set<NotificationChannel>

    /// The gates this ledger last read or wrote, to compute the next change of one without reading it again.
    let recent: RecentGates
    /// How many times a change is computed before a conflict is reported. Conflicts need another writer changing the
    /// same gate in the same instant; eight in a row mean something is wrong.
    static let attempts = 8
    /// How long a break-glass on a frozen-out deploy waits for the pipeline to open that deploy again.
    public static let grantLifetime: TimeInterval = 3_600
    /// The window `max_per_day` counts break-glass uses over.
    static let breakGlassWindow: TimeInterval = 86_400
    /// How many gates or timers one pass reads at a time.
    static let batch = 256

    public init(store: any GateRecords & TimerRecords, notifying channels: Set<NotificationChannel> = []) {
        self.store = store
        self.recent = RecentGates()
        self.channels = channels
    }

    /// Gates that changed, published after their transaction commits.
    public var changes: GateChangeFeed { store.changes }

    // MARK: Opening

    /// Stores a new gate and its `gate.opened` (and, when not gated, `gate.decided`) audit events.
    ///
    /// With an `idempotencyKey`, a second call by the same pipeline returns the first gate instead of opening another;
    /// the same key with a different request is refused with ``StoreError/idempotencyKeyReused(_:)``. A gate a freeze
    /// rejected is the exception: the key moves to a new gate, evaluated afresh, so that a pipeline's retry after the
    /// freeze ends or a break-glass is not handed the old rejection.
    public func open(_ gate: Gate, idempotencyKey: String?) async throws -> OpenedGate {
        let fingerprint = try StoredFormat.fingerprint(of: gate.request)
        return try await retrying { () async throws -> OpenedGate in
            var transition = GateTransition()
            if let idempotencyKey {
                let keyed = try await store.gate(openedBy: gate.openedBy, idempotencyKey: idempotencyKey)
                if let keyed {
                    guard keyed.fingerprint == fingerprint else { throw StoreError.idempotencyKeyReused(keyed.gate.id) }
                    guard keyed.gate.isFrozenOut else { return .replayed(keyed.gate) }
                    // A freeze's refusal is final for that gate, not for the deploy: asking again is a new question (the
                    // freeze may have ended, or a break-glass let the deploy through), so the key moves to the new gate.
                    transition.write(.releaseIdempotencyKey(keyed.gate.id))
                }
                transition.require(.idempotencyKey(openedBy: gate.openedBy, key: idempotencyKey, heldBy: keyed?.gate.id))
            }
            var gate = gate
            // A deploy the freeze stopped, and a break-glass holder let through since: this attempt is approved, if this
            // gate's own plan still lets that person break glass on it (its authors and triggerer may differ).
            var grant = gate.isFrozenOut ? try await store.openGrant(forDeploy: gate.deployKey, at: gate.createdAt) : nil
            var refusedGrant: (grant: BreakGlassGrant, refusal: VoteRefusal)?
            if let found = grant {
                switch Result(catching: { () throws(VoteRefusal) -> String in try gate.breakGlassReason(by: found.person, found.reason) }) {
                case .success:
                    gate = gate.openedUnderBreakGlass(grantedBy: found.person, reason: found.reason, forGate: found.gate)
                case .failure(let refusal):
                    refusedGrant = (found, refusal)
                    grant = nil
                }
            }
            transition.write(.insertGate(gate, idempotencyKey: idempotencyKey, fingerprint: fingerprint))
            if !gate.timers.isEmpty { transition.write(.setTimers(gate.id, gate.timers)) }
            transition.audit(GateAudit.opened(gate))
            if let grant {
                // Conditional, like every decision: a grant lets one attempt through (invariant 1).
                transition.require(.grantUnused(on: grant.gate))
                transition.write(.useGrant(on: grant.gate, by: gate.id))
                transition.audit(GateAudit.grantUsed(grant, on: gate))
            }
            if let refusedGrant {
                transition.audit(GateAudit.grantRefused(refusedGrant.grant, refusedGrant.refusal, on: gate))
            }
            if gate.state.isDecided { transition.audit(GateAudit.decided(gate)) }
            notifyCard(gate, into: &transition)
            try await apply(transition)
            return .created(gate)
        }
    }

    // MARK: Votes, cancels, break-glass

    /// Records `vote` if the gate's frozen plan allows it, deciding the gate when the vote completes a quorum or rejects.
    /// A refused vote changes nothing but the audit log.
    public func castVote(_ vote: Vote, on id: GateID) async throws -> GateChange {
        var vote = vote
        vote.at = Timestamp.truncated(vote.at)
        return try await retrying { [vote] () async throws -> GateChange in
            var (transition, stored) = try await begin(id)
            // The deadline wins over a vote that arrives after it, even before the timer has run.
            let gate = decideIfExpired(stored, at: vote.at, into: &transition) ?? stored
            let next: Gate
            switch Result(catching: { () throws(VoteRefusal) -> Gate in try gate.recording(vote) }) {
            case .success(let gate):
                next = gate
            case .failure(let refusal):
                transition.audit(GateAudit.voteRefused(vote, refusal, on: gate))
                try await apply(transition)
                return .refused(refusal, gate)
            }
            update(next, replacing: gate.version, into: &transition)
            transition.write(.insertVote(vote, on: id))
            if !next.state.isDecided, next.plan.stages.count > 1, next.stages.open != gate.stages.open {
                // A new stage opened: its reminder and escalation count from now and from its own deadline.
                transition.write(.setTimers(id, next.timers))
            }
            transition.audit(GateAudit.voteRecorded(vote, on: next))
            if next.state.isDecided { transition.audit(GateAudit.decided(next)) }
            notifyCard(next, into: &transition)
            try await apply(transition)
            return .recorded(next)
        }
    }

    /// Cancels a pending gate on behalf of `actor` (the pipeline that opened it).
    public func cancel(_ id: GateID, actor: AuditActor, reason: String?, at date: Date) async throws -> GateChange {
        let date = Timestamp.truncated(date)
        return try await retrying { () async throws -> GateChange in
            var (transition, stored) = try await begin(id)
            // A cancel after the deadline finds the gate timed out, as the timer would have left it.
            let gate = decideIfExpired(stored, at: date, into: &transition) ?? stored
            do {
                let next = try gate.cancelling(by: actor, reason: reason, at: date)
                update(next, replacing: gate.version, into: &transition)
                transition.audit(GateAudit.decided(next))
                notifyCard(next, into: &transition)
                try await apply(transition)
                return .recorded(next)
            } catch let refusal as VoteRefusal {
                transition.audit(GateAudit.cancelRefused(refusal, by: actor, at: date, on: gate))
                try await apply(transition)
                return .refused(refusal, gate)
            }
        }
    }

    /// Approves a pending gate at once for a break-glass holder: `person` must be allowed by the gate's plan, give a
    /// reason, and find the environment under its `max_per_day` (counted over the last 24 hours, and checked again in
    /// the transaction that applies it, so two racing attempts cannot both take the last use). On a gate the freeze
    /// rejected, the rejection stands and the same deploy opened again within ``grantLifetime`` is approved at once. A
    /// refused attempt changes nothing but the audit log.
    public func breakGlass(_ id: GateID, person: String, reason: String, at date: Date) async throws -> GateChange {
        let date = Timestamp.truncated(date)
        return try await retrying { () async throws -> GateChange in
            var (transition, stored) = try await begin(id)
            let gate = decideIfExpired(stored, at: date, into: &transition) ?? stored
            let outcome: Result<Gate?, VoteRefusal>
            if gate.isFrozenOut {
                outcome = try await grantBreakGlass(on: gate, person: person, reason: reason, at: date, into: &transition)
            } else {
                outcome = try await approveUnderBreakGlass(gate, person: person, reason: reason, at: date, into: &transition)
            }
            switch outcome {
            case .success(let next):
                try await apply(transition)
                return .recorded(next ?? gate)
            case .failure(let refusal):
                transition.audit(GateAudit.breakGlassRefused(refusal, by: person, reason: reason, at: date, on: gate))
                try await apply(transition)
                return .refused(refusal, gate)
            }
        }
    }

    /// Adds a break-glass approval of the pending `gate` to `transition`, or says why it may not be.
    private func approveUnderBreakGlass(
        _ gate: Gate, person: String, reason: String, at date: Date, into transition: inout GateTransition
    ) async throws -> Result<Gate?, VoteRefusal> {
        let next: Gate
        switch Result(catching: { () throws(VoteRefusal) -> Gate in try gate.breakingGlass(by: person, reason: reason, at: date) }) {
        case .success(let gate): next = gate
        case .failure(let refusal): return .failure(refusal)
        }
        let uses: BreakGlassUses
        switch try await countBreakGlassUses(for: gate, at: date, into: &transition) {
        case .success(let counted): uses = counted
        case .failure(let refusal): return .failure(refusal)
        }
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        update(next, replacing: gate.version, into: &transition)
        transition.audit(GateAudit.brokeGlass(by: person, reason: trimmed, uses: uses, bypassing: gate, on: next, at: date))
        transition.audit(GateAudit.decided(next))
        notifyCard(next, into: &transition)
        announceBreakGlass(on: next, notice: ["person": person, "reason": trimmed], at: date, into: &transition)
        return .success(next)
    }

    /// Break-glass on a gate the freeze rejected: the rejection stands (a gate is decided once), and the same deploy
    /// opened again within ``grantLifetime`` is approved at once. Counted against `max_per_day` from now.
    private func grantBreakGlass(
        on gate: Gate, person: String, reason: String, at date: Date, into transition: inout GateTransition
    ) async throws -> Result<Gate?, VoteRefusal> {
        let trimmed: String
        switch Result(catching: { () throws(VoteRefusal) -> String in try gate.breakGlassReason(by: person, reason) }) {
        case .success(let reason): trimmed = reason
        case .failure(let refusal): return .failure(refusal)
        }
        if try await store.hasGrant(on: gate.id) {
            return .failure(.gateDecided(state: gate.state, decidedBy: gate.decidedBy, decidedAt: gate.decidedAt))
        }
        transition.require(.noGrant(on: gate.id))
        let uses: BreakGlassUses
        switch try await countBreakGlassUses(for: gate, at: date, into: &transition) {
        case .success(let counted): uses = counted
        case .failure(let refusal): return .failure(refusal)
        }
        let grant = BreakGlassGrant(
            gate: gate.id, environment: gate.request.environment, deployKey: gate.deployKey, person: person, reason: trimmed,
            grantedAt: date, expiresAt: date.addingTimeInterval(Self.grantLifetime))
        transition.write(.grant(grant))
        transition.audit(GateAudit.granted(grant, uses: uses, on: gate))
        let notice = ["person": person, "reason": trimmed, "expires_at": Timestamp.format(grant.expiresAt)]
        announceBreakGlass(on: gate, notice: notice, at: date, into: &transition)
        return .success(nil)
    }

    // MARK: Deadlines and timers

    /// Decides every pending gate whose deadline is at or before `now` by its policy's `on_timeout`.
    public func decideExpiredGates(at now: Date) async throws -> [Gate] {
        let now = Timestamp.truncated(now)
        var decided: [Gate] = []
        while true {
            let ids = try await store.expiredGates(at: now, limit: Self.batch)
            // Applied side by side, so that a backlog (a server that was down past many deadlines) shares commits.
            let batch = try await withThrowingTaskGroup(of: Gate?.self) { group in
                for id in ids {
                    group.addTask {
                        try await retrying { () async throws -> Gate? in
                            guard let gate = try await store.gate(id) else { return nil }
                            var transition = GateTransition()
                            guard let next = decideIfExpired(gate, at: now, into: &transition) else { return nil }
                            try await apply(transition)
                            return next
                        }
                    }
                }
                var batch: [Gate] = []
                for try await gate in group { if let gate { batch.append(gate) } }
                return batch
            }
            decided += batch
            if ids.count < Self.batch || batch.isEmpty { return decided.sorted { ($0.deadline ?? now) < ($1.deadline ?? now) } }
        }
    }

    /// Fires every reminder and escalation due at or before `now` on a pending gate: each once, with its audit event
    /// and (when Slack is set up) its message. Returns what fired.
    ///
    /// A timer that another instance fired first, or whose gate changed meanwhile, is left to the next pass: it has
    /// either fired, or is still due and is read again with its gate as it is then.
    public func fireDueTimers(at now: Date) async throws -> [FiredTimer] {
        let now = Timestamp.truncated(now)
        var fired: [FiredTimer] = []
        for due in try await store.dueTimers(at: now, limit: Self.batch) {
            guard let gate = try await store.gate(due.gate), gate.state == .pending else { continue }
            var transition = GateTransition(conditions: [
                .gateAt(gate.id, version: gate.version), .timerUnfired(gate.id, due.timer.kind, due: due.timer.due),
            ])
            transition.write(.fireTimer(gate.id, due.timer.kind, at: now))
            transition.audit(GateAudit.timerFired(due.timer, on: gate, at: now))
            notify(gate, of: due.timer.kind == .reminder ? .reminder : .escalation, at: now, into: &transition)
            do {
                try await apply(transition)
            } catch StoreError.conflict {
                continue
            }
            fired.append(FiredTimer(gate: gate, timer: due.timer))
        }
        return fired
    }

    /// The earliest deadline of any pending gate.
    public func nextDeadline() async throws -> Date? { try await store.nextDeadline() }

    /// When the next reminder or escalation of a pending gate falls due.
    public func nextTimerDue() async throws -> Date? { try await store.nextTimerDue() }

    // MARK: Pieces

    /// Writes the changed gate over `version`. A gate decided now loses its unfired reminder and escalation: they can
    /// never fire, and left in place every timer query would step over them (a database of 100,000 decided gates).
    private func update(_ gate: Gate, replacing version: Int, into transition: inout GateTransition) {
        transition.write(.updateGate(gate, replacing: version))
        if gate.state.isDecided { transition.write(.setTimers(gate.id, [])) }
    }

    /// The gate `id` as last seen (``RecentGates``), or read, and a transition conditional on its version.
    private func begin(_ id: GateID) async throws -> (GateTransition, Gate) {
        if let gate = recent[id] { return (GateTransition(conditions: [.gateAt(id, version: gate.version)]), gate) }
        guard let gate = try await store.gate(id) else { throw StoreError.gateNotFound(id) }
        recent.remember([gate])
        return (GateTransition(conditions: [.gateAt(id, version: gate.version)]), gate)
    }

    /// Has the store apply `transition`; keeps the gates it wrote, or forgets those it was computed from when another
    /// writer changed them (the retry reads them from the store).
    private func apply(_ transition: GateTransition) async throws {
        do {
            try await store.apply(transition)
            recent.remember(transition.changedGates)
        } catch StoreError.conflict(let what) {
            recent.forget(transition.conditions.compactMap { if case .gateAt(let id, _) = $0 { id } else { nil } })
            recent.forget(transition.changedGates.map(\.id))
            throw StoreError.conflict(what)
        }
    }

    /// Adds the timeout of `gate` by its `on_timeout` to `transition` if its deadline is at or before `now`; returns
    /// the decided gate, or `nil` when it is not due.
    private func decideIfExpired(_ gate: Gate, at now: Date, into transition: inout GateTransition) -> Gate? {
        guard let next = gate.timingOut(at: now) else { return nil }
        update(next, replacing: gate.version, into: &transition)
        transition.audit(GateAudit.decided(next))
        notifyCard(next, into: &transition)
        return next
    }

    /// The environment's break-glass uses in the 24 hours before `date`, or the refusal once `max_per_day` is reached.
    /// The count read is a condition of the transition: a use taken meanwhile makes it compute again.
    private func countBreakGlassUses(
        for gate: Gate, at date: Date, into transition: inout GateTransition
    ) async throws -> Result<
        BreakGlassUses, VoteRefusal
    > {
        let limit = gate.plan.breakGlass?.maxPerDay ?? 0
        let since = date.addingTimeInterval(-Self.breakGlassWindow)
        let used = try await store.breakGlassUses(environment: gate.request.environment, since: since)
        guard used < limit else { return .failure(.breakGlassLimitReached(environment: gate.request.environment, limit: limit)) }
        transition.require(.breakGlassUses(environment: gate.request.environment, since: since, atMost: used))
        return .success(BreakGlassUses(used: used, limit: limit))
    }

    /// Queues the gate's view on each of its targets (delivered, or brought up to date) whose channel is configured; a
    /// gate whose policy names no target gets none.
    private func notifyCard(_ gate: Gate, into transition: inout GateTransition) {
        notify(gate, of: .card, at: gate.decidedAt ?? gate.votes.last?.at ?? gate.createdAt, into: &transition)
    }

    /// Queues the channel-wide announcement of a break-glass on each of the gate's targets.
    private func announceBreakGlass(on gate: Gate, notice: [String: String], at date: Date, into transition: inout GateTransition) {
        notify(gate, of: .breakGlass, payload: StoredFormat.json(notice), at: date, into: &transition)
    }

    /// Queues `event` for each of the gate's targets whose channel is configured.
    private func notify(_ gate: Gate, of event: OutboxEvent, payload: String? = nil, at date: Date, into transition: inout GateTransition) {
        for channel in Set(gate.plan.notify.map(\.channel)).intersection(channels).sorted(by: { $0.rawValue < $1.rawValue }) {
            transition.write(.notify(OutboxIntent(kind: OutboxKind(channel, event), gate: gate.id, payload: payload, dueAt: date)))
        }
    }

    /// Runs `body` again while the store reports a conflict, up to ``attempts`` times.
    private func retrying<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch StoreError.conflict where attempt < Self.attempts {
                attempt += 1
                await Task.yield()
            }
        }
    }
}

/// A break-glass use counted against `max_per_day`, for its audit event.
struct BreakGlassUses: Sendable {
    var used: Int
    var limit: Int
}

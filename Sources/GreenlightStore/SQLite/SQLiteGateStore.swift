import Crypto
import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore

/// The embedded store: one SQLite file in WAL mode, through GRDB.
///
/// All writes go through GRDB's single writer, each in one transaction. The gate update is still conditional on
/// `state = 'pending'` and the version read, and votes are unique per (gate, voter) in the schema, so that the
/// invariants hold even when another process (a second `greenlight` on the same file) writes too.
public final class SQLiteGateStore: GateStore {
    public let changes = GateChangeFeed()
    let pool: DatabasePool
    /// Gate changes, outbox updates and audit records go through here, so that those arriving together share a commit.
    let writer: GroupCommit
    /// Keeps the write-ahead log short and bounded, beside the writers (the pool observes it while the store holds it).
    let checkpointer: WALCheckpointer
    /// The outbound work each gate change enqueues (none when nothing is configured to deliver it).
    private let outboxKinds: Set<OutboxKind>

    /// Opens the database at `path` and brings its schema up to date.
    ///
    /// - Parameter create: whether to create the database when there is none. Commands that only read evidence pass
    ///   `false`, so that a mistyped path is an error rather than an empty log that verifies.
    ///   - outbox: the kinds of outbound work to enqueue with gate changes and timers (``OutboxKind/slack`` when Slack is
    ///     set up).
    public convenience init(path: String, create: Bool = true, outbox: Set<OutboxKind> = []) throws {
        try self.init(path: path, create: create, outbox: outbox, walSizeLimit: WALCheckpointer.defaultSizeLimit)
    }

    /// - Parameter walSizeLimit: the write-ahead log's size past which it is restarted (``WALCheckpointer``); tests
    ///   make it small.
    init(path: String, create: Bool, outbox: Set<OutboxKind>, walSizeLimit: Int) throws {
        self.outboxKinds = outbox
        if !create, !FileManager.default.fileExists(atPath: path) { throw StoreError.databaseMissing(path) }
        var configuration = Configuration()
        configuration.label = "greenlight"
        // Another process (a CLI issuing a token while the server runs) may hold the write lock briefly.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // For every connection; on the writer GRDB then sets NORMAL when it sets up WAL mode: see below.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Checkpoints run beside the writers (WALCheckpointer), not inside a commit.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            // Savepoints (one per write in a group commit) keep their statement journals in memory, not temporary files.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Owner-only before SQLite opens it: the log and the shared-memory file SQLite creates take the database's mode.
        try DatabaseFiles.restrictToOwner(path, create: create)
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { db in
            // FULL, on the connection that commits: a vote acknowledged with a 200 (or a decision returned to a
            // pipeline) survives a power cut, not just a crash — each commit fsyncs the log, and the group commit
            // makes one fsync serve every write in its batch. GRDB's DatabasePool runs `PRAGMA synchronous = NORMAL`
            // on the writer after prepareDatabase, when it sets up WAL mode; NORMAL syncs the log only at checkpoints.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            let synchronous = try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
            guard synchronous == 2 else { throw StoreError.notDurable(path: path, synchronous: synchronous) }
            // When the log is written from its beginning again, its file is cut back to this size (WALCheckpointer).
            try db.execute(sql: "PRAGMA journal_size_limit = \(walSizeLimit)")
        }
        try SQLiteSchema.migrator.migrate(pool)
        let checkpointer = try WALCheckpointer(pool: pool, sizeLimit: walSizeLimit)
        pool.add(transactionObserver: checkpointer, extent: .observerLifetime)
        self.checkpointer = checkpointer
        writer = GroupCommit(pool: pool)
    }

    // MARK: Gates

    public func open(_ gate: Gate, idempotencyKey: String?) async throws -> OpenedGate {
        let fingerprint = try Self.fingerprint(of: gate.request)
        let result = try await writer.write { [self] db -> OpenedGate in
            if let idempotencyKey,
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT id, request_fingerprint FROM gate WHERE opened_by = ? AND idempotency_key = ?",
                    arguments: [gate.openedBy, idempotencyKey]
                )
            {
                let existing = GateID(unchecked: row["id"])
                guard row["request_fingerprint"] == fingerprint else { throw StoreError.idempotencyKeyReused(existing) }
                guard let stored = try SQLiteRows.fetchGate(db, existing) else { throw StoreError.gateNotFound(existing) }
                guard stored.isFrozenOut else { return .replayed(stored) }
                // A freeze's refusal is final for that gate, not for the deploy: asking again is a new question (the
                // freeze may have ended, or a break-glass let the deploy through), so the key moves to the new gate.
                try db.execute(sql: "UPDATE gate SET idempotency_key = NULL WHERE id = ?", arguments: [existing.rawValue])
            }
            var gate = gate
            // A deploy the freeze stopped, and a break-glass holder let through since: this attempt is approved, if this
            // gate's own plan still lets that person break glass on it (its authors and triggerer may differ).
            var grant = gate.isFrozenOut ? try Self.takeGrant(for: gate, db: db) : nil
            var refusedGrant: (person: String, refusal: VoteRefusal, gate: GateID)?
            if let found = grant {
                switch Result(catching: { () throws(VoteRefusal) -> String in try gate.breakGlassReason(by: found.person, found.reason) }) {
                case .success:
                    gate = gate.openedUnderBreakGlass(grantedBy: found.person, reason: found.reason, forGate: found.gate)
                case .failure(let refusal):
                    refusedGrant = (found.person, refusal, found.gate)
                    grant = nil
                }
            }
            try SQLiteRows.insert(gate, idempotencyKey: idempotencyKey, fingerprint: fingerprint, db: db)
            try Self.armTimers(of: gate, db: db)
            try SQLiteAuditLog.append(
                .init(at: gate.createdAt, actor: "pipeline:\(gate.openedBy)", action: .gateOpened, gate: gate, details: Self.openedDetails(gate)),
                db: db)
            if let grant {
                // Conditional, like every decision the store writes: a grant lets one attempt through (invariant 1).
                try db.execute(
                    sql: "UPDATE break_glass_grant SET used_by = ? WHERE gate_id = ? AND used_by IS NULL",
                    arguments: [gate.id.rawValue, grant.gate.rawValue])
                guard db.changesCount == 1 else { throw StoreError.corruptRow("break-glass grant on \(grant.gate) used under this attempt") }
                let details = ["reason": grant.reason, "granted_on": grant.gate.rawValue, "frozen": gate.plan.frozen?.name ?? ""]
                try SQLiteAuditLog.append(.init(at: gate.createdAt, actor: grant.person, action: .breakGlass, gate: gate, details: details), db: db)
            }
            if let refusedGrant {
                let details = [
                    "reason": refusedGrant.refusal.code, "message": refusedGrant.refusal.description, "granted_on": refusedGrant.gate.rawValue,
                ]
                try SQLiteAuditLog.append(
                    .init(at: gate.createdAt, actor: refusedGrant.person, action: .breakGlassRefused, gate: gate, details: details), db: db)
            }
            if gate.state.isDecided {
                try SQLiteAuditLog.append(Self.decidedDraft(gate), db: db)
            }
            try enqueue(gate, db: db)
            return .created(gate)
        }
        if case .created(let gate) = result { changes.publish(gate) }
        return result
    }

    public func gate(_ id: GateID) async throws -> Gate? {
        try await pool.read { db in try SQLiteRows.fetchGate(db, id) }
    }

    public func castVote(_ vote: Vote, on id: GateID) async throws -> GateChange {
        var vote = vote
        vote.at = Timestamp.truncated(vote.at)
        let (change, changed) = try await writer.write { [self, vote] db -> (GateChange, Gate?) in
            guard let stored = try SQLiteRows.fetchGate(db, id) else { throw StoreError.gateNotFound(id) }
            // The deadline wins over a vote that arrives after it, even before the timer has run.
            let expired = try decideIfExpired(stored, at: vote.at, db: db)
            let gate = expired ?? stored
            let next: Gate
            switch Result(catching: { () throws(VoteRefusal) -> Gate in try gate.recording(vote) }) {
            case .success(let gate):
                next = gate
            case .failure(let refusal):
                let details = ["decision": vote.decision.rawValue, "reason": refusal.code, "message": refusal.description, "via": vote.via]
                try SQLiteAuditLog.append(.init(at: vote.at, actor: vote.voter, action: .voteRefused, gate: gate, details: details), db: db)
                return (.refused(refusal, gate), expired)
            }
            try SQLiteRows.insert(vote, gate: id, db: db)
            guard try SQLiteRows.update(next, from: gate.version, db: db) else {
                // Unreachable with one writer; with several, the other writer's change wins and this one rolls back.
                throw StoreError.corruptRow("gate \(id) changed under a vote")
            }
            if !next.state.isDecided, next.plan.stages.count > 1, next.stages.open != gate.stages.open {
                // A new stage opened: its reminder and escalation count from now and from its own deadline.
                try Self.armTimers(of: next, db: db)
            }
            var details = ["decision": vote.decision.rawValue, "via": vote.via]
            details["comment"] = vote.comment
            try SQLiteAuditLog.append(.init(at: vote.at, actor: vote.voter, action: .voteRecorded, gate: next, details: details), db: db)
            if next.state.isDecided {
                try SQLiteAuditLog.append(Self.decidedDraft(next), db: db)
            }
            try enqueue(next, db: db)
            return (.recorded(next), next)
        }
        if let changed { changes.publish(changed) }
        return change
    }

    public func cancel(_ id: GateID, actor: String, reason: String?, at date: Date) async throws -> GateChange {
        let date = Timestamp.truncated(date)
        let (change, changed) = try await pool.write { db -> (GateChange, Gate?) in
            guard let stored = try SQLiteRows.fetchGate(db, id) else { throw StoreError.gateNotFound(id) }
            // A cancel after the deadline finds the gate timed out, as the timer would have left it.
            let expired = try decideIfExpired(stored, at: date, db: db)
            let gate = expired ?? stored
            do {
                let next = try gate.cancelling(by: actor, reason: reason, at: date)
                guard try SQLiteRows.update(next, from: gate.version, db: db) else {
                    throw StoreError.corruptRow("gate \(id) changed under a cancel")
                }
                try SQLiteAuditLog.append(Self.decidedDraft(next), db: db)
                try enqueue(next, db: db)
                return (.recorded(next), next)
            } catch let refusal as VoteRefusal {
                let details = ["reason": refusal.code, "message": refusal.description]
                try SQLiteAuditLog.append(.init(at: date, actor: actor, action: .cancelRefused, gate: gate, details: details), db: db)
                return (.refused(refusal, gate), expired)
            }
        }
        if let changed { changes.publish(changed) }
        return change
    }

    public func breakGlass(_ id: GateID, person: String, reason: String, at date: Date) async throws -> GateChange {
        let date = Timestamp.truncated(date)
        let (change, changed) = try await writer.write { [self] db -> (GateChange, Gate?) in
            guard let stored = try SQLiteRows.fetchGate(db, id) else { throw StoreError.gateNotFound(id) }
            let expired = try decideIfExpired(stored, at: date, db: db)
            let gate = expired ?? stored
            func refuse(_ refusal: VoteRefusal) throws -> (GateChange, Gate?) {
                let details = ["reason": refusal.code, "message": refusal.description, "given_reason": reason]
                try SQLiteAuditLog.append(.init(at: date, actor: person, action: .breakGlassRefused, gate: gate, details: details), db: db)
                return (.refused(refusal, gate), expired)
            }
            if gate.isFrozenOut {
                return try grantBreakGlass(on: gate, person: person, reason: reason, at: date, db: db, refuse: refuse)
            }
            let next: Gate
            switch Result(catching: { () throws(VoteRefusal) -> Gate in try gate.breakingGlass(by: person, reason: reason, at: date) }) {
            case .success(let gate): next = gate
            case .failure(let refusal): return try refuse(refusal)
            }
            let uses: BreakGlassUses
            switch try Self.breakGlassUses(for: gate, at: date, db: db) {
            case .success(let counted): uses = counted
            case .failure(let refusal): return try refuse(refusal)
            }
            guard try SQLiteRows.update(next, from: gate.version, db: db) else {
                throw StoreError.corruptRow("gate \(id) changed under a break-glass")
            }
            var details = uses.details
            details["reason"] = reason.trimmingCharacters(in: .whitespacesAndNewlines)
            details["bypassed"] = gate.plan.requirementsSummary
            try SQLiteAuditLog.append(.init(at: date, actor: person, action: .breakGlass, gate: next, details: details), db: db)
            try SQLiteAuditLog.append(Self.decidedDraft(next), db: db)
            try enqueue(next, db: db)
            try announceBreakGlass(on: next, payload: SQLiteRows.json(["person": person, "reason": details["reason"] ?? ""]), at: date, db: db)
            return (.recorded(next), next)
        }
        if let changed { changes.publish(changed) }
        return change
    }

    /// A break-glass use counted against `max_per_day`, for its audit event.
    struct BreakGlassUses {
        var used: Int
        var limit: Int
        var details: [String: String] { ["uses_in_24h": String(used + 1), "max_per_day": String(limit)] }
    }

    /// The environment's break-glass uses in the 24 hours before `date`, or the refusal once `max_per_day` is reached.
    static func breakGlassUses(for gate: Gate, at date: Date, db: Database) throws -> Result<BreakGlassUses, VoteRefusal> {
        let limit = gate.plan.breakGlass?.maxPerDay ?? 0
        let used = try breakGlassUses(environment: gate.request.environment, since: date.addingTimeInterval(-86_400), db: db)
        guard used < limit else { return .failure(.breakGlassLimitReached(environment: gate.request.environment, limit: limit)) }
        return .success(BreakGlassUses(used: used, limit: limit))
    }

    /// Queues the channel-wide announcement of a break-glass, when Slack is set up and the gate has a channel.
    private func announceBreakGlass(on gate: Gate, payload: String?, at date: Date, db: Database) throws {
        guard outboxKinds.contains(.slackBreakGlass), gate.plan.channel != nil else { return }
        try SQLiteOutbox.enqueueMessage(.slackBreakGlass, gate: gate.id, payload: payload, at: date, db: db, ringing: changes)
    }

    /// Writes the reminder and escalation of `gate`'s open stage over those of an earlier stage. A timer due at the same
    /// moment as before keeps its row, fired or not, so that it cannot fire twice; one the new stage does not have goes.
    static func armTimers(of gate: Gate, db: Database) throws {
        let timers = gate.timers
        for timer in timers {
            try db.execute(
                sql: """
                    INSERT INTO gate_timer (gate_id, kind, due_at) VALUES (?, ?, ?)
                    ON CONFLICT (gate_id, kind) DO UPDATE SET due_at = excluded.due_at, fired_at = NULL WHERE due_at != excluded.due_at
                    """,
                arguments: [gate.id.rawValue, timer.kind.rawValue, SQLiteRows.millis(timer.due)])
        }
        let kept = timers.map(\.kind.rawValue)
        try db.execute(
            sql: "DELETE FROM gate_timer WHERE gate_id = ? AND fired_at IS NULL AND kind NOT IN (\(kept.map { _ in "?" }.joined(separator: ", ")))",
            arguments: StatementArguments([gate.id.rawValue] + kept))
    }

    /// How long a break-glass on a frozen-out deploy waits for the pipeline to open that deploy again.
    static let grantLifetime: TimeInterval = 3_600

    /// Break-glass on a gate the freeze rejected: the rejection stands (a gate is decided once), and the same deploy
    /// opened again within ``grantLifetime`` is approved at once. Counted against `max_per_day` from now.
    private func grantBreakGlass(
        on gate: Gate, person: String, reason: String, at date: Date, db: Database, refuse: (VoteRefusal) throws -> (GateChange, Gate?)
    ) throws -> (GateChange, Gate?) {
        let trimmed: String
        switch Result(catching: { () throws(VoteRefusal) -> String in try gate.breakGlassReason(by: person, reason) }) {
        case .success(let reason): trimmed = reason
        case .failure(let refusal): return try refuse(refusal)
        }
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM break_glass_grant WHERE gate_id = ?", arguments: [gate.id.rawValue]) == true {
            return try refuse(.gateDecided(state: gate.state, decidedBy: gate.decidedBy, decidedAt: gate.decidedAt))
        }
        let uses: BreakGlassUses
        switch try Self.breakGlassUses(for: gate, at: date, db: db) {
        case .success(let counted): uses = counted
        case .failure(let refusal): return try refuse(refusal)
        }
        let expires = date.addingTimeInterval(Self.grantLifetime)
        try db.execute(
            sql: """
                INSERT INTO break_glass_grant (gate_id, environment, deploy_key, person, reason, granted_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                gate.id.rawValue, gate.request.environment, gate.deployKey, person, trimmed, SQLiteRows.millis(date), SQLiteRows.millis(expires),
            ])
        var details = uses.details
        details["reason"] = trimmed
        details["frozen"] = gate.plan.frozen?.name ?? ""
        details["applies_to"] = "the same deploy opened again before \(Timestamp.format(expires))"
        try SQLiteAuditLog.append(.init(at: date, actor: person, action: .breakGlass, gate: gate, details: details), db: db)
        let notice = try SQLiteRows.json(["person": person, "reason": trimmed, "expires_at": Timestamp.format(expires)])
        try announceBreakGlass(on: gate, payload: notice, at: date, db: db)
        return (.recorded(gate), nil)
    }

    /// The unused, unexpired grant for `gate`'s deploy, if any.
    static func takeGrant(for gate: Gate, db: Database) throws -> (gate: GateID, person: String, reason: String)? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT gate_id, person, reason FROM break_glass_grant
                    WHERE deploy_key = ? AND used_by IS NULL AND expires_at > ? ORDER BY granted_at LIMIT 1
                    """,
                arguments: [gate.deployKey, SQLiteRows.millis(gate.createdAt)])
        else { return nil }
        return (GateID(unchecked: row["gate_id"]), row["person"], row["reason"])
    }

    /// Break-glass uses in `environment` since `date`, what `max_per_day` limits: gates approved by break-glass, and
    /// grants on frozen-out deploys not yet used (a used one is counted by the gate it approved).
    static func breakGlassUses(environment: String, since date: Date, db: Database) throws -> Int {
        let decided =
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM gate WHERE break_glass = 1 AND environment = ? AND decided_at > ?",
                arguments: [environment, SQLiteRows.millis(date)]) ?? 0
        let granted =
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM break_glass_grant WHERE environment = ? AND granted_at > ? AND used_by IS NULL",
                arguments: [environment, SQLiteRows.millis(date)]) ?? 0
        return decided + granted
    }

    public func decideExpiredGates(at now: Date) async throws -> [Gate] {
        let now = Timestamp.truncated(now)
        let decided = try await pool.write { db -> [Gate] in
            let ids = try String.fetchAll(
                db,
                sql: "SELECT id FROM gate WHERE state = 'pending' AND deadline <= ? ORDER BY deadline",
                arguments: [SQLiteRows.millis(now)]
            )
            var decided: [Gate] = []
            for id in ids {
                guard let gate = try SQLiteRows.fetchGate(db, GateID(unchecked: id)) else { continue }
                if let next = try decideIfExpired(gate, at: now, db: db) { decided.append(next) }
            }
            return decided
        }
        for gate in decided { changes.publish(gate) }
        return decided
    }

    public func nextDeadline() async throws -> Date? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(deadline) FROM gate WHERE state = 'pending'").map(SQLiteRows.date)
        }
    }

    public func fireDueTimers(at now: Date) async throws -> [FiredTimer] {
        let now = Timestamp.truncated(now)
        let fired = try await pool.write { db -> [FiredTimer] in
            let due = try Row.fetchAll(
                db,
                sql: """
                    SELECT t.gate_id, t.kind, t.due_at FROM gate_timer t JOIN gate g ON g.id = t.gate_id
                    WHERE t.fired_at IS NULL AND t.due_at <= ? AND g.state = 'pending' ORDER BY t.due_at
                    """,
                arguments: [SQLiteRows.millis(now)])
            var fired: [FiredTimer] = []
            for row in due {
                guard let kind = GateTimer.Kind(rawValue: row["kind"]) else { continue }
                let id = GateID(unchecked: row["gate_id"])
                // Conditional on not having fired: a second replica in the same instant finds nothing to do.
                try db.execute(
                    sql: "UPDATE gate_timer SET fired_at = ? WHERE gate_id = ? AND kind = ? AND fired_at IS NULL",
                    arguments: [SQLiteRows.millis(now), id.rawValue, kind.rawValue])
                guard db.changesCount == 1, let gate = try SQLiteRows.fetchGate(db, id) else { continue }
                let timer = GateTimer(kind: kind, due: SQLiteRows.date(row["due_at"]))
                try SQLiteAuditLog.append(Self.timerDraft(gate, timer, at: now), db: db)
                let outboxKind: OutboxKind = kind == .reminder ? .slackReminder : .slackEscalation
                if outboxKinds.contains(outboxKind), gate.plan.channel != nil {
                    try SQLiteOutbox.enqueueMessage(outboxKind, gate: id, payload: nil, at: now, db: db, ringing: changes)
                }
                fired.append(FiredTimer(gate: gate, timer: timer))
            }
            return fired
        }
        return fired
    }

    public func nextTimerDue() async throws -> Date? {
        try await pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(t.due_at) FROM gate_timer t JOIN gate g ON g.id = t.gate_id
                    WHERE t.fired_at IS NULL AND g.state = 'pending'
                    """
            ).map(SQLiteRows.date)
        }
    }

    /// Decides `gate` by its `on_timeout` if its deadline is at or before `now`, inside the caller's transaction.
    /// Returns the decided gate, or `nil` when the gate is not due (or someone else decided it first).
    private func decideIfExpired(_ gate: Gate, at now: Date, db: Database) throws -> Gate? {
        guard let next = gate.timingOut(at: now), try SQLiteRows.update(next, from: gate.version, db: db) else { return nil }
        try SQLiteAuditLog.append(Self.decidedDraft(next), db: db)
        try enqueue(next, db: db)
        return next
    }

    /// Enqueues this store's outbound work for a changed gate, inside the change's transaction. A Slack card needs a
    /// channel; a gate whose policy names none gets no card.
    private func enqueue(_ gate: Gate, db: Database) throws {
        if outboxKinds.contains(.slackCard), gate.plan.channel != nil {
            try SQLiteOutbox.enqueueCard(gate.id, at: gate.decidedAt ?? gate.votes.last?.at ?? gate.createdAt, db: db)
        }
    }

    // MARK: Tokens

    public func createToken(_ token: AccessToken, secretHash: String) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM token WHERE name = ?", arguments: [token.name]) == true {
                throw StoreError.tokenNameTaken(token.name)
            }
            try db.execute(
                sql: "INSERT INTO token (secret_hash, name, kind, user, services, environments, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    secretHash, token.name, token.kind.rawValue, token.user, try SQLiteRows.json(token.services),
                    try SQLiteRows.json(token.environments), SQLiteRows.millis(token.createdAt),
                ]
            )
            var details = ["name": token.name, "kind": token.kind.rawValue]
            details["user"] = token.user
            if !token.services.isEmpty { details["services"] = token.services.joined(separator: ",") }
            if !token.environments.isEmpty { details["environments"] = token.environments.joined(separator: ",") }
            try SQLiteAuditLog.append(.init(at: token.createdAt, actor: "operator", action: .tokenCreated, details: details), db: db)
        }
    }

    public func token(secretHash: String) async throws -> AccessToken? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM token WHERE secret_hash = ?", arguments: [secretHash]).map(SQLiteRows.token)
        }
    }

    // MARK: Audit

    public func record(_ draft: AuditDraft) async throws {
        try await writer.write { db in try SQLiteAuditLog.append(draft, db: db) }
    }

    public func auditEvents(_ query: AuditQuery) async throws -> [AuditEvent] {
        try await pool.read { db in try SQLiteAuditLog.events(query, db: db) }
    }

    public func verifyAudit() async throws -> AuditVerification {
        try await pool.read { db in try SQLiteAuditLog.verify(db: db) }
    }

    public func checkReachable() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_head") }
    }

    // MARK: Audit details

    static func openedDetails(_ gate: Gate) -> [String: String] {
        var details: [String: String] = [
            "commit": gate.request.commit,
            "rule": gate.plan.rule,
            "tier": gate.plan.tier,
            "policy_hash": gate.plan.policyHash,
            "requirements": gate.plan.requirementsSummary,
            "on_timeout": gate.plan.onTimeout.rawValue,
        ]
        details["deadline"] = gate.deadline.map(Timestamp.format)
        details["triggered_by"] = gate.request.triggeredBy
        if !gate.request.authors.isEmpty { details["authors"] = gate.request.authors.joined(separator: ", ") }
        if !gate.plan.exclusions.isEmpty {
            details["excluded"] = gate.plan.exclusions.map { "\($0.identity) (\($0.role.rawValue))" }.joined(separator: ", ")
        }
        return details
    }

    static func decidedDraft(_ gate: Gate) -> AuditDraft {
        var details = ["state": gate.state.rawValue, "outcome": gate.outcome?.rawValue ?? "", "reason": gate.reason ?? ""]
        if gate.failOpen {
            details["fail_open"] = "true"
            details["fail_open_reason"] = gate.plan.failOpenReason
        }
        if gate.breakGlass { details["break_glass"] = "true" }
        if let frozen = gate.plan.frozen {
            details["frozen"] = frozen.name
            details["freeze_ends_at"] = Timestamp.format(frozen.endsAt)
        }
        let approvals = gate.votes.filter { $0.decision == .approve }.map(\.voter)
        if !approvals.isEmpty { details["approvals"] = approvals.joined(separator: ", ") }
        return AuditDraft(
            at: gate.decidedAt ?? gate.createdAt, actor: gate.decidedBy ?? "greenlight", action: .gateDecided, gate: gate, details: details)
    }

    static func timerDraft(_ gate: Gate, _ timer: GateTimer, at now: Date) -> AuditDraft {
        switch timer.kind {
        case .reminder:
            var details = ["due": Timestamp.format(timer.due), "awaiting": gate.awaitedApprovers.joined(separator: ", ")]
            details["deadline"] = gate.deadline.map(Timestamp.format)
            if let mention = gate.plan.reminder?.mention, !mention.isEmpty { details["mention"] = mention.joined(separator: ", ") }
            return AuditDraft(at: now, actor: "greenlight", action: .gateReminded, gate: gate, details: details)
        case .escalation:
            let details = ["due": Timestamp.format(timer.due), "to": (gate.plan.escalation?.to ?? []).joined(separator: ", ")]
            return AuditDraft(at: now, actor: "greenlight", action: .gateEscalated, gate: gate, details: details)
        }
    }

    /// SHA-256 of the request's canonical JSON: tells a retried request from a different one under the same key.
    static func fingerprint(of request: GateRequest) throws -> String {
        SHA256.hash(data: Data(try SQLiteRows.json(request).utf8)).hexEncoded
    }
}

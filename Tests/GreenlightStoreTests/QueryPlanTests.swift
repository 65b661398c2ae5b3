import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import GreenlightTestSupport
import Synchronization
import Testing

@testable import GreenlightSQLite

/// Every statement the SQLite store runs, planned by SQLite itself: none may walk a table, or an index by a column that
/// many rows share, to find what one row's key would. Such a statement is fast on a test's few rows and grows with the
/// database: the first delivery of a card once stepped through every outbox item of its channel, a millisecond more for
/// every ten thousand items waiting, and seeding 100,000 gates took minutes instead of seconds.
///
/// SQLite plans without statistics here, as on a server's database (nothing runs `ANALYZE`), so the plans are the ones
/// production gets.
@Suite("Query plans of the SQLite store")
struct QueryPlanTests {
    /// Columns shared by many rows: an index searched by these alone is a scan of a large part of its table.
    static let unselective: Set<String> = ["channel", "state", "kind", "coalesced", "lane", "break_glass", "fired_at", "environment"]

    /// Statements that read many rows by design, and why that is right.
    static let wholeReads: [(sql: String, why: String)] = [
        ("SELECT MIN(due_at) AS due FROM outbox WHERE lane = ?", "MIN over an index on (lane, due_at) reads its first entry"),
        ("FROM audit_event ORDER BY sequence", "verifying the audit chain reads all of it"),
        ("SELECT COUNT(*) FROM audit_head", "one row: the readiness probe"),
        ("FROM outbox WHERE 1 AND due_at", "every channel's due items: tools and tests, never a worker"),
        ("FROM sqlite_master", "GRDB's own look at the schema"),
    ]

    @Test("no statement the store runs scans a table or searches an index by a shared column alone")
    func everyStatementUsesAKey() async throws {
        let statements = Mutex<Set<String>>([])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-plans-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("greenlight.db").path
        let recording = Atomic<Bool>(false)
        let store = try SQLiteGateStore(
            path: path, create: true, walSizeLimit: WALCheckpointer.defaultSizeLimit,
            tracing: { sql in if recording.load(ordering: .relaxed) { statements.withLock { _ = $0.insert(sql) } } })
        recording.store(true, ordering: .relaxed)
        try await Self.exercise(store)
        recording.store(false, ordering: .relaxed)

        let planner = try DatabaseQueue(path: path)
        let ran = statements.withLock { $0 }
        #expect(ran.count > 30, "the workload ran \(ran.count) distinct statements: it no longer exercises the store")
        var offenders: [String] = []
        for sql in ran.sorted() where Self.isPlannable(sql) && !Self.wholeReads.contains(where: { sql.contains($0.sql) }) {
            let plan = try await planner.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(Self.placeholders(in: sql))).map {
                    $0["detail"] as String
                }
            }
            if let step = plan.first(where: Self.isWalk) { offenders.append("\(sql)\n    \(step)") }
        }
        #expect(offenders.isEmpty, "statements that walk rows instead of finding them:\n\(offenders.joined(separator: "\n"))")
    }

    @Test(
        "the check knows a walk when SQLite plans one",
        arguments: [
            ("SCAN outbox", true),
            ("SCAN outbox USING INDEX outbox_due", true),
            ("SEARCH outbox USING INDEX outbox_due (channel=?)", true),
            ("SEARCH t USING AUTOMATIC COVERING INDEX (gate_id=?)", true),
            ("BLOOM FILTER ON vote (gate_id=?)", true),
            ("SEARCH outbox USING INDEX outbox_coalesced (gate_id=? AND coalesced=? AND channel=?)", false),
            ("SEARCH gate USING INTEGER PRIMARY KEY (rowid=?)", false),
            ("SCAN CONSTANT ROW", false),
        ])
    func recognisesWalks(step: String, walks: Bool) {
        #expect(Self.isWalk(step) == walks, "\(step)")
    }

    /// A plan step that reads rows a key would have skipped: a `SCAN` of a table or index, or a `SEARCH` constrained
    /// only by columns many rows share.
    static func isWalk(_ step: String) -> Bool {
        // An automatic index (or its Bloom filter) is built from a walk of the whole table, for this statement alone.
        if step.contains("AUTOMATIC") || step.contains("BLOOM FILTER") { return true }
        // A scan of a subquery's rows (each found by its own key) or of a constant is no walk of a table.
        if step.hasPrefix("SCAN ") { return !step.hasPrefix("SCAN CONSTANT ROW") && !step.hasPrefix("SCAN (subquery") }
        guard step.hasPrefix("SEARCH "), let open = step.lastIndex(of: "("), step.hasSuffix(")") else { return false }
        if step.contains("PRIMARY KEY") { return false }
        let columns = step[step.index(after: open)..<step.index(before: step.endIndex)]
            .split(separator: " AND ")
            .map { term in String(term.prefix { $0.isLetter || $0.isNumber || $0 == "_" }) }
        return columns.allSatisfy(unselective.contains)
    }

    /// Statements worth planning: reads and writes of rows, not transaction control or pragmas.
    static func isPlannable(_ sql: String) -> Bool {
        let verb = sql.trimmingCharacters(in: .whitespacesAndNewlines).prefix { $0.isLetter }.uppercased()
        return ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains(verb)
    }

    /// A value for each parameter of `sql` (SQLite plans a statement with its parameters unbound just the same, but
    /// GRDB wants them all). The store numbers or leaves bare its parameters; a named one (`:name`) would make GRDB
    /// refuse the arguments, which fails the test rather than passing it.
    static func placeholders(in sql: String) -> [(any DatabaseValueConvertible)?] {
        let numbered = sql.matches(of: /\?([0-9]+)/).compactMap { Int($0.1) }.max() ?? 0
        let bare = sql.matches(of: /\?(?![0-9])/).count
        return Array(repeating: nil, count: max(numbered, bare))
    }

    /// Every kind of change and read a server makes: gates opened (with and without idempotency keys, frozen out),
    /// voted on, decided, cancelled, timed out, broken glass on; timers fired; the outbox read under every hold,
    /// delivered, rescheduled, abandoned; tokens; the audit log read and verified.
    static func exercise(_ store: SQLiteGateStore) async throws {
        let ledger = GateLedger(store: store, notifying: [.slack])
        let start = StoreFixtures.start
        var timed = StoreFixtures.gate(channel: "C0DEPLOYS")
        timed.plan.reminder = Policy.Reminder(beforeDeadline: PolicyDuration(seconds: 600), mention: ["leads"])
        timed.plan.escalation = Policy.Escalation(after: PolicyDuration(seconds: 1_200), to: ["oncall"])
        _ = try await ledger.open(timed, idempotencyKey: "run-1")
        _ = try await ledger.open(timed, idempotencyKey: "run-1")
        _ = try await store.gate(openedBy: "ci", idempotencyKey: "run-1")

        let voted = try await ledger.open(StoreFixtures.gate(channel: "C0DEPLOYS"), idempotencyKey: nil).gate
        let slack = OutboxSelection(channel: .slack, kinds: [OutboxKind(.slack, .card), OutboxKind(.slack, .reminder)])
        for (updates, firsts) in [(false, false), (true, false), (false, true), (true, true)] {
            var selection = slack
            selection.holdingUpdates = updates
            selection.holdingFirstDeliveries = firsts
            _ = try await store.dueOutboxItems(selection, at: start.addingTimeInterval(60), limit: 10)
            _ = try await store.nextOutboxDue(selection)
        }
        _ = try await store.dueOutboxItems(.everything, at: start.addingTimeInterval(60), limit: 10)
        _ = try await store.nextOutboxDue(.everything)
        for item in try await store.dueOutboxItems(slack, at: start.addingTimeInterval(60), limit: 10) {
            let receipt = DeliveryReceipt(channel: .slack, value: #"{"channel":"C0DEPLOYS","ts":"1.\#(item.id)"}"#)
            try await store.completeOutboxItem(item, receipt: receipt, audit: nil)
        }
        _ = try await store.deliveryReceipt(for: voted.id, on: .slack)
        _ = try await ledger.castVote(StoreFixtures.vote("alice"), on: voted.id)
        _ = try await ledger.castVote(StoreFixtures.vote("bob", offset: 20), on: voted.id)
        _ = try await ledger.castVote(StoreFixtures.vote("carol", offset: 30), on: voted.id)
        for item in try await store.dueOutboxItems(slack, at: start.addingTimeInterval(60), limit: 10) {
            try await store.rescheduleOutboxItem(item, at: start.addingTimeInterval(120), error: "ratelimited")
            try await store.completeOutboxItem(item, receipt: nil, audit: nil)
        }
        try await store.enqueueOutboxMessage(OutboxKind(.slack, .breakGlass), gate: voted.id, payload: "{}", at: start)
        for item in try await store.dueOutboxItems(.everything, at: start.addingTimeInterval(600), limit: 10) {
            try await store.abandonOutboxItem(item, audit: .tokenCreated(AccessToken(name: "x\(item.id)", kind: .auditor, createdAt: start)))
        }

        let cancelled = try await ledger.open(StoreFixtures.gate(channel: "C0DEPLOYS"), idempotencyKey: "run-2").gate
        _ = try await ledger.cancel(cancelled.id, actor: .pipeline("ci"), reason: "superseded", at: start.addingTimeInterval(5))

        var glass = StoreFixtures.gate(channel: "C0DEPLOYS")
        glass.plan.breakGlass = PlanBreakGlass(groups: ["sre-admins"], eligible: ["dan", "frank"], maxPerDay: 2)
        let broken = try await ledger.open(glass, idempotencyKey: nil).gate
        _ = try await ledger.breakGlass(broken.id, person: "dan", reason: "SEV1", at: start.addingTimeInterval(30))
        var frozen = glass
        frozen.plan.frozen = ActiveFreeze(name: "holidays", endsAt: start.addingTimeInterval(86_400))
        let frozenOut = try await ledger.open(
            Gate(id: .generate(), request: frozen.request, openedBy: "ci", plan: frozen.plan, createdAt: start), idempotencyKey: nil
        ).gate
        _ = try await ledger.breakGlass(frozenOut.id, person: "frank", reason: "hotfix", at: start.addingTimeInterval(40))
        _ = try await ledger.open(
            Gate(id: .generate(), request: glass.request, openedBy: "ci", plan: glass.plan, createdAt: start.addingTimeInterval(50)),
            idempotencyKey: nil)
        _ = try await store.openGrant(forDeploy: glass.deployKey, at: start)
        _ = try await store.hasGrant(on: frozenOut.id)
        _ = try await store.breakGlassUses(environment: "production", since: start)

        _ = try await ledger.nextTimerDue()
        _ = try await ledger.fireDueTimers(at: start.addingTimeInterval(3_100))
        _ = try await ledger.nextDeadline()
        _ = try await ledger.decideExpiredGates(at: start.addingTimeInterval(7_200))

        let token = AccessToken(name: "deployer", kind: .pipeline, services: ["shop"], environments: ["production"], createdAt: start)
        try await store.createToken(token, secretHash: String(repeating: "b", count: 64), audit: .tokenCreated(token))
        _ = try await store.token(secretHash: String(repeating: "b", count: 64))

        _ = try await store.auditEvents(AuditQuery(gateID: voted.id.rawValue))
        _ = try await store.auditEvents(AuditQuery(after: 3, limit: 5))
        _ = try await store.auditEvents(AuditQuery(since: start, until: start.addingTimeInterval(60)))
        _ = try await store.verifyAudit()
        try await store.checkReachable()
    }
}

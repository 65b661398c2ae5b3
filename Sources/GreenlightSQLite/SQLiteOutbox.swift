import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightStore

/// The outbox's rows, always read and written inside a transaction the caller holds.
enum SQLiteOutbox {
    /// Posted cards by gate, for clicks: an address never changes once recorded.
    static let postedCards = WriteOnceMemo<GateID, PostedCard>()

    /// Makes the gate's item of `kind` due at `date`; a pending item gets its generation bumped and is brought
    /// forward, unless it is backing off after a failure (a failing receiver is not retried faster for more changes).
    static func enqueueCard(_ gate: GateID, at date: Date, db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO outbox (gate_id, kind, due_at) VALUES (?, ?, ?)
                ON CONFLICT(gate_id, kind) WHERE kind = 'slack.card' DO UPDATE SET generation = generation + 1,
                    due_at = CASE WHEN attempts > 0 THEN due_at ELSE MIN(due_at, excluded.due_at) END
                """
        ).execute(arguments: [gate.rawValue, OutboxKind.slackCard.rawValue, SQLiteRows.millis(date)])
    }

    /// Adds one message: unlike the card, every message is its own item. Once the caller's transaction commits,
    /// `feed` rings the outbox worker: a message follows no gate change, so no published gate would wake it.
    static func enqueueMessage(_ kind: OutboxKind, gate: GateID?, payload: String?, at date: Date, db: Database, ringing feed: GateChangeFeed) throws
    {
        try db.execute(
            sql: "INSERT INTO outbox (gate_id, kind, due_at, payload) VALUES (?, ?, ?, ?)",
            arguments: [gate?.rawValue, kind.rawValue, SQLiteRows.millis(date), payload]
        )
        db.afterNextTransaction { _ in feed.ringOutbox() }
    }

    /// The condition on an `outbox` row that leaves out what `hold` names (and kinds this version does not know).
    static func selection(_ hold: OutboxHold) -> String {
        var kinds = OutboxKind.allCases.filter { !hold.kinds.contains($0) }
        if hold.postedCards, hold.unpostedCards { kinds.removeAll { $0 == .slackCard } }
        guard !kinds.isEmpty else { return "0" }  // everything held
        var condition = "kind IN (\(kinds.map { "'\($0.rawValue)'" }.joined(separator: ", ")))"
        if hold.postedCards != hold.unpostedCards {
            let posted = "EXISTS (SELECT 1 FROM slack_card WHERE slack_card.gate_id = outbox.gate_id)"
            condition += " AND NOT (kind = '\(OutboxKind.slackCard.rawValue)' AND \(hold.postedCards ? "" : "NOT ")\(posted))"
        }
        return condition
    }

    static func item(from row: Row) -> OutboxItem? {
        guard let kind = OutboxKind(rawValue: row["kind"]) else { return nil }
        return OutboxItem(
            id: row["id"], gateID: (row["gate_id"] as String?).map(GateID.init(unchecked:)), kind: kind, dueAt: SQLiteRows.date(row["due_at"]),
            attempts: row["attempts"], generation: row["generation"], payload: row["payload"]
        )
    }
}

extension SQLiteGateStore {
    public func dueOutboxItems(at now: Date, limit: Int, holding hold: OutboxHold) async throws -> [OutboxItem] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM outbox WHERE due_at <= ? AND \(SQLiteOutbox.selection(hold)) ORDER BY due_at, id LIMIT ?",
                arguments: [SQLiteRows.millis(now), limit]
            )
            .compactMap(SQLiteOutbox.item)
        }
    }

    public func nextOutboxDue(holding hold: OutboxHold) async throws -> Date? {
        // Only kinds this version delivers: a row a newer version wrote must not keep the worker awake forever.
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(due_at) FROM outbox WHERE \(SQLiteOutbox.selection(hold))").map(SQLiteRows.date)
        }
    }

    public func completeOutboxItem(_ item: OutboxItem, posted: PostedCard?, audit: AuditDraft?) async throws {
        let recorded = try await writer.write { db -> Bool in
            var recorded = false
            if let posted, let gate = item.gateID {
                try db.execute(
                    sql: "INSERT INTO slack_card (gate_id, channel, ts) VALUES (?, ?, ?) ON CONFLICT(gate_id) DO NOTHING",
                    arguments: [gate.rawValue, posted.channel, posted.ts]
                )
                recorded = db.changesCount == 1
            }
            // Only the generation that was delivered: a change since then keeps the item due.
            try db.execute(sql: "DELETE FROM outbox WHERE id = ? AND generation = ?", arguments: [item.id, item.generation])
            if db.changesCount == 0 {
                try db.execute(sql: "UPDATE outbox SET attempts = 0, last_error = NULL WHERE id = ?", arguments: [item.id])
            }
            if let audit { try SQLiteAuditLog.append(audit, db: db) }
            return recorded
        }
        // Committed: the first click on the card needs no read of its address.
        if recorded, let posted, let gate = item.gateID { SQLiteOutbox.postedCards.remember(posted, for: gate) }
        // A card now has an address: thread messages waiting for it, and clicks that raced it, can go on.
        if posted != nil { changes.ringOutbox() }
    }

    public func rescheduleOutboxItem(_ item: OutboxItem, at date: Date, error: String) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE outbox SET due_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
                arguments: [SQLiteRows.millis(date), String(error.prefix(500)), item.id]
            )
        }
    }

    public func abandonOutboxItem(_ item: OutboxItem, audit: AuditDraft) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE id = ?", arguments: [item.id])
            try SQLiteAuditLog.append(audit, db: db)
        }
    }

    public func enqueueOutboxMessage(_ kind: OutboxKind, gate: GateID?, payload: String, at date: Date) async throws {
        try await writer.write { [changes] db in
            try SQLiteOutbox.enqueueMessage(kind, gate: gate, payload: payload, at: date, db: db, ringing: changes)
        }
    }

    /// A card's address is written once (the table keeps the first), so a click on a known card needs no read.
    public func postedCard(for gate: GateID) async throws -> PostedCard? {
        if let card = SQLiteOutbox.postedCards[gate] { return card }
        let card = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT channel, ts FROM slack_card WHERE gate_id = ?", arguments: [gate.rawValue]).map {
                PostedCard(channel: $0["channel"], ts: $0["ts"])
            }
        }
        if let card { SQLiteOutbox.postedCards.remember(card, for: gate) }
        return card
    }
}

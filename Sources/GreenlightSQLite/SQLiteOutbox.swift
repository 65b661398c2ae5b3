import Foundation
import GRDB
import GreenlightAudit
import GreenlightCore
import GreenlightStore

/// The outbox's rows, always read and written inside a transaction the caller holds.
enum SQLiteOutbox {
    /// Delivery receipts by gate and channel, for clicks: a receipt never changes once recorded.
    static let receipts = WriteOnceMemo<ReceiptKey, DeliveryReceipt>()

    struct ReceiptKey: Hashable, Sendable {
        var gate: GateID
        var channel: NotificationChannel
    }

    /// Makes the gate's one item of `kind` due at `date`; a pending item gets its generation bumped and is brought
    /// forward, unless it is backing off after a failure (a failing receiver is not retried faster for more changes)
    /// or a worker holds it (completing the older generation makes it due again).
    static func enqueueCoalesced(_ kind: OutboxKind, gate: GateID, at date: Date, db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO outbox (gate_id, kind, channel, coalesced, due_at, lane) VALUES (?1, ?2, ?3, 1, ?4,
                    ?2 || CASE WHEN EXISTS (SELECT 1 FROM delivery_receipt WHERE gate_id = ?1 AND channel = ?3) THEN ':update' ELSE ':first' END)
                ON CONFLICT(gate_id, kind) WHERE coalesced = 1 DO UPDATE SET generation = generation + 1,
                    due_at = CASE WHEN attempts > 0 OR leased = 1 THEN due_at ELSE MIN(due_at, excluded.due_at) END
                """
        ).execute(arguments: [gate.rawValue, kind.rawValue, kind.channel.rawValue, SQLiteRows.millis(date)])
    }

    /// Adds one message: unlike the gate's view, every message is its own item. Once the caller's transaction commits,
    /// `feed` rings the outbox workers: a message follows no gate change, so no published gate would wake them.
    static func enqueueMessage(_ kind: OutboxKind, gate: GateID?, payload: String?, at date: Date, db: Database, ringing feed: GateChangeFeed) throws
    {
        try db.execute(
            sql: "INSERT INTO outbox (gate_id, kind, channel, coalesced, due_at, payload, lane) VALUES (?, ?, ?, 0, ?, ?, ?)",
            arguments: [gate?.rawValue, kind.rawValue, kind.channel.rawValue, SQLiteRows.millis(date), payload, kind.rawValue]
        )
        db.afterNextTransaction { _ in feed.ringOutbox() }
    }

    /// The condition on an `outbox` row for `selection`, and its arguments: for reads that name no kinds (tools, tests).
    static func condition(_ selection: OutboxSelection) -> (sql: String, arguments: StatementArguments) {
        var clauses: [String] = []
        var arguments: StatementArguments = []
        if let channel = selection.channel {
            clauses.append("channel = ?")
            arguments += [channel.rawValue]
        }
        if let kinds = selection.kinds {
            guard !kinds.isEmpty else { return ("0", []) }  // everything held
            let sorted = kinds.map(\.rawValue).sorted()
            clauses.append("kind IN (\(sorted.map { _ in "?" }.joined(separator: ", ")))")
            arguments += StatementArguments(sorted)
        }
        if selection.holdingUpdates, selection.holdingFirstDeliveries {
            clauses.append("coalesced = 0")
        } else if selection.holdingUpdates || selection.holdingFirstDeliveries {
            let delivered = "EXISTS (SELECT 1 FROM delivery_receipt r WHERE r.gate_id = outbox.gate_id AND r.channel = outbox.channel)"
            clauses.append("NOT (coalesced = 1 AND \(selection.holdingUpdates ? "" : "NOT ")\(delivered))")
        }
        return (clauses.isEmpty ? "1" : clauses.joined(separator: " AND "), arguments)
    }

    static func item(from row: Row) throws -> OutboxItem {
        guard let kind = OutboxKind(rawValue: row["kind"]) else {
            throw StoreError.corruptRow("outbox item \(row["id"] as Int64) has kind '\(row["kind"] as String)', which is not channel.event")
        }
        return OutboxItem(
            id: row["id"], gateID: (row["gate_id"] as String?).map(GateID.init(unchecked:)), kind: kind, dueAt: SQLiteRows.date(row["due_at"]),
            attempts: row["attempts"], generation: row["generation"], payload: row["payload"], claim: row["claim"]
        )
    }

    /// The condition a settling write adds for `item`: its claim still holds (an item read without one settles as it is).
    static func fenced(_ item: OutboxItem) -> (sql: String, arguments: StatementArguments) {
        item.claim == 0 ? ("", []) : (" AND claim = ?", [item.claim])
    }
}

extension SQLiteOutbox {
    /// The read of the items `selection` reads due at `now`, oldest first; `nil` when it reads none.
    static func dueQuery(_ selection: OutboxSelection, at now: Date, limit: Int) -> (sql: String, arguments: StatementArguments)? {
        let due = SQLiteRows.millis(now)
        if let lanes = selection.lanes {
            guard !lanes.isEmpty else { return nil }
            // One index range per lane, each cut at the limit: what a held lane holds is never stepped over.
            let perLane = "SELECT * FROM (SELECT * FROM outbox WHERE lane = ? AND due_at <= ? ORDER BY due_at, id LIMIT ?)"
            let sql = Array(repeating: perLane, count: lanes.count).joined(separator: " UNION ALL ") + " ORDER BY due_at, id LIMIT ?"
            var arguments: StatementArguments = []
            for lane in lanes { arguments += [lane, due, limit] }
            arguments += [limit]
            return (sql, arguments)
        }
        let (condition, arguments) = condition(selection)
        return ("SELECT * FROM outbox WHERE \(condition) AND due_at <= ? ORDER BY due_at, id LIMIT ?", arguments + [due, limit])
    }
}

extension SQLiteGateStore {
    public func dueOutboxItems(_ selection: OutboxSelection, at now: Date, limit: Int) async throws -> [OutboxItem] {
        guard let (sql, arguments) = SQLiteOutbox.dueQuery(selection, at: now, limit: limit) else { return [] }
        return try await pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(SQLiteOutbox.item) }
    }

    public func claimOutboxItems(_ selection: OutboxSelection, at now: Date, limit: Int, until leaseUntil: Date) async throws -> [OutboxItem] {
        guard let (sql, arguments) = SQLiteOutbox.dueQuery(selection, at: now, limit: limit) else { return [] }
        // One writer: nobody else claims between the read and the writes.
        return try await writer.write { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(SQLiteOutbox.item).map { due in
                var item = due
                item.claim += 1
                item.leasedUntil = leaseUntil
                try db.execute(
                    sql: "UPDATE outbox SET claim = ?, leased = 1, due_at = ? WHERE id = ?",
                    arguments: [item.claim, SQLiteRows.millis(leaseUntil), item.id])
                return item
            }
        }
    }

    public func nextOutboxDue(_ selection: OutboxSelection) async throws -> Date? {
        if let lanes = selection.lanes {
            guard !lanes.isEmpty else { return nil }
            let sql =
                "SELECT MIN(due) FROM ("
                + Array(repeating: "SELECT MIN(due_at) AS due FROM outbox WHERE lane = ?", count: lanes.count).joined(separator: " UNION ALL ") + ")"
            return try await pool.read { db in
                try Int64.fetchOne(db, sql: sql, arguments: StatementArguments(lanes)).map(SQLiteRows.date)
            }
        }
        let (condition, arguments) = SQLiteOutbox.condition(selection)
        return try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(due_at) FROM outbox WHERE \(condition)", arguments: arguments).map(SQLiteRows.date)
        }
    }

    public func completeOutboxItem(_ item: OutboxItem, receipt: DeliveryReceipt?, audit: AuditDraft?) async throws {
        let recorded = try await writer.write { db -> Bool in
            var recorded = false
            if let receipt, let gate = item.gateID {
                try db.execute(
                    sql: "INSERT INTO delivery_receipt (gate_id, channel, receipt) VALUES (?, ?, ?) ON CONFLICT(gate_id, channel) DO NOTHING",
                    arguments: [gate.rawValue, receipt.channel.rawValue, receipt.value]
                )
                recorded = db.changesCount == 1
                // The gate's view, due again for a change since, is an update from now on. By the gate's own index:
                // without statistics SQLite would rather take `outbox_due` by channel, every item of the channel.
                try db.execute(
                    sql: "UPDATE outbox INDEXED BY outbox_coalesced SET lane = kind || ':update' WHERE gate_id = ? AND coalesced = 1 AND channel = ?",
                    arguments: [gate.rawValue, receipt.channel.rawValue])
            }
            // Only the generation that was delivered, under the claim it was read with: a change since then keeps the
            // item, due again at once; a claim taken over leaves it to its new claimant.
            let (fence, fenceArguments) = SQLiteOutbox.fenced(item)
            try db.execute(
                sql: "DELETE FROM outbox WHERE id = ? AND generation = ?\(fence)", arguments: [item.id, item.generation] + fenceArguments)
            if db.changesCount == 0 {
                try db.execute(
                    sql: "UPDATE outbox SET attempts = 0, last_error = NULL, leased = 0, due_at = MIN(due_at, ?) WHERE id = ?\(fence)",
                    arguments: [SQLiteRows.millis(item.dueAt), item.id] + fenceArguments)
            }
            if let audit { try SQLiteAuditLog.append(audit, db: db) }
            return recorded
        }
        // Committed: the first click on the card needs no read of its address.
        if recorded, let receipt, let gate = item.gateID {
            SQLiteOutbox.receipts.remember(receipt, for: .init(gate: gate, channel: receipt.channel))
        }
        // A gate now has a receipt: thread messages waiting for it, and clicks that raced it, can go on.
        if receipt != nil { changes.ringOutbox() }
    }

    public func releaseOutboxItems(_ items: [OutboxItem]) async throws {
        let claimed = items.filter { $0.claim != 0 }
        guard !claimed.isEmpty else { return }
        try await writer.write { db in
            for item in claimed {
                try db.execute(
                    sql: "UPDATE outbox SET leased = 0, due_at = ? WHERE id = ? AND claim = ?",
                    arguments: [SQLiteRows.millis(item.dueAt), item.id, item.claim])
            }
        }
    }

    public func rescheduleOutboxItem(_ item: OutboxItem, at date: Date, error: String) async throws {
        let (fence, fenceArguments) = SQLiteOutbox.fenced(item)
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE outbox SET due_at = ?, attempts = attempts + 1, last_error = ?, leased = 0 WHERE id = ?\(fence)",
                arguments: [SQLiteRows.millis(date), String(error.prefix(500)), item.id] + fenceArguments
            )
        }
    }

    public func abandonOutboxItem(_ item: OutboxItem, audit: AuditDraft) async throws {
        let (fence, fenceArguments) = SQLiteOutbox.fenced(item)
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE id = ?\(fence)", arguments: [item.id] + fenceArguments)
            // Given up once: a claimant that lost the item records nothing (its new claimant will).
            if db.changesCount == 1 { try SQLiteAuditLog.append(audit, db: db) }
        }
    }

    public func enqueueOutboxMessage(_ kind: OutboxKind, gate: GateID?, payload: String, at date: Date) async throws {
        try await writer.write { [changes] db in
            try SQLiteOutbox.enqueueMessage(kind, gate: gate, payload: payload, at: date, db: db, ringing: changes)
        }
    }

    /// A receipt is written once (the table keeps the first), so a click on a known card needs no read.
    public func deliveryReceipt(for gate: GateID, on channel: NotificationChannel) async throws -> DeliveryReceipt? {
        let key = SQLiteOutbox.ReceiptKey(gate: gate, channel: channel)
        if let receipt = SQLiteOutbox.receipts[key] { return receipt }
        let receipt = try await readByKey(oneStatement: true) { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT receipt FROM delivery_receipt WHERE gate_id = ? AND channel = ?"),
                arguments: [gate.rawValue, channel.rawValue]
            ).map { DeliveryReceipt(channel: channel, value: $0) }
        }
        if let receipt { SQLiteOutbox.receipts.remember(receipt, for: key) }
        return receipt
    }
}

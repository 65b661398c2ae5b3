import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightStore
import Logging
import PostgresNIO

/// The outbox's rows: the same table, lanes and coalescing as SQLite's (``GreenlightSQLite``'s `SQLiteOutbox` says why
/// each is there).
enum PostgresOutbox {
    /// Delivery receipts by gate and channel: a receipt never changes once recorded.
    static let receipts = WriteOnceMemo<String, DeliveryReceipt>()

    static func receiptKey(_ gate: GateID, _ channel: NotificationChannel) -> String { "\(gate.rawValue) \(channel.rawValue)" }

    /// Makes the gate's one item of `kind` due at `date`; a pending item gets its generation bumped and is brought
    /// forward, unless it is backing off after a failure or a worker holds it.
    static func enqueueCoalesced(_ kind: OutboxKind, gate: GateID, at date: Date, on connection: PostgresConnection, logger: Logger) async throws {
        var statement = Statement()
        let gateID = statement.bind(gate.rawValue)
        let kindName = statement.bind(kind.rawValue)
        let channel = statement.bind(kind.channel.rawValue)
        let due = statement.bind(Timestamp.milliseconds(date))
        statement.append(
            """
            INSERT INTO outbox (gate_id, kind, channel, coalesced, due_at, lane) VALUES (\(gateID), \(kindName), \(channel), true, \(due),
                \(kindName) || CASE WHEN EXISTS (SELECT 1 FROM delivery_receipt WHERE gate_id = \(gateID) AND channel = \(channel))
                    THEN ':update' ELSE ':first' END)
            ON CONFLICT (gate_id, kind) WHERE coalesced DO UPDATE SET generation = outbox.generation + 1,
                due_at = CASE WHEN outbox.attempts > 0 OR outbox.leased THEN outbox.due_at ELSE LEAST(outbox.due_at, EXCLUDED.due_at) END
            """)
        try await connection.query(statement.query, logger: logger)
    }

    /// Adds one message: unlike the gate's view, every message is its own item.
    static func enqueueMessage(
        _ kind: OutboxKind, gate: GateID?, payload: String?, at date: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO outbox (gate_id, kind, channel, coalesced, due_at, payload, lane)
            VALUES (\(gate?.rawValue), \(kind.rawValue), \(kind.channel.rawValue), false, \(Timestamp.milliseconds(date)), \(payload),
                    \(kind.rawValue))
            """, logger: logger)
    }

    static let columns = "id, gate_id, kind, due_at, attempts, generation, payload, claim"

    static func item(from row: PostgresRow) throws -> OutboxItem {
        let (id, gate, kind, due, attempts, generation, payload, claim) = try row.decode(
            (Int64, String?, String, Int64, Int, Int, String?, Int64).self)
        guard let known = OutboxKind(rawValue: kind) else {
            throw StoreError.corruptRow("outbox item \(id) has kind '\(kind)', which is not channel.event")
        }
        return OutboxItem(
            id: id, gateID: gate.map(GateID.init(unchecked:)), kind: known, dueAt: Timestamp.date(milliseconds: due), attempts: attempts,
            generation: generation, payload: payload, claim: claim)
    }

    /// The condition a settling write adds for `item`: its claim still holds (an item read without one settles as it is).
    static func fenced(_ item: OutboxItem) -> String {
        item.claim == 0 ? "" : " AND claim = \(item.claim)"
    }

    /// The read of the items `selection` reads due at `now`, oldest first, into `statement`; `false` when it reads none.
    static func dueQuery(_ selection: OutboxSelection, at now: Date, limit: Int, columns: String, into statement: inout Statement) -> Bool {
        let due = statement.bind(Timestamp.milliseconds(now))
        let limit = statement.bind(Int64(limit))
        if let lanes = selection.lanes {
            guard !lanes.isEmpty else { return false }
            // One index range per lane, each cut at the limit: what a held lane holds is never stepped over.
            let perLane = lanes.map { lane in
                "(SELECT \(Self.columns) FROM outbox WHERE lane = \(statement.bind(lane)) AND due_at <= \(due) ORDER BY due_at, id LIMIT \(limit))"
            }
            statement.append("SELECT \(columns) FROM (" + perLane.joined(separator: " UNION ALL ") + ") AS due ORDER BY due_at, id LIMIT \(limit)")
        } else {
            let condition = condition(selection, in: &statement)
            statement.append("SELECT \(columns) FROM outbox WHERE \(condition) AND due_at <= \(due) ORDER BY due_at, id LIMIT \(limit)")
        }
        return true
    }

    /// The condition on an `outbox` row for a `selection` that names no kinds (tools, tests).
    static func condition(_ selection: OutboxSelection, in statement: inout Statement) -> String {
        var clauses: [String] = []
        if let channel = selection.channel { clauses.append("channel = \(statement.bind(channel.rawValue))") }
        if let kinds = selection.kinds {
            guard !kinds.isEmpty else { return "false" }
            clauses.append("kind IN (\(kinds.map(\.rawValue).sorted().map { statement.bind($0) }.joined(separator: ", ")))")
        }
        if selection.holdingUpdates, selection.holdingFirstDeliveries {
            clauses.append("NOT coalesced")
        } else if selection.holdingUpdates || selection.holdingFirstDeliveries {
            let delivered = "EXISTS (SELECT 1 FROM delivery_receipt r WHERE r.gate_id = outbox.gate_id AND r.channel = outbox.channel)"
            clauses.append("NOT (coalesced AND \(selection.holdingUpdates ? "" : "NOT ")\(delivered))")
        }
        return clauses.isEmpty ? "true" : clauses.joined(separator: " AND ")
    }
}

extension PostgresGateStore {
    public func dueOutboxItems(_ selection: OutboxSelection, at now: Date, limit: Int) async throws -> [OutboxItem] {
        var statement = Statement()
        guard PostgresOutbox.dueQuery(selection, at: now, limit: limit, columns: PostgresOutbox.columns, into: &statement) else { return [] }
        return try await rows(statement.query).map(PostgresOutbox.item)
    }

    /// The due items are read as ``dueOutboxItems(_:at:limit:)`` reads them (a lock cannot sit under a `UNION`), then
    /// locked `FOR UPDATE SKIP LOCKED` if still due — another replica's claim in progress is stepped over, not waited
    /// for — and claimed: token bumped, due at the lease's end. No write lock: a claim appends no audit event.
    public func claimOutboxItems(_ selection: OutboxSelection, at now: Date, limit: Int, until leaseUntil: Date) async throws -> [OutboxItem] {
        var statement = Statement()
        statement.append("WITH candidates AS (")
        guard PostgresOutbox.dueQuery(selection, at: now, limit: limit, columns: "id", into: &statement) else { return [] }
        let due = statement.bind(Timestamp.milliseconds(now))
        let lease = statement.bind(Timestamp.milliseconds(leaseUntil))
        statement.append(
            """
            ), picked AS (
                SELECT o.id, o.due_at FROM outbox o JOIN candidates c ON c.id = o.id WHERE o.due_at <= \(due) FOR UPDATE OF o SKIP LOCKED)
            UPDATE outbox SET claim = outbox.claim + 1, leased = true, due_at = \(lease) FROM picked WHERE outbox.id = picked.id
            RETURNING outbox.id, outbox.gate_id, outbox.kind, picked.due_at, outbox.attempts, outbox.generation, outbox.payload, outbox.claim
            """)
        return try await rows(statement.query).map { row in
            var item = try PostgresOutbox.item(from: row)
            item.leasedUntil = leaseUntil
            return item
        }
        .sorted { ($0.dueAt, $0.id) < ($1.dueAt, $1.id) }
    }

    public func nextOutboxDue(_ selection: OutboxSelection) async throws -> Date? {
        var statement = Statement()
        if let lanes = selection.lanes {
            guard !lanes.isEmpty else { return nil }
            let perLane = lanes.map { "(SELECT MIN(due_at) AS due FROM outbox WHERE lane = \(statement.bind($0)))" }
            statement.append("SELECT MIN(due) FROM (" + perLane.joined(separator: " UNION ALL ") + ") AS lanes")
        } else {
            let condition = PostgresOutbox.condition(selection, in: &statement)
            statement.append("SELECT MIN(due_at) FROM outbox WHERE \(condition)")
        }
        return try await rows(statement.query).first?.decode(Int64?.self).map(Timestamp.date(milliseconds:))
    }

    public func completeOutboxItem(_ item: OutboxItem, receipt: DeliveryReceipt?, audit: AuditDraft?) async throws {
        let recorded = try await transaction { [logger] connection -> Bool in
            var recorded = false
            if let receipt, let gate = item.gateID {
                recorded =
                    try await !connection.query(
                        """
                        INSERT INTO delivery_receipt (gate_id, channel, receipt) VALUES (\(gate.rawValue), \(receipt.channel.rawValue), \(receipt.value))
                        ON CONFLICT (gate_id, channel) DO NOTHING RETURNING 1
                        """, logger: logger
                    ).collect().isEmpty
                // The gate's view, due again for a change since, is an update from now on.
                try await connection.query(
                    """
                    UPDATE outbox SET lane = kind || ':update' WHERE gate_id = \(gate.rawValue) AND coalesced AND channel = \(receipt.channel.rawValue)
                    """, logger: logger)
            }
            // Only the generation that was delivered, under the claim it was read with: a change since then keeps the
            // item, due again at once; a claim taken over leaves it to its new claimant.
            var delete = Statement()
            delete.append(
                "DELETE FROM outbox WHERE id = \(delete.bind(item.id)) AND generation = \(delete.bind(item.generation))"
                    + PostgresOutbox.fenced(item) + " RETURNING 1")
            if try await connection.query(delete.query, logger: logger).collect().isEmpty {
                var reset = Statement()
                reset.append(
                    """
                    UPDATE outbox SET attempts = 0, last_error = NULL, leased = false,
                        due_at = LEAST(due_at, \(reset.bind(Timestamp.milliseconds(item.dueAt)))) WHERE id = \(reset.bind(item.id))
                    """ + PostgresOutbox.fenced(item))
                try await connection.query(reset.query, logger: logger)
            }
            if let audit { try await PostgresAuditLog.append(audit, on: connection, logger: logger) }
            return recorded
        }
        if recorded, let receipt, let gate = item.gateID {
            PostgresOutbox.receipts.remember(receipt, for: PostgresOutbox.receiptKey(gate, receipt.channel))
        }
        // A gate now has a receipt: thread messages waiting for it, and clicks that raced it, can go on.
        if receipt != nil { changes.ringOutbox() }
    }

    /// One statement for the lot, without the write lock (no audit event).
    public func releaseOutboxItems(_ items: [OutboxItem]) async throws {
        let claimed = items.filter { $0.claim != 0 }
        guard !claimed.isEmpty else { return }
        let ids = claimed.map(\.id)
        let claims = claimed.map(\.claim)
        let dues = claimed.map { Timestamp.milliseconds($0.dueAt) }
        _ = try await rows(
            """
            UPDATE outbox SET leased = false, due_at = released.due
            FROM unnest(\(ids)::bigint[], \(claims)::bigint[], \(dues)::bigint[]) AS released (id, claim, due)
            WHERE outbox.id = released.id AND outbox.claim = released.claim
            """)
    }

    public func rescheduleOutboxItem(_ item: OutboxItem, at date: Date, error: String) async throws {
        let message = String(error.prefix(500))
        var statement = Statement()
        statement.append(
            """
            UPDATE outbox SET due_at = \(statement.bind(Timestamp.milliseconds(date))), attempts = attempts + 1,
                last_error = \(statement.bind(message)), leased = false WHERE id = \(statement.bind(item.id))
            """ + PostgresOutbox.fenced(item))
        let query = statement.query
        try await transaction { [logger] connection in try await connection.query(query, logger: logger) }
    }

    public func abandonOutboxItem(_ item: OutboxItem, audit: AuditDraft) async throws {
        var statement = Statement()
        statement.append("DELETE FROM outbox WHERE id = \(statement.bind(item.id))" + PostgresOutbox.fenced(item) + " RETURNING 1")
        let query = statement.query
        try await transaction { [logger] connection in
            // Given up once: a claimant that lost the item records nothing (its new claimant will).
            if try await !connection.query(query, logger: logger).collect().isEmpty {
                try await PostgresAuditLog.append(audit, on: connection, logger: logger)
            }
        }
    }

    public func enqueueOutboxMessage(_ kind: OutboxKind, gate: GateID?, payload: String, at date: Date) async throws {
        try await transaction { [logger] connection in
            try await PostgresOutbox.enqueueMessage(kind, gate: gate, payload: payload, at: date, on: connection, logger: logger)
        }
        changes.ringOutbox()
    }

    /// A receipt is written once (the table keeps the first), so a click on a known card needs no read.
    public func deliveryReceipt(for gate: GateID, on channel: NotificationChannel) async throws -> DeliveryReceipt? {
        let key = PostgresOutbox.receiptKey(gate, channel)
        if let receipt = PostgresOutbox.receipts[key] { return receipt }
        let receipt = try await rows(
            "SELECT receipt FROM delivery_receipt WHERE gate_id = \(gate.rawValue) AND channel = \(channel.rawValue)"
        ).first.map { DeliveryReceipt(channel: channel, value: try $0.decode(String.self)) }
        if let receipt { PostgresOutbox.receipts.remember(receipt, for: key) }
        return receipt
    }
}

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
        var unit = PostgresWriteUnit()
        unit.append(
            "complete_outbox",
            Self.fencing(item) + [
                ("id", .text(item.gateID?.rawValue)), ("channel", .text(receipt?.channel.rawValue)), ("receipt", .text(receipt?.value)),
                ("generation", .integer(Int64(item.generation))), ("due", .instant(item.dueAt)),
            ])
        if let audit { unit.audit(audit) }
        let recorded = try await perform(unit)
        if recorded, let receipt, let gate = item.gateID {
            PostgresOutbox.receipts.remember(receipt, for: PostgresOutbox.receiptKey(gate, receipt.channel))
        }
        // A gate now has a receipt: thread messages waiting for it, and clicks that raced it, can go on.
        if receipt != nil { changes.ringOutbox() }
    }

    /// The fields that name `item` under the claim it was read with (0: read without one, settled as it is).
    private static func fencing(_ item: OutboxItem) -> [(String, CanonicalJSON)] {
        [("item", .integer(item.id)), ("claim", .integer(item.claim))]
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
        var unit = PostgresWriteUnit()
        unit.append("reschedule_outbox", Self.fencing(item) + [("due", .instant(date)), ("error", .string(String(error.prefix(500))))])
        try await perform(unit)
    }

    public func abandonOutboxItem(_ item: OutboxItem, audit: AuditDraft) async throws {
        // Given up once: a claimant that lost the item records nothing (its new claimant will).
        var unit = PostgresWriteUnit()
        unit.append("abandon_outbox", Self.fencing(item) + [("audit", .object(PostgresWriteUnit.event(audit)))])
        try await perform(unit)
    }

    public func enqueueOutboxMessage(_ kind: OutboxKind, gate: GateID?, payload: String, at date: Date) async throws {
        var unit = PostgresWriteUnit()
        unit.append(
            "enqueue_message",
            [
                ("id", .text(gate?.rawValue)), ("kind", .string(kind.rawValue)), ("channel", .string(kind.channel.rawValue)),
                ("due", .instant(date)), ("payload", .string(payload)),
            ])
        try await perform(unit)
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

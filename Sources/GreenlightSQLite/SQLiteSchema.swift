import Foundation
import GRDB
import GreenlightCore
import GreenlightStore

/// The SQLite schema, as a sequence of migrations. Never edit a migration that has shipped: add a new one.
///
/// Instants are stored as integer milliseconds since 1970 (UTC), so that comparisons in SQL are plain integer
/// comparisons and the same columns carry over to PostgreSQL as `bigint`.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: gates, votes, tokens, audit chain") { db in
            try db.execute(
                sql: """
                    CREATE TABLE gate (
                        id TEXT PRIMARY KEY NOT NULL,
                        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'timed_out', 'cancelled')),
                        outcome TEXT,
                        service TEXT NOT NULL,
                        environment TEXT NOT NULL,
                        opened_by TEXT NOT NULL,
                        created_at INTEGER NOT NULL,
                        deadline INTEGER,
                        decided_at INTEGER,
                        decided_by TEXT,
                        reason TEXT,
                        fail_open INTEGER NOT NULL DEFAULT 0,
                        version INTEGER NOT NULL,
                        request TEXT NOT NULL,          -- GateRequest as JSON: the pipeline's claimed facts
                        plan TEXT NOT NULL,             -- GatePlan as JSON: the policy frozen for this gate
                        idempotency_key TEXT,
                        request_fingerprint TEXT NOT NULL
                    );
                    -- A pipeline's Idempotency-Key names one gate.
                    CREATE UNIQUE INDEX gate_idempotency ON gate(opened_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
                    -- The deadline timer reads the earliest pending deadline.
                    CREATE INDEX gate_pending_deadline ON gate(deadline) WHERE state = 'pending';

                    CREATE TABLE vote (
                        gate_id TEXT NOT NULL REFERENCES gate(id),
                        voter TEXT NOT NULL,
                        decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
                        comment TEXT,
                        at INTEGER NOT NULL,
                        via TEXT NOT NULL,
                        PRIMARY KEY (gate_id, voter)    -- a person votes once per gate, whatever the races
                    );

                    CREATE TABLE token (
                        secret_hash TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL UNIQUE,
                        kind TEXT NOT NULL CHECK (kind IN ('pipeline', 'approver', 'auditor')),
                        user TEXT,
                        services TEXT NOT NULL,         -- JSON array; empty means any
                        environments TEXT NOT NULL,     -- JSON array; empty means any
                        created_at INTEGER NOT NULL
                    );

                    CREATE TABLE audit_event (
                        sequence INTEGER PRIMARY KEY NOT NULL,
                        at INTEGER NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        gate_id TEXT,
                        service TEXT,
                        environment TEXT,
                        artifact TEXT,
                        details TEXT NOT NULL,          -- JSON object of strings
                        previous_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX audit_event_gate ON audit_event(gate_id);
                    CREATE INDEX audit_event_at ON audit_event(at);

                    -- The chain's head, kept apart from the events so that cutting events off the end is detected.
                    CREATE TABLE audit_head (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        sequence INTEGER NOT NULL,
                        hash TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v2: outbox and posted Slack cards") { db in
            try db.execute(
                sql: """
                    -- Work to do outside the database because a gate changed, written in the change's transaction.
                    -- One row per gate and kind: later changes to the gate bump its generation, so that the worker
                    -- renders the newest state and a completion never swallows a change it did not see.
                    CREATE TABLE outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        gate_id TEXT NOT NULL REFERENCES gate(id),
                        kind TEXT NOT NULL,
                        due_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        generation INTEGER NOT NULL DEFAULT 1,
                        last_error TEXT,
                        UNIQUE (gate_id, kind)
                    );
                    CREATE INDEX outbox_due ON outbox(due_at);

                    -- Where each gate's Slack card was posted: the key for chat.update.
                    CREATE TABLE slack_card (
                        gate_id TEXT PRIMARY KEY NOT NULL REFERENCES gate(id),
                        channel TEXT NOT NULL,
                        ts TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v3: outbox messages, reminder and escalation timers") { db in
            try db.execute(
                sql: """
                    -- The outbox now also carries single messages (a refusal told to one person, a reminder in a
                    -- card's thread): several rows per gate, some with no gate at all, each with its payload. The
                    -- card keeps one row per gate through a partial unique index.
                    CREATE TABLE outbox_v3 (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        gate_id TEXT REFERENCES gate(id),
                        kind TEXT NOT NULL,
                        due_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        generation INTEGER NOT NULL DEFAULT 1,
                        last_error TEXT,
                        payload TEXT
                    );
                    INSERT INTO outbox_v3 (id, gate_id, kind, due_at, attempts, generation, last_error)
                        SELECT id, gate_id, kind, due_at, attempts, generation, last_error FROM outbox;
                    DROP TABLE outbox;
                    ALTER TABLE outbox_v3 RENAME TO outbox;
                    CREATE UNIQUE INDEX outbox_card ON outbox(gate_id, kind) WHERE kind = 'slack.card';
                    CREATE INDEX outbox_due ON outbox(due_at);

                    -- A pending gate's reminder and escalation: written when the gate opens, fired once (fired_at
                    -- set in the transaction that records the audit event and enqueues the message).
                    CREATE TABLE gate_timer (
                        gate_id TEXT NOT NULL REFERENCES gate(id),
                        kind TEXT NOT NULL CHECK (kind IN ('remind', 'escalate')),
                        due_at INTEGER NOT NULL,
                        fired_at INTEGER,
                        PRIMARY KEY (gate_id, kind)
                    );
                    CREATE INDEX gate_timer_due ON gate_timer(due_at) WHERE fired_at IS NULL;
                    """
            )
        }
        migrator.registerMigration("v4: break-glass decisions") { db in
            try db.execute(
                sql: """
                    -- Set on a gate a break-glass holder approved past its quorum or a freeze.
                    ALTER TABLE gate ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0;
                    -- The daily limit counts an environment's break-glass decisions of the last 24 hours.
                    CREATE INDEX gate_break_glass ON gate(environment, decided_at) WHERE break_glass = 1;
                    -- A break-glass on a gate the freeze rejected: the same deploy (service, environment, artifact,
                    -- commit) opened again before expires_at is approved at once, and the grant is used up.
                    CREATE TABLE break_glass_grant (
                        gate_id TEXT PRIMARY KEY NOT NULL REFERENCES gate(id),
                        environment TEXT NOT NULL,
                        deploy_key TEXT NOT NULL,
                        person TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        granted_at INTEGER NOT NULL,
                        expires_at INTEGER NOT NULL,
                        used_by TEXT REFERENCES gate(id)
                    );
                    CREATE INDEX break_glass_grant_open ON break_glass_grant(deploy_key, expires_at) WHERE used_by IS NULL;
                    """
            )
        }
        migrator.registerMigration("v5: audit hashes cover the stored millisecond") { db in
            try db.execute(
                sql: """
                    -- Up to v4 an event's hash covered `at` as Foundation printed the Date made from the stored
                    -- milliseconds, which reads one millisecond early for about half of them; from here on it covers
                    -- the stored millisecond exactly, as `audit query` and the API print it. Events already written
                    -- keep their hashes (rewriting them would destroy the evidence) and are verified as they were
                    -- hashed: those before stored_millisecond_from (docs/audit.md).
                    CREATE TABLE audit_time_format (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        stored_millisecond_from INTEGER NOT NULL
                    );
                    INSERT INTO audit_time_format (id, stored_millisecond_from)
                        VALUES (1, COALESCE((SELECT sequence FROM audit_head WHERE id = 1), 0) + 1);
                    """
            )
        }
        migrator.registerMigration("v6: stored records of their own") { db in
            // Requests and plans were the domain's synthesized JSON: a renamed property would have changed what the
            // database holds, and instants were seconds since 2001 (`Date`'s default) against this schema's rule of
            // milliseconds since 1970. They are rewritten as StoredRequest and StoredPlan (record format 2); the
            // request's bytes stay the same, so that its fingerprint still matches a retried request.
            try db.execute(sql: "ALTER TABLE gate ADD COLUMN record_format INTEGER NOT NULL DEFAULT 1")
            let legacy = JSONDecoder()  // how format 1 was written: the domain's Codable, instants as seconds since 2001
            let rows = try Row.fetchCursor(db, sql: "SELECT id, request, plan FROM gate WHERE record_format = 1")
            let update = try db.makeStatement(sql: "UPDATE gate SET request = ?, plan = ?, record_format = ? WHERE id = ?")
            while let row = try rows.next() {
                let id: String = row["id"]
                let request: GateRequest
                let plan: GatePlan
                do {
                    request = try legacy.decode(GateRequest.self, from: Data((row["request"] as String).utf8))
                    plan = try legacy.decode(GatePlan.self, from: Data((row["plan"] as String).utf8))
                } catch {
                    throw StoreError.corruptRow("gate \(id) cannot be read to migrate it: \(error)")
                }
                try update.execute(arguments: [
                    try StoredFormat.json(StoredRequest(request)), try StoredFormat.json(StoredPlan(plan)), StoredFormat.recordVersion, id,
                ])
            }
        }
        migrator.registerMigration("v7: an outbox for every channel") { db in
            try db.execute(
                sql: """
                    -- Every item names its channel (a worker reads only its own) and whether it is coalesced (one per
                    -- gate and kind, bumped by later changes: the gate's view). Until v6 there was one channel, Slack,
                    -- and one coalesced kind, its card.
                    ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT '';
                    UPDATE outbox SET channel = substr(kind, 1, instr(kind, '.') - 1);
                    ALTER TABLE outbox ADD COLUMN coalesced INTEGER NOT NULL DEFAULT 0;
                    UPDATE outbox SET coalesced = 1 WHERE kind = 'slack.card';
                    DROP INDEX outbox_card;
                    CREATE UNIQUE INDEX outbox_coalesced ON outbox(gate_id, kind) WHERE coalesced = 1;
                    DROP INDEX outbox_due;
                    CREATE INDEX outbox_due ON outbox(channel, due_at);

                    -- What each channel remembers of a gate's first delivery, opaque to the store (Slack: the card's
                    -- channel and ts, as JSON). Replaces slack_card.
                    CREATE TABLE delivery_receipt (
                        gate_id TEXT NOT NULL REFERENCES gate(id),
                        channel TEXT NOT NULL,
                        receipt TEXT NOT NULL,
                        PRIMARY KEY (gate_id, channel)
                    );
                    INSERT INTO delivery_receipt (gate_id, channel, receipt)
                        SELECT gate_id, 'slack', json_object('channel', channel, 'ts', ts) FROM slack_card;
                    DROP TABLE slack_card;

                    -- The unit a worker holds while an operation waits out a rate limit: the kind for a message; for a
                    -- coalesced item, the kind and whether its gate was delivered before (':update') or not
                    -- (':first'). A worker reads one index range per lane it is not holding, so that a backlog held
                    -- behind a 429 is never stepped over by the reads for the other lanes.
                    ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT '';
                    UPDATE outbox SET lane = CASE WHEN coalesced = 0 THEN kind
                        WHEN EXISTS (SELECT 1 FROM delivery_receipt r WHERE r.gate_id = outbox.gate_id AND r.channel = outbox.channel)
                        THEN kind || ':update' ELSE kind || ':first' END;
                    CREATE INDEX outbox_lane ON outbox(lane, due_at, id);

                    -- A decided gate's unfired reminder and escalation can never fire: gone, so that the timer's
                    -- queries do not step over every decided gate's (the ledger removes them as it decides a gate).
                    DELETE FROM gate_timer WHERE fired_at IS NULL AND gate_id IN (SELECT id FROM gate WHERE state != 'pending');
                    """
            )
        }
        migrator.registerMigration("v8 unused grants by environment") { db in
            try db.execute(
                sql: """
                    -- A break-glass's max_per_day counts the environment's unused grants of the last day: by this
                    -- index, not by walking every unused grant ever given (they stay once they expire).
                    CREATE INDEX break_glass_grant_environment ON break_glass_grant(environment, granted_at) WHERE used_by IS NULL;
                    """
            )
        }
        migrator.registerMigration("v9: outbox claims") { db in
            try db.execute(
                sql: """
                    -- A worker claims what it delivers: `claim` is the fencing token (bumped by each claim), `leased`
                    -- says a lease holds the item (its due_at is then the lease's end).
                    ALTER TABLE outbox ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE outbox ADD COLUMN leased INTEGER NOT NULL DEFAULT 0;
                    """
            )
        }
        return migrator
    }
}

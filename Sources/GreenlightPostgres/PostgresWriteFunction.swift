/// The function every write of the store goes through: `greenlight_apply(units jsonb)`, schema v2.
///
/// Writes from every replica are applied one at a time under one advisory lock (``PostgresSchema/writeLock``), so that
/// the audit chain gets its next sequence and previous hash from a head nobody else is changing. Held by a client
/// for a transaction of a dozen statements, that lock capped every replica together near a hundred writes a second on
/// a small machine: each statement is a round trip, and the lock is held across all of them and the commit's flush.
/// Here a replica sends the writes it has gathered (``PostgresWriteBatches``) as one statement; the function takes the
/// lock, applies each unit in its own subtransaction (a unit that fails rolls back alone and reports why), links the
/// audit events into the chain itself (``GreenlightAudit/AuditChain/canonicalParts(of:time:)`` gives it the bytes
/// around the sequence), and the one commit flushes them all. The lock is held for the function's own work and one
/// flush, however many writes the batch carries.
///
/// Never edit this once shipped: a change is a new migration that replaces the function.
enum PostgresWriteFunction {
    /// The SQLSTATE a unit raises when a condition no longer holds: ``GreenlightStore/StoreError/conflict(_:)``, with
    /// the message as its reason.
    static let conflictState = "GL409"
    /// The SQLSTATE of a token whose name is taken: ``GreenlightStore/StoreError/tokenNameTaken(_:)``.
    static let tokenNameTakenState = "GLTKN"

    static let migration: [String] = [
        """
        CREATE FUNCTION greenlight_append_audit(event jsonb, at_sequence bigint, previous text) RETURNS text
        LANGUAGE plpgsql AS $$
        DECLARE
            _hash text;
        BEGIN
            -- SHA-256(previous ‖ "\\n" ‖ canonical(event)), the sequence written between the two parts Swift computed.
            _hash := encode(sha256(convert_to(previous, 'UTF8') || '\\x0a'::bytea || decode(event->>'before', 'base64')
                || convert_to(at_sequence::text, 'UTF8') || decode(event->>'after', 'base64')), 'hex');
            INSERT INTO audit_event (sequence, at, actor, action, gate_id, service, environment, artifact, details, previous_hash, hash)
            VALUES (at_sequence, (event->>'at')::bigint, event->>'actor', event->>'action', event->>'gate_id', event->>'service',
                    event->>'environment', event->>'artifact', event->>'details', previous, _hash);
            RETURN _hash;
        END
        $$
        """,
        """
        CREATE FUNCTION greenlight_apply(units jsonb) RETURNS TABLE (unit_state text, unit_detail text)
        LANGUAGE plpgsql AS $$
        DECLARE
            _unit jsonb;
            _op jsonb;
            _sequence bigint;
            _hash text;
            _first_sequence bigint;
            _saved_sequence bigint;
            _saved_hash text;
            _state text;
            _detail text;
            _number bigint;
            _text text;
            _found boolean;
        BEGIN
            PERFORM pg_advisory_xact_lock(\(PostgresSchema.writeLock));
            -- Read after the lock is held: each statement of a function sees what committed before it started.
            SELECT h.sequence, h.hash INTO _sequence, _hash FROM audit_head h WHERE h.id = 1;
            IF NOT FOUND THEN
                _sequence := 0;
                _hash := repeat('0', 64);
            END IF;
            _first_sequence := _sequence;
            FOR _unit IN SELECT value FROM jsonb_array_elements(units) LOOP
                _saved_sequence := _sequence;
                _saved_hash := _hash;
                _state := NULL;
                _detail := NULL;
                BEGIN
                    FOR _op IN SELECT value FROM jsonb_array_elements(_unit) LOOP
                        CASE _op->>'op'
                        WHEN 'gate_at' THEN
                            SELECT g.version INTO _number FROM gate g WHERE g.id = _op->>'id';
                            IF _number IS DISTINCT FROM (_op->>'version')::bigint THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)', MESSAGE = format('gate %s changed', _op->>'id');
                            END IF;
                        WHEN 'key_holder' THEN
                            SELECT g.id INTO _text FROM gate g WHERE g.opened_by = _op->>'pipeline' AND g.idempotency_key = _op->>'key';
                            IF _text IS DISTINCT FROM _op->>'holder' THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)', MESSAGE = 'the Idempotency-Key was taken meanwhile';
                            END IF;
                        WHEN 'break_glass_uses' THEN
                            SELECT (SELECT COUNT(*) FROM gate g WHERE g.break_glass AND g.environment = _op->>'environment'
                                        AND g.decided_at > (_op->>'since')::bigint)
                                 + (SELECT COUNT(*) FROM break_glass_grant b WHERE b.environment = _op->>'environment'
                                        AND b.granted_at > (_op->>'since')::bigint AND b.used_by IS NULL)
                            INTO _number;
                            IF _number > (_op->>'at_most')::bigint THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)',
                                    MESSAGE = format('a break-glass in %s was used meanwhile', _op->>'environment');
                            END IF;
                        WHEN 'no_grant' THEN
                            IF EXISTS (SELECT 1 FROM break_glass_grant b WHERE b.gate_id = _op->>'id') THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)',
                                    MESSAGE = format('a break-glass was granted on %s meanwhile', _op->>'id');
                            END IF;
                        WHEN 'grant_unused' THEN
                            IF NOT EXISTS (SELECT 1 FROM break_glass_grant b WHERE b.gate_id = _op->>'id' AND b.used_by IS NULL) THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)',
                                    MESSAGE = format('the break-glass granted on %s was used meanwhile', _op->>'id');
                            END IF;
                        WHEN 'timer_unfired' THEN
                            IF NOT EXISTS (SELECT 1 FROM gate_timer t WHERE t.gate_id = _op->>'id' AND t.kind = _op->>'kind'
                                               AND t.due_at = (_op->>'due')::bigint AND t.fired_at IS NULL) THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)',
                                    MESSAGE = format('the %s timer of %s fired meanwhile', _op->>'kind', _op->>'id');
                            END IF;
                        WHEN 'insert_gate' THEN
                            INSERT INTO gate (id, state, outcome, service, environment, opened_by, created_at, deadline, decided_at,
                                              decided_by, reason, fail_open, break_glass, version, request, plan, idempotency_key,
                                              request_fingerprint, record_format)
                            VALUES (_op->>'id', _op->>'state', _op->>'outcome', _op->>'service', _op->>'environment', _op->>'opened_by',
                                    (_op->>'created_at')::bigint, (_op->>'deadline')::bigint, (_op->>'decided_at')::bigint,
                                    _op->>'decided_by', _op->>'reason', (_op->>'fail_open')::boolean, (_op->>'break_glass')::boolean,
                                    (_op->>'version')::integer, _op->>'request', _op->>'plan', _op->>'key', _op->>'fingerprint',
                                    (_op->>'record_format')::integer);
                        WHEN 'update_gate' THEN
                            UPDATE gate g SET state = _op->>'state', outcome = _op->>'outcome', deadline = (_op->>'deadline')::bigint,
                                              decided_at = (_op->>'decided_at')::bigint, decided_by = _op->>'decided_by',
                                              reason = _op->>'reason', fail_open = (_op->>'fail_open')::boolean,
                                              break_glass = (_op->>'break_glass')::boolean, version = (_op->>'version')::integer
                            WHERE g.id = _op->>'id' AND g.state = 'pending' AND g.version = (_op->>'replacing')::integer;
                            IF NOT FOUND THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)', MESSAGE = format('gate %s changed', _op->>'id');
                            END IF;
                        WHEN 'insert_vote' THEN
                            INSERT INTO vote (gate_id, voter, decision, comment, at, via)
                            VALUES (_op->>'id', _op->>'voter', _op->>'decision', _op->>'comment', (_op->>'at')::bigint, _op->>'via');
                        WHEN 'set_timers' THEN
                            -- A timer due at the same moment as before keeps its row, fired or not, so that it cannot fire
                            -- twice; one not listed goes unless it fired.
                            INSERT INTO gate_timer AS t (gate_id, kind, due_at)
                            SELECT _op->>'id', listed.kind, listed.due
                            FROM jsonb_to_recordset(_op->'timers') AS listed (kind text, due bigint)
                            ON CONFLICT (gate_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at, fired_at = NULL
                                WHERE t.due_at <> EXCLUDED.due_at;
                            DELETE FROM gate_timer t WHERE t.gate_id = _op->>'id' AND t.fired_at IS NULL
                                AND t.kind NOT IN (SELECT listed.kind FROM jsonb_to_recordset(_op->'timers') AS listed (kind text));
                        WHEN 'fire_timer' THEN
                            UPDATE gate_timer t SET fired_at = (_op->>'at')::bigint
                            WHERE t.gate_id = _op->>'id' AND t.kind = _op->>'kind' AND t.fired_at IS NULL;
                            IF NOT FOUND THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)',
                                    MESSAGE = format('the %s timer of %s fired meanwhile', _op->>'kind', _op->>'id');
                            END IF;
                        WHEN 'release_key' THEN
                            UPDATE gate g SET idempotency_key = NULL WHERE g.id = _op->>'id';
                        WHEN 'grant' THEN
                            INSERT INTO break_glass_grant (gate_id, environment, deploy_key, person, reason, granted_at, expires_at)
                            VALUES (_op->>'id', _op->>'environment', _op->>'deploy_key', _op->>'person', _op->>'reason',
                                    (_op->>'granted_at')::bigint, (_op->>'expires_at')::bigint);
                        WHEN 'use_grant' THEN
                            UPDATE break_glass_grant b SET used_by = _op->>'used_by' WHERE b.gate_id = _op->>'id' AND b.used_by IS NULL;
                            IF NOT FOUND THEN
                                RAISE EXCEPTION USING ERRCODE = '\(conflictState)',
                                    MESSAGE = format('the break-glass granted on %s was used meanwhile', _op->>'id');
                            END IF;
                        WHEN 'audit' THEN
                            _hash := greenlight_append_audit(_op, _sequence + 1, _hash);
                            _sequence := _sequence + 1;
                        WHEN 'enqueue_coalesced' THEN
                            -- The gate's one item of the kind: a pending one gets its generation bumped and is brought
                            -- forward, unless it is backing off after a failure or a worker holds it.
                            INSERT INTO outbox AS o (gate_id, kind, channel, coalesced, due_at, lane)
                            VALUES (_op->>'id', _op->>'kind', _op->>'channel', true, (_op->>'due')::bigint,
                                    (_op->>'kind') || CASE WHEN EXISTS (SELECT 1 FROM delivery_receipt r WHERE r.gate_id = _op->>'id'
                                                                        AND r.channel = _op->>'channel')
                                                      THEN ':update' ELSE ':first' END)
                            ON CONFLICT (gate_id, kind) WHERE coalesced DO UPDATE SET generation = o.generation + 1,
                                due_at = CASE WHEN o.attempts > 0 OR o.leased THEN o.due_at ELSE LEAST(o.due_at, EXCLUDED.due_at) END;
                        WHEN 'enqueue_message' THEN
                            INSERT INTO outbox (gate_id, kind, channel, coalesced, due_at, payload, lane)
                            VALUES (_op->>'id', _op->>'kind', _op->>'channel', false, (_op->>'due')::bigint, _op->>'payload', _op->>'kind');
                        WHEN 'complete_outbox' THEN
                            IF _op->>'receipt' IS NOT NULL AND _op->>'id' IS NOT NULL THEN
                                INSERT INTO delivery_receipt (gate_id, channel, receipt) VALUES (_op->>'id', _op->>'channel', _op->>'receipt')
                                ON CONFLICT (gate_id, channel) DO NOTHING;
                                IF FOUND THEN _state := 'recorded'; END IF;
                                -- The gate's view, due again for a change since, is an update from now on.
                                UPDATE outbox o SET lane = o.kind || ':update'
                                WHERE o.gate_id = _op->>'id' AND o.coalesced AND o.channel = _op->>'channel';
                            END IF;
                            -- Only the generation that was delivered, under the claim it was read with (0: read without
                            -- one): a change since keeps the item, due again at once; a claim taken over leaves it to
                            -- its new claimant.
                            DELETE FROM outbox o WHERE o.id = (_op->>'item')::bigint AND o.generation = (_op->>'generation')::integer
                                AND ((_op->>'claim')::bigint = 0 OR o.claim = (_op->>'claim')::bigint);
                            IF NOT FOUND THEN
                                UPDATE outbox o SET attempts = 0, last_error = NULL, leased = false,
                                    due_at = LEAST(o.due_at, (_op->>'due')::bigint)
                                WHERE o.id = (_op->>'item')::bigint AND ((_op->>'claim')::bigint = 0 OR o.claim = (_op->>'claim')::bigint);
                            END IF;
                        WHEN 'reschedule_outbox' THEN
                            UPDATE outbox o SET due_at = (_op->>'due')::bigint, attempts = o.attempts + 1, last_error = _op->>'error',
                                leased = false
                            WHERE o.id = (_op->>'item')::bigint AND ((_op->>'claim')::bigint = 0 OR o.claim = (_op->>'claim')::bigint);
                        WHEN 'abandon_outbox' THEN
                            DELETE FROM outbox o
                            WHERE o.id = (_op->>'item')::bigint AND ((_op->>'claim')::bigint = 0 OR o.claim = (_op->>'claim')::bigint);
                            -- Given up once: a claimant that lost the item records nothing (its new claimant will).
                            IF FOUND THEN
                                _hash := greenlight_append_audit(_op->'audit', _sequence + 1, _hash);
                                _sequence := _sequence + 1;
                            END IF;
                        WHEN 'insert_token' THEN
                            IF EXISTS (SELECT 1 FROM token k WHERE k.name = _op->>'name') THEN
                                RAISE EXCEPTION USING ERRCODE = '\(tokenNameTakenState)', MESSAGE = _op->>'name';
                            END IF;
                            INSERT INTO token (secret_hash, name, kind, "user", services, environments, created_at)
                            VALUES (_op->>'secret_hash', _op->>'name', _op->>'kind', _op->>'user', _op->>'services', _op->>'environments',
                                    (_op->>'created_at')::bigint);
                        ELSE
                            RAISE EXCEPTION 'greenlight_apply: unknown operation %', _op->>'op';
                        END CASE;
                    END LOOP;
                EXCEPTION WHEN OTHERS THEN
                    -- The unit's writes are rolled back with its subtransaction; the chain's head is put back by hand.
                    _sequence := _saved_sequence;
                    _hash := _saved_hash;
                    _state := SQLSTATE;
                    _detail := SQLERRM;
                END;
                unit_state := _state;
                unit_detail := _detail;
                RETURN NEXT;
            END LOOP;
            IF _sequence <> _first_sequence THEN
                INSERT INTO audit_head AS h (id, sequence, hash) VALUES (1, _sequence, _hash)
                ON CONFLICT (id) DO UPDATE SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash;
            END IF;
        END
        $$
        """,
    ]
}

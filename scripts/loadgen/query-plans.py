#!/usr/bin/env python3
"""EXPLAIN QUERY PLAN and timings of the store's hot queries on a (seeded) database, read-only.

    scripts/loadgen/query-plans.py DB [--repeat 20]

The SQL is the store's own (Sources/GreenlightSQLite/*.swift, as of this commit), with the outbox's lanes written out
as `SQLiteOutbox.lanes` gives them for each hold: nothing held, chat.update held (a 429 on card updates: delivered
cards' updates left unread), and chat.update and chat.postMessage both held. Tests/GreenlightStoreTests/
QueryPlanTests.swift checks every statement's plan on each test run; this script adds timings at a seeded size. Each query runs --repeat times on
a warm cache; the median and the rows SQLite stepped through (the VM's steps, from `sqlite3`'s `.scanstats` where
available, else the plan) say what a pass of the outbox worker or the deadline timer costs as the database grows.
Python's sqlite3 links the same system SQLite GRDB uses here (printed).
"""

import argparse
import sqlite3
import statistics
import time

LANES = ["slack.card:first", "slack.card:update", "slack.ephemeral", "slack.remind", "slack.escalate", "slack.break_glass"]
PER_LANE = "SELECT * FROM (SELECT * FROM outbox WHERE lane = ? AND due_at <= ? ORDER BY due_at, id LIMIT ?)"


def lanes_query(lanes):
    return " UNION ALL ".join([PER_LANE] * len(lanes)) + " ORDER BY due_at, id LIMIT ?"


def lanes_min(lanes):
    return "SELECT MIN(due) FROM (" + " UNION ALL ".join(["SELECT MIN(due_at) AS due FROM outbox WHERE lane = ?"] * len(lanes)) + ")"


HOLDS = {
    "nothing held": LANES,
    "chat.update held (429)": [lane for lane in LANES if lane != "slack.card:update"],
    "chat.update + chat.postMessage held": ["slack.ephemeral"],
}


def queries(now_ms):
    out = []
    for name, lanes in HOLDS.items():
        params = []
        for lane in lanes:
            params += [lane, now_ms, 200]
        out.append((f"dueOutboxItems, {name}", lanes_query(lanes), tuple(params + [200])))
        out.append((f"nextOutboxDue, {name}", lanes_min(lanes), tuple(lanes)))
    out += [
        ("nextDeadline", "SELECT MIN(deadline) FROM gate WHERE state = 'pending'", ()),
        ("expiredGates (now)", "SELECT id FROM gate WHERE state = 'pending' AND deadline <= ? ORDER BY deadline LIMIT 100", (now_ms,)),
        (
            "nextTimerDue",
            "SELECT MIN(t.due_at) FROM gate_timer t JOIN gate g ON g.id = t.gate_id WHERE t.fired_at IS NULL AND g.state = 'pending'",
            (),
        ),
        (
            "dueTimers (now)",
            "SELECT t.gate_id, t.kind, t.due_at FROM gate_timer t JOIN gate g ON g.id = t.gate_id "
            "WHERE t.fired_at IS NULL AND t.due_at <= ? AND g.state = 'pending' ORDER BY t.due_at LIMIT 100",
            (now_ms,),
        ),
        ("audit head", "SELECT sequence, hash FROM audit_head WHERE id = 1", ()),
        (
            "fetchGate (with its votes)",
            "SELECT g.*, v.voter AS vote_voter, v.decision AS vote_decision, v.comment AS vote_comment, v.at AS vote_at, "
            "v.via AS vote_via FROM gate g LEFT JOIN vote v ON v.gate_id = g.id WHERE g.id = ? ORDER BY v.rowid",
            ("@gate",),
        ),
        ("deliveryReceipt", "SELECT receipt FROM delivery_receipt WHERE gate_id = ? AND channel = 'slack'", ("@gate",)),
        (
            "card delivered: its item becomes an update",
            "SELECT 1 FROM outbox INDEXED BY outbox_coalesced WHERE gate_id = ? AND coalesced = 1 AND channel = 'slack'",
            ("@gate",),
        ),
        ("checkReachable (readyz)", "SELECT COUNT(*) FROM audit_head", ()),
    ]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    print(f"SQLite {sqlite3.sqlite_version}; {args.db}")
    counts = {}
    for table in ["gate", "vote", "audit_event", "outbox", "delivery_receipt", "gate_timer"]:
        counts[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    pending = db.execute("SELECT COUNT(*) FROM gate WHERE state = 'pending'").fetchone()[0]
    by_kind = db.execute("SELECT lane, COUNT(*) FROM outbox GROUP BY lane").fetchall()
    pages = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    print(f"rows: {counts}; pending gates {pending}; outbox by lane: {by_kind}; {pages / 2**20:.0f} MiB")
    gate = db.execute("SELECT gate_id FROM delivery_receipt LIMIT 1 OFFSET 5000").fetchone()[0]
    now_ms = int(time.time() * 1000)
    for name, sql, params in queries(now_ms):
        params = tuple(gate if p == "@gate" else p for p in params)
        plan = db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        times = []
        rows = 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            rows = len(db.execute(sql, params).fetchall())
            times.append((time.perf_counter() - start) * 1000)
        # The VM steps SQLite took for one run: how many rows it looked at, whatever it returned.
        steps = [0]

        def count(_steps=steps):
            _steps[0] += 1000
            return 0

        db.set_progress_handler(count, 1000)
        db.execute(sql, params).fetchall()
        db.set_progress_handler(None, 0)
        print(f"\n{name}: median {statistics.median(times):.3f} ms, max {max(times):.3f} ms, {rows} row(s), ~{steps[0]} VM steps")
        print(f"  {sql}")
        for row in plan:
            print(f"    {row[3]}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""EXPLAIN QUERY PLAN and timings of the store's hot queries on a (seeded) database, read-only.

    scripts/loadgen/query-plans.py DB [--repeat 20]

The SQL is the store's own (Sources/GreenlightStore/SQLite/*.swift, as of this commit), with the outbox selection
written out as `SQLiteOutbox.selection` builds it for each hold: nothing held, chat.update held (a 429 on card
updates: posted cards left unread), and chat.update and chat.postMessage both held. Each query runs --repeat times on
a warm cache; the median and the rows SQLite stepped through (the VM's steps, from `sqlite3`'s `.scanstats` where
available, else the plan) say what a pass of the outbox worker or the deadline timer costs as the database grows.
Python's sqlite3 links the same system SQLite GRDB uses here (printed).
"""

import argparse
import sqlite3
import statistics
import time

KINDS = ["slack.card", "slack.ephemeral", "slack.remind", "slack.escalate", "slack.break_glass"]
POSTED = "EXISTS (SELECT 1 FROM slack_card WHERE slack_card.gate_id = outbox.gate_id)"


def selection(posted_cards_held, unposted_cards_held, kinds_held=()):
    kinds = [k for k in KINDS if k not in kinds_held]
    if posted_cards_held and unposted_cards_held:
        kinds = [k for k in kinds if k != "slack.card"]
    if not kinds:
        return "0"
    condition = "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"
    if posted_cards_held != unposted_cards_held:
        condition += f" AND NOT (kind = 'slack.card' AND {'' if posted_cards_held else 'NOT '}{POSTED})"
    return condition


HOLDS = {
    "nothing held": selection(False, False),
    "chat.update held (429)": selection(True, False),
    "chat.update + chat.postMessage held": selection(True, True, ("slack.remind", "slack.escalate", "slack.break_glass")),
}


def queries(now_ms):
    out = []
    for name, cond in HOLDS.items():
        out.append((f"dueOutboxItems, {name}", f"SELECT * FROM outbox WHERE due_at <= ? AND {cond} ORDER BY due_at, id LIMIT ?", (now_ms, 200)))
        out.append((f"nextOutboxDue, {name}", f"SELECT MIN(due_at) FROM outbox WHERE {cond}", ()))
    out += [
        ("nextDeadline", "SELECT MIN(deadline) FROM gate WHERE state = 'pending'", ()),
        ("decideExpiredGates (now)", "SELECT id FROM gate WHERE state = 'pending' AND deadline <= ? ORDER BY deadline", (now_ms,)),
        (
            "nextTimerDue",
            "SELECT MIN(t.due_at) FROM gate_timer t JOIN gate g ON g.id = t.gate_id WHERE t.fired_at IS NULL AND g.state = 'pending'",
            (),
        ),
        (
            "fireDueTimers (now)",
            "SELECT t.gate_id, t.kind, t.due_at FROM gate_timer t JOIN gate g ON g.id = t.gate_id "
            "WHERE t.fired_at IS NULL AND t.due_at <= ? AND g.state = 'pending' ORDER BY t.due_at",
            (now_ms,),
        ),
        (
            "fireDueTimers (a week from now: decided gates' timers are never fired)",
            "SELECT t.gate_id, t.kind, t.due_at FROM gate_timer t JOIN gate g ON g.id = t.gate_id "
            "WHERE t.fired_at IS NULL AND t.due_at <= ? AND g.state = 'pending' ORDER BY t.due_at",
            (now_ms + 7 * 86_400_000,),
        ),
        ("audit head", "SELECT sequence, hash FROM audit_head WHERE id = 1", ()),
        ("fetchGate", "SELECT * FROM gate WHERE id = ?", ("@gate",)),
        ("fetchGate votes", "SELECT * FROM vote WHERE gate_id = ? ORDER BY rowid", ("@gate",)),
        ("postedCard", "SELECT channel, ts FROM slack_card WHERE gate_id = ?", ("@gate",)),
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
    for table in ["gate", "vote", "audit_event", "outbox", "slack_card", "gate_timer"]:
        counts[table] = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    pending = db.execute("SELECT COUNT(*) FROM gate WHERE state = 'pending'").fetchone()[0]
    by_kind = db.execute("SELECT kind, COUNT(*), SUM(EXISTS (SELECT 1 FROM slack_card c WHERE c.gate_id = o.gate_id)) FROM outbox o GROUP BY kind").fetchall()
    pages = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    print(f"rows: {counts}; pending gates {pending}; outbox by kind (rows, of which posted cards): {by_kind}; {pages / 2**20:.0f} MiB")
    gate = db.execute("SELECT gate_id FROM slack_card LIMIT 1 OFFSET 5000").fetchone()[0]
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

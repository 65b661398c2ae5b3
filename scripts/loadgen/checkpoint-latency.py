#!/usr/bin/env python3
"""Append -> published checkpoint latency, from outside the server: polls the checkpoint file `serve
--checkpoint-directory` writes (a checkpoint is written there once the witness quorum has cosigned it) every
--poll-ms, noting when each tree size first appears; then reads each event's append time from the SQLite database and
reports, for the events appended during the measured window, how long until a published checkpoint held them.

    checkpoint-latency.py --file DIR/checkpoint --db run.db --seconds 24 --skip 4 [--json FILE]
"""

import argparse
import json
import sqlite3
import time


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--skip", type=float, default=4, help="seconds at the start not measured (the first read of the log)")
    parser.add_argument("--poll-ms", type=float, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    start = time.time()
    seen = []  # (time, size, cosignatures)
    last = None
    while time.time() - start < args.seconds:
        try:
            with open(args.file, encoding="utf-8") as handle:
                note = handle.read()
            lines = note.split("\n")
            size = int(lines[1])
            if size != last:
                seen.append((time.time(), size, note.count("\u2014 ") - 1))
                last = size
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(args.poll_ms / 1000)
    if not seen:
        print("checkpoints: none published")
        return 1
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    window = (start + args.skip) * 1000
    rows = db.execute("SELECT sequence, at FROM audit_event WHERE at >= ? ORDER BY sequence", (window,)).fetchall()
    latencies = []
    index = 0
    for sequence, at in rows:
        while index < len(seen) and seen[index][1] < sequence:
            index += 1
        if index == len(seen):
            break  # appended after the last checkpoint seen
        latencies.append(seen[index][0] * 1000 - at)
    measured = [s for s in seen if s[0] >= start + args.skip]
    intervals = [b[0] - a[0] for a, b in zip(measured, measured[1:])]
    result = {
        "events": len(latencies),
        "unpublished": len(rows) - len(latencies),
        "checkpoints": len(measured),
        "cosignatures": min((s[2] for s in measured), default=0),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
        "mean_interval_s": sum(intervals) / len(intervals) if intervals else float("nan"),
    }
    print(
        f"checkpoints: {result['events']} events appended in the window, each in a published checkpoint after "
        f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, max {result['max_ms']:.0f} ms; "
        f"{result['checkpoints']} checkpoints, one every {result['mean_interval_s']:.2f} s, each with {result['cosignatures']} cosignature(s); "
        f"{result['unpublished']} event(s) after the last one seen"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Writes a synthetic audit export of --events events (`audit export --format jsonl` lines: canonical JSON, chained by
SHA-256 as docs/audit.md describes), for benchmarking `greenlight audit verify --export` at sizes no test database
reaches. The events look like a busy installation's: gates opened, votes, decisions, with realistic field lengths.

    scripts/loadgen/audit-export.py --events 1000000 --output audit.jsonl

Python 3 standard library only.
"""

import argparse
import datetime
import hashlib
import json


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    start = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
    previous = "0" * 64
    actions = ["gate.opened", "vote.recorded", "vote.recorded", "gate.decided"]
    with open(args.output, "w", encoding="utf-8", newline="\n") as out:
        for sequence in range(1, args.events + 1):
            gate = f"g_{sequence // 4:020d}"
            action = actions[sequence % 4]
            at = start + datetime.timedelta(milliseconds=sequence * 37)
            details = {"gate.opened": {"commit": f"{sequence:040x}", "policy_hash": hashlib.sha256(b"policy").hexdigest(), "triggered_by": "ci-bot"},
                       "vote.recorded": {"decision": "approve", "via": "slack"},
                       "gate.decided": {"outcome": "approved", "reason": "quorum met"}}[action]
            event = {
                "action": action, "actor": "pipeline:shop" if action == "gate.opened" else ["alice", "bob", "carol"][sequence % 3],
                "artifact": f"registry.example.com/shop@sha256:{sequence:064x}",
                "at": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
                "details": details, "environment": "production", "gate_id": gate, "sequence": sequence, "service": "shop",
            }
            digest = hashlib.sha256((previous + "\n" + canonical(event)).encode()).hexdigest()
            event["previous_hash"] = previous
            event["hash"] = digest
            out.write(canonical(event) + "\n")
            previous = digest


if __name__ == "__main__":
    main()

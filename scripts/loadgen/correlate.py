#!/usr/bin/env python3
"""Which clicks were slow around the write-ahead log's restarts: joins clicks.py --dump with walwatch.py --log.

    scripts/loadgen/correlate.py CLICKS_DUMP WAL_LOG [--window-ms 200]

A click is "near a restart" when a restart was seen (by walwatch, every few ms) between its due time and the end of its
response, or up to --window-ms after its due time. Prints the latency percentiles of the clicks near a restart and of
the others, and the share of the slowest 1% that were near one.
"""

import argparse
import bisect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clicks")
    parser.add_argument("wal")
    parser.add_argument("--window-ms", type=float, default=200)
    args = parser.parse_args()
    restarts = sorted(float(line.split()[0]) for line in open(args.wal) if line.strip())
    clicks = []
    for line in open(args.clicks):
        due, latency, status = line.split()
        if status in ("200", "201") and float(latency) >= 0:
            clicks.append((float(due), float(latency)))
    near, far = [], []
    for due, latency in clicks:
        end = due + max(latency, args.window_ms) / 1000
        i = bisect.bisect_left(restarts, due)
        (near if i < len(restarts) and restarts[i] <= end else far).append(latency)
    print(f"{len(restarts)} restarts of the log; {len(clicks)} clicks")
    print(common.format_summary("clicks in flight at a restart", common.summary(near)))
    print(common.format_summary("the other clicks", common.summary(far)))
    slowest = sorted(clicks, key=lambda c: -c[1])[: max(1, len(clicks) // 100)]
    threshold = slowest[-1][1]
    share = sum(1 for latency in near if latency >= threshold) / len(slowest)
    print(f"of the slowest 1% (≥ {threshold:.1f} ms), {share * 100:.0f}% were in flight at a restart")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Watches a SQLite database's write-ahead log and a process's I/O while a benchmark runs, without touching either.

    scripts/loadgen/walwatch.py DB --pid SERVER_PID --seconds 30 [--interval 0.005]

Every --interval it reads the WAL file's size and its header's checkpoint sequence number (bytes 12..15, big-endian),
which SQLite increments each time it writes the log from its beginning again (after a RESTART checkpoint, here:
WALCheckpointer); and, at the start and end, /proc/<pid>/io (bytes written, write calls). Prints how often the log
restarted, its largest size, and the bytes the server wrote per second. Python 3 standard library only.
"""

import argparse
import os
import struct
import time


def io_counters(pid):
    values = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            key, _, value = line.partition(":")
            values[key] = int(value)
    return values


def wal_state(path):
    try:
        with open(path, "rb") as f:
            header = f.read(32)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return None, 0
    if len(header) < 16:
        return None, size
    return struct.unpack(">I", header[12:16])[0], size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=0.005)
    parser.add_argument("--log", help="write the monotonic time (s) of each restart of the log to this file")
    args = parser.parse_args()
    wal = args.db + "-wal"
    io_before = io_counters(args.pid)
    first_sequence, _ = wal_state(wal)
    sequence = first_sequence
    restarts = []
    largest = 0
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        current, size = wal_state(wal)
        largest = max(largest, size)
        if current is not None and sequence is not None and current != sequence:
            restarts.append(time.monotonic() - started)
            if args.log:
                with open(args.log, "a") as f:
                    f.write(f"{time.monotonic():.6f} {size}\n")
        if current is not None:
            sequence = current
        time.sleep(args.interval)
    elapsed = time.monotonic() - started
    io_after = io_counters(args.pid)
    written = io_after["write_bytes"] - io_before["write_bytes"]
    calls = io_after["syscw"] - io_before["syscw"]
    gaps = [b - a for a, b in zip(restarts, restarts[1:])]
    print(
        f"WAL over {elapsed:.1f} s: restarted from its beginning {len(restarts)} times"
        + (f" (every {sum(gaps) / len(gaps):.2f} s on average)" if gaps else "")
        + f"; largest {largest / 2**20:.1f} MiB"
    )
    print(f"server wrote {written / 2**20:.1f} MiB to storage ({written / elapsed / 2**20:.2f} MiB/s), {calls} write calls ({calls / elapsed:.0f}/s)")
    print(f"RESULT restarts={len(restarts)} wal_max_bytes={largest} write_bytes={written} write_calls={calls} seconds={elapsed:.1f}")


if __name__ == "__main__":
    main()

"""Shared pieces of the external load generators (clicks.py, longpolls.py): Python 3 standard library only.

Reading a process's CPU time and memory from /proc, percentiles, a minimal HTTP/1.1 response reader for asyncio
streams, and the seeded database's side files (cards.tsv, tokens.env).
"""

import asyncio
import os
import resource
import socket
import time
import urllib.parse

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds the process `pid` (all its threads) has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name is in parentheses and may hold spaces: split after its closing parenthesis.
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory(pid):
    """VmRSS, RssAnon, RssFile, VmHWM (KiB) and Threads of `pid`, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "VmData", "Threads"):
                values[key] = int(rest.split()[0])
    return values


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_busy_seconds():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (busy = all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def percentile(sorted_values, p):
    """The nearest-rank percentile (p in 0..100) of an ascending list; 0 for an empty one."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def summary(values_ms):
    """count, p50, p90, p99, p99.9, max of a list of milliseconds."""
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "p99.9": percentile(ordered, 99.9),
        "max": ordered[-1] if ordered else 0.0,
    }


def format_summary(name, s):
    return (
        f"{name}, n={s['n']}: p50 {s['p50']:.2f} ms, p90 {s['p90']:.2f} ms, p99 {s['p99']:.2f} ms, "
        f"p99.9 {s['p99.9']:.2f} ms, max {s['max']:.2f} ms"
    )


def raise_open_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parse_url(url):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def read_cards(path):
    """(gate id, channel, ts) of each pending gate, in the seeded (shuffled) order."""
    cards = []
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3:
                cards.append(tuple(fields))
    return cards


def read_env_file(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.strip().partition("=")
            if sep:
                values[key] = value
    return values


async def connect(host, port):
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def read_response(reader):
    """Reads one HTTP/1.1 response; returns (status, body bytes). Raises on a closed connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    index = lower.find(b"\r\ncontent-length:")
    if index >= 0:
        end = lower.index(b"\r\n", index + 2)
        length = int(lower[index + 17 : end])
        body = await reader.readexactly(length) if length else b""
    elif b"transfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(data[:-2])
        body = b"".join(chunks)
    else:
        body = b""
    return status, body


def wait_quiet(pid, threshold_s=0.02, interval=0.5, limit=60):
    """Returns once `pid` used less than `threshold_s` of CPU in `interval`, twice in a row, or after `limit` seconds:
    the seconds it took, or None if it never went quiet."""
    started = time.monotonic()
    calm = 0
    last = cpu_seconds(pid)
    while time.monotonic() - started < limit:
        time.sleep(interval)
        current = cpu_seconds(pid)
        calm = calm + 1 if current - last < threshold_s else 0
        last = current
        if calm >= 2:
            return time.monotonic() - started
    return None

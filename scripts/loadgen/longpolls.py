#!/usr/bin/env python3
"""Many concurrent long-polls against a running `greenlight serve`, from outside its process: memory per waiter, and
the time from a deciding vote to the waiting client's return while the others keep waiting.

    scripts/loadgen/longpolls.py --url http://127.0.0.1:PORT --cards DB.cards.tsv --tokens DB.tokens.env \
        --server-pid PID --waiters 10000 --measured 1000

1. Reads the server's memory (/proc/<pid>/status: VmRSS, RssAnon, RssFile) with no long-poll open.
2. Opens `--waiters` connections, each `GET /v1/gates/{id}?wait=300` on its own pending gate with the pipeline token,
   waits until the server's CPU is quiet (every request read and subscribed), and reads the memory again: the
   difference, per waiter, is what a long-poll costs.
3. Opens `--measured` more long-polls, then decides those gates one at a time (`POST /v1/gates/{id}/votes`, approve,
   with the approver token, on a keep-alive connection of its own) and measures, for each, the time from writing the
   vote to reading the waiter's whole response (and to the vote's own response), while the `--waiters` others wait.
   `--vote-rate R` sends the votes open-loop at R a second instead, timing from each vote's due time.

Raises its own open-file limit to the hard limit; the server needs `--max-connections` above waiters + measured + a
few (its default is 10,000). Prints the figures and a final line `RESULT {json}`.
"""

import argparse
import asyncio
import gc
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class Waiter:
    """One long-poll: its connection, and when and how its response arrived."""

    def __init__(self, gate):
        self.gate = gate
        self.returned = None  # monotonic time the whole response was read
        self.status = None
        self.state = None
        self.error = None
        self.done = asyncio.Event()
        self.writer = None


async def open_waiters(host, port, gates, token, wait, width):
    waiters = [Waiter(gate) for gate in gates]
    semaphore = asyncio.Semaphore(width)
    tasks = []
    written = [0]
    all_written = asyncio.Event()

    def count_written():
        written[0] += 1
        if written[0] == len(waiters):
            all_written.set()

    async def run(waiter):
        counted = False
        try:
            async with semaphore:
                reader, writer = await common.connect(host, port)
                waiter.writer = writer
                writer.write(
                    f"GET /v1/gates/{waiter.gate}?wait={wait} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n".encode()
                )
                await writer.drain()
            counted = True
            count_written()
            status, body = await common.read_response(reader)
            waiter.returned = time.monotonic()
            waiter.status = status
            try:
                waiter.state = json.loads(body).get("state")
            except ValueError:
                waiter.state = None
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            waiter.error = type(error).__name__
            waiter.returned = time.monotonic()
        finally:
            if not counted:
                count_written()
            waiter.done.set()

    for waiter in waiters:
        tasks.append(asyncio.create_task(run(waiter)))
    if waiters:
        await all_written.wait()
    return waiters, tasks


async def quiet(pid, threshold_s=0.02, interval=0.5, limit=60):
    """Returns once the server used less than `threshold_s` CPU in `interval` twice in a row (or after `limit` s)."""
    started = time.monotonic()
    calm = 0
    last = common.cpu_seconds(pid)
    while time.monotonic() - started < limit:
        await asyncio.sleep(interval)
        now = common.cpu_seconds(pid)
        calm = calm + 1 if now - last < threshold_s else 0
        last = now
        if calm >= 2:
            return time.monotonic() - started
    return None


def memory_line(name, mem):
    return (f"{name}: VmRSS {mem['VmRSS'] / 1024:.1f} MiB (anon {mem.get('RssAnon', 0) / 1024:.1f}, file {mem.get('RssFile', 0) / 1024:.1f}), "
            f"VmData {mem.get('VmData', 0) / 1024:.1f} MiB, {mem.get('Threads', 0)} threads")


async def main_async(args):
    host, port = common.parse_url(args.url)
    # Votes on another replica, when given: the decision reaches the waiters through the database's notifications.
    vote_host, vote_port = common.parse_url(args.vote_url or args.url)
    tokens = common.read_env_file(args.tokens)
    pipeline, approver = tokens["PIPELINE_TOKEN"], tokens["APPROVER_TOKEN"]
    cards = common.read_cards(args.cards)[args.offset :]
    need = args.waiters + args.measured
    if need > len(cards):
        sys.exit(f"longpolls.py: {need} long-polls need as many pending gates; {args.cards} has {len(cards)} past --offset")
    gates = [gate for gate, _, _ in cards[:need]]
    limit = common.raise_open_file_limit()
    if limit < need + 64:
        sys.exit(f"longpolls.py: the open-file limit is {limit}; {need} connections need more (ulimit -n)")
    pid = args.server_pid
    result = {"waiters": args.waiters, "measured": args.measured, "load_before": common.load_average()}

    await quiet(pid)
    before = common.memory(pid)
    print(memory_line("server memory with no long-poll", before))

    started = time.monotonic()
    background, background_tasks = await open_waiters(host, port, gates[: args.waiters], pipeline, args.wait, args.connect_width)
    opened_in = time.monotonic() - started
    settled = await quiet(pid)
    early = [w for w in background if w.done.is_set()]
    with_waiters = common.memory(pid)
    delta_kib = with_waiters["VmRSS"] - before["VmRSS"]
    per_waiter_kib = delta_kib / max(1, args.waiters)
    print(f"opened {args.waiters} long-polls in {opened_in:.1f} s; server quiet {settled:.1f} s later" if settled is not None
          else f"opened {args.waiters} long-polls in {opened_in:.1f} s; the server did not go quiet within 60 s")
    if early:
        statuses = {}
        for w in early:
            key = str(w.status or w.error)
            statuses[key] = statuses.get(key, 0) + 1
        print(f"warning: {len(early)} long-polls returned early: {statuses}")
    print(memory_line(f"server memory with {args.waiters} long-polls waiting", with_waiters))
    print(f"long-polls: {delta_kib / 1024:.1f} MiB more RSS = {per_waiter_kib:.1f} KiB per waiting long-poll "
          f"(anon {(with_waiters.get('RssAnon', 0) - before.get('RssAnon', 0)) / max(1, args.waiters):.1f} KiB)")
    if args.smaps:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            print(f.read().rstrip())
    result.update({
        "rss_before_kib": before["VmRSS"],
        "rss_with_waiters_kib": with_waiters["VmRSS"],
        "rss_per_waiter_kib": per_waiter_kib,
        "anon_per_waiter_kib": (with_waiters.get("RssAnon", 0) - before.get("RssAnon", 0)) / max(1, args.waiters),
        "early_returns": len(early),
        "memory_before": before,
        "memory_with_waiters": with_waiters,
    })

    measured = []
    vote_latencies = []
    if args.measured:
        measured, measured_tasks = await open_waiters(host, port, gates[args.waiters :], pipeline, args.wait, args.connect_width)
        await quiet(pid)
        all_waiting = common.memory(pid)
        print(memory_line(f"server memory with {need} long-polls waiting", all_waiting))
        result["rss_with_all_kib"] = all_waiting["VmRSS"]

        reader, writer = await common.connect(vote_host, vote_port)
        body = b'{"decision":"approve","comment":"bench"}'
        # The generator's own collector would walk every waiter's objects in the middle of a vote: none while timing.
        gc.collect()
        gc.freeze()
        gc.disable()
        cpu_before = common.cpu_seconds(pid)
        load_start = common.load_average()
        vote_started = time.monotonic()
        interval = 1 / args.vote_rate if args.vote_rate else 0
        pending_votes = []

        async def vote(waiter, due):
            nonlocal reader, writer
            writer.write(
                f"POST /v1/gates/{waiter.gate}/votes HTTP/1.1\r\nHost: {vote_host}:{vote_port}\r\nAuthorization: Bearer {approver}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            status, _ = await common.read_response(reader)
            answered = time.monotonic()
            await waiter.done.wait()
            return due, answered, status

        if interval:
            # Open loop: each vote at its due time, on connections of its own (one per vote in flight).
            async def open_loop(waiter, due):
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                r, w = await common.connect(vote_host, vote_port)
                w.write(
                    f"POST /v1/gates/{waiter.gate}/votes HTTP/1.1\r\nHost: {vote_host}:{vote_port}\r\nAuthorization: Bearer {approver}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
                )
                status, _ = await common.read_response(r)
                answered = time.monotonic()
                w.close()
                await waiter.done.wait()
                return due, answered, status

            # Connecting is part of what the open loop measures here; start them a little ahead.
            base = time.monotonic() + 0.2
            outcomes = await asyncio.gather(*(open_loop(w, base + i * interval) for i, w in enumerate(measured)))
        else:
            outcomes = []
            for waiter in measured:
                outcomes.append(await vote(waiter, time.monotonic()))
        vote_seconds = time.monotonic() - vote_started
        gc.enable()
        cpu_used = common.cpu_seconds(pid) - cpu_before
        wrong = 0
        to_waiter, to_vote = [], []
        for waiter, (due, answered, status) in zip(measured, outcomes):
            if status != 200 or waiter.status != 200 or waiter.state != "approved":
                wrong += 1
                continue
            to_waiter.append((waiter.returned - due) * 1000)
            to_vote.append((answered - due) * 1000)
        still_waiting = sum(1 for w in background if not w.done.is_set())
        s_waiter = common.summary(to_waiter)
        s_vote = common.summary(to_vote)
        mode = f"open loop at {args.vote_rate:g}/s" if interval else "one at a time"
        print(f"deciding {len(measured)} gates {mode} while {still_waiting} other long-polls wait ({vote_seconds:.1f} s, "
              f"server CPU {cpu_used:.2f} s = {cpu_used * 1000 / max(1, len(measured)):.2f} ms per vote)")
        print(common.format_summary("vote sent → waiting client has the decided gate", s_waiter))
        print(common.format_summary("vote sent → vote's own 200", s_vote))
        slowest = sorted(range(len(to_waiter)), key=lambda i: -to_waiter[i])[:10]
        print("the slowest ten, by their place in the sequence: "
              + ", ".join(f"#{i} {to_waiter[i]:.1f} ms" for i in sorted(slowest)))
        if wrong:
            print(f"warning: {wrong} votes or waiters did not end approved with 200")
        result.update({
            "vote_mode": mode,
            "vote_to_waiter_ms": s_waiter,
            "vote_to_response_ms": s_vote,
            "vote_errors": wrong,
            "still_waiting": still_waiting,
            "server_cpu_ms_per_vote": cpu_used * 1000 / max(1, len(measured)),
            "load_during_votes": load_start,
        })
        writer.close()
        for task in measured_tasks:
            task.cancel()
    result["load_after"] = common.load_average()
    print(f"load average before {result['load_before']}, after {result['load_after']}")
    for waiter in background:
        if waiter.writer is not None:
            waiter.writer.close()
    for task in background_tasks:
        task.cancel()
    await asyncio.sleep(0.1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the server the long-polls wait on")
    parser.add_argument("--vote-url", help="the server the votes go to (default --url): another replica")
    parser.add_argument("--cards", required=True, help="PATH.cards.tsv from greenlight-bench seed")
    parser.add_argument("--tokens", required=True, help="PATH.tokens.env from greenlight-bench seed")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--waiters", type=int, default=10000)
    parser.add_argument("--measured", type=int, default=1000)
    parser.add_argument("--offset", type=int, default=0, help="cards to skip")
    parser.add_argument("--wait", type=int, default=300, help="the long-polls' ?wait= (seconds, at most 300)")
    parser.add_argument("--vote-rate", type=float, default=0, help="votes per second, open loop (default: one at a time)")
    parser.add_argument("--connect-width", type=int, default=256, help="connections being opened at once")
    parser.add_argument("--smaps", action="store_true", help="print /proc/<pid>/smaps_rollup with the waiters open")
    parser.add_argument("--json", help="also write the result object to this file")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print("RESULT " + json.dumps(result, sort_keys=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()

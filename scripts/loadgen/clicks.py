#!/usr/bin/env python3
"""Signed Slack clicks against a running `greenlight serve`, open loop at a fixed rate, from outside its process.

    scripts/loadgen/clicks.py --url http://127.0.0.1:PORT --cards DB.cards.tsv --secret SIGNING_SECRET \
        --rate 1000 --seconds 60 --warmup 5 --server-pid PID [--procs 2] [--connections 64]

Each request is what Slack POSTs to the Interactivity Request URL when someone clicks Approve on a gate's card: a
form body `payload=<url-encoded JSON>` of a `block_actions` interaction (the clicker, the card's channel and message
ts, the button's action_id `gate_approve` and value the gate id, and — with `--payload slack`, the default — the card
message itself, as Slack includes it), signed `v0=HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)` with
`X-Slack-Request-Timestamp`. Every click is on its own pending gate's card (`--cards`, written by
`greenlight-bench seed`; `--offset` skips the first ones), by one of the policy's approvers.

Open loop: request i is due at start + i / rate, whatever happened to the ones before; it waits in the generator's
queue if every connection is busy; its latency is from that *due* time to the end of its response (no coordinated
omission). The requests are built and signed before the clock starts. Keep-alive connections (`--connections`, split
over `--procs` processes, each with its own asyncio loop) carry them; one Python process writes a few thousand
requests a second, so at higher rates use `--procs 2` or more (the dispatch lag printed says whether a generator fell
behind its schedule).

Prints count, errors, p50/p90/p99/max for the measured part (after `--warmup` seconds), the dispatch lag, the server's
CPU time per click (/proc/<pid>/stat utime+stime over the measured part), the load average, and a final line
`RESULT {json}`. Exit status: 0 the rate was sustained; 10 the server saturated (p99 over --saturation-p99-ms, answers
fell behind the offered rate, or errors); 11 the generator itself fell behind (inconclusive: add --procs).
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CLICKERS = ["U0ADMIN", "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"]


def card_message(gate, channel, ts):
    """Roughly the approval card as Slack echoes it back in `message` (about 2 KB of Block Kit)."""
    return {
        "type": "message",
        "subtype": "bot_message",
        "text": f"Deploy approval needed: shop → production ({gate})",
        "ts": ts,
        "bot_id": "B0SIM",
        "app_id": "A0SIM",
        "blocks": [
            {"type": "header", "block_id": "h", "text": {"type": "plain_text", "text": "shop → production", "emoji": True}},
            {
                "type": "section",
                "block_id": "facts",
                "fields": [
                    {"type": "mrkdwn", "text": "*Artifact*\n`registry.example.com/shop@sha256:4f1ee5b1b1b3e1a2…` _claimed_"},
                    {"type": "mrkdwn", "text": "*Commit*\n`9fceb02d0ae5` _claimed_"},
                    {"type": "mrkdwn", "text": "*Pull request*\n<https://github.com/example/shop/pull/1234|#1234> _claimed_"},
                    {"type": "mrkdwn", "text": "*Ticket*\nOPS-12345 _claimed_"},
                    {"type": "mrkdwn", "text": "*Tier*\ndefault"},
                    {"type": "mrkdwn", "text": "*Triggered by*\nci-bot _claimed_"},
                ],
            },
            {
                "type": "section",
                "block_id": "summary",
                "text": {"type": "mrkdwn", "text": "Deploy shop build 1234: dependency updates and a fix to the retry loop"},
            },
            {
                "type": "context",
                "block_id": "needs",
                "elements": [
                    {"type": "mrkdwn", "text": "Needs 1 approval from approvers (admin, alice, bob, carol, dave)."},
                    {"type": "mrkdwn", "text": "Decides by <!date^1767225600^{date_short_pretty} at {time}|2026-01-01 00:00 UTC>; then rejected."},
                ],
            },
            {
                "type": "actions",
                "block_id": "gate",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "gate_approve",
                        "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                        "style": "primary",
                        "value": gate,
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Approve this deploy?"},
                            "text": {"type": "mrkdwn", "text": "shop → production"},
                            "confirm": {"type": "plain_text", "text": "Approve"},
                            "deny": {"type": "plain_text", "text": "Cancel"},
                        },
                    },
                    {
                        "type": "button",
                        "action_id": "gate_reject",
                        "text": {"type": "plain_text", "text": "Reject", "emoji": True},
                        "style": "danger",
                        "value": gate,
                    },
                ],
            },
        ],
    }


def click_payload(gate, channel, ts, user, action_ts, full):
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0SIM"},
        "api_app_id": "A0SIM",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"{int(float(action_ts))}.1234567890.{abs(hash(gate)) % 10**12:012d}",
        "team": {"id": "T0SIM", "domain": "simulator"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "deploys"},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0SIM/1234567890/abcdefghijklmnop",
        "actions": [
            {
                "action_id": "gate_approve",
                "block_id": "gate",
                "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                "value": gate,
                "style": "primary",
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }
    if full:
        payload["message"] = card_message(gate, channel, ts)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def signed_request(host_header, secret, payload_json, timestamp, path):
    body = ("payload=" + urllib.parse.quote(payload_json, safe="")).encode()
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host_header}\r\n"
        "User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)\r\n"
        "Accept-Encoding: gzip,deflate\r\n"
        "Accept: application/json,*/*\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Signature: {signature}\r\n"
        f"X-Slack-Request-Timestamp: {timestamp}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def gate_request(host_header, token, index):
    """POST /v1/gates as a pipeline opens a gate: a varied production deploy."""
    service = ["shop", "payments", "search", "auth"][index % 4]
    commit = hashlib.sha1(f"bench-{index}-{time.time()}".encode()).hexdigest()
    body = json.dumps({
        "service": service, "environment": "production", "artifact": f"registry.example.com/{service}@sha256:{hashlib.sha256(commit.encode()).hexdigest()}",
        "commit": commit, "triggered_by": "ci-bot", "authors": [f"dev{index % 97}@example.com"],
        "run_url": f"https://ci.example.com/{service}/runs/{index}", "summary": "external benchmark deploy",
    }).encode()
    head = (f"POST /v1/gates HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def healthz_request(host_header):
    return f"GET /healthz HTTP/1.1\r\nHost: {host_header}\r\n\r\n".encode()


# --- one generator process ---------------------------------------------------------------------------------------


async def generate(addresses, requests, due, connections, patience):
    """Sends requests[j] at due[j] (monotonic seconds) over `connections` keep-alive connections, spread over the
    servers at `addresses` in turn (replicas behind a load balancer); returns, per request,
    (latency from due time in ms or None, status or error name) and each dispatch's lag behind its due time (ms)."""
    queue = asyncio.Queue()
    results = [None] * len(requests)
    lags = [0.0] * len(requests)
    finished = asyncio.Event()
    remaining = [len(requests)]
    max_queue = [0]

    def done(j, latency, status):
        results[j] = (latency, status)
        remaining[0] -= 1
        if remaining[0] == 0:
            finished.set()

    # Connections are opened before the clock starts.
    opened = []
    for k in range(connections):
        address = addresses[k % len(addresses)]
        opened.append((address, await common.connect(*address)))

    async def worker_on(connection):
        (host, port), (reader, writer) = connection
        while True:
            j = await queue.get()
            if j is None:
                break
            try:
                if writer is None:
                    reader, writer = await common.connect(host, port)
                writer.write(requests[j])
                status, _ = await common.read_response(reader)
                done(j, (time.monotonic() - due[j]) * 1000, status)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
                done(j, None, type(error).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(worker_on(c)) for c in opened]

    async def dispatch():
        j = 0
        count = len(requests)
        while j < count:
            now = time.monotonic()
            if due[j] > now:
                await asyncio.sleep(due[j] - now)
                now = time.monotonic()
            while j < count and due[j] <= now:
                lags[j] = (now - due[j]) * 1000
                queue.put_nowait(j)
                j += 1
            if queue.qsize() > max_queue[0]:
                max_queue[0] = queue.qsize()

    await dispatch()
    try:
        await asyncio.wait_for(finished.wait(), timeout=patience)
    except asyncio.TimeoutError:
        pass
    for j, result in enumerate(results):
        if result is None:
            results[j] = (None, "unanswered")
    for _ in workers:
        queue.put_nowait(None)
    for task in workers:
        task.cancel()
    return results, lags, max_queue[0]


def child(index, procs, args, cards, pipe):
    """One generator process: builds and signs its share (every procs-th click), reports ready, waits for the start
    time, sends, and returns its results through `pipe`."""
    addresses = [common.parse_url(url) for url in args.url.split(",")]
    host_header = f"{addresses[0][0]}:{addresses[0][1]}"
    mine = list(range(index, len(cards), procs))
    timestamp = str(int(time.time()))
    requests = []
    for i in mine:
        gate, channel, ts = cards[i]
        if args.target == "healthz":
            requests.append(healthz_request(host_header))
            continue
        if args.target == "gates":
            requests.append(gate_request(host_header, args.pipeline_token, i))
            continue
        action_ts = f"{time.time() + i / args.rate:.6f}"
        payload = click_payload(gate, channel, ts, CLICKERS[i % len(CLICKERS)], action_ts, args.payload == "slack")
        requests.append(signed_request(host_header, args.secret, payload, timestamp, "/slack/interactions"))
    pipe.send(("ready", len(requests), sum(len(r) for r in requests) // max(1, len(requests))))
    start = pipe.recv()
    due = [start + i / args.rate for i in mine]
    connections = max(1, args.connections // procs)
    results, lags, max_queue = asyncio.run(generate(addresses, requests, due, connections, args.patience))
    usage = os.times()
    pipe.send(("done", mine, results, lags, max_queue, usage.user + usage.system))
    pipe.close()


# --- the coordinating process ------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the server, http://127.0.0.1:PORT; several, comma-separated, share the connections")
    parser.add_argument("--cards", required=True, help="PATH.cards.tsv from greenlight-bench seed")
    parser.add_argument("--secret", default=os.environ.get("SLACK_SIGNING_SECRET", "bench-signing-secret"))
    parser.add_argument("--rate", type=float, default=1000, help="clicks per second (default 1000)")
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds sent first and not measured (default 5)")
    parser.add_argument("--offset", type=int, default=0, help="cards to skip (already clicked)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections in all (default 64)")
    parser.add_argument("--procs", type=int, default=1, help="generator processes (default 1)")
    parser.add_argument("--server-pid", help="the greenlight serve process, for CPU per click; several, comma-separated, are added up")
    parser.add_argument("--other-pid", type=int, action="append", default=[], help="other processes whose CPU to report (the simulator)")
    parser.add_argument("--payload", choices=["slack", "minimal"], default="slack", help="with the card message, as Slack sends it, or without")
    parser.add_argument("--target", choices=["clicks", "healthz", "gates"], default="clicks",
                        help="healthz: GET /healthz at the same rate, to calibrate the generator; gates: POST /v1/gates (needs --tokens)")
    parser.add_argument("--tokens", help="PATH.tokens.env from greenlight-bench seed (the pipeline token, for --target gates)")
    parser.add_argument("--patience", type=float, default=30, help="seconds to wait for answers after the last send")
    parser.add_argument("--saturation-p99-ms", type=float, default=50, help="p99 above this counts as saturated (default 50)")
    parser.add_argument("--bucket", type=float, default=10, help="also print p50/p99 and server CPU per this many seconds (0: no)")
    parser.add_argument("--json", help="also write the result object to this file")
    parser.add_argument("--dump", help="write each measured request's due time (monotonic s), latency (ms) and status to this file")
    args = parser.parse_args()
    args.server_pids = [int(pid) for pid in args.server_pid.split(",")] if args.server_pid else []
    args.server_pid = args.server_pids[0] if args.server_pids else None

    cards = common.read_cards(args.cards)[args.offset :]
    total = int(round(args.rate * (args.warmup + args.seconds)))
    args.pipeline_token = None
    if args.target != "clicks":
        # No card is clicked: any number of requests.
        cards = [("", "", "")] * total
        if args.target == "gates":
            if not args.tokens:
                sys.exit("clicks.py: --target gates needs --tokens PATH.tokens.env")
            args.pipeline_token = common.read_env_file(args.tokens)["PIPELINE_TOKEN"]
    if total > len(cards):
        sys.exit(f"clicks.py: {total} clicks need {total} pending cards past --offset {args.offset}; {args.cards} has {len(cards)}")
    if args.warmup + args.seconds > 240:
        sys.exit("clicks.py: a run must end within 240 s (signatures are made at the start and expire after 300 s)")
    cards = cards[:total]
    common.raise_open_file_limit()
    for pid in args.server_pids:
        # A server just started reads its outbox (and meets the 429) first: start once it is idle.
        common.wait_quiet(pid)

    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for index in range(args.procs):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=child, args=(index, args.procs, args, cards, child_end))
        process.start()
        pipes.append(parent_end)
        processes.append(process)
    body_size = 0
    for pipe in pipes:
        _, _, body_size = pipe.recv()

    start = time.monotonic() + 0.5
    for pipe in pipes:
        pipe.send(start)
    measured_from = start + args.warmup
    measured_until = start + args.warmup + args.seconds
    time.sleep(max(0, measured_from - time.monotonic()))
    pids = args.server_pids + args.other_pid

    def server_cpu_now():
        return sum(common.cpu_seconds(pid) for pid in args.server_pids)
    cpu_before = {pid: common.cpu_seconds(pid) for pid in pids}
    machine_before = common.machine_busy_seconds()
    load_before = common.load_average()
    wall_before = time.monotonic()
    # The server's CPU at each --bucket boundary, to see how a click's cost moves during the run (the outbox grows).
    bucket_cpu = []
    if args.bucket and args.server_pid:
        edge = measured_from
        while edge + args.bucket <= measured_until + 1e-9:
            edge += args.bucket
            time.sleep(max(0, edge - time.monotonic()))
            bucket_cpu.append(server_cpu_now())
    time.sleep(max(0, measured_until - time.monotonic()))
    load_during = common.load_average()

    outcomes = [None] * total
    lags = [0.0] * total
    max_queue = 0
    generator_cpu = 0.0
    for pipe in pipes:
        _, mine, results, child_lags, child_queue, cpu = pipe.recv()
        for k, i in enumerate(mine):
            outcomes[i] = results[k]
            lags[i] = child_lags[k]
        max_queue = max(max_queue, child_queue)
        generator_cpu += cpu
    # Every answer is in (or given up on): the measured part's CPU ends here.
    cpu_after = {pid: common.cpu_seconds(pid) for pid in pids}
    machine_after = common.machine_busy_seconds()
    wall = time.monotonic() - wall_before
    for process in processes:
        process.join()

    first = int(round(args.rate * args.warmup))
    measured = outcomes[first:]
    good = 201 if args.target == "gates" else 200
    latencies = [latency for latency, status in measured if status == good]
    statuses = {}
    for latency, status in measured:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    errors = len(measured) - len(latencies)
    lat = common.summary(latencies)
    lag = common.summary(lags[first:])
    # Answers within the measured window, per second: falls below the offered rate when the server cannot keep up.
    answered_in_window = sum(1 for i, (latency, status) in enumerate(measured) if status == good and (first + i) / args.rate + latency / 1000 <= args.warmup + args.seconds)
    achieved = answered_in_window / args.seconds

    buckets = []
    if args.bucket:
        count = int(args.seconds // args.bucket)
        previous_cpu = sum(cpu_before[pid] for pid in args.server_pids) if args.server_pids else None
        # When each answer came, in seconds from the start of the measured part.
        answered_at = [(i / args.rate + latency / 1000 - args.warmup) for i, (latency, status) in enumerate(outcomes)
                       if status in (200, 201) and latency is not None]
        for b in range(count):
            lo, hi = first + int(b * args.bucket * args.rate), first + int((b + 1) * args.bucket * args.rate)
            # Latency of the requests due in the bucket; CPU per request answered in it (they differ under saturation).
            window = [latency for latency, status in outcomes[lo:hi] if status in (200, 201)]
            entry = {"from_s": b * args.bucket, "summary": common.summary(window)}
            done = sum(1 for t in answered_at if b * args.bucket <= t < (b + 1) * args.bucket)
            entry["answered"] = done
            if b < len(bucket_cpu) and previous_cpu is not None:
                entry["server_cpu_ms_per_request"] = (bucket_cpu[b] - previous_cpu) * 1000 / max(1, done)
                previous_cpu = bucket_cpu[b]
            buckets.append(entry)
    label = {"healthz": "GET /healthz", "gates": "POST /v1/gates"}.get(args.target, "signed Slack clicks")
    print(f"{label}: {len(measured)} measured after {first} warm-up, offered {args.rate:.0f}/s for {args.seconds:.0f} s "
          f"({args.procs} generator process(es), {args.connections} connections, ~{body_size} B per request)")
    print(f"answered {good}: {len(latencies)}, errors: {errors} {statuses if errors else ''}".rstrip())
    print(common.format_summary("due time → full response", lat))
    print(common.format_summary("generator dispatch lag behind the due time", lag) + f"; deepest queue {max_queue}")
    for entry in buckets:
        cpu_text = f", server CPU {entry['server_cpu_ms_per_request']:.2f} ms per request" if "server_cpu_ms_per_request" in entry else ""
        sm = entry["summary"]
        print(f"  {entry['from_s']:>4.0f}–{entry['from_s'] + args.bucket:.0f} s: p50 {sm['p50']:.2f} ms, p99 {sm['p99']:.2f} ms, "
              f"max {sm['max']:.2f} ms; {entry['answered'] / args.bucket:.0f}/s answered{cpu_text}")
    print(f"answered within the measured window: {achieved:.0f}/s of {args.rate:.0f}/s offered")
    result = {
        "target": args.target,
        "rate": args.rate,
        "seconds": args.seconds,
        "procs": args.procs,
        "connections": args.connections,
        "payload": args.payload,
        "measured": len(measured),
        "ok": len(latencies),
        "errors": errors,
        "statuses": statuses,
        "latency_ms": lat,
        "dispatch_lag_ms": lag,
        "achieved_per_s": achieved,
        "load_before": load_before,
        "load_during": load_during,
        "generator_cpu_s": generator_cpu,
        "buckets": buckets,
    }
    if args.server_pid:
        server_cpu = sum(cpu_after[pid] - cpu_before[pid] for pid in args.server_pids)
        per_click = server_cpu * 1000 / max(1, len(latencies))
        result["server_cpu_s"] = server_cpu
        result["server_cpu_ms_per_click"] = per_click
        result["server_cores"] = server_cpu / wall
        print(f"server CPU over the measured part: {server_cpu:.2f} s in {wall:.1f} s = {per_click:.3f} ms per request, "
              f"{server_cpu / wall:.2f} cores")
    for pid in args.other_pid:
        print(f"process {pid} CPU over the measured part: {cpu_after[pid] - cpu_before[pid]:.2f} s")
        result[f"cpu_s_{pid}"] = cpu_after[pid] - cpu_before[pid]
    machine_busy = (machine_after[0] - machine_before[0]) / max(1e-9, machine_after[1] - machine_before[1])
    result["machine_busy"] = machine_busy
    print(f"generator CPU (all its processes, whole run): {generator_cpu:.2f} s; the machine's CPUs were {machine_busy * 100:.0f}% busy "
          f"over the measured part; load average before {load_before}, at the end {load_during}")

    # The generator is to blame only when its own lateness accounts for the latency; a server that starves it of CPU
    # makes it late too, but then the queue (and the latency) is far longer than the lag.
    generator_behind = lag["p99"] > 5 and lag["p99"] > 0.5 * lat["p99"]
    saturated = errors > 0.001 * len(measured) or lat["p99"] > args.saturation_p99_ms or achieved < 0.95 * args.rate
    verdict = "generator_behind" if generator_behind and saturated else "saturated" if saturated else "sustained"
    if generator_behind and not saturated:
        verdict = "sustained_generator_late"
    result["verdict"] = verdict
    print(f"verdict: {verdict}")
    print("RESULT " + json.dumps(result, sort_keys=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
    if args.dump:
        with open(args.dump, "w") as f:
            for i, (latency, status) in enumerate(outcomes[first:], start=first):
                f.write(f"{start + i / args.rate:.6f} {latency if latency is not None else -1:.3f} {status}\n")
    sys.exit(11 if verdict == "generator_behind" else 10 if verdict == "saturated" else 0)


if __name__ == "__main__":
    main()

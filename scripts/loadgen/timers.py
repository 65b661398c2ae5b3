"""Deadline timers under load: gates that nobody approves, opened at a rate on the servers in turn, each waited on by
a long-poll on the next server; how late each one's timeout reaches its waiter.

    scripts/loadgen/timers.py --url http://127.0.0.1:P1,http://127.0.0.1:P2 --tokens DB.tokens.env \
        --environment timers --timeout 5 --count 2000 --rate 100

Each gate is opened with POST /v1/gates in --environment (whose policy timeout is --timeout seconds, fail-closed); its
answer gives the deadline. A long-poll (?wait=) on the next server returns when the gate is timed out. Lateness is the
moment the waiter has the timed-out gate minus the deadline, on this machine's clock (the servers run here too): what
a pipeline sees, the timer's own delay plus the way back to the waiter. Python 3 standard library only.
"""

import argparse
import asyncio
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def gate_body(environment, index):
    commit = f"{index:08x}{int(time.time() * 1000) % 10**8:08x}"
    return json.dumps({
        "service": "shop", "environment": environment, "artifact": f"registry.example.com/shop@sha256:{'0' * 56}{index:08x}",
        "commit": commit, "triggered_by": "ci-bot", "authors": ["dev@example.com"],
        "run_url": f"https://ci.example.com/shop/runs/{index}", "summary": "timer benchmark",
    }).encode()


def epoch(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def one(index, args, addresses, token, results):
    host, port = addresses[index % len(addresses)]
    body = gate_body(args.environment, index)
    reader, writer = await common.connect(host, port)
    writer.write(
        f"POST /v1/gates HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    )
    status, answer = await common.read_response(reader)
    writer.close()
    if status != 201:
        results.append(("open", status, None))
        return
    gate = json.loads(answer)
    deadline = epoch(gate["deadline"])
    host, port = addresses[(index + 1) % len(addresses)]
    reader, writer = await common.connect(host, port)
    writer.write(
        f"GET /v1/gates/{gate['id']}?wait={args.timeout * 4 + 30} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\nConnection: close\r\n\r\n".encode()
    )
    status, answer = await common.read_response(reader)
    returned = time.time()
    writer.close()
    state = json.loads(answer).get("state") if status == 200 else None
    if state != "timed_out":
        results.append(("wait", status, state))
        return
    results.append(("ok", (returned - deadline) * 1000, None))


async def main_async(args):
    addresses = [common.parse_url(url) for url in args.url.split(",")]
    token = common.read_env_file(args.tokens)["PIPELINE_TOKEN"]
    common.raise_open_file_limit()
    results = []
    started = time.monotonic()
    tasks = []
    for index in range(args.count):
        due = started + index / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, args, addresses, token, results)))
    await asyncio.gather(*tasks, return_exceptions=True)
    late = [value for kind, value, _ in results if kind == "ok"]
    failed = [(kind, value, state) for kind, value, state in results if kind != "ok"]
    failed += [("error", None, None)] * (args.count - len(results))
    s = common.summary(late)
    print(f"deadline timers: {args.count} gates opened at {args.rate:g}/s over {len(addresses)} server(s), timeout "
          f"{args.timeout} s, each waited on by a long-poll on the next server")
    print(common.format_summary("deadline → waiter has the timed-out gate", s))
    if failed:
        print(f"warning: {len(failed)} gates did not end timed out at their waiter: {failed[:5]}")
    result = {"count": args.count, "rate": args.rate, "servers": len(addresses), "timeout_s": args.timeout,
              "lateness_ms": s, "failed": len(failed)}
    print("RESULT " + json.dumps(result, sort_keys=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the servers, comma-separated")
    parser.add_argument("--tokens", required=True, help="PATH.tokens.env from greenlight-bench seed")
    parser.add_argument("--environment", default="timers", help="an environment whose policy times gates out (default timers)")
    parser.add_argument("--timeout", type=int, default=5, help="that environment's timeout in seconds (default 5)")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100, help="gates opened per second (default 100)")
    parser.add_argument("--json", help="also write the result object to this file")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

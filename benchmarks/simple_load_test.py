#!/usr/bin/env python3
"""A pure-Python concurrent load test, for machines without wrk.

    .venv/bin/python benchmarks/simple_load_test.py                     # every server, 5 s each
    .venv/bin/python benchmarks/simple_load_test.py --servers pymongoose,cymongoose
    .venv/bin/python benchmarks/simple_load_test.py --url http://127.0.0.1:8000/

  *** This measures the Python client at least as much as the server. ***

The client is a single asyncio process: every request costs it tens of
microseconds of interpreter time, more than a fast server spends answering.
With any server faster than the client the figures converge on the client's
own ceiling, so they can only rank slow servers (Flask, FastAPI) against fast
ones, never fast ones against each other.  For real figures use wrk through
run_benchmark.py.  Figures from this script never go into RESULTS.md.

Each of --connections keep-alive connections sends one GET, reads the full
response (Content-Length), checks the body, and repeats until --duration
seconds or --max-requests requests have passed.  A server that closes the
connection after a response is reconnected.  Like run_benchmark.py it pins
the server to one core and itself to the other(s) when there are two or more.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

BANNER = ("NOTE: pure-Python load generator: these numbers measure the client at least as "
          "much as the server (see the docstring); use run_benchmark.py (wrk) for real figures.")


async def _worker(host: str, port: int, path: str, stop_at: float, budget: list[int],
                  latencies: list[float], errors: list[str]) -> None:
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "User-Agent: simple-load-test\r\n\r\n").encode()
    reader = writer = None
    try:
        while time.monotonic() < stop_at and budget[0] > 0:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError as exc:
                    errors.append(f"connect: {exc}")
                    await asyncio.sleep(0.01)
                    continue
            budget[0] -= 1
            t0 = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length, close = 0, False
                lines = head.split(b"\r\n")
                status = int(lines[0].split(b" ", 2)[1])
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError, IndexError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                writer.close()
                writer = None
                continue
            latencies.append(time.perf_counter() - t0)
            if status != 200 or body != harness.EXPECTED_BODY:
                errors.append(f"unexpected response {status} {body[:40]!r}")
            if close:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def load(url: str, connections: int, duration: float, max_requests: int) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    latencies: list[float] = []
    errors: list[str] = []
    budget = [max_requests]
    t0 = time.monotonic()
    stop_at = t0 + duration
    await asyncio.gather(*(_worker(host, port, path, stop_at, budget, latencies, errors)
                           for _ in range(connections)))
    elapsed = time.monotonic() - t0
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6 if lat else 0.0

    return {
        "requests": len(lat), "seconds": elapsed,
        "rps": len(lat) / elapsed if elapsed > 0 else 0.0,
        "mean_us": statistics.fmean(lat) * 1e6 if lat else 0.0,
        "p50_us": pct(0.50), "p99_us": pct(0.99),
        "errors": len(errors), "first_errors": errors[:3],
    }


def report(name: str, r: dict) -> None:
    print(f"{name:<14} {r['rps']:>10,.0f} req/s  mean {r['mean_us'] / 1000:6.2f} ms  "
          f"p50 {r['p50_us'] / 1000:6.2f} ms  p99 {r['p99_us'] / 1000:6.2f} ms  "
          f"errors {r['errors']}" + (f"  e.g. {r['first_errors'][0]}" if r["errors"] else ""),
          flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Pure-Python load test (measures the client too).",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--servers", default="all",
                    help="comma-separated subset of: " + ",".join(harness.DEFAULT_ORDER))
    ap.add_argument("--url", help="load this already-running server instead")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per server")
    ap.add_argument("--max-requests", type=int, default=2_000_000,
                    help="stop a server's run after this many requests")
    args = ap.parse_args(argv)
    if args.connections < 1 or args.duration <= 0 or args.max_requests < 1:
        ap.error("--connections, --duration and --max-requests must be positive")

    print(BANNER, flush=True)
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus = {cpus[0]} if len(cpus) >= 2 else None
    if server_cpus:
        os.sched_setaffinity(0, set(cpus[1:]))  # this client: the other core(s)

    if args.url:
        report(args.url, asyncio.run(load(args.url, args.connections, args.duration,
                                          args.max_requests)))
        return 0

    names = harness.parse_server_list(args.servers)
    missing = harness.check_servers(names)
    status = 0
    print(f"{args.connections} connections, {args.duration:g} s per server\n", flush=True)
    for name in names:
        if missing[name] is not None:
            print(f"{name:<14} SKIP: {missing[name].reason}\n"
                  f"{'':<14} install with: {missing[name].install}")
            continue
        try:
            srv = harness.start_server(name, cpus=server_cpus, ready_timeout=60)
        except harness.ServerError as exc:
            print(f"{name:<14} FAILED to start: {exc}")
            status = 1
            continue
        try:
            problems = harness.validate_server(srv.port)
            if not problems.ok:
                print(f"{name:<14} REFUSED: " + "; ".join(problems.problems))
                status = 1
                continue
            report(name, asyncio.run(load(srv.url, args.connections, args.duration,
                                          args.max_requests)))
        finally:
            srv.stop()
    print("\n" + BANNER)
    return status


if __name__ == "__main__":
    sys.exit(main())

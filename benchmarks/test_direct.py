#!/usr/bin/env python3
"""One urllib request to every benchmark server, validating the answer.

    .venv/bin/python benchmarks/test_direct.py                 # start each server, check, stop
    .venv/bin/python benchmarks/test_direct.py --servers nginx,aiohttp
    .venv/bin/python benchmarks/test_direct.py --url http://127.0.0.1:8000/   # a running server

For each server: start it on a free port (pinned nowhere), send one GET with
urllib, require status 200, Content-Type application/json and the exact body
{"message":"Hello, World!"}, stop it with SIGTERM and require a clean exit.
A server whose prerequisites are missing is reported as SKIP with the command
that installs them.  Exit status: 0 if every checked server passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


def fetch(url: str, timeout: float = 10.0) -> tuple[int, str | None, bytes]:
    req = urllib.request.Request(url, headers={"User-Agent": "pymongoose-test-direct"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read()


def check(url: str) -> list[str]:
    problems = []
    try:
        status, ctype, body = fetch(url)
    except Exception as exc:  # urllib raises many kinds
        return [f"request failed: {exc}"]
    if status != 200:
        problems.append(f"status {status}, expected 200")
    if ctype != harness.EXPECTED_CONTENT_TYPE:
        problems.append(f"Content-Type {ctype!r}, expected {harness.EXPECTED_CONTENT_TYPE!r}")
    if body != harness.EXPECTED_BODY:
        problems.append(f"body {body[:80]!r}, expected {harness.EXPECTED_BODY!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Validate every benchmark server with one request.")
    ap.add_argument("--servers", default="all",
                    help="comma-separated subset of: " + ",".join(harness.DEFAULT_ORDER))
    ap.add_argument("--url", help="check this already-running server instead of starting any")
    args = ap.parse_args(argv)

    if args.url:
        problems = check(args.url)
        print(("PASS " if not problems else "FAIL ") + args.url
              + ("" if not problems else ": " + "; ".join(problems)))
        return 0 if not problems else 1

    names = harness.parse_server_list(args.servers)
    missing = harness.check_servers(names)
    failures = passed = skipped = 0
    for name in names:
        if missing[name] is not None:
            print(f"SKIP {name:<11} {missing[name].reason}\n"
                  f"     install with: {missing[name].install}")
            skipped += 1
            continue
        t0 = time.monotonic()
        try:
            srv = harness.start_server(name, ready_timeout=60)
        except harness.ServerError as exc:
            print(f"FAIL {name:<11} did not start: {exc}")
            failures += 1
            continue
        try:
            problems = check(srv.url)
        finally:
            srv.stop()
        if srv.clean_exit is False or srv.exit_code not in (0, None):
            problems.append(f"did not exit cleanly on SIGTERM (exit code {srv.exit_code})")
        if problems:
            print(f"FAIL {name:<11} " + "; ".join(problems))
            failures += 1
        else:
            print(f"PASS {name:<11} 200 application/json {harness.EXPECTED_BODY.decode()} "
                  f"({time.monotonic() - t0:.1f} s incl. start/stop)")
            passed += 1
    print(f"\n{passed} passed, {failures} failed, {skipped} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

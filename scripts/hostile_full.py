#!/usr/bin/env python3
"""Full-size hostile-client run (issue 13, item 4): 10,000 idle connections plus 1,000
slowloris clients trickling a request head one byte per 100 ms, against the server of
tests/python/programs/hostile_server.py in a child process, while a prober checks that a
normal GET / on a fresh connection keeps being answered within 2 s.

    .venv/bin/python scripts/hostile_full.py                 # 10,000 idle + 1,000 slowloris
    .venv/bin/python scripts/hostile_full.py --idle 2000 --slow 200 --seconds 8

Prints a JSON summary; exits 1 if a probe failed or took 2 s or more, or if a slowloris
client was not answered 408 when header_timeout ran out. The scaled version runs in the
test command (tests/python/test_hostile.py); the result of this one is recorded in
docs/conformance.md.
"""
import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
from hostile_helpers import ChildServer, Prober, get, idle_and_slowloris  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--idle", type=int, default=10000)
ap.add_argument("--slow", type=int, default=1000)
ap.add_argument("--seconds", type=float, default=15.0, help="how long the slowloris clients trickle")
ap.add_argument("--header-timeout", type=float, default=10.0)
ap.add_argument("--impl", default="pymongoose")
args = ap.parse_args()

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
need = args.idle + args.slow + 200
if hard != resource.RLIM_INFINITY and hard < need:
    sys.exit(f"RLIMIT_NOFILE hard limit {hard} is below {need}: raise it (ulimit -Hn)")
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

server = ChildServer(args.impl, nofile=0, limits={"header_timeout": args.header_timeout})
try:
    for _ in range(20):
        get(server.port, "/stats")
    base = server.rss()
    t0 = time.monotonic()
    with Prober(server.port) as probe:
        res = idle_and_slowloris(server.port, args.idle, args.slow, args.seconds)
        peak = server.rss()
    elapsed = time.monotonic() - t0
    alive = server.alive()
finally:
    server.stop()
summary = dict(res, idle=args.idle, slow=args.slow, seconds=round(elapsed, 1),
               header_timeout=args.header_timeout, probes=len(probe.latencies),
               probe_failures=probe.failures[:5],
               probe_worst_ms=round(max(probe.latencies, default=0) * 1000, 1),
               rss_base_mib=round(base / 2**20, 1), rss_peak_mib=round(peak / 2**20, 1),
               server_alive=alive)
print(json.dumps(summary, indent=2))
ok = (alive and not probe.failures and probe.latencies and max(probe.latencies) < 2.0
      and res["slow_408"] == args.slow)
sys.exit(0 if ok else 1)

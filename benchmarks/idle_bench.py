#!/usr/bin/env python3
"""Throughput of the hello server with many idle keep-alive connections open beside it.

    .venv/bin/python benchmarks/idle_bench.py                      # 10,000 idle, 3 rounds of 5 s
    .venv/bin/python benchmarks/idle_bench.py --idle 9000 --duration 3 --rounds 1

For every server, in interleaved rounds: start it pinned to CPU 0, warm up, run
`wrk -t1 -c50` (pinned to CPU 1) with no idle connections, then open N idle
keep-alive connections (each sends one request and reads its answer, then stays
open and silent) and run the same wrk again.  The ratio idle/alone says how much
of the server's per-iteration work grows with connections that do nothing.

Servers: pymongoose (the default, `MG_EV_POLL` to every connection each iteration,
as cymongoose does), pymongoose with `Manager(poll_events=False)`, cymongoose and
nginx.  Results go to benchmarks/idle_results.json, which run_benchmark.py embeds
in RESULTS.md; --update-results refreshes that section of an existing RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
VARIANTS = {
    # label: (harness server name, extra environment)
    "pymongoose": ("pymongoose", {}),
    "pymongoose poll_events=False": ("pymongoose", {"PYMONGOOSE_POLL_EVENTS": "0"}),
    "cymongoose": ("cymongoose", {}),
    "nginx": ("nginx", {}),
}


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


def open_idle(port: int, n: int, timeout: float = 240.0) -> list[socket.socket]:
    """n keep-alive connections that each got one answer; non-blocking, batched."""
    socks: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    batch = 500
    while len(socks) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"opened only {len(socks)} of {n} idle connections")
        sel = selectors.DefaultSelector()
        group = []
        for _ in range(min(batch, n - len(socks))):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(REQUEST)
            s.setblocking(False)
            group.append(s)
            sel.register(s, selectors.EVENT_READ, bytearray())
        pending = len(group)
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"idle connections were not answered in time ({len(socks)} open, {pending} of the last batch pending)")
            for key, _ in sel.select(timeout=1.0):
                buf = key.data
                chunk = key.fileobj.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed an idle connection while opening")
                buf += chunk
                head, sep, rest = bytes(buf).partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        sel.unregister(key.fileobj)
                        pending -= 1
        sel.close()
        socks += group
    return socks


def run_wrk(port: int, duration: int, cpus: set[int] | None) -> float:
    cmd = ["wrk", "-t1", "-c50", f"-d{duration}s", "--timeout=10s", f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None).stdout
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors", out)
    if errors:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(m.group(1))


def measure(label: str, idle: int, duration: int, server_cpus, client_cpus) -> dict:
    name, env = VARIANTS[label]
    srv = harness.start_server(name, cpus=server_cpus, env=env)
    try:
        run_wrk(srv.port, 1, client_cpus)  # warm-up
        alone = run_wrk(srv.port, duration, client_cpus)
        rss_before = vm_rss(srv.pid)
        socks = open_idle(srv.port, idle)
        rss_after = vm_rss(srv.pid)
        with_idle = run_wrk(srv.port, duration, client_cpus)
        for s in socks:
            s.close()
        return {"alone": alone, "idle": with_idle, "ratio": with_idle / alone,
                "rss_per_idle": (rss_after - rss_before) / idle if rss_before and rss_after else None}
    finally:
        srv.stop()


def vm_rss(pid: int) -> int | None:
    """RSS of the server (its worker for nginx) in bytes."""
    pids = harness._descendants(pid)  # the server and its children (nginx's worker)
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total or None


def render(results: dict, meta: dict) -> str:
    lines = [
        f"{meta['idle']:,} idle keep-alive connections beside `wrk -t1 -c50` (hello JSON), "
        f"median of {meta['rounds']} interleaved round(s) of {meta['duration']} s, measured "
        f"{meta['when']}; {meta['pinning']}. Idle connections each got one answer first.",
        "",
        "| server | req/s alone | req/s with idle | with idle / alone | server RSS per idle connection |",
        "|---|--:|--:|--:|--:|",
    ]
    for label, r in results.items():
        rss = f"{r['rss_per_idle'] / 1024:.1f} KiB" if r.get("rss_per_idle") else "n/a"
        lines.append(f"| {label} | {r['alone']:,.0f} | {r['idle']:,.0f} | {r['ratio']:.2f}× | {rss} |")
    lines.append("")
    lines.append("Command: `.venv/bin/python benchmarks/idle_bench.py "
                 f"--idle {meta['idle']} --duration {meta['duration']} --rounds {meta['rounds']}`.")
    return "\n".join(lines)


def load_results(directory: Path) -> dict | None:
    try:
        return json.loads((Path(directory) / "idle_results.json").read_text())
    except (OSError, ValueError):
        return None


def render_markdown(data: dict | None) -> str:
    """The RESULTS.md section (run_benchmark.py embeds it from idle_results.json)."""
    if not data:
        return ("No figures yet. Run `.venv/bin/python benchmarks/idle_bench.py` (about 6 minutes); "
                "it writes `benchmarks/idle_results.json`, which the next run of run_benchmark.py "
                "embeds here.")
    return render(data["results"], data["meta"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", default=",".join(VARIANTS))
    ap.add_argument("--output", default=str(BENCH_DIR / "idle_results.json"))
    ap.add_argument("--update-results", metavar="RESULTS_MD")
    args = ap.parse_args()
    raise_nofile(args.idle + 1000)
    labels = [s.strip() for s in args.servers.split(",") if s.strip()]
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) > 1 else (None, None)
    pinning = (f"server pinned to CPU {cpus[0]}, wrk and the idle client to CPU(s) "
               f"{','.join(map(str, cpus[1:]))}" if server_cpus else "not pinned (one CPU)")
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    for rnd in range(args.rounds):
        for label in labels:
            r = measure(label, args.idle, args.duration, server_cpus, client_cpus)
            print(f"round {rnd + 1} {label}: alone {r['alone']:,.0f} req/s, with {args.idle:,} idle "
                  f"{r['idle']:,.0f} req/s ({r['ratio']:.2f}x)", flush=True)
            runs[label].append(r)
    results = {}
    for label, rs in runs.items():
        alone = statistics.median(r["alone"] for r in rs)
        idle = statistics.median(r["idle"] for r in rs)
        rss = [r["rss_per_idle"] for r in rs if r["rss_per_idle"]]
        results[label] = {"alone": alone, "idle": idle, "ratio": idle / alone,
                          "rss_per_idle": statistics.median(rss) if rss else None, "runs": rs}
    meta = {"idle": args.idle, "duration": args.duration, "rounds": args.rounds,
            "when": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "pinning": pinning,
            "machine": harness.machine_info()}
    Path(args.output).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    table = render_markdown({"meta": meta, "results": results})
    print(table)
    if args.update_results:
        path = Path(args.update_results)
        text = path.read_text()
        block = f"<!-- idle:begin -->\n{table}\n<!-- idle:end -->"
        if "<!-- idle:begin -->" not in text:
            raise SystemExit(f"{path} has no idle section (<!-- idle:begin -->)")
        path.write_text(re.sub(r"<!-- idle:begin -->.*?<!-- idle:end -->", lambda _: block, text, flags=re.S))
    return 0


if __name__ == "__main__":
    sys.exit(main())

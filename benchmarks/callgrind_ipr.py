#!/usr/bin/env python3
"""Instructions per request of pymongoose and cymongoose, counted by callgrind.

    .venv/bin/python benchmarks/callgrind_ipr.py                 # both servers, both modes
    .venv/bin/python benchmarks/callgrind_ipr.py --requests 5000 --servers cymongoose

Wall-clock benchmarks on a shared 2-core machine are noisy; instruction counts
are not.  This script runs each hello-world server (servers/pymongoose_server.py
and servers/cymongoose_server.py, the very programs run_benchmark.py measures)
under `valgrind --tool=callgrind` and serves it a fixed number of requests from
a bounded client.

Method
------
For every (server, mode) it makes two runs that differ only in the number of
requests:

  run 0:  start the server under callgrind, open C keep-alive connections,
          send nothing, close them, SIGTERM, let the server exit;
  run N:  the same, but N requests are served over those C connections
          before they are closed.

    instructions per request = (Ir(run N) - Ir(run 0)) / N

Everything the two runs share cancels out: interpreter start-up and imports,
listen, accepting and closing the C connections, shutdown.  What remains is
the marginal cost of one request: reading it, parsing, every handler call the
engine makes for it, the Python handler itself, formatting and sending the
reply, and the poll-loop iterations it causes.  The client keeps exactly one
request (keepalive mode) or one 16-request batch (pipelined mode) in flight at
a time, so the server sees the same sequence of events on every run and the
counts are reproducible (PYTHONHASHSEED is fixed too).  Readiness is detected
from the server's "listening" line, not by probing connections, so the probe
does not add work to one run and not the other.  What does not cancel is idle
poll(100) wake-ups during slightly different wall times, which is a few
thousand instructions per 100 ms and far below 0.1 % of the figure.

Results go to benchmarks/callgrind_results.json (read by run_benchmark.py,
which embeds them in RESULTS.md); --update-results refreshes that section of
an existing RESULTS.md in place.  The callgrind output files are kept in
--keep-dir for `callgrind_annotate`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import BENCH_DIR, SERVERS  # noqa: E402

DEFAULT_JSON = BENCH_DIR / "callgrind_results.json"
DEFAULT_KEEP = BENCH_DIR / "callgrind"
MODES = ("keepalive", "pipelined")


def _rel(p: Path | str) -> str:
    try:
        return str(Path(p).resolve().relative_to(harness.REPO_ROOT))
    except ValueError:
        return str(p)


# --------------------------------------------------------------------------
# Bounded client
# --------------------------------------------------------------------------

def _request(port: int) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def drive(port: int, requests: int, connections: int, depth: int, timeout: float) -> int:
    """Open `connections` sockets, serve `requests` requests, close. Returns requests served.

    depth == 1: one request in flight at a time, round-robin over the sockets.
    depth > 1: one batch of `depth` pipelined requests in flight at a time.
    Every response is read completely and its body checked.
    """
    socks = [socket.create_connection(("127.0.0.1", port), timeout=timeout)
             for _ in range(connections)]
    bufs = [bytearray() for _ in socks]
    one = _request(port)
    served = 0
    try:
        i = 0
        while served < requests:
            k = min(depth, requests - served)
            s, buf = socks[i % len(socks)], bufs[i % len(socks)]
            s.sendall(one * k)
            deadline = time.monotonic() + timeout
            for _ in range(k):
                status, _h, body, _ = harness._read_response(s, buf, deadline)
                if status != 200 or body != harness.EXPECTED_BODY:
                    raise RuntimeError(f"unexpected response: {status} {body[:60]!r}")
            served += k
            i += 1
    finally:
        for s in socks:
            s.close()
    return served


# --------------------------------------------------------------------------
# One run under callgrind
# --------------------------------------------------------------------------

def _wait_listening(log_path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early (code {proc.returncode}):\n"
                               + log_path.read_text(errors="replace")[-2000:])
        try:
            if "listening on" in log_path.read_text(errors="replace"):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not report listening within {timeout:.0f}s")


def _totals(path: Path) -> int:
    text = path.read_text(errors="replace")
    for key in ("totals:", "summary:"):
        m = re.search(rf"^{key}\s+(\d+)", text, re.M)
        if m:
            return int(m.group(1))
    raise RuntimeError(f"no totals line in {path}")


def callgrind_run(server: str, requests: int, mode: str, args, keep_dir: Path) -> dict:
    port = harness.free_port()
    tag = f"{server}-{mode}-{requests}"
    out_file = keep_dir / f"callgrind.out.{tag}"
    log_path = keep_dir / f"{tag}.log"
    for old in (out_file, log_path):
        old.unlink(missing_ok=True)
    cmd = [args.valgrind, "--tool=callgrind", f"--callgrind-out-file={out_file}",
           "--trace-children=no", harness.PYTHON, "-u",
           str(harness.SERVERS_DIR / SERVERS[server].script), str(port)]
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=str(harness.SERVERS_DIR),
                                env=env, start_new_session=True)
    try:
        _wait_listening(log_path, proc, args.start_timeout)
        depth = args.depth if mode == "pipelined" else 1
        served = drive(port, requests, args.connections, depth, args.io_timeout)
        time.sleep(0.5)  # let the server see the closes (same in every run)
        proc.send_signal(signal.SIGTERM)
        proc.wait(args.start_timeout)
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we created
            proc.wait(10)
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"{server} under callgrind exited with {proc.returncode}:\n"
                           + log_path.read_text(errors="replace")[-2000:])
    return {"requests": served, "ir": _totals(out_file), "wall_s": time.monotonic() - t0,
            "callgrind_out": _rel(out_file)}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def render_markdown(data: dict) -> str:
    """The RESULTS.md section for a callgrind_results.json document."""
    res = data.get("results", {})
    base = data.get("baseline", "pymongoose")
    header = ("| server | mode | requests N | Ir, run with N requests | Ir, run with 0 requests "
              f"| instructions/request | × {base} |\n|---|---|--:|--:|--:|--:|--:|")
    rows = []
    for server, modes in res.items():
        for mode, r in modes.items():
            if "error" in r:
                rows.append(f"| {server} | {mode} | — | — | — | error: {r['error'][:120]} | — |")
                continue
            b = res.get(base, {}).get(mode, {}).get("ir_per_request")
            ratio = f"{r['ir_per_request'] / b:.2f}×" if b else "—"
            rows.append(f"| {server} | {mode} | {r['requests']:,} | {r['ir_n']:,} | "
                        f"{r['ir_0']:,} | {r['ir_per_request']:,.0f} | {ratio} |")
    depth = data.get("settings", {}).get("depth", 16)
    conns = data.get("settings", {}).get("connections", 4)
    m = data.get("machine", {})
    lines = [
        f"Measured on {data.get('generated', '?')[:16].replace('T', ' ')} at commit "
        f"{m.get('git_commit', '?')} with {m.get('valgrind', 'valgrind')}, "
        f"{m.get('python', 'Python')}, by `{data.get('command', 'benchmarks/callgrind_ipr.py')}`.",
        "",
        header, *rows, "",
        f"Method: each server runs under `valgrind --tool=callgrind` twice, once serving N "
        f"requests and once serving none, with the same {conns} keep-alive connections opened "
        "and closed in both; instructions per request = (Ir<sub>N</sub> − Ir<sub>0</sub>) / N, "
        "so start-up, accept/close and shutdown cancel out. *keepalive*: one request in flight "
        f"at a time; *pipelined*: one batch of {depth} requests per write in flight at a time. "
        "Ir counts user-space instructions only (the kernel's share of each request is not "
        "included).",
    ]
    if base not in res:
        lines.append("")
        lines.append(f"**{base} was not measured** (not importable when this ran).")
    return "\n".join(lines)


def update_results(path: Path, section: str) -> bool:
    text = path.read_text()
    a, b = "<!-- callgrind:begin -->", "<!-- callgrind:end -->"
    if a not in text or b not in text:
        return False
    head, rest = text.split(a, 1)
    _, tail = rest.split(b, 1)
    path.write_text(f"{head}{a}\n{section}\n{b}{tail}")
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--servers", default="pymongoose,cymongoose")
    ap.add_argument("--modes", default=",".join(MODES), help="keepalive,pipelined")
    ap.add_argument("--requests", type=int, default=20000, help="N, per run")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--depth", type=int, default=16, help="requests per write when pipelined")
    ap.add_argument("--output", default=str(DEFAULT_JSON), help="JSON file to write")
    ap.add_argument("--keep-dir", default=str(DEFAULT_KEEP),
                    help="where the callgrind.out.* files and server logs are kept")
    ap.add_argument("--update-results", metavar="RESULTS_MD", default=None,
                    help="also refresh the callgrind section of this RESULTS.md")
    ap.add_argument("--skip-missing", action="store_true",
                    help="leave out a server that is not importable instead of stopping")
    ap.add_argument("--start-timeout", type=float, default=180.0)
    ap.add_argument("--io-timeout", type=float, default=60.0)
    args = ap.parse_args(argv)

    servers = harness.parse_server_list(args.servers)
    bad = [s for s in servers if SERVERS[s].kind != "python"]
    if bad:
        ap.error(f"only the Python servers can run under callgrind here, not {bad}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in MODES for m in modes):
        ap.error(f"--modes: choose from {MODES}")
    if args.requests < 1:
        ap.error("--requests must be at least 1")

    valgrind = harness.find_binary("valgrind")
    problems = []
    if not valgrind:
        problems.append(harness.Missing("valgrind", "valgrind is not installed",
                                        "apt-get install -y valgrind"))
    miss = harness.check_servers(servers)
    for s, m in miss.items():
        if m is not None:
            if args.skip_missing:
                print(f"skipping {s}: {m.reason}", flush=True)
            else:
                problems.append(m)
    if problems:
        print("Missing prerequisite(s):\n")
        for p in problems:
            print(f"  - {p}\n")
        print("Nothing was installed; install the above and run again"
              + (" (or pass --skip-missing)." if any(p.what in SERVERS for p in problems) else "."))
        return 2
    servers = [s for s in servers if miss.get(s) is None]
    args.valgrind = valgrind
    keep = Path(args.keep_dir).resolve()
    keep.mkdir(parents=True, exist_ok=True)

    results: dict = {}
    failed = False
    for server in servers:
        results[server] = {}
        for mode in modes:
            try:
                print(f"{server} {mode}: run with 0 requests ...", flush=True)
                r0 = callgrind_run(server, 0, mode, args, keep)
                print(f"  Ir = {r0['ir']:,} ({r0['wall_s']:.0f} s)", flush=True)
                print(f"{server} {mode}: run with {args.requests} requests ...", flush=True)
                rn = callgrind_run(server, args.requests, mode, args, keep)
                ipr = (rn["ir"] - r0["ir"]) / rn["requests"]
                print(f"  Ir = {rn['ir']:,} ({rn['wall_s']:.0f} s) -> {ipr:,.0f} "
                      "instructions/request", flush=True)
                results[server][mode] = {
                    "requests": rn["requests"], "ir_n": rn["ir"], "ir_0": r0["ir"],
                    "ir_per_request": ipr, "callgrind_out": rn["callgrind_out"],
                    "callgrind_out_zero": r0["callgrind_out"],
                }
            except Exception as exc:  # report and go on with the others
                failed = True
                print(f"  FAILED: {exc}", flush=True)
                results[server][mode] = {"error": str(exc)[:2000]}

    info = harness.machine_info()
    data = {
        "generated": _dt.datetime.now().astimezone().isoformat(),
        "command": "python benchmarks/callgrind_ipr.py" + (" " + " ".join(argv) if argv else ""),
        "baseline": "pymongoose",
        "method": "(Ir(run with N requests) - Ir(run with 0 requests)) / N, same connections "
                  "opened and closed in both runs",
        "settings": {"requests": args.requests, "connections": args.connections,
                     "depth": args.depth, "modes": modes},
        "machine": info,
        "versions": harness.package_versions([d for s in servers for d in SERVERS[s].dists]),
        "results": results,
    }
    out = Path(args.output)
    out.write_text(json.dumps(data, indent=2) + "\n")
    section = render_markdown(data)
    print(f"\nwrote {_rel(out)}\n\n{section}\n")
    if args.update_results:
        if update_results(Path(args.update_results), section):
            print(f"updated the callgrind section of {args.update_results}")
        else:
            print(f"{args.update_results} has no callgrind markers; not changed")
    print(f"Profiles: callgrind_annotate {_rel(keep)}/callgrind.out.<server>-<mode>-{args.requests}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

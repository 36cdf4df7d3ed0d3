#!/usr/bin/env python3
"""The benchmark comparison: pymongoose next to the Python web stacks and nginx.

    .venv/bin/python benchmarks/run_benchmark.py            # full run, ~15 minutes
    .venv/bin/python benchmarks/run_benchmark.py --quick    # 1-second smoke run
    .venv/bin/python benchmarks/run_benchmark.py --ws       # + WebSocket echo (ws_bench.py)
    .venv/bin/python benchmarks/run_benchmark.py --tls      # + HTTPS scenarios (tls_bench.py)
    .venv/bin/python benchmarks/run_benchmark.py --mqtt     # + MQTT clients (mqtt_bench.py)
    .venv/bin/python benchmarks/run_benchmark.py --adapters # + FastAPI/Flask apps (adapters_bench.py)
    .venv/bin/python benchmarks/run_benchmark.py --workers  # + 1 and 2 worker processes (workers_bench.py)

What it does, in order:

1. Checks every prerequisite (wrk, nginx, each server's Python packages,
   matplotlib) and stops, naming what is missing and the command that installs
   it.  It installs nothing itself.
2. Starts every selected server (servers/*.py, nginx from servers/nginx.conf),
   pinned to one core, with wrk pinned to the other core(s) when the machine has
   at least two.
3. Validates each server's answer (status 200, Content-Type application/json,
   exact body, on two paths; keep-alive and pipelining recorded) and refuses to
   benchmark one that answers wrong.
4. Warms each server up, then runs the scenarios --- (a) 50 connections, (b) 100
   connections, (c) 50 connections with 16 requests pipelined per write ---
   with N repetitions, interleaving the servers so drift hits all alike.
5. Records requests/s (median, min, max), mean and p99 latency, socket errors,
   non-2xx responses, and the server's CPU time per request from /proc.
6. With --ws, also runs the WebSocket echo scenario of ws_bench.py (100 connections,
   64-byte messages, messages/s; pymongoose, aiohttp, websockets) with the same pinning,
   durations and repetitions, and writes ws_results.json.
7. With --tls, also runs the HTTPS scenarios of tls_bench.py (keep-alive requests/s and
   full TLS handshakes/s; pymongoose, nginx, granian, uvicorn with one generated
   certificate) with the same pinning, durations, warm-up and repetitions, and writes
   tls_results.json.
8. With --mqtt, also runs the MQTT client figures of mqtt_bench.py (round trips/s and
   messages/s at QoS 0 and 1; pymongoose, paho-mqtt, gmqtt through one mosquitto pinned
   to the server core, the clients on the other) with the same durations, warm-up and
   repetitions, and writes mqtt_results.json.
9. With --adapters, also runs the ASGI/WSGI app scenarios of adapters_bench.py (FastAPI and
   a bare ASGI app on pymongoose.asgi, uvicorn and granian; Flask on pymongoose.wsgi,
   gunicorn and granian; aiohttp on asyncio and uvloop; the apps alone in-process) with the
   same pinning, durations, warm-up and repetitions, and writes adapters_results.json.
10. Writes RESULTS.md (from RESULTS.template.md), results.json and results.png
   into --output-dir.  The WebSocket, HTTPS, MQTT and adapter sections show
   ws_results.json, tls_results.json, mqtt_results.json and adapters_results.json of
   --output-dir (from this run with --ws/--tls/--mqtt/--adapters, else from an earlier one).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import ws_bench  # noqa: E402
import tls_bench  # noqa: E402
import mqtt_bench  # noqa: E402
import adapters_bench  # noqa: E402
import workers_bench  # noqa: E402
import idle_bench  # noqa: E402
from harness import BENCH_DIR, REPO_ROOT, SERVERS  # noqa: E402

JSON_NAME = "results.json"
CHART_NAME = "results.png"
RESULTS_NAME = "RESULTS.md"
DEFAULT_CALLGRIND_JSON = BENCH_DIR / "callgrind_results.json"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    connections: int
    pipeline: int  # requests per write; 1 = one request per round trip


def make_scenarios(base_connections: int, depth: int, only: str | None) -> list[Scenario]:
    all_ = [
        Scenario("a", f"{base_connections} connections, one request per round trip",
                 base_connections, 1),
        Scenario("b", f"{2 * base_connections} connections, one request per round trip",
                 2 * base_connections, 1),
        Scenario("c", f"{base_connections} connections, {depth} requests pipelined per write",
                 base_connections, depth),
    ]
    if only:
        keys = [k.strip() for k in only.split(",") if k.strip()]
        bad = [k for k in keys if k not in ("a", "b", "c")]
        if bad:
            raise SystemExit(f"unknown scenario(s) {bad}; choose from a, b, c")
        all_ = [s for s in all_ if s.key in keys]
    return all_


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def log(msg: str) -> None:
    print(msg, flush=True)


def rel(path: Path | str) -> str:
    """Path relative to the repository root when inside it (symlinks not followed)."""
    p = Path(os.path.abspath(path))
    try:
        return str(p.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def fmt_int(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def fmt_us(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 1000:
        return f"{x / 1000:.2f} ms"
    return f"{x:.0f} µs"


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


def cpu_plan(n_cpus: list[int]) -> tuple[set[int] | None, set[int] | None, str]:
    """(server cpus, wrk cpus, description)."""
    if len(n_cpus) >= 2:
        server = {n_cpus[0]}
        client = set(n_cpus[1:])
        return server, client, (f"server pinned to CPU {n_cpus[0]}, wrk to CPU(s) "
                                f"{','.join(map(str, sorted(client)))}")
    return None, None, "only one CPU available: server and wrk are NOT pinned apart"


def machine_busy_fraction(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over a short window (other work on the machine)."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals), idle

    t0, i0 = read()
    time.sleep(seconds)
    t1, i1 = read()
    total = t1 - t0
    return 0.0 if total <= 0 else 1.0 - (i1 - i0) / total


# --------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------

def wrk_command(wrk: str, scenario: Scenario, url: str, duration: int, threads: int,
                timeout_s: int) -> list[str]:
    threads = max(1, min(threads, scenario.connections))
    cmd = [wrk, f"-t{threads}", f"-c{scenario.connections}", f"-d{duration}s",
           f"--timeout={timeout_s}s", "--latency"]
    if scenario.pipeline > 1:
        cmd += ["-s", str(BENCH_DIR / "pipeline.lua"), url, "--", str(scenario.pipeline)]
    else:
        cmd += ["-s", str(BENCH_DIR / "report.lua"), url]
    return cmd


def display_wrk(scenario: Scenario, duration: int, threads: int, timeout_s: int,
                cpus: set[int] | None) -> str:
    cmd = wrk_command("wrk", scenario, "http://127.0.0.1:PORT/", duration, threads, timeout_s)
    cmd = [rel(c) if c.startswith(str(BENCH_DIR)) else c for c in cmd]
    prefix = f"taskset -c {','.join(map(str, sorted(cpus)))} " if cpus else ""
    return prefix + shlex.join(cmd)


def run_wrk(cmd: list[str], cpus: set[int] | None, duration: int, raw_path: Path | None
            ) -> tuple[dict | None, str, float]:
    """Run wrk; return (parsed BENCH_JSON or None, full output, wrk CPU seconds)."""
    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                              preexec_fn=pin if cpus else None)
        out = proc.stdout + ("\n" + proc.stderr if proc.stderr else "")
        rc = proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = f"wrk did not finish within {duration + 60}s\n{exc.stdout or ''}"
        rc = -1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if raw_path is not None:
        raw_path.write_text(f"$ {shlex.join(cmd)}\n{out}")
    parsed = None
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            try:
                parsed = json.loads(line[len("BENCH_JSON "):])
            except ValueError:
                parsed = None
    if rc != 0 and parsed is None:
        return None, out, wrk_cpu
    return parsed, out, wrk_cpu


def measure(srv: harness.RunningServer, scenario: Scenario, args, wrk: str,
            client_cpus: set[int] | None, raw_path: Path | None, duration: int) -> dict:
    """One wrk run against a running server, with its CPU accounting."""
    cmd = wrk_command(wrk, scenario, srv.url, duration, args.threads, args.wrk_timeout)
    rec: dict = {"server": srv.name, "scenario": scenario.key, "command": shlex.join(cmd)}
    if not srv.alive():
        rec["error"] = f"server had exited (code {srv.proc.returncode})"
        return rec
    sys0 = harness.system_cpu_ticks()
    cpu0 = harness.tree_cpu_ticks(srv.pid)
    t0 = time.monotonic()
    parsed, out, wrk_cpu = run_wrk(cmd, client_cpus, duration, raw_path)
    wall = time.monotonic() - t0
    cpu1 = harness.tree_cpu_ticks(srv.pid)
    sys1 = harness.system_cpu_ticks()
    if parsed is None:
        rec["error"] = "wrk failed: " + " ".join(out.strip().splitlines()[-3:])[:300]
        return rec
    dur_s = parsed["duration_us"] / 1e6
    reqs = parsed["requests"]
    server_cpu = (cpu1 - cpu0) / harness.CLK_TCK
    socket_errors = (parsed["errors_connect"] + parsed["errors_read"]
                     + parsed["errors_write"] + parsed["errors_timeout"])
    tick = harness.CLK_TCK
    # CPU used by everything except this server and wrk during the run, in cores
    # (interrupt/softirq time is left out: much of it is our own loopback traffic).
    other = ((sys1["tasks"] - sys0["tasks"]) / tick - server_cpu - wrk_cpu) / wall
    rec.update({
        "other_cpu_util": max(0.0, other),
        "steal_util": (sys1["steal"] - sys0["steal"]) / tick / wall,
        "requests": reqs,
        "duration_s": dur_s,
        "rps": reqs / dur_s if dur_s > 0 else 0.0,
        "latency_mean_us": parsed["latency_mean_us"],
        "latency_p50_us": parsed["latency_p50_us"],
        "latency_p99_us": parsed["latency_p99_us"],
        "latency_max_us": parsed["latency_max_us"],
        "socket_errors": socket_errors,
        "errors": {k[len("errors_"):]: v for k, v in parsed.items() if k.startswith("errors_")},
        "non_2xx": parsed["errors_status"],
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_req": (server_cpu / reqs * 1e6) if reqs else None,
        "server_cpu_util": server_cpu / dur_s if dur_s > 0 else None,
        "wrk_cpu_util": wrk_cpu / wall if wall > 0 else None,
        "server_alive_after": srv.alive(),
    })
    if not srv.alive():
        rec["error"] = f"server exited during the run (code {srv.proc.returncode})"
    return rec


# --------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------

def aggregate(runs: list[dict], servers: list[str], scenarios: list[Scenario]) -> dict:
    out: dict = {}
    for sc in scenarios:
        out[sc.key] = {}
        for name in servers:
            rs = [r for r in runs if r["server"] == name and r["scenario"] == sc.key
                  and "rps" in r]
            errs = [r for r in runs if r["server"] == name and r["scenario"] == sc.key
                    and "error" in r]
            if not rs:
                out[sc.key][name] = {"n": 0, "errors": [e["error"] for e in errs]}
                continue

            def med(key: str) -> float | None:
                vals = [r[key] for r in rs if r.get(key) is not None]
                return statistics.median(vals) if vals else None

            rps = [r["rps"] for r in rs]
            out[sc.key][name] = {
                "n": len(rs),
                "rps_median": statistics.median(rps),
                "rps_min": min(rps),
                "rps_max": max(rps),
                "latency_mean_us": med("latency_mean_us"),
                "latency_p99_us": med("latency_p99_us"),
                "server_cpu_us_per_req": med("server_cpu_us_per_req"),
                "server_cpu_util": med("server_cpu_util"),
                "wrk_cpu_util": med("wrk_cpu_util"),
                "other_cpu_util": med("other_cpu_util"),
                "steal_util": med("steal_util"),
                "socket_errors": sum(r["socket_errors"] for r in rs),
                "non_2xx": sum(r["non_2xx"] for r in rs),
                "requests_total": sum(r["requests"] for r in rs),
                "errors": [e["error"] for e in errs],
            }
    return out


def ratio(summary: dict, sc: str, name: str, base: str, key: str = "rps_median") -> float | None:
    a = summary.get(sc, {}).get(name, {}).get(key)
    b = summary.get(sc, {}).get(base, {}).get(key)
    if a is None or not b:
        return None
    return a / b


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def make_chart(summary: dict, servers: list[str], scenarios: list[Scenario], baseline: str,
               path: Path, title_note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(len(scenarios), 1, figsize=(9, 2.2 + 1.9 * len(scenarios)),
                             squeeze=False)
    for ax, sc in zip(axes[:, 0], scenarios):
        names = [n for n in servers if summary[sc.key].get(n, {}).get("n")]
        med = [summary[sc.key][n]["rps_median"] for n in names]
        lo = [summary[sc.key][n]["rps_median"] - summary[sc.key][n]["rps_min"] for n in names]
        hi = [summary[sc.key][n]["rps_max"] - summary[sc.key][n]["rps_median"] for n in names]
        colors = ["#d9480f" if n == baseline else ("#495057" if n == "nginx" else "#4c6ef5")
                  for n in names]
        y = list(range(len(names)))[::-1]
        ax.barh(y, med, xerr=[lo, hi], color=colors, capsize=3, height=0.65)
        ax.set_yticks(y)
        ax.set_yticklabels([SERVERS[n].label for n in names])
        ax.set_title(f"({sc.key}) {sc.title}", fontsize=10, loc="left")
        ax.set_xlabel("requests/s (median; whiskers: min–max)", fontsize=8)
        top = max(med) if med else 1
        ax.set_xlim(0, top * 1.22)
        for yy, v in zip(y, med):
            ax.text(v + top * 0.01, yy, fmt_rate(v), va="center", fontsize=8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_rate(v) if v else "0"))
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    fig.suptitle("HTTP hello-world, one server core" + title_note, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def scenario_table(sc: Scenario, summary: dict, servers: list[str], baseline: str,
                   validations: dict) -> str:
    header = ["server", "req/s median", "min", "max", f"× {baseline}", "mean latency",
              "p99 latency", "server CPU µs/req", f"CPU/req × {baseline}", "server CPU %",
              "wrk CPU %", "other CPU %", "socket errors", "non-2xx"]
    align = ["---"] + ["--:"] * (len(header) - 1)
    rows = []
    for n in servers:
        s = summary[sc.key].get(n)
        label = f"**{SERVERS[n].label}**" if n == baseline else SERVERS[n].label
        if s is None:
            continue
        if not s.get("n"):
            why = "; ".join(sorted(set(s.get("errors") or []))) or "not run"
            if sc.pipeline > 1 and validations.get(n) and not validations[n].get("pipelining"):
                why = "n/a: no keep-alive/pipelining (closes the connection after each response)"
            rows.append([label, why] + [""] * (len(header) - 2))
            continue
        rows.append([
            label, fmt_int(s["rps_median"]), fmt_int(s["rps_min"]), fmt_int(s["rps_max"]),
            fmt_ratio(ratio(summary, sc.key, n, baseline)),
            fmt_us(s["latency_mean_us"]), fmt_us(s["latency_p99_us"]),
            "—" if s["server_cpu_us_per_req"] is None else f"{s['server_cpu_us_per_req']:.2f}",
            fmt_ratio(ratio(summary, sc.key, n, baseline, "server_cpu_us_per_req")),
            "—" if s["server_cpu_util"] is None else f"{100 * s['server_cpu_util']:.0f}",
            "—" if s["wrk_cpu_util"] is None else f"{100 * s['wrk_cpu_util']:.0f}",
            "—" if s["other_cpu_util"] is None else f"{100 * s['other_cpu_util']:.0f}",
            fmt_int(s["socket_errors"]), fmt_int(s["non_2xx"]),
        ])
    return md_table(header, rows, align)


def summary_table(summary: dict, servers: list[str], scenarios: list[Scenario],
                  baseline: str) -> str:
    header = ["server"]
    for sc in scenarios:
        header += [f"({sc.key}) req/s", f"({sc.key}) × {baseline}"]
    header += [f"server CPU µs/req ({scenarios[0].key})"]
    rows = []
    for n in servers:
        label = f"**{SERVERS[n].label}**" if n == baseline else SERVERS[n].label
        row = [label]
        for sc in scenarios:
            s = summary[sc.key].get(n, {})
            row += [fmt_rate(s.get("rps_median")) if s.get("n") else "—",
                    fmt_ratio(ratio(summary, sc.key, n, baseline))]
        s0 = summary[scenarios[0].key].get(n, {})
        v = s0.get("server_cpu_us_per_req")
        row.append("—" if v is None else f"{v:.2f}")
        rows.append(row)
    return md_table(header, rows, ["---"] + ["--:"] * (len(header) - 1))


TARGETS = [
    # (scenario, kind, other/threshold, factor, text)
    ("a", "ratio", "nginx", 0.95, "(a) pymongoose ≥ 0.95× nginx"),
    ("a", "ratio", "cymongoose", 1.0, "(a) pymongoose ≥ 1.0× cymongoose"),
    ("a", "ratio", "granian", 1.0, "(a) pymongoose ≥ 1.0× granian"),
    ("a", "ratio", "aiohttp", 4.0, "(a) pymongoose ≥ 4× aiohttp"),
    ("a", "ratio", "uvicorn", 10.0, "(a) pymongoose ≥ 10× FastAPI/uvicorn"),
    ("c", "absolute", None, 1_000_000, "(c) pymongoose ≥ 1,000,000 req/s"),
    ("c", "ratio", "cymongoose", 1.5, "(c) pymongoose ≥ 1.5× cymongoose"),
    ("c", "ratio", "granian", 1.5, "(c) pymongoose ≥ 1.5× granian"),
    ("a", "cpu", "cymongoose", 0.7, "(a) server CPU/request ≤ 0.7× cymongoose"),
    ("c", "cpu", "cymongoose", 0.7, "(c) server CPU/request ≤ 0.7× cymongoose"),
]


def targets_section(summary: dict, callgrind: dict | None) -> str:
    if "pymongoose" not in summary.get("a", {}) and "pymongoose" not in summary.get("c", {}):
        return ("## Targets (issue 3)\n\npymongoose was not part of this run, so the targets "
                "were not evaluated.")
    rows = []
    for sc, kind, other, factor, text in TARGETS:
        s = summary.get(sc, {})
        p = s.get("pymongoose", {})
        measured, met = None, None
        if kind == "absolute" and p.get("n"):
            measured = fmt_int(p["rps_median"]) + " req/s"
            met = p["rps_median"] >= factor
        elif kind == "ratio":
            r = ratio(summary, sc, "pymongoose", other)
            if r is not None:
                measured, met = fmt_ratio(r), r >= factor
        elif kind == "cpu":
            r = ratio(summary, sc, "pymongoose", other, "server_cpu_us_per_req")
            if r is not None:
                measured, met = fmt_ratio(r), r <= factor
        rows.append([text, measured or "not measured",
                     "—" if met is None else ("met" if met else "**not met**")])
    if callgrind:
        try:
            ipr = callgrind["results"]
            for mode in ("keepalive", "pipelined"):
                a = ipr.get("pymongoose", {}).get(mode, {}).get("ir_per_request")
                b = ipr.get("cymongoose", {}).get(mode, {}).get("ir_per_request")
                if a and b:
                    rows.append([f"instructions/request ({mode}) ≤ 0.7× cymongoose",
                                 fmt_ratio(a / b), "met" if a / b <= 0.7 else "**not met**"])
        except (KeyError, TypeError, AttributeError):
            pass
    return "## Targets (issue 3)\n\n" + md_table(["target", "measured", "status"], rows)


def machine_section(info: dict, versions: dict, cpu_desc: str, busy: float) -> str:
    rows = [
        ["CPU", f"{info['cpu_model']} — {info['cpus']} logical CPU(s)"],
        ["memory", info["memory"]],
        ["OS / kernel", f"{info['os']} / Linux {info['kernel']}"],
        ["virtualization", info["virtualization"]],
        ["pinning", cpu_desc],
        ["machine busy before the run", f"{100 * busy:.0f} % of all CPUs (other processes)"],
        ["Python", f"{info['python']} ({rel(info['python_executable'])})"],
        ["wrk", info["wrk"]],
        ["nginx", info["nginx"]],
        ["valgrind", info["valgrind"]],
    ]
    rows += [[f"`{k}`", v] for k, v in versions.items()]
    return md_table(["", ""], rows)


def method_section(args, scenarios: list[Scenario], cpu_desc: str) -> str:
    lines = [
        f"- Servers: {', '.join(SERVERS[n].label for n in args.servers_run)}; each is a "
        "separate process confined to the server core, all started before the first "
        "measurement and stopped with SIGTERM at the end.",
        f"- {cpu_desc}.",
        f"- wrk: {args.threads} thread(s), {args.duration} s per run, socket timeout "
        f"{args.wrk_timeout} s; warm-up {args.warmup} s per server before the first "
        f"measurement; {args.repetitions} repetition(s) of every (scenario, server) pair.",
        "- Order: for each repetition, each scenario runs every server in turn, and the "
        "server order rotates between scenarios and repetitions, so slow drift of the "
        "machine hits every server alike.",
        "- Validation: before any load, each server must answer `GET /` and "
        "`GET /bench/any/path?x=1` with status 200, `Content-Type: application/json` and the "
        "exact body; keep-alive and pipelining (3 requests in one write) are checked too. "
        "A server that fails is refused, not measured. The check is repeated after the "
        "measurements.",
    ]
    for sc in scenarios:
        lines.append(f"- Scenario ({sc.key}): {sc.title}.")
    return "\n".join(lines)


def validation_section(validations: dict, post: dict, servers_info: dict) -> str:
    rows = []
    for n, v in validations.items():
        after = post.get(n)
        rows.append([
            SERVERS[n].label,
            "ok" if v["ok"] else "**REFUSED**: " + "; ".join(v["problems"]),
            str(v.get("status")), f"`{v.get('content_type')}`",
            "exact" if v.get("body") == harness.EXPECTED_BODY.decode() else "different",
            "yes" if v.get("keepalive") else "no",
            "yes" if v.get("pipelining") else "no",
            str(v.get("response_bytes") or "—"),
            "—" if after is None else ("ok" if after["ok"] else "**failed**: "
                                        + "; ".join(after["problems"])),
            {True: "yes", False: "no", None: "—"}[servers_info.get(n, {}).get("clean_exit")],
        ])
    return md_table(["server", "validation", "status", "Content-Type", "body", "keep-alive",
                     "pipelining", "response bytes", "after the run", "clean SIGTERM exit"],
                    rows)


def commands_block(args, server_cpus, client_cpus, scenarios) -> str:
    pin = f"taskset -c {','.join(map(str, sorted(server_cpus)))}" if server_cpus else ""
    lines = ["# this report:",
             shlex.join([rel(sys.executable), rel(__file__), *args.argv]),
             "", "# the servers (each on its own port):"]
    for n in args.servers_run:
        lines.append(harness.display_command(n, prefix=pin))
    lines += ["", "# the load, per scenario:"]
    for sc in scenarios:
        lines.append(f"# ({sc.key}) {sc.title}")
        lines.append(display_wrk(sc, args.duration, args.threads, args.wrk_timeout, client_cpus))
    return "\n".join(lines)


def render_callgrind(path: Path) -> tuple[str, dict | None]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return ("No instruction counts yet. Run `.venv/bin/python benchmarks/callgrind_ipr.py` "
                "(about a minute); it writes `benchmarks/callgrind_results.json`, which the "
                "next run of this script embeds here."), None
    import callgrind_ipr

    return callgrind_ipr.render_markdown(data), data


def write_report(outdir: Path, args, info: dict, versions: dict, scenarios, summary, runs,
                 validations, post_validations, servers_info, cpu_desc, busy, server_cpus,
                 client_cpus, started: float, notes: list[str]) -> Path:
    baseline = args.baseline_used
    json_path = outdir / JSON_NAME
    chart_path = outdir / CHART_NAME
    title_note = " (SMOKE RUN)" if args.quick else ""
    make_chart(summary, args.servers_run, scenarios, baseline, chart_path, title_note)
    callgrind_md, callgrind_data = render_callgrind(Path(args.callgrind_json))

    banner = []
    if args.quick:
        banner.append("> **Smoke run (`--quick`)**: 1-second runs, one repetition. These numbers "
                      "only show that the harness works; they are not a measurement.")
    if "pymongoose" not in args.servers_run:
        banner.append("> **pymongoose was not part of this run** — ratios are to "
                      f"{SERVERS[baseline].label} instead.")
    for n in notes:
        banner.append(f"> {n}")

    tables = []
    for sc in scenarios:
        tables.append(f"## Scenario ({sc.key}): {sc.title}\n\n"
                      + scenario_table(sc, summary, args.servers_run, baseline, validations))
    elapsed = time.time() - started
    fields = {
        "BANNER": "\n>\n".join(banner) if banner else "",
        "DATE": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "COMMIT": info["git_commit"],
        "ELAPSED": f"{elapsed / 60:.1f} min",
        "JSON_NAME": JSON_NAME,
        "CHART_NAME": CHART_NAME,
        "REPETITIONS": str(args.repetitions),
        "DURATION": str(args.duration),
        "BASELINE": SERVERS[baseline].label,
        "SUMMARY_TABLE": summary_table(summary, args.servers_run, scenarios, baseline),
        "TARGETS": targets_section(summary, callgrind_data),
        "MACHINE": machine_section(info, versions, cpu_desc, busy),
        "METHOD": method_section(args, scenarios, cpu_desc),
        "COMMANDS": commands_block(args, server_cpus, client_cpus, scenarios),
        "SCENARIO_TABLES": "\n\n".join(tables),
        "CALLGRIND": callgrind_md,
        "VALIDATION": validation_section(validations, post_validations, servers_info),
        "TICK_MS": f"{1000 / harness.CLK_TCK:g}",
        "IDLE": idle_bench.render_markdown(idle_bench.load_results(outdir)),
        "WS": ws_bench.render_markdown(ws_bench.load_results(outdir),
                                       bool((ws_bench.load_results(outdir) or {}).get("quick"))),
        "TLS": tls_bench.render_markdown(tls_bench.load_results(outdir),
                                         bool((tls_bench.load_results(outdir) or {}).get("quick"))),
        "WORKERS": workers_bench.render_markdown(workers_bench.load_results(outdir)),
        "ADAPTERS": adapters_bench.render_markdown(
            adapters_bench.load_results(outdir),
            bool((adapters_bench.load_results(outdir) or {}).get("quick"))),
        "MQTT": mqtt_bench.render_markdown(
            mqtt_bench.load_results(outdir),
            bool((mqtt_bench.load_results(outdir) or {}).get("quick"))),
    }
    text = (BENCH_DIR / "RESULTS.template.md").read_text()
    for k, v in fields.items():
        text = text.replace("{{" + k + "}}", v)
    leftover = [seg.split("}}")[0] for seg in text.split("{{")[1:]]
    if leftover:
        raise RuntimeError(f"unfilled template fields: {leftover}")
    text = text.replace("\n\n\n", "\n\n")
    results_path = outdir / RESULTS_NAME
    results_path.write_text(text)

    raw = {
        "generated": _dt.datetime.now().astimezone().isoformat(),
        "argv": args.argv,
        "quick": args.quick,
        "baseline": baseline,
        "machine": info,
        "versions": versions,
        "pinning": {"server_cpus": sorted(server_cpus or []),
                    "client_cpus": sorted(client_cpus or []), "description": cpu_desc},
        "machine_busy_before": busy,
        "settings": {"duration_s": args.duration, "repetitions": args.repetitions,
                     "warmup_s": args.warmup, "threads": args.threads,
                     "wrk_timeout_s": args.wrk_timeout},
        "scenarios": [sc.__dict__ for sc in scenarios],
        "servers": servers_info,
        "validation": validations,
        "validation_after": post_validations,
        "summary": summary,
        "runs": runs,
        "notes": notes,
    }
    json_path.write_text(json.dumps(raw, indent=2, default=str) + "\n")
    return results_path


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv: list[str]):
    ap = argparse.ArgumentParser(
        description="Benchmark pymongoose against cymongoose, granian, aiohttp, "
                    "FastAPI/uvicorn, Flask and nginx with wrk.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--servers", default="all",
                    help="comma-separated subset of: " + ",".join(harness.DEFAULT_ORDER))
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=50,
                    help="connections for scenarios (a) and (c); (b) uses twice as many")
    ap.add_argument("--repetitions", type=int, default=3, help="runs per (scenario, server)")
    ap.add_argument("--scenarios", default="a,b,c", help="subset of a,b,c")
    ap.add_argument("--pipeline-depth", type=int, default=16,
                    help="requests per write in scenario (c)")
    ap.add_argument("--threads", type=int, default=0,
                    help="wrk threads (0 = one per client CPU)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up seconds per server")
    ap.add_argument("--wrk-timeout", type=int, default=2, help="wrk --timeout, seconds")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of rest between runs")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1-second runs, 1 repetition, 1-second warm-up; "
                         "writes to benchmarks/quick/ unless --output-dir is given")
    ap.add_argument("--output-dir", default=None,
                    help="where RESULTS.md, results.json and results.png go "
                         "(default: benchmarks/, or benchmarks/quick/ with --quick)")
    ap.add_argument("--baseline", default="pymongoose",
                    help="server the ratios are computed against (falls back to the first "
                         "server of the run when it is not part of it)")
    ap.add_argument("--skip-missing", action="store_true",
                    help="benchmark the servers that can run and leave out those whose "
                         "prerequisites are missing (the report says which)")
    ap.add_argument("--ws", action="store_true",
                    help="also run the WebSocket echo scenario (ws_bench.py: 100 connections, "
                         "64-byte messages; pymongoose, aiohttp, websockets)")
    ap.add_argument("--ws-servers", default="all",
                    help="WebSocket servers for --ws: subset of " + ",".join(ws_bench.WS_ORDER))
    ap.add_argument("--tls", action="store_true",
                    help="also run the HTTPS scenarios (tls_bench.py: keep-alive requests/s and "
                         "full TLS handshakes/s; pymongoose, nginx, granian, uvicorn)")
    ap.add_argument("--tls-servers", default="all",
                    help="HTTPS servers for --tls: subset of " + ",".join(tls_bench.TLS_ORDER))
    ap.add_argument("--adapters", action="store_true",
                    help="also run the ASGI/WSGI app scenarios (adapters_bench.py: FastAPI, a bare ASGI "
                         "app and Flask on pymongoose, uvicorn, granian, gunicorn; aiohttp)")
    ap.add_argument("--workers", action="store_true",
                    help="also run the multi-worker scenario (workers_bench.py: FastAPI and Flask with "
                         "1 and 2 worker processes under pymongoose serve, granian, uvicorn, gunicorn)")
    ap.add_argument("--mqtt", action="store_true",
                    help="also run the MQTT client figures (mqtt_bench.py: round trips/s and "
                         "messages/s at QoS 0 and 1 through mosquitto; pymongoose, paho-mqtt, "
                         "gmqtt)")
    ap.add_argument("--mqtt-clients", default="all",
                    help="MQTT clients for --mqtt: subset of " + ",".join(mqtt_bench.MQTT_ORDER))
    ap.add_argument("--callgrind-json", default=str(DEFAULT_CALLGRIND_JSON),
                    help="instructions-per-request figures to embed (from callgrind_ipr.py)")
    args = ap.parse_args(argv)
    args.argv = list(argv)
    if args.quick:
        args.duration, args.repetitions, args.warmup, args.pause = 1, 1, 1, 0.2
    if args.output_dir is None:
        args.output_dir = str(BENCH_DIR / "quick") if args.quick else str(BENCH_DIR)
    for name in ("duration", "repetitions", "connections", "pipeline_depth"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.time()
    requested = harness.parse_server_list(args.servers)
    scenarios = make_scenarios(args.connections, args.pipeline_depth, args.scenarios)

    # ---- prerequisites -------------------------------------------------
    log("checking prerequisites ...")
    missing: list[harness.Missing] = []
    wrk = harness.find_binary("wrk")
    if not wrk:
        missing.append(harness.Missing("wrk", "the wrk load generator is not installed",
                                       "apt-get install -y wrk   (Debian/Ubuntu)"))
    mpl = harness.probe_imports(["matplotlib"], sys.executable)
    if mpl.get("matplotlib"):
        missing.append(harness.Missing(
            "matplotlib", f"cannot import matplotlib ({mpl['matplotlib']})",
            f"{harness._venv_pip()} install matplotlib   "
            f"(or: {harness._venv_pip()} install -r benchmarks/requirements.txt)"))
    server_missing = harness.check_servers(requested)
    ws_names: list[str] = []
    if args.ws:
        ws_names = ws_bench.parse_servers(args.ws_servers)
        lm = ws_bench.check_load_generator()
        if lm:
            missing.append(lm)
    tls_names: list[str] = []
    if args.tls:
        tls_names = tls_bench.parse_servers(args.tls_servers)
        missing.extend(tls_bench.check_tools())
    mqtt_names: list[str] = []
    if args.mqtt:
        mqtt_names = mqtt_bench.parse_clients(args.mqtt_clients)
        missing.extend(mqtt_bench.check_tools())
    fatal = list(missing)
    if args.mqtt:
        for n, m in mqtt_bench.check_clients(mqtt_names).items():
            if m is None:
                continue
            if args.skip_missing:
                mqtt_names.remove(n)
                log(f"skipping MQTT client {n}: {m.reason}")
            else:
                fatal.append(m)
    if args.tls:
        for n, m in tls_bench.check_tls_servers(tls_names).items():
            if m is None:
                continue
            if args.skip_missing:
                tls_names.remove(n)
                log(f"skipping HTTPS server {n}: {m.reason}")
            else:
                fatal.append(m)
    if args.ws:
        for n, m in ws_bench.check_ws_servers(ws_names).items():
            if m is None:
                continue
            if args.skip_missing:
                ws_names.remove(n)
                log(f"skipping WebSocket server {n}: {m.reason}")
            else:
                fatal.append(m)
    skipped: dict[str, harness.Missing] = {}
    for n, m in server_missing.items():
        if m is None:
            continue
        if args.skip_missing:
            skipped[n] = m
        else:
            fatal.append(m)
    if fatal:
        log("\nCannot run the benchmark; missing prerequisite(s):\n")
        for m in fatal:
            log(f"  - {m}\n")
        if any(m.what == "pymongoose" for m in fatal):
            others = [n for n in requested if n != "pymongoose"] or [
                n for n in harness.DEFAULT_ORDER if n != "pymongoose"]
            log("  pymongoose is the subject of this benchmark, so the run stops here.\n"
                "  To measure the peers alone meanwhile: --servers " + ",".join(others)
                + "   (or --skip-missing)")
        venv_py = REPO_ROOT / ".venv" / "bin" / "python"
        if venv_py.exists() and Path(sys.prefix).resolve() != (REPO_ROOT / ".venv").resolve():
            log(f"  (this ran with {sys.executable}; the project's packages live in the venv: "
                f"run {rel(venv_py)} {rel(__file__)} instead)")
        log("Nothing was installed; install the above and run again.")
        return 2
    for n, m in skipped.items():
        log(f"skipping {n}: {m}")
    servers = [n for n in requested if n not in skipped]
    if not servers:
        log("no server left to benchmark")
        return 2
    args.servers_run = servers
    args.baseline_used = args.baseline if args.baseline in servers else servers[0]
    notes = [f"Left out (missing prerequisites): {n} — {m.reason}" for n, m in skipped.items()]
    if "pymongoose" in requested and "pymongoose" in skipped:
        log("NOTE: pymongoose is not importable; this run has no pymongoose figures.")

    outdir = Path(args.output_dir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    raw_dir = outdir / "logs"
    raw_dir.mkdir(exist_ok=True)

    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus, cpu_desc = cpu_plan(cpus)
    if args.threads <= 0:
        args.threads = len(client_cpus) if client_cpus else 1
    log(cpu_desc)
    busy = machine_busy_fraction(1.0)
    if busy > 0.10:
        msg = (f"WARNING: {100 * busy:.0f} % of the machine's CPU was busy with other work "
               "just before the run; figures will be noisy.")
        log(msg)
        notes.append(msg)

    info = harness.machine_info()
    versions = harness.package_versions(harness.all_dists())

    # ---- start and validate -------------------------------------------
    running: dict[str, harness.RunningServer] = {}
    validations: dict[str, dict] = {}
    post_validations: dict[str, dict] = {}
    servers_info: dict[str, dict] = {}
    runs: list[dict] = []
    exit_code = 0
    try:
        for n in servers:
            log(f"starting {n} ...")
            try:
                srv = harness.start_server(n, cpus=server_cpus, log_dir=raw_dir,
                                           ready_timeout=60)
            except harness.ServerError as exc:
                log(f"  could not start {n}: {exc}")
                validations[n] = {"ok": False, "problems": [f"did not start: {str(exc)[:300]}"]}
                servers_info[n] = {"command": harness.display_command(n), "clean_exit": None}
                exit_code = 1
                continue
            servers_info[n] = {"command": harness.display_command(n), "pid": srv.pid,
                               "log": rel(srv.log_path)}
            v = harness.validate_server(srv.port)
            validations[n] = v.as_dict()
            if not v.ok:
                log(f"  REFUSED {n}: " + "; ".join(v.problems))
                srv.stop()
                servers_info[n]["clean_exit"] = srv.clean_exit
                exit_code = 1
                continue
            log(f"  {n} ok on port {srv.port} (keep-alive: {v.keepalive}, "
                f"pipelining: {v.pipelining})")
            running[n] = srv
        active = [n for n in servers if n in running]
        if not active:
            log("no server passed validation; nothing to measure")
            return 1

        # ---- warm-up ---------------------------------------------------
        for n in active:
            log(f"warming up {n} ({args.warmup} s) ...")
            warm = Scenario("warmup", "warm-up", scenarios[0].connections, 1)
            measure(running[n], warm, args, wrk, client_cpus, None, args.warmup)

        # ---- measurements ---------------------------------------------
        total = args.repetitions * sum(
            1 for sc in scenarios for n in active
            if sc.pipeline == 1 or validations[n]["pipelining"])
        k = 0
        for rep in range(args.repetitions):
            for si, sc in enumerate(scenarios):
                shift = (rep * len(scenarios) + si) % len(active)
                order = active[shift:] + active[:shift]
                for n in order:
                    if sc.pipeline > 1 and not validations[n]["pipelining"]:
                        continue
                    k += 1
                    time.sleep(args.pause)
                    raw = raw_dir / f"wrk-{sc.key}-{n}-rep{rep + 1}.txt"
                    rec = measure(running[n], sc, args, wrk, client_cpus, raw, args.duration)
                    rec["repetition"] = rep + 1
                    runs.append(rec)
                    if "rps" in rec:
                        log(f"[{k}/{total}] ({sc.key}) rep {rep + 1} {n:<11} "
                            f"{rec['rps']:>12,.0f} req/s  p99 {fmt_us(rec['latency_p99_us']):>9}  "
                            f"server CPU {rec['server_cpu_us_per_req'] or 0:.2f} µs/req "
                            f"({100 * (rec['server_cpu_util'] or 0):.0f} %)  "
                            f"wrk {100 * (rec['wrk_cpu_util'] or 0):.0f} %  "
                            f"other {100 * rec['other_cpu_util']:.0f} %  "
                            f"errors {rec['socket_errors']}/{rec['non_2xx']}")
                    if "error" in rec:
                        log(f"[{k}/{total}] ({sc.key}) rep {rep + 1} {n}: ERROR {rec['error']}")
                        exit_code = 1

        # ---- validate again --------------------------------------------
        for n in active:
            if running[n].alive():
                post_validations[n] = harness.validate_server(running[n].port).as_dict()
            else:
                post_validations[n] = {"ok": False, "problems": ["server had exited"]}
            if not post_validations[n]["ok"]:
                exit_code = 1
    except KeyboardInterrupt:
        log("interrupted; stopping the servers")
        exit_code = 130
    finally:
        for n, srv in running.items():
            srv.stop()
            servers_info[n]["clean_exit"] = srv.clean_exit
            servers_info[n]["exit_code"] = srv.exit_code
    if exit_code == 130:
        return exit_code

    if args.ws and ws_names:
        log("WebSocket echo scenario ...")
        try:
            ws_res = ws_bench.run_ws_scenario(
                ws_names, duration=args.duration, repetitions=args.repetitions,
                warmup=args.warmup, connections=100, size=64, server_cpus=server_cpus,
                client_cpus=client_cpus, log_dir=raw_dir, pause=args.pause)
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        ws_res["quick"] = args.quick
        ws_res["argv"] = ["benchmarks/run_benchmark.py", *args.argv]
        (outdir / ws_bench.JSON_NAME).write_text(json.dumps(ws_res, indent=2, default=str) + "\n")
        if not all(ws_res["summary"][n].get("n") for n in ws_names):
            exit_code = 1

    if args.tls and tls_names:
        log("HTTPS scenarios ...")
        try:
            tls_res = tls_bench.run_tls_scenario(
                tls_names, wrk=wrk, duration=args.duration, repetitions=args.repetitions,
                warmup=args.warmup, connections=args.connections, threads=args.threads,
                wrk_timeout=args.wrk_timeout, server_cpus=server_cpus, client_cpus=client_cpus,
                log_dir=raw_dir, pause=args.pause)
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        tls_res["quick"] = args.quick
        tls_res["argv"] = ["benchmarks/run_benchmark.py", *args.argv]
        (outdir / tls_bench.JSON_NAME).write_text(json.dumps(tls_res, indent=2, default=str)
                                                  + "\n")
        log(tls_bench.console_summary(tls_res))
        if not tls_bench.all_measured(tls_res):
            exit_code = 1

    if args.adapters:
        log("ASGI and WSGI apps ...")
        try:
            ad_res = adapters_bench.run_adapters(
                wrk=wrk, duration=args.duration, repetitions=args.repetitions, warmup=args.warmup,
                connections=args.connections, server_cpus=server_cpus, client_cpus=client_cpus,
                log_dir=raw_dir)
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        ad_res["quick"] = args.quick
        ad_res["argv"] = ["benchmarks/run_benchmark.py", *args.argv]
        (outdir / adapters_bench.JSON_NAME).write_text(json.dumps(ad_res, indent=2, default=str) + "\n")
        if not ad_res["summary"] or ad_res["not_measured"]:
            exit_code = 1

    if args.workers:
        log("Several worker processes ...")
        if workers_bench.main(["--output-dir", str(outdir), *(["--quick"] if args.quick else [])]) != 0:
            exit_code = 1

    if args.mqtt and mqtt_names:
        log("MQTT client figures ...")
        try:
            mqtt_res = mqtt_bench.run_mqtt_scenario(
                mqtt_names, duration=args.duration, repetitions=args.repetitions,
                warmup=min(1.0, args.warmup), server_cpus=server_cpus, client_cpus=client_cpus,
                log_dir=raw_dir, pause=args.pause)
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        except harness.ServerError as exc:
            log(f"MQTT figures not measured: {exc}")
            exit_code = 1
        else:
            mqtt_res["quick"] = args.quick
            mqtt_res["argv"] = ["benchmarks/run_benchmark.py", *args.argv]
            (outdir / mqtt_bench.JSON_NAME).write_text(
                json.dumps(mqtt_res, indent=2, default=str) + "\n")
            log(mqtt_bench.console_summary(mqtt_res))
            if not mqtt_bench.all_measured(mqtt_res):
                exit_code = 1

    summary = aggregate(runs, servers, scenarios)
    noisy = [r for r in runs if (r.get("other_cpu_util") or 0) > 0.10]
    if noisy:
        worst = max(r["other_cpu_util"] for r in noisy)
        msg = (f"WARNING: during {len(noisy)} of {len(runs)} runs other processes used more "
               f"than 10 % of a core (up to {100 * worst:.0f} %); see the *other CPU %* "
               "columns. Re-run on a quiet machine before trusting close ratios.")
        log(msg)
        notes.append(msg)
    path = write_report(outdir, args, info, versions, scenarios, summary, runs, validations,
                        post_validations, servers_info, cpu_desc, busy, server_cpus,
                        client_cpus, started, notes)
    log(f"\nwrote {rel(path)}, {rel(outdir / JSON_NAME)}, {rel(outdir / CHART_NAME)}")
    log("")
    log(summary_table(summary, servers, scenarios, args.baseline_used))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""ASGI and WSGI adapters next to the Python servers people run FastAPI and Flask on.

    .venv/bin/python benchmarks/adapters_bench.py            # 3 rounds x 5 s, ~6 min
    .venv/bin/python benchmarks/adapters_bench.py --quick    # 1-second smoke run
    .venv/bin/python benchmarks/run_benchmark.py --adapters  # as part of the full comparison

Apps (benchmarks/apps/, the same file for every server): FastAPI hello JSON, a bare ASGI
hello (no framework: what each ASGI server costs on its own) and Flask hello JSON; plus
aiohttp's own hello server on asyncio and on uvloop.

Servers, each with one process pinned to the first CPU while `wrk -t1 -c50` runs pinned
to the other(s): pymongoose.asgi, uvicorn (uvloop + httptools), granian (ASGI) for the
ASGI apps; pymongoose.wsgi (4 worker threads, the default, and workers=0, the app on the
loop thread), gunicorn sync (1 worker), gunicorn gthread (1 worker x 8 threads) and
granian (WSGI) for Flask. Every server is started and checked (status 200, the expected
body) before any load; then each round loads every server in turn (interleaved rounds, so
a noisy moment hits all of them), 1 s of warm-up then the measured run. Reported: the
median requests/s over the rounds and the server's CPU time per request (its process tree,
from /proc), which is the measure that counts when wrk saturates its own core.

"App alone" is the app called in-process with a fixed request, no server and no socket
(adapter_runner.py alone-asgi/alone-wsgi), pinned to the same CPU: its rate is the ceiling,
and "x app alone" says how much of it a server keeps.

Results go to adapters_results.json and to the section between `<!-- adapters:begin -->`
and `<!-- adapters:end -->` of RESULTS.md in the output directory.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import BENCH_DIR  # noqa: E402

JSON_NAME = "adapters_results.json"
MARK_BEGIN = "<!-- adapters:begin -->"
MARK_END = "<!-- adapters:end -->"
SECTION_TITLE = "## ASGI and WSGI apps (FastAPI, Flask)"
PY = sys.executable
VENV_BIN = Path(PY).parent
RUNNER = str(BENCH_DIR / "adapter_runner.py")
APPS = {"fastapi": "fastapi_app:app", "raw": "raw_asgi_app:app", "flask": "flask_app:app"}
APP_LABELS = {"fastapi": "FastAPI", "raw": "bare ASGI app", "flask": "Flask", "aiohttp": "aiohttp (own server)"}


def _tool(name: str) -> str:
    found = VENV_BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def configs() -> list[dict]:
    """Every (app, server) measured: name, label, command(port)."""
    out: list[dict] = []
    for app in ("fastapi", "raw"):
        target = APPS[app]
        out += [
            {"app": app, "server": "pymongoose", "label": "pymongoose.asgi",
             "cmd": lambda p, t=target: [PY, RUNNER, "asgi", t, str(p)]},
            {"app": app, "server": "uvicorn", "label": "uvicorn (uvloop, httptools)",
             "cmd": lambda p, t=target: [_tool("uvicorn"), "--loop", "uvloop", "--http", "httptools",
                                         "--no-access-log", "--log-level", "warning", "--port", str(p), t]},
            {"app": app, "server": "granian", "label": "granian ASGI, 1 worker",
             "cmd": lambda p, t=target: [_tool("granian"), "--interface", "asgi", "--workers", "1",
                                         "--log-level", "warning", "--port", str(p), t]},
        ]
    target = APPS["flask"]
    out += [
        {"app": "flask", "server": "pymongoose", "label": "pymongoose.wsgi (4 threads)",
         "cmd": lambda p: [PY, RUNNER, "wsgi", target, str(p), "4"]},
        {"app": "flask", "server": "pymongoose-inline", "label": "pymongoose.wsgi (workers=0)",
         "cmd": lambda p: [PY, RUNNER, "wsgi", target, str(p), "0"]},
        {"app": "flask", "server": "gunicorn-sync", "label": "gunicorn sync, 1 worker",
         "cmd": lambda p: [_tool("gunicorn"), "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{p}",
                           "--log-level", "warning", target]},
        {"app": "flask", "server": "gunicorn-gthread", "label": "gunicorn gthread, 1 worker x 8 threads",
         "cmd": lambda p: [_tool("gunicorn"), "-w", "1", "-k", "gthread", "--threads", "8",
                           "-b", f"127.0.0.1:{p}", "--log-level", "warning", target]},
        {"app": "flask", "server": "granian", "label": "granian WSGI, 1 worker",
         "cmd": lambda p: [_tool("granian"), "--interface", "wsgi", "--workers", "1",
                           "--log-level", "warning", "--port", str(p), target]},
        {"app": "aiohttp", "server": "aiohttp-asyncio", "label": "aiohttp on asyncio",
         "cmd": lambda p: [PY, RUNNER, "aiohttp", str(p)]},
        {"app": "aiohttp", "server": "aiohttp-uvloop", "label": "aiohttp on uvloop",
         "cmd": lambda p: [PY, RUNNER, "aiohttp", str(p), "uvloop"]},
    ]
    return out


def log(msg: str) -> None:
    print(msg, flush=True)


def _affinity(cpus: set[int] | None):
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def start(cfg: dict, server_cpus: set[int] | None, log_dir: Path) -> dict:
    port = harness.free_port()
    log_path = log_dir / f"adapters-{cfg['app']}-{cfg['server']}.log"
    logf = open(log_path, "wb")
    proc = subprocess.Popen(cfg["cmd"](port), cwd=str(BENCH_DIR / "apps"), stdin=subprocess.DEVNULL,
                            stdout=logf, stderr=subprocess.STDOUT, preexec_fn=_affinity(server_cpus),
                            start_new_session=True)
    run = {"cfg": cfg, "port": port, "proc": proc, "log": log_path, "logf": logf}
    try:
        harness.wait_for_port(port, 60, proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            body = resp.read()
            if resp.status != 200 or b"Hello, World!" not in body:
                raise harness.ServerError(f"unexpected response {resp.status} {body[:80]!r}")
    except Exception:
        stop(run)
        raise
    return run


def stop(run: dict) -> None:
    proc = run["proc"]
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 2)  # SIGINT: every server here stops on it
            proc.wait(10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait(5)
    run["logf"].close()


def wrk_run(wrk: str, port: int, seconds: float, client_cpus: set[int] | None, connections: int) -> dict:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, int(round(seconds)))}s", "--latency",
           f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         preexec_fn=_affinity(client_cpus)).stdout
    res = {"rps": 0.0, "requests": 0, "errors": 0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            res["rps"] = float(parts[1])
        elif "requests in" in line:
            res["requests"] = int(parts[0])
        elif line.strip().startswith("Non-2xx") or line.strip().startswith("Socket errors"):
            res["errors"] += sum(int(x.strip(",")) for x in parts if x.strip(",").isdigit())
    return res


def measure(run: dict, wrk: str, duration: float, warmup: float, client_cpus, connections: int) -> dict:
    if warmup > 0:
        wrk_run(wrk, run["port"], warmup, client_cpus, connections)
    t0 = harness.tree_cpu_ticks(run["proc"].pid)
    res = wrk_run(wrk, run["port"], duration, client_cpus, connections)
    t1 = harness.tree_cpu_ticks(run["proc"].pid)
    cpu_s = (t1 - t0) / harness.CLK_TCK
    res["cpu_us_per_req"] = cpu_s * 1e6 / res["requests"] if res["requests"] else None
    return res


def app_alone(kind: str, target: str, seconds: float, cpus: set[int] | None) -> dict:
    out = subprocess.run([PY, RUNNER, f"alone-{kind}", target, str(seconds)], capture_output=True, text=True,
                         cwd=str(BENCH_DIR / "apps"), timeout=seconds + 120, preexec_fn=_affinity(cpus))
    if out.returncode != 0:
        raise harness.ServerError(f"app alone failed: {out.stderr[-500:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["rps"] = res["requests"] / res["cpu_s"]
    res["cpu_us_per_req"] = res["cpu_s"] * 1e6 / res["requests"]
    return res


def run_adapters(*, wrk: str, duration: float, repetitions: int, warmup: float, connections: int,
                 server_cpus: set[int] | None, client_cpus: set[int] | None, log_dir: Path,
                 only: set[str] | None = None) -> dict:
    cfgs = [c for c in configs() if only is None or c["server"] in only or c["app"] in only]
    runs: list[dict] = []
    failed: dict[str, str] = {}
    samples: dict[str, list[dict]] = {}
    alone: dict[str, list[dict]] = {"fastapi": [], "flask": []}
    try:
        for cfg in cfgs:
            key = f"{cfg['app']}/{cfg['server']}"
            try:
                runs.append(start(cfg, server_cpus, log_dir))
                samples[key] = []
            except Exception as exc:  # a missing or broken peer is reported, not fatal
                failed[key] = str(exc).splitlines()[0][:200]
                log(f"  {key}: not measured ({failed[key]})")
        for r in range(repetitions):
            log(f"  round {r + 1}/{repetitions}")
            for app, kind in (("fastapi", "asgi"), ("flask", "wsgi")):
                alone[app].append(app_alone(kind, APPS[app], min(duration, 3.0), server_cpus))
            for run in runs:
                cfg = run["cfg"]
                res = measure(run, wrk, duration, warmup, client_cpus, connections)
                samples[f"{cfg['app']}/{cfg['server']}"].append(res)
                log(f"    {cfg['app']:8} {cfg['label']:40} {res['rps']:10.0f} req/s"
                    f"  {res['cpu_us_per_req'] or 0:7.1f} us CPU/req")
    finally:
        for run in runs:
            stop(run)
    summary: dict[str, dict] = {}
    for cfg in cfgs:
        key = f"{cfg['app']}/{cfg['server']}"
        got = samples.get(key) or []
        if not got:
            continue
        summary[key] = {
            "app": cfg["app"], "server": cfg["server"], "label": cfg["label"],
            "rps": statistics.median(s["rps"] for s in got),
            "cpu_us_per_req": statistics.median(s["cpu_us_per_req"] for s in got if s["cpu_us_per_req"]),
            "errors": sum(s["errors"] for s in got), "rounds": got,
        }
    alone_summary = {
        app: {"rps": statistics.median(a["rps"] for a in v),
              "cpu_us_per_req": statistics.median(a["cpu_us_per_req"] for a in v), "rounds": v}
        for app, v in alone.items() if v
    }
    return {
        "generated": _dt.datetime.now().astimezone().isoformat(),
        "settings": {"duration_s": duration, "repetitions": repetitions, "warmup_s": warmup,
                     "connections": connections, "server_cpus": sorted(server_cpus or []),
                     "client_cpus": sorted(client_cpus or [])},
        "machine": harness.machine_info(),
        "versions": harness.package_versions(["fastapi", "starlette", "flask", "uvicorn", "uvloop", "httptools",
                                              "granian", "gunicorn", "aiohttp"]),
        "app_alone": alone_summary, "summary": summary, "not_measured": failed,
    }


def render_markdown(res: dict | None, quick: bool = False) -> str:
    if not res:
        return "_Not run yet: `.venv/bin/python benchmarks/adapters_bench.py` (or `run_benchmark.py --adapters`)._"
    s = res["settings"]
    lines = []
    if quick:
        lines.append("> **Quick smoke run** (1 round of 1 s): the figures only show that every server ran.\n")
    lines.append(f"`wrk -t1 -c{s['connections']}` on CPU {s['client_cpus']}, each server one process on CPU "
                 f"{s['server_cpus']}; {s['repetitions']} interleaved rounds of {s['duration_s']:g} s after "
                 f"{s['warmup_s']:g} s of warm-up; median requests/s and the server's CPU time per request "
                 f"(process tree, /proc). *App alone*: the app called in-process with a fixed request, no "
                 f"server, on the server's CPU: the ceiling.\n")
    alone = res.get("app_alone", {})
    for app, title in (("fastapi", "FastAPI"), ("raw", "bare ASGI app"), ("flask", "Flask"),
                       ("aiohttp", "aiohttp hello (its own server)")):
        rows = [v for v in res["summary"].values() if v["app"] == app]
        if not rows:
            continue
        base = next((v for v in rows if v["server"] == "pymongoose"), None)
        lines.append(f"**{title}**\n")
        lines.append("| server | req/s | CPU µs/req | × app alone | pymongoose × this | errors |")
        lines.append("|---|--:|--:|--:|--:|--:|")
        if app in alone:
            a = alone[app]
            lines.append(f"| app alone (in-process) | {a['rps']:,.0f} | {a['cpu_us_per_req']:.1f} | 1.00 | "
                         f"{(base['rps'] / a['rps']) if base else 0:.2f} | – |")
        for v in sorted(rows, key=lambda v: -v["rps"]):
            ratio_alone = f"{v['rps'] / alone[app]['rps']:.2f}" if app in alone else "–"
            ours = f"{base['rps'] / v['rps']:.2f}" if base else "–"
            lines.append(f"| {v['label']} | {v['rps']:,.0f} | {v['cpu_us_per_req']:.1f} | {ratio_alone} | "
                         f"{ours} | {v['errors']} |")
        lines.append("")
    if res.get("not_measured"):
        lines.append("Not measured: " + "; ".join(f"{k} ({v})" for k, v in res["not_measured"].items()) + "\n")
    lines.append(f"Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(res.get("versions", {}).items())) + ".")
    return "\n".join(lines)


def load_results(outdir: Path) -> dict | None:
    return harness.load_json(outdir / JSON_NAME)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round of 1 s (smoke run)")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--only", default=None, help="comma-separated servers or apps (e.g. pymongoose,fastapi)")
    ap.add_argument("--output-dir", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.repetitions, args.warmup = 1.0, 1, 0.0
    outdir = Path(args.output_dir or (BENCH_DIR / "quick" if args.quick else BENCH_DIR))
    outdir.mkdir(parents=True, exist_ok=True)
    log_dir = outdir / "logs"
    log_dir.mkdir(exist_ok=True)
    wrk = harness.find_binary("wrk")
    if not wrk:
        log("wrk is missing: apt-get install wrk")
        return 2
    server_cpus, client_cpus = harness.cpu_plan()
    res = run_adapters(wrk=wrk, duration=args.duration, repetitions=args.repetitions, warmup=args.warmup,
                       connections=args.connections, server_cpus=server_cpus, client_cpus=client_cpus,
                       log_dir=log_dir, only=set(args.only.split(",")) if args.only else None)
    res["quick"] = args.quick
    (outdir / JSON_NAME).write_text(json.dumps(res, indent=2, default=str) + "\n")
    harness.replace_section(outdir / "RESULTS.md", MARK_BEGIN, MARK_END, SECTION_TITLE,
                            render_markdown(res, args.quick))
    log(render_markdown(res, args.quick))
    return 0 if res["summary"] and not res["not_measured"] else 1


if __name__ == "__main__":
    sys.exit(main())

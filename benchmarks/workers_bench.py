"""Multi-worker scenario: the FastAPI and Flask hello apps (benchmarks/apps/) served with 1
and 2 worker processes by `pymongoose serve`, granian and uvicorn (FastAPI) or gunicorn
(Flask, when installed), loaded by wrk pinned to the last CPU.

For every run: requests/s, the server's CPU time (its whole process tree, supervisor and
workers) and requests per server CPU-second. The scaling figure is requests/s with 2
workers over requests/s with 1 worker of the same server. Servers are not pinned: with 2
CPUs and wrk on one of them, the workers share what wrk leaves.

    .venv/bin/python benchmarks/workers_bench.py            # ~2 min -> workers_results.json + RESULTS.md section
    .venv/bin/python benchmarks/workers_bench.py --quick    # 1-second smoke run -> benchmarks/quick/
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

BENCH_DIR = harness.BENCH_DIR
APPS_DIR = BENCH_DIR / "apps"
JSON_NAME = "workers_results.json"
SECTION_TITLE = "## Several worker processes"
MARK_BEGIN = "<!-- workers:begin -->"
MARK_END = "<!-- workers:end -->"
PY = sys.executable
APPS = {"fastapi": ("fastapi_app:app", "asgi"), "flask": ("flask_app:app", "wsgi")}
SERVERS = ["pymongoose", "granian", "uvicorn", "gunicorn"]


def log(msg: str) -> None:
    print(msg, flush=True)


def command(server: str, app: str, workers: int, port: int) -> list[str] | None:
    target, interface = APPS[app]
    if server == "pymongoose":
        return [PY, "-m", "pymongoose", "serve", target, "--port", str(port), "--workers", str(workers),
                "--log-level", "warning"]
    if server == "granian":
        return [PY, "-m", "granian", "--interface", interface, "--port", str(port), "--workers", str(workers),
                "--no-ws", "--log-level", "warning", target]
    if server == "uvicorn" and interface == "asgi":
        return [PY, "-m", "uvicorn", target, "--port", str(port), "--workers", str(workers), "--no-access-log",
                "--log-level", "warning"]
    if server == "gunicorn" and interface == "wsgi" and shutil.which("gunicorn", path=str(Path(PY).parent)):
        return [str(Path(PY).parent / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "-k", "sync",
                "--log-level", "warning", target]
    return None


def run_one(server: str, app: str, workers: int, wrk: str, duration: int, warmup: int, connections: int,
            client_cpus: set[int] | None, log_dir: Path) -> dict:
    port = harness.free_port()
    cmd = command(server, app, workers, port)
    assert cmd is not None
    log_path = log_dir / f"workers-{app}-{server}-{workers}.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=APPS_DIR, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    rec: dict = {"server": server, "app": app, "workers": workers, "command": " ".join(cmd[1:] if cmd[0] == PY else cmd)}
    try:
        harness.wait_for_port(port, 60, proc)
        # the apps answer GET / only (not every path like the hello servers of run_benchmark.py)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200 or json.loads(body) != {"message": "Hello, World!"}:
            rec["error"] = f"GET / answered {resp.status} {body[:80]!r}"
            return rec

        def wrk_run(seconds: int) -> tuple[dict | None, float]:
            wcmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout=2s", "-s",
                    str(BENCH_DIR / "report.lua"), f"http://127.0.0.1:{port}/"]
            t0 = harness.tree_cpu_ticks(proc.pid)
            res = subprocess.run(wcmd, capture_output=True, text=True, timeout=seconds + 60,
                                 preexec_fn=(lambda: os.sched_setaffinity(0, client_cpus)) if client_cpus else None)
            ticks = harness.tree_cpu_ticks(proc.pid) - t0
            parsed = None
            for line in res.stdout.splitlines():
                if line.startswith("BENCH_JSON "):
                    parsed = json.loads(line[len("BENCH_JSON "):])
            return parsed, ticks / harness.CLK_TCK

        wrk_run(warmup)
        parsed, cpu_s = wrk_run(duration)
        if not parsed:
            rec["error"] = "wrk failed"
            return rec
        rps = parsed.get("requests", 0) / max(parsed.get("duration_us", 1) / 1e6, 1e-9)
        rec.update(rps=rps, server_cpu_s=cpu_s, requests=parsed.get("requests"),
                   errors=sum(parsed.get("errors", {}).values()) if isinstance(parsed.get("errors"), dict) else 0,
                   rps_per_cpu_s=(parsed.get("requests", 0) / cpu_s) if cpu_s > 0 else None)
    except harness.ServerError as exc:
        rec["error"] = str(exc)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=40)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        rec["exit_code"] = proc.returncode
    return rec


def render_markdown(res: dict | None) -> str:
    if not res:
        return "_Not measured in this run (`benchmarks/workers_bench.py`)._"
    lines = []
    if res.get("quick"):
        lines.append("> **Smoke run (`--quick`)**: not a measurement.\n")
    lines.append(f"wrk -t1 -c{res['connections']} pinned to CPU(s) {res['client_cpus']}, servers unpinned; "
                 f"{res['duration']} s per run after {res['warmup']} s of warm-up; median of {res['repetitions']}.\n")
    lines.append("| app | server | workers | requests/s | server CPU s | requests per CPU-second | scaling (2w / 1w) |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    summary = res["summary"]
    for key in sorted(summary):
        s = summary[key]
        one = summary.get(f"{s['app']}/{s['server']}/1", {})
        scaling = (s["rps"] / one["rps"]) if s["workers"] == 2 and one.get("rps") else None
        lines.append(f"| {s['app']} | {s['server']} | {s['workers']} | {s['rps']:,.0f} | {s['server_cpu_s']:.2f} | "
                     f"{(s['rps_per_cpu_s'] or 0):,.0f} | {'' if scaling is None else f'{scaling:.2f}x'} |")
    return "\n".join(lines)


def load_results(outdir: Path) -> dict | None:
    return harness.load_json(outdir / JSON_NAME)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repetitions", type=int, default=1)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--apps", default="fastapi,flask")
    ap.add_argument("--output-dir", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repetitions = 1, 1, 1
    outdir = Path(args.output_dir or (BENCH_DIR / "quick" if args.quick else BENCH_DIR)).resolve()
    (outdir / "logs").mkdir(parents=True, exist_ok=True)
    wrk = harness.find_binary("wrk")
    if not wrk:
        log("wrk is not installed (apt-get install -y wrk)")
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    client_cpus = {cpus[-1]} if len(cpus) >= 2 else None
    runs = []
    for app in args.apps.split(","):
        for server in args.servers.split(","):
            for workers in (1, 2):
                if command(server, app, workers, 0) is None:
                    continue
                for rep in range(args.repetitions):
                    rec = run_one(server, app, workers, wrk, args.duration, args.warmup, args.connections,
                                  client_cpus, outdir / "logs")
                    rec["repetition"] = rep + 1
                    runs.append(rec)
                    log(f"{app:<8} {server:<11} {workers} worker(s): "
                        + (f"ERROR {rec['error']}" if "error" in rec else
                           f"{rec['rps']:>10,.0f} req/s  server CPU {rec['server_cpu_s']:.2f} s  "
                           f"{(rec['rps_per_cpu_s'] or 0):,.0f} req/CPU-s"))
    summary: dict[str, dict] = {}
    for key in {(r["app"], r["server"], r["workers"]) for r in runs if "rps" in r}:
        rs = sorted((r for r in runs if (r["app"], r["server"], r["workers"]) == key and "rps" in r),
                    key=lambda r: r["rps"])
        mid = rs[len(rs) // 2]
        summary["/".join(map(str, key))] = {"app": key[0], "server": key[1], "workers": key[2], "rps": mid["rps"],
                                            "server_cpu_s": mid["server_cpu_s"],
                                            "rps_per_cpu_s": mid["rps_per_cpu_s"]}
    res = {"quick": args.quick, "duration": args.duration, "warmup": args.warmup, "repetitions": args.repetitions,
           "connections": args.connections, "client_cpus": sorted(client_cpus or []), "runs": runs,
           "summary": summary, "generated": time.strftime("%Y-%m-%d %H:%M")}
    (outdir / JSON_NAME).write_text(json.dumps(res, indent=2) + "\n")
    md = render_markdown(res)
    harness.replace_section(outdir / "RESULTS.md", MARK_BEGIN, MARK_END, SECTION_TITLE, md)
    log(md)
    return 0 if all("rps" in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

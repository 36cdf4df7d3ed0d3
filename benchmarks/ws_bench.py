#!/usr/bin/env python3
"""WebSocket echo benchmark: pymongoose next to aiohttp and the `websockets` package.

    .venv/bin/python benchmarks/ws_bench.py             # 3 x 5 s per server, ~1 minute
    .venv/bin/python benchmarks/ws_bench.py --quick     # 1-second smoke run
    .venv/bin/python benchmarks/run_benchmark.py --ws   # as part of the full comparison

Scenario: 100 connections, each keeping one 64-byte text message in flight (send, wait
for the echo, send the next); the figure is echoed messages per second. The load comes
from `ws_load` (benchmarks/ws_load.c, compiled on first use with the system C compiler
into build/bench/): one epoll thread that checks every echo byte for byte, far cheaper
per message than any of the servers, so the servers are what is measured. Server and
load generator are pinned to different CPUs when the machine has two or more.

Before any load each server is validated (101 with the right Sec-WebSocket-Accept, text
and binary echo, ping answered by pong, close answered by close); a server that fails
is refused. Results go to ws_results.json and to the section between
`<!-- ws:begin -->` and `<!-- ws:end -->` of RESULTS.md in the output directory.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import json
import os
import shlex
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import BENCH_DIR, REPO_ROOT, Missing, RunningServer, ServerSpec  # noqa: E402

LOAD_SRC = BENCH_DIR / "ws_load.c"
LOAD_BIN = REPO_ROOT / "build" / "bench" / "ws_load"
JSON_NAME = "ws_results.json"
MARK_BEGIN, MARK_END = "<!-- ws:begin -->", "<!-- ws:end -->"

WS_SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("pymongoose", "pymongoose", "python", "ws_pymongoose_server.py",
                   modules=("pymongoose",), dists=("pymongoose-cpp",),
                   install=harness.SERVERS["pymongoose"].install,
                   description="Manager + poll(100); ws_upgrade on HTTP_MSG, ws_send on WS_MSG"),
        ServerSpec("aiohttp", "aiohttp", "python", "ws_aiohttp_server.py",
                   modules=("aiohttp",), dists=("aiohttp",),
                   install=harness.SERVERS["aiohttp"].install,
                   description="web.WebSocketResponse, async for msg: send_str/send_bytes"),
        ServerSpec("websockets", "websockets", "python", "ws_websockets_server.py",
                   modules=("websockets",), dists=("websockets",),
                   install=(f"{harness._venv_pip()} install websockets   (or: "
                            f"{harness._venv_pip()} install -r benchmarks/requirements.txt)"),
                   description="websockets.asyncio.server.serve, async for m: send(m)"),
    )
}
WS_ORDER = ["pymongoose", "aiohttp", "websockets"]


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Prerequisites: the servers' packages and a C compiler for ws_load
# --------------------------------------------------------------------------

def find_cc() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return shutil.which(cc)
    return None


def check_ws_servers(names: list[str]) -> dict[str, Missing | None]:
    imports = harness.probe_imports(sorted({m for n in names for m in WS_SERVERS[n].modules}))
    out: dict[str, Missing | None] = {}
    for n in names:
        out[n] = None
        for m in WS_SERVERS[n].modules:
            if imports.get(m):
                out[n] = Missing(f"{n} (WebSocket)", f"cannot import '{m}' ({imports[m]})",
                                 WS_SERVERS[n].install)
                break
    return out


def check_load_generator() -> Missing | None:
    if LOAD_BIN.exists() and LOAD_BIN.stat().st_mtime >= LOAD_SRC.stat().st_mtime:
        return None
    if find_cc() is None:
        return Missing("C compiler", "needed once to build the WebSocket load generator "
                       "(benchmarks/ws_load.c)", "apt-get install -y gcc")
    return None


def build_load() -> Path:
    """Compile ws_load.c when the binary is missing or older than the source."""
    if LOAD_BIN.exists() and LOAD_BIN.stat().st_mtime >= LOAD_SRC.stat().st_mtime:
        return LOAD_BIN
    cc = find_cc()
    if cc is None:
        raise RuntimeError("no C compiler found (apt-get install -y gcc)")
    LOAD_BIN.parent.mkdir(parents=True, exist_ok=True)
    tmp = LOAD_BIN.with_suffix(f".tmp{os.getpid()}")
    subprocess.run([cc, "-O2", "-std=gnu11", "-o", str(tmp), str(LOAD_SRC)], check=True,
                   capture_output=True, text=True, timeout=120)
    os.replace(tmp, LOAD_BIN)
    return LOAD_BIN


def parse_servers(text: str | None) -> list[str]:
    if not text or text == "all":
        return list(WS_ORDER)
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in WS_SERVERS]
    if bad:
        raise SystemExit(f"unknown WebSocket server(s): {', '.join(bad)}; known: "
                         + ", ".join(WS_ORDER))
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

def server_command(name: str, port: int | str) -> list[str]:
    return [harness.PYTHON, str(harness.SERVERS_DIR / WS_SERVERS[name].script), str(port)]


def display_command(name: str, prefix: str = "") -> str:
    pre = f"{prefix} " if prefix else ""
    return f"{pre}.venv/bin/python benchmarks/servers/{WS_SERVERS[name].script} PORT"


def start_ws_server(name: str, *, cpus: set[int] | None = None, log_dir: Path | None = None,
                    ready_timeout: float = 30.0) -> RunningServer:
    import tempfile

    port = harness.free_port()
    cmd = server_command(name, port)
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="ws-bench-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"ws-{name}-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=str(harness.SERVERS_DIR), env=env,
                                start_new_session=True, preexec_fn=harness._affinity_preexec(cpus))
    srv = RunningServer(name, port, proc, cmd, log_path, cpus)
    try:
        harness.wait_for_port(port, ready_timeout, proc)
    except harness.ServerError as exc:
        srv.stop()
        raise harness.ServerError(f"{name}: {exc}\n{srv.log_tail()}") from None
    return srv


# --------------------------------------------------------------------------
# Validation (raw socket, independent of every implementation under test)
# --------------------------------------------------------------------------

def _frame(op: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else
                                 bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.buf, self.deadline = sock, b"", deadline

    def need(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.sock.settimeout(max(0.05, self.deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            self.sock.settimeout(max(0.05, self.deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data
        i = self.buf.index(b"\r\n\r\n") + 4
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def frame(self) -> tuple[int, bool, bytes]:
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.need(8))[0]
        if b1 & 0x80:
            key = self.need(4)
            data = bytes(b ^ key[i % 4] for i, b in enumerate(self.need(n)))
        else:
            data = self.need(n)
        return b0 & 0x0F, bool(b1 & 0x80), data


def validate_ws_server(port: int, timeout: float = 10.0) -> dict:
    problems: list[str] = []
    deadline = time.monotonic() + timeout
    key = base64.b64encode(os.urandom(16)).decode()
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                           .encode()).digest()).decode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            r = _Reader(s, deadline)
            s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = r.head().decode("latin-1")
            if not head.startswith("HTTP/1.1 101"):
                problems.append(f"handshake: {head.splitlines()[0]!r}, expected a 101")
                return {"ok": False, "problems": problems}
            hdrs = {ln.split(":", 1)[0].strip().lower(): ln.split(":", 1)[1].strip()
                    for ln in head.split("\r\n")[1:] if ":" in ln}
            if hdrs.get("sec-websocket-accept") != accept:
                problems.append("wrong Sec-WebSocket-Accept")
            text = bytes(ord("a") + i % 26 for i in range(64))
            for op, payload, what in ((1, text, "64-byte text"), (2, b"\x00\xff\x10", "binary"),
                                      (1, "é✓".encode() * 100, "600-byte UTF-8 text")):
                s.sendall(_frame(op, payload))
                got = r.frame()
                if got != (op, False, payload):
                    problems.append(f"{what} echo: got opcode {got[0]}, masked {got[1]}, "
                                    f"{len(got[2])} bytes")
            s.sendall(_frame(9, b"pi"))
            got = r.frame()
            if got[0] != 10 or got[2] != b"pi":
                problems.append(f"ping answered with opcode {got[0]} {got[2]!r}, expected pong")
            s.sendall(_frame(8, struct.pack("!H", 1000)))
            got = r.frame()
            if got[0] != 8:
                problems.append(f"close answered with opcode {got[0]}, expected close")
    except (OSError, ConnectionError, ValueError, struct.error) as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    return {"ok": not problems, "problems": problems}


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------

def load_command(port: int | str, connections: int, duration: float, size: int,
                 warmup: float) -> list[str]:
    return [str(LOAD_BIN), "127.0.0.1", str(port), str(connections), f"{duration:g}", str(size),
            f"{warmup:g}"]


def run_load(port: int, connections: int, duration: float, size: int, warmup: float,
             cpus: set[int] | None, on_counting=None) -> tuple[dict | None, str]:
    """Run ws_load; ``on_counting()`` is called when its counted window starts."""
    cmd = load_command(port, connections, duration, size, warmup)

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=pin if cpus else None)
    lines = []
    parsed = None
    try:
        for line in p.stdout:  # ws_load ends by itself after warmup + duration
            lines.append(line)
            if line.startswith("WS_COUNTING") and on_counting:
                on_counting()
            elif line.startswith("WS_JSON "):
                try:
                    parsed = json.loads(line[len("WS_JSON "):])
                except ValueError:
                    parsed = None
        p.wait(timeout=duration + warmup + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None, "ws_load did not finish"
    err = p.stderr.read()
    return parsed, "".join(lines) + err


def measure(srv: RunningServer, connections: int, duration: float, size: int, warmup: float,
            client_cpus: set[int] | None) -> dict:
    """One ws_load run; server CPU is sampled over the counted window only."""
    rec: dict = {"server": srv.name}
    if not srv.alive():
        rec["error"] = f"server had exited (code {srv.proc.returncode})"
        return rec
    import resource

    box: dict = {}

    def counting() -> None:
        box["cpu0"] = harness.tree_cpu_ticks(srv.pid)
        box["sys0"] = harness.system_cpu_ticks()
        box["t0"] = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.monotonic()
    parsed, out = run_load(srv.port, connections, duration, size, warmup, client_cpus, counting)
    cpu1 = harness.tree_cpu_ticks(srv.pid)
    sys1 = harness.system_cpu_ticks()
    t1 = time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    load_util = load_cpu / (t1 - w0) if t1 > w0 else None
    if parsed is None or parsed.get("errors") or parsed.get("bad_echo"):
        tail = " ".join(out.strip().splitlines()[-2:])[:300]
        rec["error"] = f"ws_load failed: {tail}"
        if parsed:
            rec.update(parsed)
        return rec
    rec.update(parsed)
    window = t1 - box["t0"] if "t0" in box else None
    server_cpu = (cpu1 - box["cpu0"]) / harness.CLK_TCK if "cpu0" in box else None
    msgs_in_window = parsed["msgs_per_s"] * window if window else 0
    other = None
    if "sys0" in box and window and server_cpu is not None and load_util is not None:
        tasks = (sys1["tasks"] - box["sys0"]["tasks"]) / harness.CLK_TCK
        other = max(0.0, (tasks - server_cpu) / window - load_util)
    rec.update({
        "load_cpu_util": load_util,
        "other_cpu_util": other,
        "server_cpu_util": server_cpu / window if server_cpu is not None and window else None,
        "server_cpu_us_per_msg": (server_cpu / msgs_in_window * 1e6
                                  if server_cpu is not None and msgs_in_window else None),
        "server_alive_after": srv.alive(),
    })
    return rec


def summarize(runs: list[dict], names: list[str]) -> dict:
    out = {}
    for n in names:
        rs = [r for r in runs if r["server"] == n and "error" not in r]
        if not rs:
            out[n] = {"n": 0, "errors": [r["error"] for r in runs if r["server"] == n]}
            continue

        def med(k: str):
            v = [r[k] for r in rs if r.get(k) is not None]
            return statistics.median(v) if v else None
        rates = [r["msgs_per_s"] for r in rs]
        out[n] = {"n": len(rs), "msgs_per_s_median": statistics.median(rates),
                  "msgs_per_s_min": min(rates), "msgs_per_s_max": max(rates),
                  "lat_mean_us": med("lat_mean_us"), "lat_p99_us": med("lat_p99_us"),
                  "server_cpu_us_per_msg": med("server_cpu_us_per_msg"),
                  "server_cpu_util": med("server_cpu_util"),
                  "load_cpu_util": med("load_cpu_util"),
                  "other_cpu_util": med("other_cpu_util"),
                  "messages_total": sum(r["messages"] for r in rs),
                  "errors": [r["error"] for r in runs if r["server"] == n and "error" in r]}
    return out


def run_ws_scenario(names: list[str], *, duration: float, repetitions: int, warmup: float,
                    connections: int = 100, size: int = 64, server_cpus: set[int] | None,
                    client_cpus: set[int] | None, log_dir: Path | None = None,
                    pause: float = 0.5) -> dict:
    """Start, validate, measure (interleaved repetitions), stop. Returns the results dict."""
    build_load()
    running: dict[str, RunningServer] = {}
    validation: dict[str, dict] = {}
    info: dict[str, dict] = {}
    runs: list[dict] = []
    try:
        for n in names:
            log(f"[ws] starting {n} ...")
            try:
                srv = start_ws_server(n, cpus=server_cpus, log_dir=log_dir)
            except harness.ServerError as exc:
                validation[n] = {"ok": False, "problems": [f"did not start: {str(exc)[:300]}"]}
                continue
            v = validate_ws_server(srv.port)
            validation[n] = v
            info[n] = {"command": display_command(n), "pid": srv.pid}
            if not v["ok"]:
                log(f"[ws]   REFUSED {n}: " + "; ".join(v["problems"]))
                srv.stop()
                continue
            running[n] = srv
        active = [n for n in names if n in running]
        for n in active:
            log(f"[ws] warming up {n} ...")
            measure(running[n], connections, max(0.5, warmup), size, 0, client_cpus)
        for rep in range(repetitions):
            shift = rep % max(1, len(active))
            for n in active[shift:] + active[:shift]:
                time.sleep(pause)
                rec = measure(running[n], connections, duration, size, min(1.0, warmup),
                              client_cpus)
                rec["repetition"] = rep + 1
                runs.append(rec)
                if "error" in rec:
                    log(f"[ws] rep {rep + 1} {n}: ERROR {rec['error']}")
                else:
                    cpu = rec.get("server_cpu_us_per_msg")
                    log(f"[ws] rep {rep + 1} {n:<11} {rec['msgs_per_s']:>10,.0f} msg/s  "
                        f"p99 {rec['lat_p99_us']:>6} µs  server CPU "
                        f"{'—' if cpu is None else f'{cpu:.2f}'} µs/msg")
        for n in active:
            validation[n]["after"] = (validate_ws_server(running[n].port) if running[n].alive()
                                      else {"ok": False, "problems": ["server had exited"]})
    finally:
        for n, srv in running.items():
            srv.stop()
            info[n]["clean_exit"] = srv.clean_exit
    return {
        "generated": _dt.datetime.now().astimezone().isoformat(),
        "settings": {"connections": connections, "message_bytes": size, "duration_s": duration,
                     "repetitions": repetitions, "warmup_s": warmup,
                     "server_cpus": sorted(server_cpus or []),
                     "client_cpus": sorted(client_cpus or [])},
        "servers": names,
        "validation": validation,
        "info": info,
        "runs": runs,
        "summary": summarize(runs, names),
        "versions": harness.package_versions([d for n in names for d in WS_SERVERS[n].dists]),
    }


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def _fmt(x: float | None, spec: str = ",.0f", unit: str = "") -> str:
    return "—" if x is None else f"{x:{spec}}{unit}"


def render_markdown(res: dict | None, quick: bool = False) -> str:
    if not res:
        return ("Not measured yet. Run `.venv/bin/python benchmarks/ws_bench.py` (about a "
                "minute) or `benchmarks/run_benchmark.py --ws`.")
    st = res["settings"]
    summ = res["summary"]
    base = summ.get("pymongoose", {}).get("msgs_per_s_median")
    rows = []
    for n in res["servers"]:
        s = summ.get(n, {})
        label = f"**{WS_SERVERS[n].label}**" if n == "pymongoose" else WS_SERVERS[n].label
        if not s.get("n"):
            v = res["validation"].get(n, {})
            why = "; ".join(v.get("problems") or s.get("errors") or ["not run"])
            rows.append(f"| {label} | {why} | | | | | | | | | |")
            continue
        r = s["msgs_per_s_median"]
        rows.append("| " + " | ".join([
            label, _fmt(r), _fmt(s["msgs_per_s_min"]), _fmt(s["msgs_per_s_max"]),
            "—" if not base else f"{r / base:.2f}×",
            _fmt(s["lat_mean_us"], ",.0f", " µs"), _fmt(s["lat_p99_us"], ",.0f", " µs"),
            _fmt(s["server_cpu_us_per_msg"], ".2f"),
            _fmt(None if s["server_cpu_util"] is None else 100 * s["server_cpu_util"], ".0f"),
            _fmt(None if s.get("load_cpu_util") is None else 100 * s["load_cpu_util"], ".0f"),
            _fmt(None if s.get("other_cpu_util") is None else 100 * s["other_cpu_util"], ".0f"),
        ]) + " |")
    pin = (f"server pinned to CPU {','.join(map(str, st['server_cpus']))}, load generator to "
           f"CPU(s) {','.join(map(str, st['client_cpus']))}" if st["server_cpus"]
           else "server and load generator NOT pinned apart (one CPU)")
    vrows = []
    for n in res["servers"]:
        v = res["validation"].get(n, {})
        after = v.get("after")
        vrows.append(f"| {WS_SERVERS[n].label} | "
                     + ("ok" if v.get("ok") else "**REFUSED**: " + "; ".join(v.get("problems", [])))
                     + " | " + ("—" if after is None else ("ok" if after["ok"] else "**failed**"))
                     + " |")
    ver = ", ".join(f"`{k}` {v}" for k, v in res.get("versions", {}).items())
    cmds = [f"{'taskset -c ' + ','.join(map(str, st['server_cpus'])) + ' ' if st['server_cpus'] else ''}"
            f".venv/bin/python benchmarks/servers/{WS_SERVERS[n].script} PORT"
            for n in res["servers"]]
    load = shlex.join(["build/bench/ws_load", "127.0.0.1", "PORT", str(st["connections"]),
                       f"{st['duration_s']:g}", str(st["message_bytes"]), "1"])
    if st["client_cpus"]:
        load = f"taskset -c {','.join(map(str, st['client_cpus']))} " + load
    lines = []
    if quick:
        lines.append("> **Smoke run**: 1-second runs; these figures only show that the harness "
                     "works.\n")
    lines += [
        f"{st['connections']} connections, each with one {st['message_bytes']}-byte text message "
        f"in flight (send, wait for the echo, send the next); messages/s are echoes received "
        f"per second, median of {st['repetitions']} run(s) of {st['duration_s']:g} s "
        f"(measured {res['generated'][:16].replace('T', ' ')}; {pin}). Server CPU is the "
        "server process's user+system time per echoed message.",
        "",
        "| server | msg/s median | min | max | × pymongoose | mean latency | p99 latency | "
        "server CPU µs/msg | server CPU % | load CPU % | other CPU % |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        *rows,
        "",
        *noisy_note(res),
        "Validation (raw socket, before and after the load: 101 with the right "
        "Sec-WebSocket-Accept, text/binary/UTF-8 echo, ping → pong, close → close):",
        "",
        "| server | before | after |",
        "|---|---|---|",
        *vrows,
        "",
        f"Versions: {ver}.",
        "",
        "```sh",
        "# servers",
        *cmds,
        "# load (benchmarks/ws_load.c, built into build/bench/ on first use)",
        load,
        "# or all of it:",
        ".venv/bin/python benchmarks/ws_bench.py",
        "```",
    ]
    return "\n".join(lines)


def noisy_note(res: dict) -> list[str]:
    """A warning when other processes used the machine during the runs."""
    vals = [r.get("other_cpu_util") for r in res.get("runs", []) if r.get("other_cpu_util")]
    if vals and max(vals) > 0.10:
        return [f"> **Noisy machine**: during these runs other processes used up to "
                f"{100 * max(vals):.0f} % of a core (*other CPU %*); a server below ~90 % "
                "*server CPU %* was waiting for a CPU or for the load generator, so compare "
                "*server CPU µs/msg* rather than msg/s, and re-run on a quiet machine.", ""]
    return []


def update_results_md(path: Path, md: str) -> None:
    harness.replace_section(path, MARK_BEGIN, MARK_END, "## WebSocket echo", md, anchors=("## Server validation",))


def load_results(outdir: Path) -> dict | None:
    return harness.load_json(outdir / JSON_NAME)


cpu_plan = harness.cpu_plan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--servers", default="all", help="subset of " + ",".join(WS_ORDER))
    ap.add_argument("--duration", type=float, default=5.0, help="counted seconds per run")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server")
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--size", type=int, default=64, help="message bytes (at most 65535)")
    ap.add_argument("--quick", action="store_true", help="1-second runs, 1 repetition")
    ap.add_argument("--output-dir", default=None,
                    help="where ws_results.json goes and whose RESULTS.md is updated "
                         "(default: benchmarks/, or benchmarks/quick/ with --quick)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.repetitions, args.warmup = 1.0, 1, 0.5
    if not (1 <= args.connections <= 10000) or not (0 <= args.size <= 65535):
        ap.error("--connections must be 1..10000 and --size 0..65535")
    outdir = Path(args.output_dir or (BENCH_DIR / "quick" if args.quick else BENCH_DIR)).resolve()
    names = parse_servers(args.servers)
    missing = [m for m in check_ws_servers(names).values() if m]
    lm = check_load_generator()
    if lm:
        missing.append(lm)
    if missing:
        log("Cannot run the WebSocket benchmark; missing prerequisite(s):\n")
        for m in missing:
            log(f"  - {m}\n")
        log("Nothing was installed; install the above and run again.")
        return 2
    server_cpus, client_cpus = cpu_plan()
    outdir.mkdir(parents=True, exist_ok=True)
    res = run_ws_scenario(names, duration=args.duration, repetitions=args.repetitions,
                          warmup=args.warmup, connections=args.connections, size=args.size,
                          server_cpus=server_cpus, client_cpus=client_cpus,
                          log_dir=outdir / "logs")
    res["quick"] = args.quick
    res["argv"] = ["benchmarks/ws_bench.py", *(argv if argv is not None else sys.argv[1:])]
    (outdir / JSON_NAME).write_text(json.dumps(res, indent=2, default=str) + "\n")
    update_results_md(outdir / "RESULTS.md", render_markdown(res, args.quick))
    log(f"wrote {outdir / JSON_NAME} and the WebSocket section of {outdir / 'RESULTS.md'}")
    ok = all(res["summary"][n].get("n") for n in names)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

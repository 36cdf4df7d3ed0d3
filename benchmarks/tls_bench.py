#!/usr/bin/env python3
"""HTTPS benchmark: pymongoose next to nginx, granian and FastAPI/uvicorn with TLS.

    .venv/bin/python benchmarks/tls_bench.py              # 3 x 10 s per (scenario, server), ~5 min
    .venv/bin/python benchmarks/tls_bench.py --quick      # 1-second smoke run
    .venv/bin/python benchmarks/run_benchmark.py --tls    # as part of the full comparison

The hello JSON servers of the plain comparison, each with its own TLS stack and the same
certificate and key: one EC P-256 self-signed certificate for 127.0.0.1/localhost that
`openssl req` generates into a temporary directory for the run (deleted afterwards; no key
is ever written into the repository). Protocol for all: TLS 1.3, TLS_AES_256_GCM_SHA384 (the
first suite of OpenSSL's default list, which wrk offers first), X25519 key exchange.

Two scenarios, with wrk pinned to the other CPU(s) than the server:

(1) keep-alive: `wrk -t1 -c50 https://127.0.0.1:PORT/` --- requests/s over 50 long-lived
    TLS connections (the handshakes happen once, at the start).
(2) handshakes: the same with `-H "Connection: close"`, so every request is a new TCP
    connection and a new TLS handshake; requests/s = handshakes/s. wrk would resume the
    previous connection's TLS session on every reconnect (and every server here issues
    session tickets), so wrk runs with the LD_PRELOAD shim benchmarks/wrk_noresume.c that
    drops the session first: every handshake is a full one (ECDHE + ECDSA signature) for
    every server. Before measuring, the runner checks on a test server that wrk with the
    shim resumes nothing.

Before any load each server is validated with Python's ssl client, verifying the chain
against the generated certificate: TLS 1.3, the expected cipher, the same certificate,
status 200, Content-Type application/json and the exact body on two paths over one
connection (keep-alive), and that after a `Connection: close` request the server closes the
connection (scenario 2 relies on it). A server that fails is refused. The check is repeated
after the measurements. CPU time per request (and per handshake) comes from /proc.

Results go to tls_results.json and to the section between `<!-- tls:begin -->` and
`<!-- tls:end -->` of RESULTS.md in the output directory.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import shlex
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import BENCH_DIR, REPO_ROOT, Missing, RunningServer, ServerSpec  # noqa: E402

JSON_NAME = "tls_results.json"
MARK_BEGIN, MARK_END = "<!-- tls:begin -->", "<!-- tls:end -->"
SECTION_TITLE = "## HTTPS (TLS 1.3)"
NGINX_TEMPLATE = harness.SERVERS_DIR / "nginx_tls.conf"
SHIM_SRC = BENCH_DIR / "wrk_noresume.c"
SHIM_LIB = REPO_ROOT / "build" / "bench" / "wrk_noresume.so"

EXPECTED_VERSION = "TLSv1.3"
EXPECTED_CIPHER = "TLS_AES_256_GCM_SHA384"
CERT_HOSTS = ("localhost", "127.0.0.1")

TLS_SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("pymongoose", "pymongoose", "python", "tls_pymongoose_server.py",
                   modules=("pymongoose",), dists=harness.SERVERS["pymongoose"].dists,
                   install=harness.SERVERS["pymongoose"].install,
                   description="https:// listener, listener.tls_init(TlsOpts(cert, key)) as "
                               "the children's defaults; Manager(poll_events=False), poll(100)"),
        ServerSpec("nginx", "nginx", "nginx", install=harness.SERVERS["nginx"].install,
                   description="1 worker, servers/nginx_tls.conf: TLSv1.3 only, "
                               "Ciphersuites pinned, session cache none + tickets (defaults)"),
        ServerSpec("granian", "granian (RSGI)", "python", "granian_server.py",
                   modules=("granian",), dists=("granian",),
                   install=harness.SERVERS["granian"].install,
                   description="the RSGI hello app with ssl_cert/ssl_key (rustls), 1 worker"),
        ServerSpec("uvicorn", "FastAPI/uvicorn", "python", "uvicorn_server.py",
                   modules=harness.SERVERS["uvicorn"].modules,
                   dists=harness.SERVERS["uvicorn"].dists,
                   install=harness.SERVERS["uvicorn"].install,
                   description="the FastAPI hello app with ssl_certfile/ssl_keyfile "
                               "(Python's ssl module), uvloop + httptools, 1 worker"),
    )
}
TLS_ORDER = ["pymongoose", "nginx", "granian", "uvicorn"]


@dataclass(frozen=True)
class TlsScenario:
    key: str
    title: str
    unit: str  # what one completed request is: "req" or "handshake"
    connections: int
    close: bool  # send "Connection: close": one TCP connection + TLS handshake per request


def make_scenarios(connections: int) -> list[TlsScenario]:
    return [
        TlsScenario("keepalive", f"keep-alive HTTPS, {connections} connections", "req",
                    connections, False),
        TlsScenario("handshake", f"a new TLS connection per request ({connections} "
                    "connections, full handshakes)", "handshake", connections, True),
    ]


# Targets for the report: (scenario, other server, factor, text). Ratio of req/s medians.
TARGETS = [
    ("keepalive", "nginx", 0.9, "keep-alive: pymongoose ≥ 0.9× nginx"),
    ("handshake", "nginx", 0.9, "handshakes: pymongoose ≥ 0.9× nginx"),
    ("keepalive", "uvicorn", 2.0, "keep-alive: pymongoose ≥ 2× FastAPI/uvicorn"),
    ("handshake", "uvicorn", 2.0, "handshakes: pymongoose ≥ 2× FastAPI/uvicorn"),
]


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------

def parse_servers(text: str | None) -> list[str]:
    if not text or text == "all":
        return list(TLS_ORDER)
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in TLS_SERVERS]
    if bad:
        raise SystemExit(f"unknown TLS server(s): {', '.join(bad)}; known: "
                         + ", ".join(TLS_ORDER))
    return list(dict.fromkeys(names))


def find_cc() -> str | None:
    import shutil

    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return shutil.which(cc)
    return None


def _shim_fresh() -> bool:
    return SHIM_LIB.exists() and SHIM_LIB.stat().st_mtime >= SHIM_SRC.stat().st_mtime


def check_tools() -> list[Missing]:
    """What the TLS scenarios need besides wrk and the servers."""
    out = []
    if not harness.find_binary("openssl"):
        out.append(Missing("openssl", "the openssl command generates the run's certificate",
                           "apt-get install -y openssl"))
    if not _shim_fresh() and find_cc() is None:
        out.append(Missing("C compiler", "needed once to build the wrk session shim "
                           "(benchmarks/wrk_noresume.c)", "apt-get install -y gcc"))
    return out


def check_tls_servers(names: list[str]) -> dict[str, Missing | None]:
    imports = harness.probe_imports(sorted({m for n in names for m in TLS_SERVERS[n].modules}))
    out: dict[str, Missing | None] = {}
    for n in names:
        spec = TLS_SERVERS[n]
        out[n] = None
        if spec.kind == "nginx":
            if not harness.find_binary("nginx"):
                out[n] = Missing("nginx (TLS)", "the nginx binary is not installed", spec.install)
            continue
        for m in spec.modules:
            if imports.get(m):
                out[n] = Missing(f"{n} (TLS)", f"cannot import '{m}' ({imports[m]})", spec.install)
                break
    return out


def build_shim() -> Path:
    """Compile wrk_noresume.c when the library is missing or older than the source."""
    if _shim_fresh():
        return SHIM_LIB
    cc = find_cc()
    if cc is None:
        raise RuntimeError("no C compiler found (apt-get install -y gcc)")
    SHIM_LIB.parent.mkdir(parents=True, exist_ok=True)
    tmp = SHIM_LIB.with_suffix(f".tmp{os.getpid()}.so")
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SHIM_SRC), "-ldl"],
                   check=True, capture_output=True, text=True, timeout=120)
    os.replace(tmp, SHIM_LIB)
    return SHIM_LIB


# --------------------------------------------------------------------------
# Certificate
# --------------------------------------------------------------------------

def cert_command(cert: Path | str, key: Path | str, days: int = 2) -> list[str]:
    san = ",".join(f"IP:{h}" if h[0].isdigit() else f"DNS:{h}" for h in CERT_HOSTS)
    return ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", str(days), "-subj", "/CN=localhost", "-addext", f"subjectAltName={san}"]


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A fresh EC P-256 self-signed certificate for 127.0.0.1/localhost: (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    cmd = cert_command(cert, key)
    cmd[0] = harness.find_binary("openssl") or "openssl"
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not cert.exists() or not key.exists():
        raise RuntimeError(f"openssl req failed: {(p.stderr or p.stdout).strip()[-500:]}")
    os.chmod(key, 0o600)
    return cert, key


def cert_der(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

def render_nginx_conf(port: int, tmpdir: Path, cert: Path | str, key: Path | str) -> Path:
    text = NGINX_TEMPLATE.read_text()
    for k, v in (("@PORT@", str(port)), ("@TMPDIR@", str(tmpdir)), ("@CERT@", str(cert)),
                 ("@KEY@", str(key))):
        text = text.replace(k, v)
    conf = tmpdir / "nginx.conf"
    conf.write_text(text)
    return conf


def server_command(name: str, port: int, cert: Path | str, key: Path | str,
                   tmpdir: Path | None = None) -> list[str]:
    spec = TLS_SERVERS[name]
    if spec.kind == "nginx":
        assert tmpdir is not None
        conf = render_nginx_conf(port, tmpdir, cert, key)
        return [harness.find_binary("nginx") or "nginx", "-p", str(tmpdir), "-c", str(conf),
                "-e", str(tmpdir / "error.log")]
    return [harness.PYTHON, str(harness.SERVERS_DIR / spec.script), str(port), str(cert),
            str(key)]


def display_command(name: str, prefix: str = "") -> str:
    pre = f"{prefix} " if prefix else ""
    if TLS_SERVERS[name].kind == "nginx":
        return ("d=$(mktemp -d); sed -e 's|@PORT@|PORT|g' -e \"s|@TMPDIR@|$d|g\" "
                "-e 's|@CERT@|'$PWD/cert.pem'|g' -e 's|@KEY@|'$PWD/key.pem'|g' "
                "benchmarks/servers/nginx_tls.conf > $d/nginx.conf; "
                f"{pre}nginx -p $d -c $d/nginx.conf -e $d/error.log")
    script = TLS_SERVERS[name].script
    return f"{pre}.venv/bin/python benchmarks/servers/{script} PORT cert.pem key.pem"


def start_tls_server(name: str, cert: Path, key: Path, *, cpus: set[int] | None = None,
                     log_dir: Path | None = None, ready_timeout: float = 30.0) -> RunningServer:
    """Start a TLS server in its own session, pinned to `cpus`, and wait until it accepts."""
    port = harness.free_port()
    tmp = tmpdir = None
    if TLS_SERVERS[name].kind == "nginx":
        tmp = tempfile.TemporaryDirectory(prefix="bench-nginx-tls-")
        tmpdir = Path(tmp.name)
    cmd = server_command(name, port, cert, key, tmpdir)
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="tls-bench-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"tls-{name}-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=str(harness.SERVERS_DIR), env=env,
                                start_new_session=True, preexec_fn=harness._affinity_preexec(cpus))
    srv = RunningServer(name, port, proc, cmd, log_path, cpus, tmp)
    try:
        harness.wait_for_port(port, ready_timeout, proc)
    except harness.ServerError as exc:
        srv.stop()
        raise harness.ServerError(f"{name}: {exc}\n{srv.log_tail()}") from None
    return srv


# --------------------------------------------------------------------------
# Validation (Python's ssl client, verifying against the run's certificate)
# --------------------------------------------------------------------------

def _request(path: str, port: int, close: bool = False) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "User-Agent: pymongoose-bench-validate\r\nAccept: */*\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n").encode()


def _wait_closed(sock: ssl.SSLSocket, buf: bytearray, deadline: float) -> bool:
    """True when the peer ends the connection (close_notify, FIN or reset) by the deadline."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False
        except (ssl.SSLError, OSError):
            return True
        if not chunk:
            return True
        buf.extend(chunk)
    return False


def probe_key_exchange(port: int, cafile: Path, timeout: float = 10.0) -> str:
    """The key exchange group the server picks for an OpenSSL client ("X25519"), or ""."""
    exe = harness.find_binary("openssl")
    if not exe:
        return ""
    try:
        p = subprocess.run([exe, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
                            str(cafile), "-brief"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for line in (p.stdout + p.stderr).splitlines():
        if line.startswith(("Server Temp Key:", "Negotiated TLS1.3 group:")):
            return line.split(":", 1)[1].split(",")[0].strip()
    return ""


def validate_tls_server(port: int, cafile: Path, timeout: float = 10.0) -> dict:
    """Check what both scenarios rely on; {"ok": bool, "problems": [...], ...details}."""
    problems: list[str] = []
    res: dict = {"ok": False, "problems": problems, "version": None, "cipher": None,
                 "same_cert": None, "keepalive": False, "closes": False,
                 "announces_close": False, "status": None, "key_exchange": ""}
    deadline = time.monotonic() + timeout
    ctx = ssl.create_default_context(cafile=str(cafile))  # chain and host name verified
    expected_der = cert_der(Path(cafile))

    def check(status: int, headers: dict, body: bytes, what: str) -> None:
        if status != 200:
            problems.append(f"{what}: status {status}, expected 200")
        ct = headers.get("content-type")
        if ct != harness.EXPECTED_CONTENT_TYPE:
            problems.append(f"{what}: Content-Type {ct!r}, expected "
                            f"{harness.EXPECTED_CONTENT_TYPE!r}")
        if body != harness.EXPECTED_BODY:
            problems.append(f"{what}: body {body[:100]!r}, expected {harness.EXPECTED_BODY!r}")

    def connect() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise

    try:
        # 1. The handshake, then two requests over one connection.
        try:
            s = connect()
        except ssl.SSLError as exc:
            problems.append(f"TLS handshake failed: {exc}")
            return res
        with s:
            res["version"], res["cipher"] = s.version(), s.cipher()[0]
            res["same_cert"] = s.getpeercert(binary_form=True) == expected_der
            if res["version"] != EXPECTED_VERSION:
                problems.append(f"negotiated {res['version']}, expected {EXPECTED_VERSION}")
            if res["cipher"] != EXPECTED_CIPHER:
                problems.append(f"negotiated cipher {res['cipher']}, expected {EXPECTED_CIPHER}")
            if not res["same_cert"]:
                problems.append("the server presented another certificate than the run's")
            buf = bytearray()
            s.sendall(_request("/", port))
            status, headers, body, _ = harness._read_response(s, buf, deadline)
            res["status"] = status
            check(status, headers, body, "GET /")
            if headers.get("connection", "").lower() != "close":
                try:
                    s.sendall(_request("/bench/any/path?x=1", port))
                    st, hd, bd, _ = harness._read_response(s, buf, deadline)
                    check(st, hd, bd, "GET /bench/any/path (same connection)")
                    res["keepalive"] = True
                except (OSError, harness.ServerError):
                    pass
            if not res["keepalive"]:
                problems.append("no keep-alive: the connection did not serve a second request")
        # 2. Connection: close must end the connection after the answer.
        with connect() as s:
            buf = bytearray()
            s.sendall(_request("/", port, close=True))
            status, headers, body, _ = harness._read_response(s, buf, deadline)
            check(status, headers, body, "GET / with Connection: close")
            res["announces_close"] = headers.get("connection", "").lower() == "close"
            res["closes"] = _wait_closed(s, buf, min(deadline, time.monotonic() + 5))
            if not res["closes"]:
                problems.append("the connection stayed open after a `Connection: close` request")
    except (OSError, harness.ServerError, ValueError, ssl.SSLError) as exc:
        problems.append(f"request failed: {type(exc).__name__}: {exc}")
    if not problems:
        res["key_exchange"] = probe_key_exchange(port, cafile)
    res["ok"] = not problems
    return res


# --------------------------------------------------------------------------
# wrk without session resumption: checked on a test server
# --------------------------------------------------------------------------

class HandshakeCounter:
    """A one-thread Python TLS server answering the hello with Connection: close and
    counting handshakes and resumed sessions (server side)."""

    def __init__(self, cert: Path, key: Path):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self.handshakes = self.resumed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n"
                 b"Connection: close\r\n\r\n" + harness.EXPECTED_BODY)
        while not self._stop.is_set():
            try:
                raw, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            raw.settimeout(2)
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as s:
                    self.handshakes += 1
                    self.resumed += bool(s.session_reused)
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    s.sendall(reply)
            except (OSError, ssl.SSLError):
                pass
            finally:
                raw.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.ls.close()


def check_full_handshakes(wrk: str, cert: Path, key: Path, shim: Path | None,
                          cpus: set[int] | None = None, duration: float = 0.5) -> dict:
    """Run wrk -c4 with Connection: close (and the shim) against HandshakeCounter."""
    srv = HandshakeCounter(cert, key)
    try:
        cmd = [wrk, "-t1", "-c4", f"-d{max(1, round(duration))}s", "--timeout=2s",
               "-H", "Connection: close", f"https://127.0.0.1:{srv.port}/"]
        env = {**os.environ, **({"LD_PRELOAD": str(shim)} if shim else {})}
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env,
                               preexec_fn=harness._affinity_preexec(cpus))
            out = p.stdout + p.stderr
        except subprocess.TimeoutExpired:
            out = "wrk did not finish"
    finally:
        srv.close()
    ok = srv.handshakes >= 10 and srv.resumed == 0
    return {"ok": ok, "handshakes": srv.handshakes, "resumed": srv.resumed,
            "shim": str(shim) if shim else None,
            "output": "" if ok else out.strip()[-500:]}


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------

def wrk_command(wrk: str, sc: TlsScenario, url: str, duration: float, threads: int,
                timeout_s: int) -> list[str]:
    threads = max(1, min(threads, sc.connections))
    cmd = [wrk, f"-t{threads}", f"-c{sc.connections}", f"-d{max(1, round(duration))}s",
           f"--timeout={timeout_s}s", "--latency"]
    if sc.close:
        cmd += ["-H", "Connection: close"]
    return cmd + ["-s", str(BENCH_DIR / "report.lua"), url]


def wrk_env(sc: TlsScenario, shim: Path | None) -> dict:
    return {"LD_PRELOAD": str(shim)} if sc.close and shim else {}


def display_wrk(sc: TlsScenario, duration: float, threads: int, timeout_s: int,
                cpus: set[int] | None) -> str:
    cmd = wrk_command("wrk", sc, "https://127.0.0.1:PORT/", duration, threads, timeout_s)
    cmd = [os.path.relpath(c, REPO_ROOT) if c.startswith(str(BENCH_DIR)) else c for c in cmd]
    pre = f"taskset -c {','.join(map(str, sorted(cpus)))} " if cpus else ""
    if sc.close:
        pre = f"LD_PRELOAD={os.path.relpath(SHIM_LIB, REPO_ROOT)} " + pre
    return pre + shlex.join(cmd)


def run_wrk(cmd: list[str], cpus: set[int] | None, duration: float, env: dict,
            raw_path: Path | None) -> tuple[dict | None, str, float]:
    """Run wrk; return (parsed BENCH_JSON or None, full output, wrk CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                           env={**os.environ, **env}, preexec_fn=harness._affinity_preexec(cpus))
        out, rc = p.stdout + ("\n" + p.stderr if p.stderr else ""), p.returncode
    except subprocess.TimeoutExpired as exc:
        out, rc = f"wrk did not finish within {duration + 60:.0f}s\n{exc.stdout or ''}", -1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if raw_path is not None:
        envs = " ".join(f"{k}={v}" for k, v in env.items())
        raw_path.write_text(f"$ {envs + ' ' if envs else ''}{shlex.join(cmd)}\n{out}")
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


def measure(srv: RunningServer, sc: TlsScenario, *, wrk: str, duration: float, threads: int,
            wrk_timeout: int, client_cpus: set[int] | None, shim: Path | None,
            raw_path: Path | None = None) -> dict:
    """One wrk run against a running TLS server, with its CPU accounting."""
    url = f"https://127.0.0.1:{srv.port}/"
    cmd = wrk_command(wrk, sc, url, duration, threads, wrk_timeout)
    env = wrk_env(sc, shim)
    rec: dict = {"server": srv.name, "scenario": sc.key, "command": shlex.join(cmd),
                 "env": env}
    if not srv.alive():
        rec["error"] = f"server had exited (code {srv.proc.returncode})"
        return rec
    sys0 = harness.system_cpu_ticks()
    cpu0 = harness.tree_cpu_ticks(srv.pid)
    t0 = time.monotonic()
    parsed, out, wrk_cpu = run_wrk(cmd, client_cpus, duration, env, raw_path)
    wall = time.monotonic() - t0
    cpu1 = harness.tree_cpu_ticks(srv.pid)
    sys1 = harness.system_cpu_ticks()
    if parsed is None:
        rec["error"] = "wrk failed: " + " ".join(out.strip().splitlines()[-3:])[:300]
        return rec
    rec.update(summarize_wrk(parsed, sc, server_cpu=(cpu1 - cpu0) / harness.CLK_TCK,
                             wrk_cpu=wrk_cpu, wall=wall,
                             other_ticks=sys1["tasks"] - sys0["tasks"]))
    rec["server_alive_after"] = srv.alive()
    if not srv.alive():
        rec["error"] = f"server exited during the run (code {srv.proc.returncode})"
    return rec


def summarize_wrk(parsed: dict, sc: TlsScenario, *, server_cpu: float, wrk_cpu: float,
                  wall: float, other_ticks: int) -> dict:
    """The record of one run from wrk's BENCH_JSON line and the CPU figures.

    In the handshake scenario a read error is counted apart ("eof_reconnects"): a server
    that closes the connection without `Connection: close` in its answer makes wrk send the
    next request into it, read the end of the connection, count a read error and reconnect,
    once per request. Connect errors (failed handshakes), write errors and timeouts stay
    errors in both scenarios.
    """
    dur_s = parsed["duration_us"] / 1e6
    reqs = parsed["requests"]
    errs = {k[len("errors_"):]: v for k, v in parsed.items() if k.startswith("errors_")}
    hard = errs["connect"] + errs["write"] + errs["timeout"]
    if sc.close:
        socket_errors, eof = hard, errs["read"]
    else:
        socket_errors, eof = hard + errs["read"], 0
    other = ((other_ticks / harness.CLK_TCK) - server_cpu - wrk_cpu) / wall if wall > 0 else 0
    return {
        "requests": reqs,
        "duration_s": dur_s,
        "rps": reqs / dur_s if dur_s > 0 else 0.0,
        "latency_mean_us": parsed["latency_mean_us"],
        "latency_p50_us": parsed["latency_p50_us"],
        "latency_p99_us": parsed["latency_p99_us"],
        "latency_max_us": parsed["latency_max_us"],
        "errors": {k: v for k, v in errs.items() if k != "status"},
        "socket_errors": socket_errors,
        "eof_reconnects": eof,
        "non_2xx": errs["status"],
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_req": (server_cpu / reqs * 1e6) if reqs else None,
        "server_cpu_util": server_cpu / dur_s if dur_s > 0 else None,
        "wrk_cpu_util": wrk_cpu / wall if wall > 0 else None,
        "other_cpu_util": max(0.0, other),
    }


def aggregate(runs: list[dict], names: list[str], scenarios: list[TlsScenario]) -> dict:
    out: dict = {}
    for sc in scenarios:
        out[sc.key] = {}
        for n in names:
            rs = [r for r in runs if r["server"] == n and r["scenario"] == sc.key
                  and "rps" in r and "error" not in r]
            errs = [r["error"] for r in runs if r["server"] == n and r["scenario"] == sc.key
                    and "error" in r]
            if not rs:
                out[sc.key][n] = {"n": 0, "errors": errs}
                continue

            def med(k: str):
                v = [r[k] for r in rs if r.get(k) is not None]
                return statistics.median(v) if v else None
            rps = [r["rps"] for r in rs]
            out[sc.key][n] = {
                "n": len(rs), "rps_median": statistics.median(rps), "rps_min": min(rps),
                "rps_max": max(rps), "latency_mean_us": med("latency_mean_us"),
                "latency_p99_us": med("latency_p99_us"),
                "server_cpu_us_per_req": med("server_cpu_us_per_req"),
                "server_cpu_util": med("server_cpu_util"), "wrk_cpu_util": med("wrk_cpu_util"),
                "other_cpu_util": med("other_cpu_util"),
                "socket_errors": sum(r["socket_errors"] for r in rs),
                "eof_reconnects": sum(r["eof_reconnects"] for r in rs),
                "non_2xx": sum(r["non_2xx"] for r in rs),
                "requests_total": sum(r["requests"] for r in rs), "errors": errs,
            }
    return out


def ratio(summary: dict, sc: str, a: str, b: str, key: str = "rps_median") -> float | None:
    x = summary.get(sc, {}).get(a, {}).get(key)
    y = summary.get(sc, {}).get(b, {}).get(key)
    return None if x is None or not y else x / y


def evaluate_targets(summary: dict) -> list[dict]:
    """Each target with the measured ratio, the server-CPU ratio beside it, and whether the
    run was client-bound (wrk ≥ 90 % of its core while pymongoose had CPU to spare)."""
    out = []
    for sc, other, factor, text in TARGETS:
        r = ratio(summary, sc, "pymongoose", other)
        p = summary.get(sc, {}).get("pymongoose", {})
        client_bound = bool(p.get("n") and (p.get("wrk_cpu_util") or 0) >= 0.9
                            and (p.get("server_cpu_util") or 0) < 0.9)
        out.append({"target": text, "scenario": sc, "other": other, "factor": factor,
                    "ratio": r, "met": None if r is None else r >= factor,
                    "cpu_ratio": ratio(summary, sc, other, "pymongoose", "server_cpu_us_per_req"),
                    "client_bound": client_bound,
                    "wrk_cpu_util": p.get("wrk_cpu_util"),
                    "server_cpu_util": p.get("server_cpu_util")})
    return out


def run_tls_scenario(names: list[str], *, wrk: str, duration: float, repetitions: int,
                     warmup: float, connections: int = 50, threads: int = 1,
                     wrk_timeout: int = 2, server_cpus: set[int] | None,
                     client_cpus: set[int] | None, log_dir: Path | None = None,
                     pause: float = 0.5) -> dict:
    """Certificate, start, validate, check wrk, warm up, measure (interleaved), stop."""
    scenarios = make_scenarios(connections)
    shim = build_shim()
    running: dict[str, RunningServer] = {}
    validation: dict[str, dict] = {}
    info: dict[str, dict] = {}
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-tls-cert-") as certdir:
        cert, key = make_cert(Path(certdir))
        resumption = check_full_handshakes(wrk, cert, key, shim, client_cpus)
        log(f"[tls] wrk with {os.path.relpath(shim, REPO_ROOT)}: {resumption['handshakes']} "
            f"handshakes, {resumption['resumed']} resumed")
        if not resumption["ok"]:
            log("[tls]   the handshake scenario is left out: wrk does not do full handshakes "
                f"with the shim ({resumption['output'][-200:]})")
            scenarios = [sc for sc in scenarios if not sc.close]
        try:
            for n in names:
                log(f"[tls] starting {n} ...")
                try:
                    srv = start_tls_server(n, cert, key, cpus=server_cpus, log_dir=log_dir,
                                           ready_timeout=60)
                except harness.ServerError as exc:
                    log(f"[tls]   could not start {n}: {exc}")
                    validation[n] = {"ok": False,
                                     "problems": [f"did not start: {str(exc)[:300]}"]}
                    info[n] = {"command": display_command(n), "clean_exit": None}
                    continue
                info[n] = {"command": display_command(n), "pid": srv.pid}
                v = validate_tls_server(srv.port, cert)
                validation[n] = v
                if not v["ok"]:
                    log(f"[tls]   REFUSED {n}: " + "; ".join(v["problems"]))
                    srv.stop()
                    info[n]["clean_exit"] = srv.clean_exit
                    continue
                log(f"[tls]   {n} ok on port {srv.port} ({v['version']}, {v['cipher']}, "
                    f"{v['key_exchange'] or '?'}; says Connection: close: "
                    f"{'yes' if v['announces_close'] else 'no'})")
                running[n] = srv
            active = [n for n in names if n in running]
            for n in active:
                log(f"[tls] warming up {n} ({warmup:g} s) ...")
                measure(running[n], scenarios[0], wrk=wrk, duration=warmup, threads=threads,
                        wrk_timeout=wrk_timeout, client_cpus=client_cpus, shim=shim)
            total = repetitions * len(scenarios) * len(active)
            k = 0
            for rep in range(repetitions):
                for si, sc in enumerate(scenarios):
                    shift = (rep * len(scenarios) + si) % max(1, len(active))
                    for n in active[shift:] + active[:shift]:
                        k += 1
                        time.sleep(pause)
                        raw = (log_dir / f"wrk-tls-{sc.key}-{n}-rep{rep + 1}.txt"
                               if log_dir else None)
                        rec = measure(running[n], sc, wrk=wrk, duration=duration,
                                      threads=threads, wrk_timeout=wrk_timeout,
                                      client_cpus=client_cpus, shim=shim, raw_path=raw)
                        rec["repetition"] = rep + 1
                        runs.append(rec)
                        if "error" in rec:
                            log(f"[tls] [{k}/{total}] {sc.key} rep {rep + 1} {n}: "
                                f"ERROR {rec['error']}")
                            continue
                        cpu = rec["server_cpu_us_per_req"]
                        log(f"[tls] [{k}/{total}] {sc.key:<9} rep {rep + 1} {n:<10} "
                            f"{rec['rps']:>10,.0f} {sc.unit}/s  p99 "
                            f"{rec['latency_p99_us'] / 1000:7.2f} ms  server CPU "
                            f"{'—' if cpu is None else f'{cpu:.1f}'} µs/{sc.unit} "
                            f"({100 * (rec['server_cpu_util'] or 0):.0f} %)  "
                            f"wrk {100 * (rec['wrk_cpu_util'] or 0):.0f} %  "
                            f"other {100 * rec['other_cpu_util']:.0f} %  errors "
                            f"{rec['socket_errors']}/{rec['non_2xx']}"
                            + (f"  EOF reconnects {rec['eof_reconnects']}" if sc.close else ""))
            for n in active:
                validation[n]["after"] = (validate_tls_server(running[n].port, cert)
                                          if running[n].alive()
                                          else {"ok": False, "problems": ["server had exited"]})
        finally:
            for n, srv in running.items():
                srv.stop()
                info[n]["clean_exit"] = srv.clean_exit
                info[n]["exit_code"] = srv.exit_code
    all_scenarios = make_scenarios(connections)
    summary = aggregate(runs, names, all_scenarios)
    return {
        "generated": _dt.datetime.now().astimezone().isoformat(),
        "settings": {"connections": connections, "duration_s": duration,
                     "repetitions": repetitions, "warmup_s": warmup, "threads": threads,
                     "wrk_timeout_s": wrk_timeout, "server_cpus": sorted(server_cpus or []),
                     "client_cpus": sorted(client_cpus or []),
                     "certificate": "EC P-256 (prime256v1), self-signed, SAN "
                                    + ", ".join(CERT_HOSTS) + "; generated for the run",
                     "protocol": f"{EXPECTED_VERSION}, {EXPECTED_CIPHER}"},
        "scenarios": [sc.__dict__ for sc in all_scenarios],
        "measured_scenarios": [sc.key for sc in scenarios],
        "servers": names,
        "resumption_check": resumption,
        "validation": validation,
        "info": info,
        "runs": runs,
        "summary": summary,
        "targets": evaluate_targets(summary),
        "versions": {**harness.package_versions(
            [d for n in names for d in TLS_SERVERS[n].dists]),
            "openssl": harness._cmd_version([harness.find_binary("openssl") or "openssl",
                                             "version"]),
            "nginx": harness._cmd_version([harness.find_binary("nginx") or "nginx", "-v"])
            if "nginx" in names else "—",
            "wrk": harness._cmd_version([wrk, "-v"])},
    }


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def _fmt(x: float | None, spec: str = ",.0f", unit: str = "") -> str:
    return "—" if x is None else f"{x:{spec}}{unit}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def _ms(us: float | None) -> str:
    return "—" if us is None else (f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs")


def scenario_table(res: dict, sc: dict) -> str:
    summ = res["summary"].get(sc["key"], {})
    unit = sc["unit"]
    base = summ.get("pymongoose", {})
    header = ["server", "req/s median" if unit == "req" else f"{unit}s/s median", "min", "max",
              "× pymongoose", "mean latency", "p99 latency", f"server CPU µs/{unit}",
              "CPU × pymongoose", "server CPU %", "wrk CPU %", "other CPU %", "socket errors"]
    if sc["close"]:
        header.append("EOF reconnects")
    header.append("non-2xx")
    rows = []
    for n in res["servers"]:
        s = summ.get(n, {})
        label = f"**{TLS_SERVERS[n].label}**" if n == "pymongoose" else TLS_SERVERS[n].label
        if not s.get("n"):
            v = res["validation"].get(n, {})
            why = "; ".join((v.get("problems") if not v.get("ok") else None)
                            or sorted(set(s.get("errors") or [])) or ["not run"])
            if sc["key"] not in res.get("measured_scenarios", [sc["key"]]):
                why = "not measured (see the resumption check below)"
            rows.append([label, why] + [""] * (len(header) - 2))
            continue
        r = s["rps_median"]
        cpu_ratio = None
        if base.get("server_cpu_us_per_req") and s.get("server_cpu_us_per_req") is not None:
            cpu_ratio = s["server_cpu_us_per_req"] / base["server_cpu_us_per_req"]
        row = [label, _fmt(r), _fmt(s["rps_min"]), _fmt(s["rps_max"]),
               "—" if not base.get("rps_median") else f"{r / base['rps_median']:.2f}×",
               _ms(s["latency_mean_us"]), _ms(s["latency_p99_us"]),
               _fmt(s["server_cpu_us_per_req"], ".1f"),
               "—" if cpu_ratio is None else f"{cpu_ratio:.2f}×",
               _pct(s["server_cpu_util"]), _pct(s["wrk_cpu_util"]), _pct(s["other_cpu_util"]),
               _fmt(s["socket_errors"])]
        if sc["close"]:
            row.append(_fmt(s["eof_reconnects"]))
        row.append(_fmt(s["non_2xx"]))
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "|".join(["--:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def targets_table(res: dict) -> str:
    rows = ["| target | measured | status | server CPU/request: other ÷ pymongoose | note |",
            "|---|--:|---|--:|---|"]
    for t in res.get("targets") or evaluate_targets(res["summary"]):
        note = ""
        if t.get("client_bound"):
            note = (f"client-bound: wrk at {_pct(t['wrk_cpu_util'])} % of its core, pymongoose "
                    f"at {_pct(t['server_cpu_util'])} %")
        rows.append(f"| {t['target']} | "
                    + ("not measured" if t["ratio"] is None else f"{t['ratio']:.2f}×") + " | "
                    + ("—" if t["met"] is None else ("met" if t["met"] else "**not met**"))
                    + " | " + ("—" if t.get("cpu_ratio") is None else f"{t['cpu_ratio']:.2f}×")
                    + f" | {note} |")
    return "\n".join(rows)


def validation_table(res: dict) -> str:
    rows = ["| server | validation | TLS | cipher | key exchange | same certificate | "
            "keep-alive | closes on `Connection: close` | says `Connection: close` | "
            "after the run | clean SIGTERM exit |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    yn = {True: "yes", False: "no", None: "—"}
    for n in res["servers"]:
        v = res["validation"].get(n, {})
        after = v.get("after")
        rows.append("| " + " | ".join([
            TLS_SERVERS[n].label,
            "ok" if v.get("ok") else "**REFUSED**: " + "; ".join(v.get("problems", [])),
            v.get("version") or "—", v.get("cipher") or "—", v.get("key_exchange") or "—",
            yn[v.get("same_cert")], yn[v.get("keepalive")] if v.get("version") else "—",
            yn[v.get("closes")] if v.get("version") else "—",
            yn[v.get("announces_close")] if v.get("version") else "—",
            "—" if after is None else ("ok" if after["ok"] else "**failed**: "
                                        + "; ".join(after["problems"])),
            yn[res.get("info", {}).get(n, {}).get("clean_exit")],
        ]) + " |")
    return "\n".join(rows)


def render_markdown(res: dict | None, quick: bool = False) -> str:
    if not res:
        return ("Not measured yet. Run `.venv/bin/python benchmarks/tls_bench.py` (about 5 "
                "minutes) or `benchmarks/run_benchmark.py --tls`.")
    st = res["settings"]
    pin = (f"server pinned to CPU {','.join(map(str, st['server_cpus']))}, wrk to CPU(s) "
           f"{','.join(map(str, st['client_cpus']))}" if st["server_cpus"]
           else "server and wrk NOT pinned apart (one CPU)")
    rc = res.get("resumption_check") or {}
    scs = res["scenarios"]
    lines = []
    if quick:
        lines.append("> **Smoke run**: 1-second runs; these figures only show that the harness "
                     "works.\n")
    lines += [
        "The hello JSON servers over HTTPS, each with its own TLS stack and the same "
        f"certificate: {st['certificate']}. Protocol for all: {st['protocol']}, checked on "
        "every server before the load (nginx pins both; the others negotiate them with "
        "OpenSSL's default client preferences, which wrk uses too). "
        f"Medians of {st['repetitions']} run(s) of {st['duration_s']:g} s per (scenario, "
        f"server), interleaved, after a {st['warmup_s']:g}-s keep-alive warm-up per server "
        f"(measured {res['generated'][:16].replace('T', ' ')}; {pin}). Server CPU is the "
        "user+system time of the server's process tree from /proc.",
        "",
    ]
    for sc in scs:
        if sc["close"]:
            lines += [
                f"### {sc['title'][0].upper()}{sc['title'][1:]}",
                "",
                f"`wrk -c{sc['connections']} -H \"Connection: close\"`: every request opens a "
                "TCP connection and does a full TLS 1.3 handshake (X25519 + ECDSA P-256 "
                "signature), so handshakes/s = requests/s. wrk would resume the previous "
                "session on each reconnect (every server issues session tickets by default); "
                "it runs with the `benchmarks/wrk_noresume.c` preload, which drops the session "
                f"first. Checked before the load: {rc.get('handshakes', '?')} handshakes from "
                f"wrk with it, {rc.get('resumed', '?')} resumed"
                + ("." if rc.get("ok") else " — **the check failed, so this scenario was not "
                   "measured**.")
                + " wrk's client side of a full handshake costs about as much CPU as the "
                "server's, so with one wrk core the fastest servers are client-bound here: "
                "compare *server CPU µs/handshake*, and *server CPU %* to see who had spare "
                "CPU. *EOF reconnects* are wrk read errors counted when a server closes "
                "without saying `Connection: close` in its answer (wrk then writes the next "
                "request into the closing connection, reads its end, and reconnects); they "
                "are not failed requests.",
                "",
            ]
        else:
            lines += [
                f"### {sc['title'][0].upper()}{sc['title'][1:]}",
                "",
                f"`wrk -c{sc['connections']}`, one request per round trip on long-lived TLS "
                "connections.",
                "",
            ]
        lines += [scenario_table(res, sc), ""]
    lines += [*noisy_note(res), "Targets (ratios of the req/s medians; the server-CPU ratio "
              "beside them is how many times more CPU per request the other server used):", "",
              targets_table(res), "",
              "Validation (Python's ssl client verifying against the run's certificate; "
              "before and after the load): TLS version and cipher, the same certificate, "
              "status 200, `Content-Type: application/json` and the exact body on `/` and "
              "another path over one connection, and the connection closed after a "
              "`Connection: close` request. Key exchange from `openssl s_client`.", "",
              validation_table(res), ""]
    ver = ", ".join(f"`{k}` {v}" for k, v in res.get("versions", {}).items())
    lines += [f"Versions: {ver}.", ""]
    spin = f"taskset -c {','.join(map(str, st['server_cpus']))}" if st["server_cpus"] else ""
    cpus = set(st["client_cpus"]) or None
    cmds = ["# certificate and key (into a temporary directory; deleted after the run)",
            shlex.join(cert_command("cert.pem", "key.pem")), "# servers"]
    cmds += [display_command(n, spin) for n in res["servers"]]
    cmds += ["# load", "cc -O2 -shared -fPIC -o build/bench/wrk_noresume.so "
             "benchmarks/wrk_noresume.c -ldl"]
    for sc in scs:
        tsc = TlsScenario(sc["key"], sc["title"], sc["unit"], sc["connections"], sc["close"])
        cmds.append(display_wrk(tsc, st["duration_s"], st["threads"], st["wrk_timeout_s"], cpus))
    cmds += ["# or all of it:", ".venv/bin/python benchmarks/tls_bench.py"]
    lines += ["```sh", *cmds, "```"]
    return "\n".join(lines)


def noisy_note(res: dict) -> list[str]:
    vals = [r.get("other_cpu_util") for r in res.get("runs", []) if r.get("other_cpu_util")]
    if vals and max(vals) > 0.10:
        return [f"> **Noisy machine**: during these runs other processes used up to "
                f"{100 * max(vals):.0f} % of a core (*other CPU %*); compare *server CPU µs* "
                "rather than rates, and re-run on a quiet machine.", ""]
    return []


def console_summary(res: dict) -> str:
    lines = []
    for sc in res["scenarios"]:
        for n in res["servers"]:
            s = res["summary"].get(sc["key"], {}).get(n, {})
            if s.get("n"):
                lines.append(f"  {sc['key']:<9} {n:<10} {s['rps_median']:>10,.0f} "
                             f"{sc['unit']}/s  server CPU "
                             f"{_fmt(s['server_cpu_us_per_req'], '.1f')} µs/{sc['unit']}")
            else:
                lines.append(f"  {sc['key']:<9} {n:<10} not measured")
    for t in res.get("targets", []):
        lines.append(f"  target {t['target']}: "
                     + ("not measured" if t["ratio"] is None else
                        f"{t['ratio']:.2f}× ({'met' if t['met'] else 'NOT MET'})")
                     + ("" if t.get("cpu_ratio") is None else
                        f"; the other uses {t['cpu_ratio']:.2f}× pymongoose's CPU per request")
                     + ("; client-bound" if t.get("client_bound") else ""))
    return "\n".join(lines)


def update_results_md(path: Path, md: str) -> None:
    harness.replace_section(path, MARK_BEGIN, MARK_END, SECTION_TITLE, md,
                            anchors=("## Idle keep-alive connections", "## Server validation"))


def load_results(outdir: Path) -> dict | None:
    return harness.load_json(outdir / JSON_NAME)


cpu_plan = harness.cpu_plan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--servers", default="all", help="subset of " + ",".join(TLS_ORDER))
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3, help="warm-up seconds per server")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="wrk threads (0 = one per client CPU)")
    ap.add_argument("--wrk-timeout", type=int, default=2, help="wrk --timeout, seconds")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of rest between runs")
    ap.add_argument("--quick", action="store_true", help="1-second runs, 1 repetition")
    ap.add_argument("--output-dir", default=None,
                    help="where tls_results.json goes and whose RESULTS.md is updated "
                         "(default: benchmarks/, or benchmarks/quick/ with --quick)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.repetitions, args.warmup, args.pause = 1, 1, 1, 0.2
    for name in ("duration", "repetitions", "connections"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    outdir = Path(args.output_dir or (BENCH_DIR / "quick" if args.quick else BENCH_DIR)).resolve()
    names = parse_servers(args.servers)
    wrk = harness.find_binary("wrk")
    missing = [] if wrk else [Missing("wrk", "the wrk load generator is not installed",
                                      "apt-get install -y wrk   (Debian/Ubuntu)")]
    missing += check_tools() + [m for m in check_tls_servers(names).values() if m]
    if missing:
        log("Cannot run the TLS benchmark; missing prerequisite(s):\n")
        for m in missing:
            log(f"  - {m}\n")
        log("Nothing was installed; install the above and run again.")
        return 2
    server_cpus, client_cpus = cpu_plan()
    threads = args.threads if args.threads > 0 else (len(client_cpus) if client_cpus else 1)
    outdir.mkdir(parents=True, exist_ok=True)
    res = run_tls_scenario(names, wrk=wrk, duration=args.duration, repetitions=args.repetitions,
                           warmup=args.warmup, connections=args.connections, threads=threads,
                           wrk_timeout=args.wrk_timeout, server_cpus=server_cpus,
                           client_cpus=client_cpus, log_dir=outdir / "logs", pause=args.pause)
    res["quick"] = args.quick
    res["argv"] = ["benchmarks/tls_bench.py", *(argv if argv is not None else sys.argv[1:])]
    (outdir / JSON_NAME).write_text(json.dumps(res, indent=2, default=str) + "\n")
    update_results_md(outdir / "RESULTS.md", render_markdown(res, args.quick))
    log(console_summary(res))
    log(f"wrote {outdir / JSON_NAME} and the TLS section of {outdir / 'RESULTS.md'}")
    return 0 if all_measured(res) else 1


def all_measured(res: dict) -> bool:
    return all(res["summary"].get(k, {}).get(n, {}).get("n")
               for k in res["measured_scenarios"] for n in res["servers"]) and \
        len(res["measured_scenarios"]) == len(res["scenarios"])


if __name__ == "__main__":
    sys.exit(main())

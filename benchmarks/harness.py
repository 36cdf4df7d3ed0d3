"""Shared plumbing of the benchmark harness (no third-party imports).

Everything that more than one script needs lives here: the registry of peer
servers, prerequisite checks, starting/stopping a server, waiting for it to
accept connections, validating its answer, and per-process-tree CPU
accounting from /proc.

Used by run_benchmark.py, callgrind_ipr.py, test_direct.py,
simple_load_test.py and tests/python/test_benchmark_harness.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SERVERS_DIR = BENCH_DIR / "servers"
REPO_ROOT = BENCH_DIR.parent

EXPECTED_BODY = b'{"message":"Hello, World!"}'
EXPECTED_CONTENT_TYPE = "application/json"

# Python used to run the Python servers: the interpreter running the harness
# (normally the project's venv, where pymongoose and the peers are installed).
PYTHON = sys.executable


def _venv_pip() -> str:
    """The pip command a user should run for this interpreter."""
    exe = Path(PYTHON)
    try:
        rel = exe.relative_to(REPO_ROOT)
        return f"{rel.parent}/pip" if rel.parent.name == "bin" else f"{rel} -m pip"
    except ValueError:
        return f"{exe} -m pip"


@dataclass(frozen=True)
class ServerSpec:
    """How to run one peer server and what it needs."""

    name: str
    label: str
    kind: str  # "python" or "nginx"
    script: str | None = None  # file in servers/ for kind == "python"
    modules: tuple[str, ...] = ()  # importable modules it needs
    dists: tuple[str, ...] = ()  # distributions whose versions we record
    install: str = ""  # the command that installs what is missing
    description: str = ""


def _req_hint() -> str:
    return f"{_venv_pip()} install -r benchmarks/requirements.txt"


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec(
            "pymongoose", "pymongoose", "python", "pymongoose_server.py",
            modules=("pymongoose",), dists=("pymongoose-cpp",),
            install=(f"{_venv_pip()} install -e .   (from the repository root; builds the C++ "
                     "engine" + ("; or scripts/setup.sh --bench, which also installs the peers)"
                                 if (REPO_ROOT / "scripts" / "setup.sh").exists() else ")")),
            description="Manager + poll(100) loop, Python handler calling conn.reply()",
        ),
        ServerSpec(
            "cymongoose", "cymongoose", "python", "cymongoose_server.py",
            modules=("cymongoose",), dists=("cymongoose",),
            install=f"{_venv_pip()} install cymongoose   (or: {_req_hint()})",
            description="the same program on cymongoose (Mongoose C library + Cython)",
        ),
        ServerSpec(
            "granian", "granian (RSGI)", "python", "granian_server.py",
            modules=("granian",), dists=("granian",),
            install=f"{_venv_pip()} install granian   (or: {_req_hint()})",
            description="bare RSGI app, 1 worker (Rust HTTP stack)",
        ),
        ServerSpec(
            "aiohttp", "aiohttp", "python", "aiohttp_server.py",
            modules=("aiohttp",), dists=("aiohttp",),
            install=f"{_venv_pip()} install aiohttp   (or: {_req_hint()})",
            description="aiohttp.web, default asyncio loop",
        ),
        ServerSpec(
            "uvicorn", "FastAPI/uvicorn", "python", "uvicorn_server.py",
            modules=("fastapi", "uvicorn", "uvloop", "httptools"),
            dists=("fastapi", "starlette", "uvicorn", "uvloop", "httptools"),
            install=f"{_venv_pip()} install fastapi 'uvicorn[standard]'   (or: {_req_hint()})",
            description="FastAPI on uvicorn, uvloop + httptools, 1 worker",
        ),
        ServerSpec(
            "flask", "Flask (dev server)", "python", "flask_server.py",
            modules=("flask",), dists=("flask", "werkzeug"),
            install=f"{_venv_pip()} install flask   (or: {_req_hint()})",
            description="app.run(threaded=True), werkzeug development server",
        ),
        ServerSpec(
            "nginx", "nginx", "nginx",
            install="apt-get install -y nginx   (Debian; or your OS package manager)",
            description="1 worker, return 200 (native ceiling)",
        ),
    )
}

DEFAULT_ORDER = ["pymongoose", "nginx", "cymongoose", "granian", "aiohttp", "uvicorn", "flask"]


def parse_server_list(text: str | None) -> list[str]:
    """'a,b' -> ['a', 'b'], validated against the registry.  None/'all' -> all."""
    if not text or text.strip() == "all":
        return list(DEFAULT_ORDER)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        raise SystemExit(
            f"unknown server(s): {', '.join(unknown)}; known: {', '.join(DEFAULT_ORDER)}")
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------

def find_binary(name: str) -> str | None:
    """shutil.which, also looking in the sbin directories (nginx lives there)."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        cand = Path(d) / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return None


_IMPORT_PROBE = r"""
import importlib, json, sys
out = {}
for mod in sys.argv[1:]:
    try:
        importlib.import_module(mod)
        out[mod] = None
    except BaseException as exc:  # report anything, including SystemExit
        out[mod] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


def probe_imports(modules: list[str], python: str = PYTHON) -> dict[str, str | None]:
    """Import each module in a fresh interpreter; None = importable, else the error.

    A fresh process is used so a half-built extension or a module with import
    side effects cannot disturb the harness itself.
    """
    if not modules:
        return {}
    proc = subprocess.run([python, "-c", _IMPORT_PROBE, *modules],
                          capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir())
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        err = (proc.stderr or proc.stdout).strip()[-500:]
        return {m: f"import probe failed: {err}" for m in modules}


@dataclass
class Missing:
    what: str
    reason: str
    install: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}\n    install with: {self.install}"


def check_servers(names: list[str]) -> dict[str, Missing | None]:
    """For each server name: None if it can run here, else what is missing."""
    mods = sorted({m for n in names for m in SERVERS[n].modules})
    imports = probe_imports(mods)
    result: dict[str, Missing | None] = {}
    for n in names:
        spec = SERVERS[n]
        miss: Missing | None = None
        if spec.kind == "nginx":
            if not find_binary("nginx"):
                miss = Missing("nginx", "the nginx binary is not installed", spec.install)
        else:
            for m in spec.modules:
                if imports.get(m):
                    reason = f"cannot import '{m}' in {PYTHON} ({imports[m]})"
                    if n == "pymongoose":
                        reason = ("pymongoose is not importable yet from this Python "
                                  f"({imports[m]}); its engine must be built and installed first")
                    miss = Missing(n, reason, spec.install)
                    break
        result[n] = miss
    return result


def package_versions(dists: list[str]) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for d in dists:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = "not installed"
    return out


# --------------------------------------------------------------------------
# Ports, readiness, processes
# --------------------------------------------------------------------------

def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None,
                  host: str = "127.0.0.1") -> None:
    """Poll connect() until the port accepts, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"server exited with code {proc.returncode} before accepting connections")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise ServerError(f"nothing accepted connections on {host}:{port} within {timeout:.0f}s")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


class ServerError(RuntimeError):
    pass


def _affinity_preexec(cpus: set[int] | None):
    if not cpus:
        return None

    def _set() -> None:
        os.sched_setaffinity(0, cpus)

    return _set


def render_nginx_conf(port: int, tmpdir: Path) -> Path:
    text = (SERVERS_DIR / "nginx.conf").read_text()
    text = text.replace("@PORT@", str(port)).replace("@TMPDIR@", str(tmpdir))
    conf = tmpdir / "nginx.conf"
    conf.write_text(text)
    return conf


@dataclass
class RunningServer:
    name: str
    port: int
    proc: subprocess.Popen
    command: list[str]
    log_path: Path
    cpus: set[int] | None
    tmpdir: tempfile.TemporaryDirectory | None = None
    exit_code: int | None = None
    clean_exit: bool | None = None
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait; SIGKILL the server's own process group if it hangs."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
                self.clean_exit = True
            except subprocess.TimeoutExpired:
                self.clean_exit = False
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # the group we created
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self.exit_code = self.proc.returncode
        if self.clean_exit is None:
            self.clean_exit = False  # it had already died on its own
        if self.tmpdir is not None:
            self.tmpdir.cleanup()
            self.tmpdir = None
        return self.exit_code


def server_command(name: str, port: int, tmpdir: Path | None = None) -> list[str]:
    spec = SERVERS[name]
    if spec.kind == "nginx":
        assert tmpdir is not None
        conf = render_nginx_conf(port, tmpdir)
        return [find_binary("nginx") or "nginx", "-p", str(tmpdir), "-c", str(conf),
                "-e", str(tmpdir / "error.log")]
    return [PYTHON, str(SERVERS_DIR / spec.script), str(port)]


def display_command(name: str, port: str | int = "PORT", prefix: str = "") -> str:
    """The command as a human would type it from the repository root."""
    spec = SERVERS[name]
    pre = f"{prefix} " if prefix else ""
    if spec.kind == "nginx":
        return ("d=$(mktemp -d); sed -e 's|@PORT@|%s|g' -e \"s|@TMPDIR@|$d|g\" "
                "benchmarks/servers/nginx.conf > $d/nginx.conf; "
                "%snginx -p $d -c $d/nginx.conf -e $d/error.log" % (port, pre))
    return f"{pre}.venv/bin/python benchmarks/servers/{spec.script} {port}"


def start_server(name: str, port: int | None = None, *, cpus: set[int] | None = None,
                 log_dir: Path | None = None, ready_timeout: float = 30.0,
                 wrapper: list[str] | None = None, env: dict | None = None) -> RunningServer:
    """Start a server in its own session, pinned to `cpus`, and wait until it accepts."""
    port = port or free_port()
    tmp = None
    tmpdir = None
    if SERVERS[name].kind == "nginx":
        tmp = tempfile.TemporaryDirectory(prefix="bench-nginx-")
        tmpdir = Path(tmp.name)
    cmd = server_command(name, port, tmpdir)
    if wrapper:
        cmd = [*wrapper, *cmd]
    if log_dir is None:
        log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{port}.log"
    run_env = dict(os.environ)
    run_env.setdefault("PYTHONUNBUFFERED", "1")
    if env:
        run_env.update(env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(SERVERS_DIR), env=run_env, start_new_session=True,
                                preexec_fn=_affinity_preexec(cpus))
    srv = RunningServer(name, port, proc, cmd, log_path, cpus, tmp)
    try:
        wait_for_port(port, ready_timeout, proc)
    except ServerError as exc:
        srv.stop()
        raise ServerError(f"{name}: {exc}\n--- server output ---\n{srv.log_tail()}") from None
    return srv


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def _read_response(sock: socket.socket, buf: bytearray, deadline: float) -> tuple[int, dict, bytes, bytes]:
    """Read one HTTP/1.1 response with Content-Length from sock (buf keeps leftovers).

    Returns (status, headers lower-cased, body, raw head).
    """
    def fill() -> bool:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf.extend(chunk)
        return True

    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline or not fill():
            raise ServerError("connection closed or timed out before a complete response head")
    head_end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:head_end])
    del buf[: head_end + 4]
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ServerError(f"malformed status line {lines[0]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    if "content-length" not in headers:
        raise ServerError("response has no Content-Length")
    length = int(headers["content-length"])
    while len(buf) < length:
        if time.monotonic() > deadline or not fill():
            raise ServerError("connection closed before the full body arrived")
    body = bytes(buf[:length])
    del buf[:length]
    return status, headers, body, head


@dataclass
class Validation:
    ok: bool
    problems: list[str]
    status: int | None = None
    content_type: str | None = None
    body: bytes | None = None
    keepalive: bool = False
    pipelining: bool = False
    server_header: str = ""
    response_bytes: int = 0

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "problems": self.problems, "status": self.status,
            "content_type": self.content_type,
            "body": self.body.decode("latin-1") if self.body is not None else None,
            "keepalive": self.keepalive, "pipelining": self.pipelining,
            "server_header": self.server_header, "response_bytes": self.response_bytes,
        }


def _request(path: str, port: int) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "User-Agent: pymongoose-bench-validate\r\nAccept: */*\r\n\r\n").encode()


def validate_server(port: int, timeout: float = 10.0) -> Validation:
    """Check the answer a benchmark relies on.

    Required (a failure refuses the server): status 200, Content-Type exactly
    application/json, body exactly {"message":"Hello, World!"}, for "/" and for
    another path.  Recorded (decides which scenarios are meaningful): whether
    the connection stays open for a second request (keep-alive) and whether two
    requests written at once get two in-order responses (pipelining).
    """
    problems: list[str] = []
    v = Validation(ok=False, problems=problems)
    deadline = time.monotonic() + timeout

    def check(status: int, headers: dict, body: bytes, what: str) -> None:
        if status != 200:
            problems.append(f"{what}: status {status}, expected 200")
        ct = headers.get("content-type")
        if ct != EXPECTED_CONTENT_TYPE:
            problems.append(f"{what}: Content-Type {ct!r}, expected {EXPECTED_CONTENT_TYPE!r}")
        if body != EXPECTED_BODY:
            problems.append(f"{what}: body {body[:100]!r}, expected {EXPECTED_BODY!r}")

    try:
        # 1. One request on "/", then (if kept open) a second one on another path.
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            buf = bytearray()
            s.sendall(_request("/", port))
            status, headers, body, head = _read_response(s, buf, deadline)
            v.status, v.content_type, v.body = status, headers.get("content-type"), body
            v.server_header = headers.get("server", "")
            v.response_bytes = len(head) + 4 + len(body)
            check(status, headers, body, "GET /")
            closing = headers.get("connection", "").lower() == "close"
            if not closing:
                try:
                    s.sendall(_request("/bench/any/path?x=1", port))
                    status2, headers2, body2, _ = _read_response(s, buf, deadline)
                    check(status2, headers2, body2, "GET /bench/any/path (same connection)")
                    v.keepalive = True
                except (OSError, ServerError):
                    v.keepalive = False
        if not v.keepalive:
            # Still require the other path to answer the same on a fresh connection.
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                buf = bytearray()
                s.sendall(_request("/bench/any/path?x=1", port))
                status2, headers2, body2, _ = _read_response(s, buf, deadline)
                check(status2, headers2, body2, "GET /bench/any/path")
        # 2. Pipelining: three requests in one write.
        if v.keepalive:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                    buf = bytearray()
                    s.sendall(_request("/", port) * 3)
                    for i in range(3):
                        st, hd, bd, _ = _read_response(s, buf, deadline)
                        check(st, hd, bd, f"pipelined request {i + 1}/3")
                    v.pipelining = True
            except (OSError, ServerError):
                v.pipelining = False
    except (OSError, ServerError, ValueError) as exc:
        problems.append(f"request failed: {exc}")
    v.ok = not problems
    return v


# --------------------------------------------------------------------------
# CPU accounting (/proc)
# --------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime+stime, cutime+cstime) in clock ticks, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after
    # the last ')'.
    rest = data[data.rindex(b")") + 2:].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    ppid = int(rest[1])
    utime, stime, cutime, cstime = (int(x) for x in rest[11:15])
    return ppid, utime + stime, cutime + cstime


def _descendants(root: int) -> list[int]:
    """root and every live descendant, found by scanning /proc for parent links."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        st = _read_stat(int(entry.name))
        if st is not None:
            children.setdefault(st[0], []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_cpu_ticks(root: int) -> int:
    """CPU time (user + system, clock ticks) of a process tree.

    A process's utime/stime already include all of its threads.  Live
    descendants are added one by one; children that have exited and been
    reaped are counted through the root's cutime/cstime (and, recursively,
    each live descendant's).
    """
    total = 0
    for pid in _descendants(root):
        st = _read_stat(pid)
        if st is None:
            continue
        total += st[1] + st[2]
    return total


def system_cpu_ticks() -> dict[str, int]:
    """Machine-wide CPU time from the first line of /proc/stat, in clock ticks.

    'tasks' is user + nice + system (time spent running processes, guests
    included in user); 'steal' is time the hypervisor gave to someone else.
    """
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]] + [0] * 10
    user, nice, system, idle, iowait, irq, softirq, steal = vals[:8]
    return {"tasks": user + nice + system, "irq": irq + softirq, "steal": steal,
            "idle": idle + iowait, "total": sum(vals[:8])}


# --------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------

def _cmd_version(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (p.stdout + p.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def machine_info() -> dict:
    import platform

    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    virt = ""
    try:
        virt = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True,
                              timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    commit = ""
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if commit and dirty:
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.TimeoutExpired):
        pass
    wrk = find_binary("wrk")
    nginx = find_binary("nginx")
    valgrind = find_binary("valgrind")
    return {
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "cpus_available": sorted(os.sched_getaffinity(0)),
        "memory": mem,
        "kernel": platform.release(),
        "os": os_name,
        "virtualization": virt or "none detected",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": PYTHON,
        "wrk": _cmd_version([wrk, "-v"]) if wrk else "not installed",
        "nginx": _cmd_version([nginx, "-v"]) if nginx else "not installed",
        "valgrind": _cmd_version([valgrind, "--version"]) if valgrind else "not installed",
        "git_commit": commit or "unknown",
        "hostname": platform.node(),
    }


def all_dists() -> list[str]:
    out = []
    for spec in SERVERS.values():
        for d in spec.dists:
            if d not in out:
                out.append(d)
    return out + ["matplotlib"]


# ---------------------------------------------------------------------------------------
# Shared by the scenario modules (ws_bench, tls_bench, mqtt_bench)


def replace_section(path: Path, begin: str, end: str, title: str, md: str,
                    anchors: tuple[str, ...] = ("## Server validation",)) -> None:
    """Put `md` between the `begin`/`end` markers of RESULTS.md at `path`: in place when the
    markers exist, else as a new `title` section before the first anchor found (or at the end)."""
    section = f"{begin}\n{md}\n{end}"
    if path.exists():
        text = path.read_text()
        if begin in text and end in text:
            a = text.index(begin)
            b = text.index(end) + len(end)
            text = text[:a] + section + text[b:]
        else:
            block = f"{title}\n\n{section}\n\n"
            anchor = next((a for a in anchors if a in text), None)
            text = (text.replace(anchor, block + anchor, 1) if anchor
                    else text.rstrip("\n") + "\n\n" + block)
    else:
        text = f"# pymongoose benchmark results\n\n{title}\n\n{section}\n"
    path.write_text(text)


def load_json(path: Path) -> dict | None:
    """A results file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cpu_plan() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, load-generator CPUs): the first CPU and the rest; (None, None) on one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        return {cpus[0]}, set(cpus[1:])
    return None, None

"""`pymongoose serve` (src/pymongoose/cli.py, server.py, middleware.py) as users run it:
the command in a subprocess, real sockets, signals and exit codes.

Every server binds port 0 or a Unix socket in a temporary directory; readiness is the
"Listening on ..." line on stderr; every wait and subprocess has a timeout.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
REPO = HERE.parent.parent
TIMEOUT = 15.0


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Served:
    """`python -m pymongoose serve ...` in a subprocess; stderr is collected line by line."""

    def __init__(self, *args: str, cwd: Path = PROGRAMS, env: dict[str, str] | None = None,
                 pass_fds: tuple[int, ...] = ()) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pymongoose", "serve", *args], cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=env or _env(), pass_fds=pass_fds)
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                m = rx.search(line)
                if m:
                    return m
            seen = len(self.lines)
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self._new.empty() and not self._reader.is_alive()):
                raise AssertionError(f"no line matching {pattern!r}; stderr:\n" + "\n".join(self.lines))
            try:
                self._new.get(timeout=min(left, 0.2))
            except queue.Empty:
                pass

    def ready(self) -> "Served":
        m = self.wait_for(r"Listening on (\S+)")
        self.url = m.group(1)
        pm = re.search(r":(\d+)$", self.url)
        self.port = int(pm.group(1)) if pm else 0
        return self

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("server did not stop; stderr:\n" + "\n".join(self.lines)) from None
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture
def serve():
    started: list[Served] = []

    def start(*args: str, **kw) -> Served:
        s = Served(*args, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            # a test that failed half-way: the supervisor's workers go with it
            s.proc.send_signal(signal.SIGTERM)
            try:
                s.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                s.kill()


def get(port: int, path: str = "/", headers: dict[str, str] | None = None, host: str = "127.0.0.1") -> tuple[int, dict]:
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if resp.getheader("content-type") == "application/json" else {"raw": body}
    finally:
        conn.close()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self.unix_path)
        self.sock = sock


# -- arguments and errors ----------------------------------------------------------------


def test_help_documents_every_flag():
    out = subprocess.run([sys.executable, "-m", "pymongoose", "serve", "--help"], capture_output=True, text=True,
                         timeout=TIMEOUT, env=_env())
    assert out.returncode == 0
    for flag in ("--interface", "--host", "--port", "--uds", "--fd", "--workers", "--threads", "--backlog",
                 "--limit-concurrency", "--timeout-keep-alive", "--timeout-graceful-shutdown", "--root-path",
                 "--proxy-headers", "--forwarded-allow-ips", "--access-log", "--log-level", "--log-config",
                 "--reload", "--ssl-certfile", "--ssl-keyfile", "--ssl-ca-certs"):
        assert flag in out.stdout, flag


@pytest.mark.parametrize("args, code, message", [
    (["serve_apps:asgi_app", "--port", "99999"], 2, "must be 0-65535"),
    (["serve_apps:asgi_app", "--workers", "many"], 2, "expected a number or 'auto'"),
    (["serve_apps:asgi_app", "--uds", "/tmp/x.sock", "--fd", "3"], 2, "at most one of --uds and --fd"),
    (["serve_apps:asgi_app", "--ssl-certfile", __file__], 2, "go together"),
    (["no_such_module:app", "--port", "0"], 3, "could not import module 'no_such_module'"),
    (["serve_apps:missing", "--port", "0"], 3, "attribute 'missing' not found in module 'serve_apps'"),
    (["serve_apps:not_an_app", "--port", "0"], 3, "is not callable"),
    (["serve_apps", "--port", "0"], 3, "'module:attribute'"),
    (["serve_apps:asgi_app", "--port", "0", "--forwarded-allow-ips", "nonsense", "--proxy-headers"], 1,
     "'nonsense' is not an IP address"),
])
def test_bad_arguments_and_apps_are_one_line_and_non_zero(args, code, message):
    out = subprocess.run([sys.executable, "-m", "pymongoose", "serve", *args], capture_output=True, text=True,
                         timeout=TIMEOUT, cwd=PROGRAMS, env=_env())
    assert out.returncode == code, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) == 1, out.stderr


def test_app_that_raises_on_import_is_one_line():
    out = subprocess.run([sys.executable, "-m", "pymongoose", "serve", "serve_apps:asgi_app", "--port", "0"],
                         capture_output=True, text=True, timeout=TIMEOUT, cwd=PROGRAMS,
                         env=_env(SERVE_APPS_CRASH_ON_IMPORT="1"))
    assert out.returncode == 3
    assert "RuntimeError: configuration missing" in out.stderr and "serve_apps.py, line" in out.stderr
    assert "Traceback" not in out.stderr


def test_port_in_use_is_one_line(serve):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for workers in ("1", "2"):
            out = subprocess.run([sys.executable, "-m", "pymongoose", "serve", "serve_apps:asgi_app", "--port",
                                  str(port), "--workers", workers], capture_output=True, text=True, timeout=TIMEOUT,
                                 cwd=PROGRAMS, env=_env())
            assert out.returncode == 1, out.stderr
            assert str(port) in out.stderr and "Traceback" not in out.stderr


# -- one worker ------------------------------------------------------------------------------


@pytest.mark.parametrize("app, interface", [("serve_apps:asgi_app", "asgi"), ("serve_apps:wsgi_app", "wsgi"),
                                            ("serve_apps:asgi_factory", "asgi")])
def test_serves_and_stops_gracefully(serve, app, interface):
    extra = ["--factory"] if "factory" in app else []
    s = serve(app, "--port", "0", *extra).ready()
    status, info = get(s.port, "/hello")
    assert status == 200 and info["path"] == "/hello" and info["pid"] == s.proc.pid
    assert info["scheme"] == "http" and info["client"][0] == "127.0.0.1"
    assert s.stop() == 0


def test_interface_flag_overrides_detection(serve):
    s = serve("serve_apps:wsgi_app", "--port", "0", "--interface", "wsgi", "--threads", "2").ready()
    assert get(s.port)[0] == 200
    assert s.stop(signal.SIGINT) == 0


def test_python_api_serve_with_config(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(PROGRAMS)!r})\n"
        "import pymongoose\n"
        "from pymongoose.server import Config\n"
        "import serve_apps\n"
        "sys.exit(pymongoose.serve(config=Config(app=serve_apps.asgi_app, port=0, access_log=True)))\n")
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True, env=_env())
    try:
        line = ""
        assert proc.stderr is not None
        while "Listening on" not in line:
            line = proc.stderr.readline()
            assert line, "exited before listening"
        port = int(re.search(r":(\d+) ", line).group(1))
        assert get(port, "/api")[1]["path"] == "/api"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
        assert '"GET /api HTTP/1.1" 200' in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


# -- listeners: Unix socket, inherited descriptor, TLS --------------------------------------


def test_unix_socket(serve, tmp_path):
    path = str(tmp_path / "app.sock")
    s = serve("serve_apps:asgi_app", "--uds", path).ready()
    assert s.url == f"http+unix://{path}"
    conn = UnixHTTPConnection(path)
    conn.request("GET", "/uds")
    resp = conn.getresponse()
    info = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and info["path"] == "/uds"
    assert s.stop() == 0


def test_inherited_descriptor(serve):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    port = lsock.getsockname()[1]
    fd = lsock.fileno()
    try:
        s = serve("serve_apps:wsgi_app", "--fd", str(fd), pass_fds=(fd,)).ready()
        lsock.close()  # the server owns its copy now
        assert get(port, "/fd")[1]["path"] == "/fd"
        assert s.stop() == 0
    finally:
        lsock.close()


def test_tls_flags(serve, tmp_path):
    trustme = pytest.importorskip("trustme")
    import ssl

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    s = serve("serve_apps:asgi_app", "--port", "0", "--ssl-certfile", str(tmp_path / "cert.pem"),
              "--ssl-keyfile", str(tmp_path / "key.pem")).ready()
    assert s.url.startswith("https://")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=TIMEOUT)
    conn.request("GET", "/tls")
    info = json.loads(conn.getresponse().read())
    conn.close()
    assert info["scheme"] == "https"
    assert s.stop() == 0


# -- proxy headers and access log -----------------------------------------------------------


def test_proxy_headers_from_trusted_peer_only(serve):
    s = serve("serve_apps:asgi_app", "--port", "0", "--proxy-headers").ready()
    _, info = get(s.port, "/", {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https",
                                "X-Forwarded-Host": "example.com"})
    assert info["client"][0] == "203.0.113.7" and info["scheme"] == "https" and info["host"] == "example.com"
    _, info = get(s.port, "/", {"Forwarded": 'for="[2001:db8::1]:4711";proto=https;host=api.example.com'})
    assert info["client"] == ["2001:db8::1", 4711] and info["host"] == "api.example.com"
    s.stop()
    # 127.0.0.1 no longer trusted: the headers are ignored
    s = serve("serve_apps:wsgi_app", "--port", "0", "--proxy-headers", "--forwarded-allow-ips", "10.0.0.0/8").ready()
    _, info = get(s.port, "/", {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert info["client"][0] == "127.0.0.1" and info["scheme"] == "http"
    assert s.stop() == 0


def test_proxy_headers_off_by_default(serve):
    s = serve("serve_apps:wsgi_app", "--port", "0").ready()
    _, info = get(s.port, "/", {"X-Forwarded-For": "203.0.113.7"})
    assert info["client"][0] == "127.0.0.1"
    assert s.stop() == 0


@pytest.mark.parametrize("app", ["serve_apps:asgi_app", "serve_apps:wsgi_app"])
def test_access_log(serve, app):
    s = serve(app, "--port", "0", "--access-log").ready()
    get(s.port, "/logged?x=1")
    m = s.wait_for(r'127\.0\.0\.1(:\d+)? - "GET /logged\?x=1 HTTP/1\.1" 200')
    assert m
    assert s.stop() == 0
    quiet = serve(app, "--port", "0").ready()
    get(quiet.port, "/not-logged")
    assert quiet.stop() == 0
    assert not any("/not-logged" in line for line in quiet.lines)


# -- workers and the supervisor ---------------------------------------------------------------


def _pids_seen(port: int, want: int, tries: int = 200) -> set[int]:
    pids: set[int] = set()
    for _ in range(tries):
        pids.add(get(port)[1]["pid"])
        if len(pids) >= want:
            break
    return pids


def test_workers_share_the_port_and_a_dead_worker_is_replaced(serve):
    s = serve("serve_apps:asgi_app", "--port", "0", "--workers", "2").ready()
    assert "2 workers" in s.lines[-1] or any("2 workers" in line for line in s.lines)
    pids = _pids_seen(s.port, 2)
    assert len(pids) == 2 and s.proc.pid not in pids
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    s.wait_for(rf"Worker {victim} was killed by SIGKILL; restarting it")
    s.wait_for(r"Started worker (\d+)")
    # the replacement serves; nothing else changed
    deadline = time.monotonic() + TIMEOUT
    while True:
        now = _pids_seen(s.port, 2)
        if victim not in now and len(now) == 2:
            break
        assert time.monotonic() < deadline, now
    assert s.stop() == 0


def test_sighup_reloads_every_worker_without_refusing_connections(serve):
    s = serve("serve_apps:asgi_app", "--port", "0", "--workers", "2").ready()
    old = _pids_seen(s.port, 2)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                get(s.port)
                answered[0] += 1
            except OSError as e:
                failures.append(repr(e))

    t = threading.Thread(target=hammer)
    t.start()
    try:
        s.send(signal.SIGHUP)
        s.wait_for(r"Reloaded: 2 new workers serving")
        for pid in old:
            s.wait_for(rf"Worker {pid} stopped \(exited with code 0\)")
    finally:
        stop.set()
        t.join(timeout=TIMEOUT)
    new = _pids_seen(s.port, 2)
    assert not (new & old) and len(new) == 2
    assert failures == [] and answered[0] > 0
    assert s.stop() == 0


def test_workers_on_a_unix_socket(serve, tmp_path):
    path = str(tmp_path / "w.sock")
    s = serve("serve_apps:wsgi_app", "--uds", path, "--workers", "2").ready()
    pids = set()
    for _ in range(200):
        conn = UnixHTTPConnection(path)
        conn.request("GET", "/")
        pids.add(json.loads(conn.getresponse().read())["pid"])
        conn.close()
        if len(pids) == 2:
            break
    assert len(pids) == 2
    assert s.stop() == 0
    assert not os.path.exists(path)


def test_serve_handler_with_workers(tmp_path):
    script = tmp_path / "raw.py"
    script.write_text(
        "import os, sys\n"
        "import pymongoose as mg\n"
        "def factory():\n"
        "    def handler(conn, ev, data):\n"
        "        if ev == mg.MG_EV_HTTP_MSG:\n"
        "            conn.reply(200, str(os.getpid()))\n"
        "    return handler\n"
        "sys.exit(mg.serve_handler(factory, 'http://127.0.0.1:0', workers=2))\n")
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True, env=_env())
    try:
        assert proc.stderr is not None
        line = ""
        while "Listening on" not in line:
            line = proc.stderr.readline()
            assert line, "exited before listening"
        port = int(re.search(r":(\d+) ", line).group(1))
        pids = set()
        for _ in range(200):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            conn.request("GET", "/")
            pids.add(conn.getresponse().read())
            conn.close()
            if len(pids) == 2:
                break
        assert len(pids) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


# -- reload -----------------------------------------------------------------------------------


def test_reload_on_change_survives_an_app_that_fails_to_import(serve, tmp_path):
    pytest.importorskip("watchfiles")
    app = tmp_path / "live.py"
    app.write_text("from serve_apps import wsgi_app as _w\n"
                   "def app(environ, start_response):\n"
                   "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                   "    return [b'one']\n")
    s = serve("live:app", "--port", "0", "--reload", "--reload-dir", str(tmp_path), cwd=tmp_path,
              env=_env(PYTHONPATH=str(PROGRAMS))).ready()
    assert get(s.port)[1]["raw"] == b"one"
    app.write_text("def app(environ, start_response):\n    syntax error here\n")
    s.wait_for(r"Reload failed")
    try:
        assert get(s.port)[1]["raw"] == b"one"  # the running worker kept serving
    except OSError as e:
        raise AssertionError(f"{e!r}; stderr:\n" + "\n".join(s.lines)) from None
    stopped_before = sum(1 for line in s.lines if re.search(r"Worker \d+ stopped", line))
    app.write_text("def app(environ, start_response):\n"
                   "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                   "    return [b'two']\n")
    s.wait_for(r"Reloaded: 1 new worker serving")
    # The old worker serves what it accepted until it has drained and stopped.
    deadline = time.monotonic() + TIMEOUT
    while sum(1 for line in s.lines if re.search(r"Worker \d+ stopped", line)) <= stopped_before:
        assert time.monotonic() < deadline, "the old worker did not stop"
        time.sleep(0.01)
    assert get(s.port)[1]["raw"] == b"two"
    assert s.stop() == 0


# -- graceful drain under load ------------------------------------------------------------------


class CountingClient:
    """Keep-alive clients sending requests until the server refuses connections; every
    request's outcome is recorded.

    A request that fails on a *reused* keep-alive connection before any byte of a response
    arrived is retried once on a new connection, as HTTP clients do for idempotent
    requests (RFC 9112 §9.3.1): the server may close an idle connection while a request is
    on its way. Outcomes: ``ok`` (full response), ``refused`` (refused at connect: the
    server stopped listening), ``lost`` (anything else)."""

    def __init__(self, port: int, path: str, clients: int) -> None:
        self.port = port
        self.path = path
        self.counts = {"ok": 0, "refused": 0, "lost": 0, "retried": 0}
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _count(self, what: str, error: str = "") -> None:
        with self.lock:
            self.counts[what] += 1
            if error:
                self.errors.append(error)

    def _one(self, conn: http.client.HTTPConnection) -> tuple[str, bool]:
        reused = conn.sock is not None
        try:
            if conn.sock is None:
                conn.connect()
        except ConnectionRefusedError:
            return "refused", False
        try:
            conn.request("GET", self.path)
            resp = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
            conn.close()
            return ("retry" if reused else "lost:" + repr(e)), False
        try:
            body = resp.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            return "lost:" + repr(e), False
        if resp.status != 200 or not body:
            conn.close()
            return f"lost:status {resp.status}", False
        if resp.will_close:
            conn.close()
        return "ok", True

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        while True:
            outcome, _ = self._one(conn)
            if outcome == "retry":
                self._count("retried")
                outcome, _ = self._one(conn)
                if outcome == "retry":
                    outcome = "lost:failed twice"
            if outcome.startswith("lost"):
                self._count("lost", outcome)
            else:
                self._count(outcome)
            if outcome == "refused" or outcome.startswith("lost"):
                conn.close()
                if outcome == "refused":
                    return
        # not reached

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=TIMEOUT * 2)
            assert not t.is_alive()


@pytest.mark.parametrize("app, workers", [("serve_apps:asgi_app", "1"), ("serve_apps:wsgi_app", "2")])
def test_sigterm_under_load_loses_no_request(serve, app, workers):
    s = serve(app, "--port", "0", "--workers", workers, "--timeout-graceful-shutdown", "10").ready()
    client = CountingClient(s.port, "/slow?0.02", clients=8)
    client.start()
    deadline = time.monotonic() + TIMEOUT
    while client.counts["ok"] < 100:
        assert time.monotonic() < deadline and not client.counts["lost"], (client.counts, client.errors)
        time.sleep(0.01)
    code = s.stop(signal.SIGTERM)
    client.join()
    assert code == 0
    assert client.counts["lost"] == 0, (client.counts, client.errors[:5])
    assert client.counts["ok"] >= 100 and client.counts["refused"] == 8


# -- behind nginx ---------------------------------------------------------------------------------

NGINX = "/usr/sbin/nginx"

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{
        server {upstream};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
        location /stream {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")
@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_behind_nginx(serve, tmp_path, over):
    import tempfile

    # nginx's workers run as another user: the socket lives in a directory they can enter
    shared = tempfile.mkdtemp(prefix="mg-serve-")
    os.chmod(shared, 0o755)
    sock_path = os.path.join(shared, "app.sock")
    args = ["--uds", sock_path] if over == "unix" else ["--port", "0"]
    s = serve("serve_apps:asgi_app", *args, "--proxy-headers", "--access-log").ready()
    upstream = f"unix:{sock_path}" if over == "unix" else f"127.0.0.1:{s.port}"
    port = _free_port()
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp_path, upstream=upstream, port=port))
    nginx = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert nginx.poll() is None and time.monotonic() < deadline, nginx.stderr.read() if nginx.stderr else ""
                time.sleep(0.02)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        clients = set()
        for _ in range(5):
            conn.request("GET", "/via-nginx", headers={"Host": "shop.example"})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, (body, (tmp_path / "error.log").read_text(), s.lines)
            info = json.loads(body)
            # nginx's peer is trusted: the client, scheme and host nginx saw
            assert info["client"][0] == "127.0.0.1" and info["scheme"] == "https"
            assert info["host"] == "shop.example"
            clients.add(tuple(info["client"]))
        conn.request("GET", "/stream")
        resp = conn.getresponse()
        assert resp.read() == b"".join(b"part%d\n" % i for i in range(5))
        conn.close()
        # keep-alive upstream: the access log shows the requests on few backend connections
        logged = [line for line in s.lines if '"GET /via-nginx HTTP/1.1" 200' in line]
        assert len(logged) == 5
        if over == "tcp":
            peers = {re.search(r"127\.0\.0\.1:(\d+) - ", line) for line in logged}
            assert peers  # client port is nginx's: X-Forwarded-For carries no port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    assert s.stop() == 0
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    os.rmdir(shared)

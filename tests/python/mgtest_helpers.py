# SPDX-License-Identifier: MIT
"""Shared helpers for the pymongoose pytest suite.

The implementation under test is ``pymongoose`` unless the environment variable
``PYMONGOOSE_TEST_IMPL`` names another module with the same API (for example
``cymongoose``, the reference implementation, used to validate the harness itself).

Everything here is client-side plumbing: raw sockets with timeouts, an HTTP/1.1
response reader that understands Content-Length, chunked framing and bodiless
responses, an event recorder for handlers, and a ``Server`` that runs a Manager's
``poll()`` loop on a background thread.  Nothing here sleeps to wait for a server:
waits are on sockets (with timeouts), events or conditions, always with a deadline.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

IMPL = os.environ.get("PYMONGOOSE_TEST_IMPL", "pymongoose")
mg = importlib.import_module(IMPL)
# pymongoose_asan: the same package built with ASan/UBSan (scripts/test.sh).
IS_REFERENCE = IMPL not in ("pymongoose", "pymongoose_asan")

HOST = "127.0.0.1"
SOCK_TIMEOUT = 5.0
WAIT = 3.0  # default deadline for waiting on an observable condition

EV_NAMES = {
    getattr(mg, n): n
    for n in dir(mg)
    if n.startswith("MG_EV_") and isinstance(getattr(mg, n), int)
}


def ev_name(ev: int) -> str:
    return EV_NAMES.get(ev, f"EV({ev})")


# --------------------------------------------------------------------------------------
# Raw sockets and HTTP responses
# --------------------------------------------------------------------------------------


def connect(port: int, host: str = HOST, timeout: float = SOCK_TIMEOUT) -> socket.socket:
    """A client socket with a timeout and TCP_NODELAY (so separate sends stay separate)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if family == socket.AF_INET:
        s = socket.create_connection((host, port), timeout=timeout)
    else:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes  # raw status line + header lines, including the final CRLFCRLF

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_names(self) -> list[str]:
        return [k for k, _ in self.headers]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class PeerClosed(Exception):
    """The server closed the connection before a complete response arrived."""


class HttpReader:
    """Buffered reader over a client socket: reads responses one after another, so
    pipelined responses are split exactly at their framing boundaries."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise PeerClosed(f"peer closed; buffered={self.buf[:200]!r}")
        self.buf += data

    def read_until(self, marker: bytes, limit: int = 16 * 1024 * 1024) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("response head too large")
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self) -> bytes:
        chunks = [self.buf]
        self.buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def read_head(self) -> tuple[str, int, str, list[tuple[str, str]], bytes]:
        head = self.read_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        assert len(parts) >= 2 and parts[0].startswith("HTTP/"), f"bad status line {status_line!r}"
        version, code = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.decode("utf-8", "surrogateescape").partition(":")
            assert sep, f"bad header line {line!r}"
            headers.append((name, value.strip(" \t")))
        return version, code, reason, headers, head

    def read_response(self, method: str = "GET") -> Response:
        """Read one complete response. ``method="HEAD"`` means: no body expected."""
        version, code, reason, headers, head = self.read_head()
        resp = Response(version, code, reason, headers, b"", head)
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if method.upper() == "HEAD" or 100 <= code < 200 or code in (204, 304):
            return resp
        if "chunked" in te:
            body = b""
            while True:
                size_line = self.read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until an empty line
                    while self.read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self.read_exact(size)
                assert self.read_exact(2) == b"\r\n", "bad chunk terminator"
            resp.body = body
        elif cl is not None:
            resp.body = self.read_exact(int(cl.strip()))
        else:
            resp.body = self.read_to_eof()
        return resp

    def wait_closed(self, timeout: float = WAIT) -> bool:
        """True if the peer closes (EOF or reset) within ``timeout``; extra bytes are
        appended to ``self.buf``. False if the connection is still open afterwards."""
        deadline = time.monotonic() + timeout
        old = self.sock.gettimeout()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    return False
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not data:
                    return True
                self.buf += data
        finally:
            self.sock.settimeout(old)

    def nothing_within(self, seconds: float) -> bool:
        """True if no byte arrives and the peer does not close within ``seconds``."""
        old = self.sock.gettimeout()
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return False
        finally:
            self.sock.settimeout(old)
        self.buf += data
        return False


def http_request(port: int, raw: bytes, method: str = "GET", host: str = HOST) -> Response:
    """One-shot: connect, send ``raw``, read one response, close."""
    with connect(port, host) as s:
        s.sendall(raw)
        return HttpReader(s).read_response(method)


def get(port: int, path: str = "/", headers: dict | None = None, method: str = "GET",
        body: bytes = b"", version: str = "HTTP/1.1") -> Response:
    lines = [f"{method} {path} {version}", f"Host: {HOST}:{port}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    return http_request(port, raw, method)


def req(path: str = "/", method: str = "GET", headers: Iterable[tuple[str, str]] | dict = (),
        body: bytes = b"", version: str = "HTTP/1.1", host: bool = True) -> bytes:
    """Build raw request bytes (Host header included unless host=False)."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    lines = [f"{method} {path} {version}"]
    if host:
        lines.append("Host: test")
    lines += [f"{k}: {v}" for k, v in headers]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (this one by default), from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def wait_until(pred: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll a cheap client-side predicate until true (short fixed-step waits only on our
    own state, never on the server's timing)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


# --------------------------------------------------------------------------------------
# Event recording
# --------------------------------------------------------------------------------------


@dataclass
class Ev:
    conn: Any
    conn_id: int
    ev: int
    data: Any  # snapshot: dict for HttpMessage, str/bytes/None otherwise
    thread: str = ""

    @property
    def name(self) -> str:
        return ev_name(self.ev)


def snapshot_msg(msg: Any) -> dict:
    return {
        "method": msg.method,
        "uri": msg.uri,
        "query": msg.query,
        "proto": msg.proto,
        "body": msg.body_bytes,
        "headers": list(msg.headers()),
    }


class Recorder:
    """A handler that records every event (POLL excluded by default), then calls
    ``inner(conn, ev, data)``. Thread-safe; tests wait on it with deadlines."""

    def __init__(self, inner: Callable | None = None, skip: Iterable[int] = (),
                 keep_poll: bool = False):
        self.inner = inner
        self.skip = set(skip) | (set() if keep_poll else {mg.MG_EV_POLL})
        self.events: list[Ev] = []
        self.cond = threading.Condition()

    def __call__(self, conn, ev, data):
        if ev not in self.skip:
            if isinstance(data, mg.HttpMessage):
                snap = snapshot_msg(data)
            else:
                snap = data
            with self.cond:
                self.events.append(Ev(conn, conn.id, ev, snap, threading.current_thread().name))
                self.cond.notify_all()
        if self.inner is not None:
            self.inner(conn, ev, data)

    def wait_for(self, pred: Callable[[list[Ev]], Any], timeout: float = WAIT,
                 what: str = "event") -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(self.events)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [(e.conn_id, e.name) for e in self.events]
                    raise AssertionError(f"timed out waiting for {what}; events={names}")
                self.cond.wait(left)

    def wait_ev(self, ev: int, count: int = 1, conn_id: int | None = None,
                timeout: float = WAIT) -> list[Ev]:
        def pred(evs):
            got = [e for e in evs if e.ev == ev and (conn_id is None or e.conn_id == conn_id)]
            return got if len(got) >= count else None
        return self.wait_for(pred, timeout, f"{count}x {ev_name(ev)}")

    def of(self, ev: int, conn_id: int | None = None) -> list[Ev]:
        with self.cond:
            return [e for e in self.events if e.ev == ev and (conn_id is None or e.conn_id == conn_id)]

    def seq(self, conn_id: int | None = None) -> list[str]:
        with self.cond:
            return [e.name for e in self.events if conn_id is None or e.conn_id == conn_id]

    def children(self) -> list[int]:
        """Ids of accepted connections, in accept order."""
        return [e.conn_id for e in self.of(mg.MG_EV_ACCEPT)]


# --------------------------------------------------------------------------------------
# A Manager polled on a background thread
# --------------------------------------------------------------------------------------


class Server:
    """Manager + HTTP listener on 127.0.0.1:0, polled with ``poll(poll_ms)`` on a daemon
    thread. ``call(fn)`` runs ``fn`` on the polling thread between two ``poll()`` calls
    (safe with any implementation). Handler exceptions go to ``self.errors`` through the
    Manager's error_handler unless the test passes its own."""

    def __init__(self, handler: Callable | None = None, *, url: str = f"http://{HOST}:0",
                 limits: dict | None = None, enable_wakeup: bool = False,
                 error_handler: Callable | None | str = "record", http: bool | None = None,
                 listener_handler: Callable | None = None, poll_ms: int = 10,
                 expect_errors: bool = False):
        self.errors: list[BaseException] = []
        self.expect_errors = expect_errors
        eh = self._record_error if error_handler == "record" else error_handler
        kwargs: dict[str, Any] = {}
        if limits is not None:
            kwargs["limits"] = limits
        self.mgr = mg.Manager(handler, enable_wakeup, eh, **kwargs)
        self.enable_wakeup = enable_wakeup
        lkw: dict[str, Any] = {}
        if http is not None:
            lkw["http"] = http
        self.listener = self.mgr.listen(url, listener_handler, **lkw)
        self.port = self.listener.local_addr[1]
        self.host = HOST
        self.poll_ms = poll_ms
        self.loop_error: BaseException | None = None
        self._tasks: "queue.Queue[tuple[Callable, list, threading.Event]]" = queue.Queue()
        self._stop = threading.Event()
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"poll-{self.port}", daemon=True)
        self.closed = False

    def _record_error(self, exc: BaseException) -> None:
        self.errors.append(exc)

    def start(self) -> "Server":
        self.thread.start()
        assert self._started.wait(SOCK_TIMEOUT), "poll thread did not start"
        return self

    def _loop(self) -> None:
        self._started.set()
        try:
            while not self._stop.is_set():
                self.mgr.poll(self.poll_ms)
                self._run_tasks()
        except BaseException as e:  # pragma: no cover - reported at teardown
            self.loop_error = e
            traceback.print_exc()
        finally:
            self._run_tasks()

    def _run_tasks(self) -> None:
        while True:
            try:
                fn, out, done = self._tasks.get_nowait()
            except queue.Empty:
                return
            try:
                out.append((True, fn()))
            except BaseException as e:
                out.append((False, e))
            done.set()

    def call(self, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Run ``fn()`` on the polling thread between polls; return its result or raise."""
        out: list = []
        done = threading.Event()
        self._tasks.put((fn, out, done))
        assert done.wait(timeout), "poll thread did not run the task (hung poll?)"
        ok, val = out[0]
        if not ok:
            raise val
        return val

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def shutdown(self) -> list[str]:
        problems = []
        if self.closed:
            return problems
        self.closed = True
        self._stop.set()
        if self.thread.is_alive() and self.enable_wakeup:
            self.mgr.wakeup(self.mgr.wakeup_id, b"")  # interrupt a long poll()
        if self.thread.is_alive():
            self.thread.join(SOCK_TIMEOUT)
        if self.thread.is_alive():
            problems.append("poll thread did not stop within 5 s")
            return problems
        try:
            self.mgr.close()
        except Exception as e:
            problems.append(f"Manager.close() raised {e!r}")
        if self.loop_error is not None:
            problems.append(f"poll() raised {self.loop_error!r}")
        if self.errors and not self.expect_errors:
            text = "".join(
                "".join(traceback.format_exception(type(e), e, e.__traceback__)) for e in self.errors
            )
            problems.append(f"handler raised:\n{text}")
        return problems


class StderrCapture:
    """Replace sys.stderr with a thread-safe text buffer (the spec prints to the
    *current* sys.stderr object)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, s: str) -> int:
        with self._lock:
            self._parts.append(s)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        with self._lock:
            return "".join(self._parts)


@contextlib.contextmanager
def capture_stderr():
    """Install a StderrCapture as sys.stderr for the duration of the block. (Done inside
    the test body: pytest's own capture re-installs sys.stderr between the setup and
    call phases, so a fixture-level replacement would not be current during the test.)"""
    cap = StderrCapture()
    old = sys.stderr
    sys.stderr = cap
    try:
        yield cap
    finally:
        sys.stderr = old


def reply_text(body: str | bytes = b"ok", status: int = 200, headers: dict | None = None):
    """A handler answering every HTTP_MSG with a fixed reply."""
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(status, body, headers or {})
    return h


def hello_handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, "hello")


def ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def assert_server_alive(port: int) -> None:
    """§8.5: after malformed input a well-formed GET on a new connection is answered
    within 2 s."""
    with connect(port, timeout=2.0) as s:
        s.sendall(b"GET /alive HTTP/1.1\r\nHost: x\r\n\r\n")
        r = HttpReader(s).read_response()
    assert r.status == 200, f"server no longer answers normally: {r.status} {r.body!r}"


# --------------------------------------------------------------------------------------
# Headless Chromium
# --------------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(args: list[str], tmp_path, timeout: float = 60.0) -> bytes:
    """Run headless Chromium with ``args`` (a throw-away profile under ``tmp_path``) and
    return its stdout; it is killed, with its whole process group, after ``timeout``."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, env={**os.environ, "HOME": str(tmp_path)})
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the browser's own process group
        out, err = p.communicate(timeout=5)
        raise AssertionError(f"chromium did not finish within {timeout}s: {err[-2000:]!r}")
    assert p.returncode == 0, err[-2000:]
    return out

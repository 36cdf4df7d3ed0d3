# SPDX-License-Identifier: MIT
"""Tests for pymongoose.wsgi (spec §3.10) with real HTTP peers."""

from __future__ import annotations

import http.client
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import wsgiref.validate
from typing import Any, Callable, Iterator

import pytest
from framework_apps import Validated
from mgtest_helpers import rss_bytes

wsgi = pytest.importorskip("pymongoose.wsgi")

# Every app here also runs under wsgiref.validate (the ``run`` fixture's "validator" half):
# its warnings are errors too.
pytestmark = pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")

MiB = 1 << 20


class Running:
    def __init__(self, app: Callable[..., Any], validate: bool = False, **kw: Any) -> None:
        self.validated = Validated(app) if validate else None
        self.server = wsgi.WSGIServer(self.validated or app, **kw)
        self.listener = self.server.listen("http://127.0.0.1:0")
        self.port = self.listener.local_addr[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.server.manager.poll(10)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()

    def check(self) -> None:
        """Under the validator: no complaint, every response iterator closed."""
        if self.validated is not None:
            self.validated.check()

    def conn(self, timeout: float = 4.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path: str, **kw: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        c = self.conn()
        try:
            c.request(kw.pop("method", "GET"), path, **kw)
            r = c.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            c.close()

    def wait_idle(self) -> None:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if not self.server._in_flight and not self.server._streaming:
                return
            time.sleep(0.005)
        raise AssertionError("state not released")


@pytest.fixture(params=[False, True], ids=["plain", "validator"])
def run(request: pytest.FixtureRequest) -> Iterator[Callable[..., Running]]:
    """Factory of running servers; the "validator" half serves each app wrapped in
    wsgiref.validate.validator, and the same assertions must hold."""
    servers: list[Running] = []

    def factory(app: Callable[..., Any], **kw: Any) -> Running:
        s = Running(app, validate=request.param, **kw)
        servers.append(s)
        return s

    yield factory
    for s in servers:
        s.stop()
    for s in servers:
        s.check()


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/html"), ("X-Custom", "yes")])
    return [b"Hello, ", b"World"]


def test_simple_get_urllib(run: Callable[..., Running]) -> None:
    s = run(hello)
    with urllib.request.urlopen(s.base + "/", timeout=4) as r:
        assert r.status == 200
        assert r.read() == b"Hello, World"
        assert r.headers["Content-Type"] == "text/html"
        assert r.headers["X-Custom"] == "yes"
        assert r.headers["Content-Length"] == "12"
    s.wait_idle()


def test_environ_contents(run: Callable[..., Running]) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    s = run(app)
    status, headers, body = s.get(
        "/a%20b/c?x=1&y=%20",
        headers={"X-Dup": "1", "Content-Type": "text/x"},
    )
    assert status == 200 and body == b"ok"
    assert seen["REQUEST_METHOD"] == "GET"
    assert seen["PATH_INFO"] == "/a b/c"
    assert seen["QUERY_STRING"] == "x=1&y=%20"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["SERVER_NAME"] == "127.0.0.1"
    assert seen["SERVER_PORT"] == str(s.port)
    assert seen["SCRIPT_NAME"] == ""
    assert seen["CONTENT_TYPE"] == "text/x"
    assert "HTTP_CONTENT_TYPE" not in seen
    assert seen["HTTP_X_DUP"] == "1"
    assert seen["HTTP_HOST"] == f"127.0.0.1:{s.port}"
    assert seen["REMOTE_ADDR"] == "127.0.0.1" == seen["REMOTE_HOST"]
    assert seen["wsgi.version"] == (1, 0)
    assert seen["wsgi.url_scheme"] == "http"
    errors = seen["wsgi.errors"]
    if isinstance(errors, wsgiref.validate.ErrorWrapper):  # the validator's wrapper
        errors = errors.errors
    assert errors is sys.stderr
    assert seen["wsgi.multithread"] is True
    assert seen["wsgi.multiprocess"] is False
    assert seen["wsgi.run_once"] is False
    assert seen["wsgi.file_wrapper"] is wsgi.FileWrapper
    assert seen["body"] == b""


def test_post_body(run: Callable[..., Running]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("201 Created", [("Content-Type", "application/octet-stream")])
        return [environ["REQUEST_METHOD"].encode(), b":", data[::-1]]

    s = run(app)
    payload = bytes(range(256)) * 100
    status, headers, body = s.get("/p", method="POST", body=payload)
    assert status == 201
    assert body == b"POST:" + payload[::-1]


def test_status_reason_and_content_length_replaced(run: Callable[..., Running]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(
            "404 Whatever",
            [("content-length", "999"), ("Transfer-Encoding", "chunked"), ("Content-Type", "text/x")],
        )
        return [b"missing"]

    s = run(app)
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = _read_all(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 404 Not Found"
    assert b"Content-Length: 7" in lines
    assert not any(b"999" in line for line in lines)
    assert not any(line.lower().startswith(b"transfer-encoding") for line in lines)
    assert body == b"missing"


def _read_all(sock: socket.socket) -> bytes:
    out = bytearray()
    while True:
        data = sock.recv(65536)
        if not data:
            return bytes(out)
        out += data


def test_header_order_and_duplicates(run: Callable[..., Running]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(
            "200 OK",
            [("Set-Cookie", "a=1"), ("X-Custom", "v"), ("Set-Cookie", "b=2"), ("Content-Type", "text/plain")],
        )
        return [b"x"]

    s = run(app)
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = _read_all(sock)
    lines = raw.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]
    names = [line.split(b":")[0] for line in lines]
    assert names[:4] == [b"Set-Cookie", b"X-Custom", b"Set-Cookie", b"Content-Type"]
    assert lines[0] == b"Set-Cookie: a=1" and lines[2] == b"Set-Cookie: b=2"


def _big_app(total: int, piece: int = 64 * 1024, length: bool = True) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        headers = [("Content-Type", "application/octet-stream")]
        if length:
            headers.append(("Content-Length", str(total)))
        start_response("200 OK", headers)
        sent = 0
        i = 0
        while sent < total:
            n = min(piece, total - sent)
            yield bytes([i % 251]) * n
            sent += n
            i += 1

    return app


def _expected(total: int, piece: int = 64 * 1024) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < total:
        out += bytes([i % 251]) * min(piece, total - len(out))
        i += 1
    return bytes(out)


def test_stream_with_app_length_not_chunked(run: Callable[..., Running]) -> None:
    """A streamed response with the app's Content-Length goes out as is (RFC 9112 §6.3)."""
    total = 3 * MiB + 123
    s = run(_big_app(total))
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = _read_all(sock)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Length: %d" % total in lines
    assert not any(line.lower().startswith(b"transfer-encoding") for line in lines)
    assert rest == _expected(total)
    s.wait_idle()


def test_stream_chunked_http11(run: Callable[..., Running]) -> None:
    total = 3 * MiB + 123
    s = run(_big_app(total, length=False))
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = _read_all(sock)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Transfer-Encoding: chunked" in lines
    assert not any(line.lower().startswith(b"content-length") for line in lines)
    # de-chunk, checking batch sizes
    body = bytearray()
    sizes = []
    pos = 0
    while True:
        eol = rest.index(b"\r\n", pos)
        n = int(rest[pos:eol], 16)
        sizes.append(n)
        if n == 0:
            break
        body += rest[eol + 2 : eol + 2 + n]
        pos = eol + 2 + n + 2
    assert bytes(body) == _expected(total)
    assert max(sizes) <= 64 * 1024  # one chunk per piece the app yields
    assert len(sizes) > 16  # streamed piece by piece, not collected
    s.wait_idle()


def test_stream_http_client_keepalive(run: Callable[..., Running]) -> None:
    total = 2 * MiB
    s = run(_big_app(total, piece=MiB // 64, length=False))
    c = s.conn()
    try:
        for _ in range(2):
            c.request("GET", "/")
            r = c.getresponse()
            assert r.status == 200
            assert r.getheader("Transfer-Encoding") == "chunked"
            assert r.read() == _expected(total, MiB // 64)
    finally:
        c.close()
    s.wait_idle()


def test_stream_http10(run: Callable[..., Running]) -> None:
    total = MiB + 5
    s = run(_big_app(total))
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw = _read_all(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"chunked" not in head.lower()
    assert body == _expected(total)
    s.wait_idle()


def test_write_callable_precedes_iterable(run: Callable[..., Running]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first-")
        write(b"second-")
        return [b"third"]

    s = run(app)
    assert s.get("/")[2] == b"first-second-third"


def test_write_large_streams(run: Callable[..., Running]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"a" * MiB)
        return [b"b" * 1000]

    s = run(app)
    status, headers, body = s.get("/")
    assert body == b"a" * MiB + b"b" * 1000


class ClosingIterable:
    def __init__(self, parts: list[bytes], fail: bool = False) -> None:
        self.parts = parts
        self.fail = fail
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts
        if self.fail:
            raise RuntimeError("boom after start")

    def close(self) -> None:
        self.closed.set()


def test_iterable_close_called(run: Callable[..., Running]) -> None:
    it = ClosingIterable([b"a", b"b"])

    def app(environ: dict[str, Any], start_response: Any) -> ClosingIterable:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return it

    s = run(app)
    assert s.get("/")[2] == b"ab"
    assert it.closed.wait(2)


def test_exception_before_start_gives_500(run: Callable[..., Running], caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ValueError("kaboom")

    s = run(app)
    status, headers, body = s.get("/")
    assert status == 500
    assert body == b"Internal Server Error"
    assert "kaboom" in caplog.text  # logged through logging (pymongoose.wsgi), not swallowed
    assert any(r.name == "pymongoose.wsgi" for r in caplog.records)
    s.wait_idle()


def test_exception_after_start_closes_connection(run: Callable[..., Running]) -> None:
    it = ClosingIterable([b"x" * (2 * MiB)], fail=True)

    def app(environ: dict[str, Any], start_response: Any) -> ClosingIterable:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return it

    s = run(app)
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = _read_all(sock)  # returns because the server closes
    # Either the loop had not started the response when the app failed (a clean 500), or
    # it had (the response is cut off: never a complete body).
    if raw.startswith(b"HTTP/1.1 500"):
        assert raw.endswith(b"\r\n\r\nInternal Server Error")
    else:
        assert raw == b"" or raw.startswith(b"HTTP/1.1 200 OK")
        assert not raw.endswith(b"0\r\n\r\n")
    assert it.closed.wait(2)
    s.wait_idle()


def test_client_disconnect_aborts_worker(run: Callable[..., Running]) -> None:
    closed = threading.Event()
    produced = [0]

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            while True:
                produced[0] += 1
                yield b"z" * (256 * 1024)
        finally:
            closed.set()

    s = run(app, stream_timeout=30.0)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=4)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 200")
    sock.close()
    t0 = time.monotonic()
    assert closed.wait(4)
    assert time.monotonic() - t0 < 3  # not parked for stream_timeout
    s.wait_idle()


def test_stream_timeout_aborts(run: Callable[..., Running]) -> None:
    closed = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            while True:
                yield b"z" * (256 * 1024)
        finally:
            closed.set()

    s = run(app, stream_timeout=30.0)
    s.server._stream_timeout = 0.3  # read afresh at every wait
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=4)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        assert closed.wait(4)
        s.wait_idle()
    finally:
        sock.close()


def test_file_wrapper(run: Callable[..., Running], tmp_path: Any) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(50_000)
    path.write_bytes(data)
    holder: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        w = environ["wsgi.file_wrapper"](open(path, "rb"), 4096)
        holder.append(w)
        return w

    s = run(app)
    assert s.get("/")[2] == data
    deadline = time.monotonic() + 2
    while not holder[0].filelike.closed and time.monotonic() < deadline:
        time.sleep(0.005)
    assert holder[0].filelike.closed


def test_file_wrapper_unit() -> None:
    f = io.BytesIO(b"abcdefghij")
    w = wsgi.FileWrapper(f, blksize=4)
    assert list(w) == [b"abcd", b"efgh", b"ij"]
    w.close()
    assert f.closed


class StandInMsg:
    method = "PUT"
    uri = "/x%2Fy?q=1"
    query = "ignored"
    proto = "HTTP/1.0"
    body_bytes = b"data"

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers():
            if k.lower() == name.lower():
                return v
        return default

    def headers(self) -> list[tuple[str, str]]:
        return [("Content-Length", "4"), ("X-A", "1"), ("x-a", "2"), ("User-Agent", "t")]


class StandInConn:
    is_tls = True
    remote_addr = ("10.1.2.3", 5555, False)


def test_build_environ_stand_ins() -> None:
    env = wsgi._build_environ(StandInMsg(), StandInConn(), "example", 8443)
    assert env["REQUEST_METHOD"] == "PUT"
    assert env["PATH_INFO"] == "/x/y"
    assert env["QUERY_STRING"] == "q=1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert env["SERVER_NAME"] == "example"
    assert env["SERVER_PORT"] == "8443"
    assert env["CONTENT_LENGTH"] == "4"
    assert "CONTENT_TYPE" not in env
    assert env["HTTP_X_A"] == "1, 2"
    assert env["HTTP_USER_AGENT"] == "t"
    assert env["REMOTE_ADDR"] == "10.1.2.3"
    assert env["wsgi.url_scheme"] == "https"
    assert env["wsgi.input"].read() == b"data"

    class NoQ(StandInMsg):
        uri = "/plain"
        query = "a=b"

    env = wsgi._build_environ(NoQ(), StandInConn(), "h", 1)
    assert env["PATH_INFO"] == "/plain" and env["QUERY_STRING"] == "a=b"


def test_listen_any_address_reported_as_loopback() -> None:
    server = wsgi.WSGIServer(hello)
    try:
        conn = server.listen("http://0.0.0.0:0")
        assert server._server_name == "127.0.0.1"
        assert server._server_port == conn.local_addr[1] != 0
        assert isinstance(server.manager, wsgi.Manager)
    finally:
        server.close()


def test_concurrency_pool(run: Callable[..., Running]) -> None:
    barrier = threading.Barrier(4, timeout=3)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        barrier.wait()  # only passes if 4 requests run at the same time
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    s = run(app, workers=4)
    results: dict[int, bytes] = {}

    def client(i: int) -> None:
        results[i] = s.get(f"/{i}")[2]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(4)
    assert results == {i: f"/{i}".encode() for i in range(4)}
    s.wait_idle()


def test_curl(run: Callable[..., Running]) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl not installed")
    s = run(hello)
    out = subprocess.run(
        [curl, "-s", "-i", "--max-time", "4", s.base + "/"], capture_output=True, timeout=5
    ).stdout
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"X-Custom: yes\r\n" in out
    assert out.endswith(b"Hello, World")


@pytest.mark.parametrize("validate", [False, True], ids=["plain", "validator"])
def test_close_with_worker_in_flight(validate: bool) -> None:
    release = threading.Event()
    done = threading.Event()
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        release.wait(3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        done.set()
        return [b"late"]

    s = Running(app, validate=validate)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=4)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(3)
        s.stop()
        release.set()
        assert done.wait(3)
        time.sleep(0.05)  # the worker finishes its hand-off attempt
        assert not s.server._ready and not s.server._streaming
        s.check()
    finally:
        sock.close()


def test_flask_app(run: Callable[..., Running]) -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask("wsgitest")

    @app.route("/hello/<name>")
    def hello_name(name: str) -> Any:
        resp = flask.make_response(f"hi {name} {flask.request.args.get('q')}")
        resp.set_cookie("a", "1")
        resp.set_cookie("b", "2")
        return resp

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return flask.jsonify(got=flask.request.get_json())

    s = run(app)
    status, headers, body = s.get("/hello/bob?q=x")
    assert status == 200 and body == b"hi bob x"
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1; Path=/", "b=2; Path=/"]
    status, headers, body = s.get(
        "/echo", method="POST", body=b'{"k": [1, 2]}', headers={"Content-Type": "application/json"}
    )
    assert status == 200
    import json

    assert json.loads(body) == {"got": {"k": [1, 2]}}
    assert s.get("/nope")[0] == 404
    s.wait_idle()


def test_head_and_204(run: Callable[..., Running]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/empty":
            start_response("204 No Content", [])
            return []
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"abcdef"]

    s = run(app)
    status, headers, body = s.get("/", method="HEAD")
    assert status == 200 and body == b"" and dict(headers)["Content-Length"] == "6"
    status, headers, body = s.get("/empty")
    assert status == 204 and body == b""
    assert "Content-Type" not in dict(headers)  # none invented (PEP 3333 leaves it to the app)


def test_module_not_imported_by_package_and_serve_banner() -> None:
    code = (
        "import sys, pymongoose; assert 'pymongoose.wsgi' not in sys.modules;"
        "from pymongoose.wsgi import serve; from wsgiref.validate import validator;"
        "serve(validator(lambda e, s: (s('200 OK', [('Content-Type', 'text/plain')]), [b'served'])[1]),"
        " 'http://127.0.0.1:0', workers=2)"
    )
    env = dict(os.environ)
    if "PYMONGOOSE_ASAN_PRELOAD" in env:
        env["LD_PRELOAD"] = env["PYMONGOOSE_ASAN_PRELOAD"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert "http://127.0.0.1:" in line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=4) as r:
            assert r.read() == b"served"
        proc.send_signal(2)
        assert proc.wait(4) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(2)


# ---------------------------------------------------------------------- issue 10


def test_underscore_headers_cannot_spoof_dash_ones(run: Callable[..., Running]) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    s = run(app)
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 6.6.6.6\r\n"
                     b"X-Forwarded-For: 1.2.3.4\r\nX_Only: y\r\nConnection: close\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 200")
    assert seen["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert "HTTP_X_ONLY" not in seen


def test_remote_port_raw_uri_and_input_terminated(run: Callable[..., Running]) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    s = run(app)
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        port = sock.getsockname()[1]
        sock.sendall(b"GET /a%20b/c?x=%41 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        _read_all(sock)
    assert seen["REMOTE_PORT"] == str(port)
    assert seen["RAW_URI"] == "/a%20b/c?x=%41"
    assert seen["PATH_INFO"] == "/a b/c"
    assert seen["wsgi.input_terminated"] is True


def test_root_path_sets_script_name(run: Callable[..., Running]) -> None:
    seen: list[tuple[str, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    s = run(app, root_path="/app/")
    s.get("/app/items")
    s.get("/other")
    assert seen == [("/app", "/items"), ("/app", "/other")]


def test_date_and_server_headers_and_opt_out(run: Callable[..., Running]) -> None:
    headers = dict(run(hello).get("/")[1])
    assert headers["Server"] == "pymongoose"
    assert headers["Date"].endswith(" GMT")
    headers = dict(run(hello, server_header=None, date_header=False).get("/")[1])
    assert "Server" not in headers and "Date" not in headers


def test_full_queue_answers_503(run: Callable[..., Running]) -> None:
    release = threading.Event()
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    s = run(app, workers=1, max_queue=1)
    results: list[int] = []

    def fetch() -> None:
        results.append(s.get("/")[0])

    first = threading.Thread(target=fetch)
    first.start()
    assert entered.wait(4)  # the only worker is busy
    second = threading.Thread(target=fetch)
    second.start()
    deadline = time.monotonic() + 3
    while s.server._jobs.qsize() < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    status, headers, body = s.get("/")  # the queue (1) is full
    assert (status, body) == (503, b"Service Unavailable")
    assert dict(headers)["Connection"] == "close"
    release.set()
    first.join(5)
    second.join(5)
    assert results == [200, 200]


def test_head_streamed_like_get(run: Callable[..., Running]) -> None:
    s = run(_big_app(MiB, length=False))
    with socket.create_connection(("127.0.0.1", s.port), timeout=4) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = _read_all(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b""


def test_stream_timeout_is_about_progress_not_total_time(run: Callable[..., Running]) -> None:
    """A slow but steady reader gets everything even when it takes longer than stream_timeout."""
    total = 8 * MiB
    s = run(_big_app(total, length=False), stream_timeout=0.5)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.settimeout(4)
        sock.connect(("127.0.0.1", s.port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = bytearray()
        t0 = time.monotonic()
        while True:
            part = sock.recv(256 * 1024)
            if not part:
                break
            raw += part
            time.sleep(0.02)  # ~8 MiB/s at best: well over 0.5 s in all
    assert time.monotonic() - t0 > 0.5
    assert raw.endswith(b"\r\n0\r\n\r\n")


@pytest.mark.parametrize("validate", [False, True], ids=["plain", "validator"])
def test_run_drains_on_stop(validate: bool) -> None:
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        time.sleep(0.3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]

    validated = Validated(app) if validate else None
    server = wsgi.WSGIServer(validated or app, workers=2)
    port = server.listen("http://127.0.0.1:0").local_addr[1]
    runner = threading.Thread(target=server.run, kwargs={"poll_ms": 20}, daemon=True)
    runner.start()
    idle = socket.create_connection(("127.0.0.1", port), timeout=4)
    result: list[Any] = []

    def fetch() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
        c.request("GET", "/")
        r = c.getresponse()
        result.append((r.status, r.getheader("Connection"), r.read()))
        c.close()

    client = threading.Thread(target=fetch)
    client.start()
    assert entered.wait(4)
    server.stop(timeout=5)
    client.join(5)
    runner.join(5)
    assert not runner.is_alive()
    assert result == [(200, "close", b"finished")]
    assert idle.recv(1) == b""
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    if validated is not None:
        validated.check()


def _wait_refused(port: int) -> None:
    """Until connecting fails: the server closed its listener (its drain began)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.005)
    raise AssertionError("the listener stayed open")


def _read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_drain_serves_the_first_request_of_a_connection_accepted_before_it() -> None:
    """A connection accepted just before the drain whose request comes during it is
    answered (with Connection: close), not dropped: its client could not retry."""
    server = wsgi.WSGIServer(hello, workers=2)
    port = server.listen("http://127.0.0.1:0").local_addr[1]
    runner = threading.Thread(target=server.run, kwargs={"poll_ms": 20}, daemon=True)
    runner.start()
    fresh = socket.create_connection(("127.0.0.1", port), timeout=4)
    # Answered on a later connection: the accept loop has taken `fresh` by then.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=4) as r:
        assert r.status == 200
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 5})
    stopper.start()
    _wait_refused(port)
    fresh.sendall(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = _read_to_eof(fresh)
    fresh.close()
    stopper.join(6)
    runner.join(6)
    assert not runner.is_alive()
    assert raw.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in raw and raw.endswith(b"Hello, World")


def test_inline_workers_zero(run: Callable[..., Running]) -> None:
    threads: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        threads.append(threading.current_thread().name)
        assert environ["wsgi.multithread"] is False
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    s = run(app, workers=0)
    assert s.get("/")[2] == b"ab"
    assert threads == [s._thread.name]  # the thread that polls


# ------------------------------------------------------------------ streamed request bodies


def _upload(port: int, head: bytes, body_parts: Iterator[bytes], sndbuf: int = 0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        if sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.sendall(head)
        try:
            for part in body_parts:
                s.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        # One response, read by its Content-Length (the request is not half-closed: a
        # server may take the client's FIN for a disconnect).
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        while len(data.split(b"\r\n\r\n", 1)[1]) < length:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
        return data


def test_upload_streams_to_the_app_before_it_ends_with_memory_bounded(run: Callable[..., Running]) -> None:
    """64 MiB upload read through wsgi.input in 64 KiB reads: the app starts while the
    client is still sending, is slow at first (the sender is held back), and this
    process's RSS never grows by the body's size."""
    import hashlib

    total = 64 * MiB
    started = threading.Event()
    go = threading.Event()
    sent = [0]

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        assert environ["CONTENT_LENGTH"] == str(total)
        digest = hashlib.sha256()
        left = total
        first = stream.read(65536)
        digest.update(first)
        left -= len(first)
        started.set()
        assert go.wait(10)
        while left:
            data = stream.read(min(65536, left))
            assert data, "input ended early"
            digest.update(data)
            left -= len(data)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [digest.hexdigest().encode()]

    s = run(app, workers=2, limits={"max_body": total})
    piece = os.urandom(MiB)

    def parts() -> Iterator[bytes]:
        for _ in range(total // MiB):
            yield piece
            sent[0] += MiB

    base = rss_bytes()
    result: list[bytes] = []
    t = threading.Thread(target=lambda: result.append(_upload(
        s.port, b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total, parts(), 64 * 1024)))
    t.start()
    assert started.wait(10), "the app did not start before the body ended"
    assert sent[0] < total
    t.join(0.5)  # the app sleeps: the sender must be held back
    held = sent[0]
    assert t.is_alive() and held < 32 * MiB, f"{held / MiB:.0f} MiB sent while the app was not reading"
    go.set()
    peak = base
    while t.is_alive():
        peak = max(peak, rss_bytes())
        t.join(0.05)
    raw = result[0]
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(hashlib.sha256(piece * (total // MiB)).hexdigest().encode())
    assert peak - base < 40 * MiB, f"RSS grew by {(peak - base) / MiB:.0f} MiB during a streamed upload"


def test_chunked_upload_reads_to_the_end_and_by_lines(run: Callable[..., Running]) -> None:
    got: dict[str, Any] = {}
    first_read = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        got["content_length"] = environ.get("CONTENT_LENGTH")
        got["terminated"] = environ["wsgi.input_terminated"]
        lines = [stream.readline()]
        first_read.set()
        lines += list(stream)
        got["lines"] = lines
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % len(lines)]

    s = run(app, workers=2)
    text = b"".join(b"line %d %s\n" % (i, b"x" * (i * 37 % 500)) for i in range(400))

    def parts() -> Iterator[bytes]:
        yield b"%x\r\n%s\r\n" % (100, text[:100])
        assert first_read.wait(5), "the app did not get its first line before the body ended"
        rest = text[100:]
        for i in range(0, len(rest), 777):
            piece = rest[i:i + 777]
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
        yield b"0\r\n\r\n"

    raw = _upload(s.port, b"POST /lines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", parts())
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"400")
    assert got["content_length"] is None and got["terminated"] is True
    assert b"".join(got["lines"]) == text and all(line.endswith(b"\n") for line in got["lines"])


def test_client_leaving_mid_body_raises_in_the_app_and_server_keeps_serving(run: Callable[..., Running]) -> None:
    outcome: list[str] = []
    reading = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/up":
            stream = environ["wsgi.input"]
            try:
                reading.set()
                while stream.read(65536):
                    pass
                outcome.append("eof")
            except OSError as exc:
                outcome.append(str(exc))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    s = run(app, workers=2)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 5000)
        assert reading.wait(5)
    deadline = time.monotonic() + 5
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outcome == ["client disconnected before the request body was complete"]
    assert s.get("/after")[0] == 200


def test_app_answering_without_reading_its_streamed_body_keeps_the_connection(run: Callable[..., Running]) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/reject":
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"no thanks"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"got %d" % len(body)]

    s = run(app, workers=2, limits={"max_body": 16 * MiB})
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        body = b"z" * (8 * MiB)
        c.sendall(b"POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        first = b""
        while b"no thanks" not in first:
            first += c.recv(4096)
        c.sendall(body)  # read and dropped: the app is done with it
        c.sendall(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        second = b""
        while b"got" not in second:
            chunk = c.recv(4096)
            assert chunk, "closed instead of serving the next request"
            second += chunk
    assert first.startswith(b"HTTP/1.1 413") and second.endswith(b"got 3")


def test_inline_workers_buffer_a_body_that_arrives_in_parts() -> None:
    seen: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    s = Running(app, workers=0)
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
            c.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
            c.sendall(b"56789")
            data = b""
            while not data.endswith(b"ok"):
                data += c.recv(4096)
        assert seen == [b"0123456789"]
    finally:
        s.stop()

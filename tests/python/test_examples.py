# SPDX-License-Identifier: MIT
"""Every program in examples/ is run as a user would run it, so none of them rots.

Each server example is started as a subprocess on port 0; the test reads the URL it
prints (never sleeping to wait for it), makes a real request with a real client
(urllib, http.client, the websockets client), checks the answer, then sends SIGTERM
or SIGINT and expects exit status 0 within a bound. The two client examples run
against a pymongoose server that the test starts on 127.0.0.1.
"""

from __future__ import annotations

import ast
import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import ssl
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mgtest_helpers import HOST, IMPL, mg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = [
    pytest.mark.skipif(IMPL != "pymongoose", reason="the examples import pymongoose itself"),
    pytest.mark.timeout(60),
]

URL_RE = re.compile(r"(?:https?|mqtt|udp)://(?:[0-9.]+|\[[0-9a-f:]+\]):(\d+)")
START_TIMEOUT = 30.0  # interpreter start plus Flask/FastAPI imports on a busy machine
STOP_TIMEOUT = 15.0
HTTP_TIMEOUT = 10.0

TESTED = {
    "hello_server.py", "rest_api.py", "static_server.py", "upload_server.py",
    "sse_server.py", "chunked_stream.py", "http_client.py", "streaming_client.py",
    "ws_echo.py", "ws_chat.py", "jsonrpc_ws_server.py", "timers.py", "wakeup_threads.py",
    "multithreaded_server.py", "graceful_shutdown.py", "async_manager.py",
    "flask_app.py", "fastapi_app.py", "https_server.py", "https_client.py",
    "mqtt_broker.py", "mqtt_client.py", "udp_echo.py", "sntp_client.py",
}


class Example:
    """One example program running in a subprocess, its output read by two threads."""

    def __init__(self, name: str, *args: str, cwd: Path):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True),
        ]
        for t in self._readers:
            t.start()
        self.port = 0

    def _read(self, pipe, sink: list[str], to_queue: bool) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace")
            sink.append(line)
            if to_queue:
                self.lines.put(line)
        if to_queue:
            self.lines.put(None)

    def report(self) -> str:
        return (f"{self.name}: stdout={''.join(self.stdout)!r} "
                f"stderr={''.join(self.stderr)[-3000:]!r}")

    def expect(self, pattern: str | re.Pattern[str], timeout: float = START_TIMEOUT) -> re.Match[str]:
        """The first line of stdout (from now on) that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no line matching {pattern!r} within {timeout} s; {self.report()}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(STOP_TIMEOUT)
                pytest.fail(f"exited ({self.proc.returncode}) before printing {pattern!r}; {self.report()}")
            m = re.search(pattern, line)
            if m:
                return m

    def started(self) -> "Example":
        self.port = int(self.expect(URL_RE).group(1))
        return self

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            pytest.fail(f"did not exit within {timeout} s; {self.report()}")
        for t in self._readers:
            t.join(5)
        return rc

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc.poll() is None, f"exited early; {self.report()}"
        self.proc.send_signal(sig)
        rc = self.wait()
        assert rc == 0, f"exit status {rc} after {signal.Signals(sig).name}; {self.report()}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def run_example(tmp_path):
    running: list[Example] = []

    def start(name: str, *args: str, wait_url: bool = True) -> Example:
        ex = Example(name, *args, cwd=tmp_path)
        running.append(ex)
        return ex.started() if wait_url else ex

    yield start
    for ex in running:
        ex.kill()


def get(url: str, data: bytes | None = None, method: str | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(url: str, **kw) -> tuple[int, object]:
    status, _, body = get(url, **kw)
    return status, json.loads(body) if body else None


# ======================================================================================
# Every example is tested and documented
# ======================================================================================


def test_every_example_has_a_test_and_a_docstring():
    present = {p.name for p in EXAMPLES.glob("*.py")}
    assert present == TESTED, f"untested: {present - TESTED}, missing: {TESTED - present}"
    for name in sorted(present):
        doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text()))
        assert doc, f"{name} has no module docstring"
        assert "Run:" in doc and "Try" in doc, f"{name}: docstring lacks Run:/Try sections"
        assert f"python examples/{name}" in doc, f"{name}: docstring does not show how to run it"


# ======================================================================================
# HTTP servers
# ======================================================================================


def test_hello_server(run_example):
    ex = run_example("hello_server.py", "0")
    status, headers, body = get(ex.url("/anything"))
    assert status == 200 and json.loads(body) == {"message": "Hello, World!"}
    assert headers["Content-Type"] == "application/json"
    ex.stop(signal.SIGINT)


def test_hello_server_takes_a_url(run_example):
    ex = run_example("hello_server.py", f"http://{HOST}:0")
    assert get(ex.url())[0] == 200
    ex.stop(signal.SIGTERM)


def test_rest_api(run_example):
    ex = run_example("rest_api.py", "0")
    status, _, body = get(ex.url("/api/notes"), data=b'{"text": "buy milk"}', method="POST")
    assert status == 201
    note = json.loads(body)
    assert note["text"] == "buy milk"
    assert get_json(ex.url(f"/api/notes/{note['id']}")) == (200, note)
    assert get_json(ex.url(f"/api/notes/{note['id']}"), data=b'{"text": "tea"}', method="PUT") \
        == (200, {"id": note["id"], "text": "tea"})
    assert get_json(ex.url("/api/notes")) == (200, [{"id": note["id"], "text": "tea"}])
    assert get(ex.url("/api/notes"), data=b"not json", method="POST")[0] == 400
    assert get(ex.url(f"/api/notes/{note['id']}"), method="DELETE")[0] == 204
    assert get(ex.url(f"/api/notes/{note['id']}"))[0] == 404
    ex.stop()


def test_static_server(run_example, tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "data.json").write_text('{"n": 1}')
    ex = run_example("static_server.py", str(root), "0")
    status, headers, body = get(ex.url("/data.json"))
    assert (status, body) == (200, b'{"n": 1}')
    assert headers["Content-Type"] == "application/json"
    assert get(ex.url("/"))[2] == b"<h1>home</h1>"
    ex.stop()


def test_upload_server(run_example, tmp_path):
    updir = tmp_path / "uploads"
    ex = run_example("upload_server.py", "0", "--dir", str(updir))
    content = os.urandom(200_000)
    boundary = "----pymongoose-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"../../sneaky.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    status, answer = get_json(ex.url("/upload"), data=body, method="POST",
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, answer
    assert answer["fields"] == {"note": "hello"}
    [f] = answer["files"]
    assert f["filename"] == "sneaky.bin" and f["size"] == len(content)
    assert f["sha256"] == hashlib.sha256(content).hexdigest()
    assert (updir / "sneaky.bin").read_bytes() == content
    assert b"<form" in get(ex.url("/"))[2]
    ex.stop()


def test_sse_server(run_example):
    ex = run_example("sse_server.py", "0")
    conn = http.client.HTTPConnection(HOST, ex.port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", "/events")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "text/event-stream"
        assert resp.readline() == b"event: hello\n"
        data = resp.readline()
        assert data.startswith(b"data: ") and json.loads(data[6:]) == {"subscribers": 1}
    finally:
        conn.close()
    assert b"EventSource" in get(ex.url("/"))[2]
    ex.stop()


def test_chunked_stream(run_example):
    ex = run_example("chunked_stream.py", "0")
    status, headers, body = get(ex.url("/stream?count=3&delay=20"))
    assert status == 200 and headers["Transfer-Encoding"] == "chunked"
    assert body == b"line 1 of 3\nline 2 of 3\nline 3 of 3\n"
    status, _, body = get(ex.url("/download?size=3000000"))
    assert status == 200 and len(body) == 3_000_000
    assert body[:16] == b"0123456789abcdef"
    ex.stop()


# ======================================================================================
# HTTP clients, against a server started here
# ======================================================================================


def unused_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def test_http_client(run_example, server):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply_json({"method": data.method, "uri": data.uri, "body": data.body_text,
                             "auth": data.header("Authorization")})
    srv = server(h)
    ex = run_example("http_client.py", f"http://user:pw@{HOST}:{srv.port}/path?q=1",
                     "--data", '{"x": 1}', wait_url=False)
    assert ex.wait() == 0, ex.report()
    out = "".join(ex.stdout)
    assert out.startswith("HTTP 200 OK\n"), ex.report()
    answer = json.loads(out.split("\n\n", 1)[1])
    assert answer == {"method": "POST", "uri": "/path", "body": '{"x": 1}',
                      "auth": "Basic dXNlcjpwdw=="}


def test_http_client_refused_port_exits_1(run_example):
    ex = run_example("http_client.py", f"http://{HOST}:{unused_port()}/", wait_url=False)
    assert ex.wait() == 1, ex.report()
    assert "error: socket error" in "".join(ex.stderr)


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"


def stream_handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.send(HEAD_CHUNKED)
        conn.http_chunk("first piece\n")
        if data.uri == "/finite":
            conn.http_chunk("second piece\n")
            conn.http_chunk(b"")
        # /endless: the response never ends


def test_streaming_client_finite_stream(run_example, server):
    srv = server(stream_handler)
    ex = run_example("streaming_client.py", f"http://{HOST}:{srv.port}/finite", wait_url=False)
    assert ex.wait() == 0, ex.report()
    assert "".join(ex.stdout) == "first piece\nsecond piece\n"
    assert "received 25 bytes" in "".join(ex.stderr)


def test_streaming_client_endless_stream_stopped_by_sigint(run_example, server):
    srv = server(stream_handler)
    ex = run_example("streaming_client.py", f"http://{HOST}:{srv.port}/endless", wait_url=False)
    ex.expect("first piece")  # printed while the response is still open
    ex.stop(signal.SIGINT)


# ======================================================================================
# WebSocket
# ======================================================================================


def test_ws_echo(run_example):
    from websockets.sync.client import connect

    ex = run_example("ws_echo.py", "0")
    with connect(f"ws://{HOST}:{ex.port}/ws", open_timeout=HTTP_TIMEOUT) as ws:
        ws.send("hello")
        assert ws.recv(timeout=HTTP_TIMEOUT) == "hello"
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=HTTP_TIMEOUT) == b"\x00\x01\xff"
    assert b"new WebSocket" in get(ex.url("/"))[2]
    ex.stop()


def test_ws_chat_broadcast(run_example):
    from websockets.sync.client import connect

    def recv_until(ws, pred):
        deadline = time.monotonic() + HTTP_TIMEOUT
        while True:
            msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if pred(msg):
                return msg

    ex = run_example("ws_chat.py", "0")
    base = f"ws://{HOST}:{ex.port}/ws"
    with connect(base + "?name=alice", open_timeout=HTTP_TIMEOUT) as alice:
        recv_until(alice, lambda m: m["text"].startswith("alice joined"))
        with connect(base + "?name=bob", open_timeout=HTTP_TIMEOUT) as bob:
            recv_until(alice, lambda m: m["text"].startswith("bob joined"))
            alice.send("hi bob")
            assert recv_until(bob, lambda m: "from" in m) == {"from": "alice", "text": "hi bob"}
            assert recv_until(alice, lambda m: "from" in m) == {"from": "alice", "text": "hi bob"}
        assert recv_until(alice, lambda m: "from" not in m) == {"text": "bob left"}
    assert b"WebSocket" in get(ex.url("/"))[2]
    ex.stop()


def test_jsonrpc_ws_server(run_example):
    from websockets.sync.client import connect

    ex = run_example("jsonrpc_ws_server.py", "0")
    with connect(f"ws://{HOST}:{ex.port}/ws", open_timeout=HTTP_TIMEOUT) as ws:
        ws.send('{"id":1,"method":"sum","params":[1,2,3.5]}')
        assert ws.recv(timeout=HTTP_TIMEOUT) == '{"id":1,"result":6.5}'
        ws.send('{"id":"b","method":"str.upper","params":["hé"]}')
        assert ws.recv(timeout=HTTP_TIMEOUT) == '{"id":"b","result":"HÉ"}'
        ws.send('{"id":2,"method":"divide","params":[1,0]}')
        assert ws.recv(timeout=HTTP_TIMEOUT) == \
            '{"id":2,"error":{"code":-32603,"message":"division by zero"}}'
    status, _, body = get(ex.url("/rpc"), data=b'{"id":3,"method":"nope"}', method="POST")
    assert (status, body) == (200, b'{"id":3,"error":{"code":-32601,"message":"nope not found"}}')
    ex.stop(signal.SIGINT)


# ======================================================================================
# Timers, threads, shutdown
# ======================================================================================


def test_timers(run_example):
    ex = run_example("timers.py", "0")
    status, state = get_json(ex.url("/"))
    assert status == 200 and state["ticks"] >= 1  # run_now: fired on the first poll
    status, answer = get_json(ex.url("/delay?ms=50"))
    assert status == 200 and answer["asked_ms"] == 50 and answer["waited_ms"] >= 45
    assert get_json(ex.url("/"))[1]["delayed_replies"] == 1
    ex.stop()


def test_wakeup_threads(run_example):
    ex = run_example("wakeup_threads.py", "0")
    status, reading = get_json(ex.url("/next"))  # answered when the thread wakes the loop
    assert status == 200 and reading["seq"] >= 1 and reading["thread"] == "sensor"
    status, latest = get_json(ex.url("/latest"))
    assert status == 200 and latest["seq"] >= reading["seq"]
    ex.stop()


def test_multithreaded_server(run_example):
    ex = run_example("multithreaded_server.py", "0", "--workers", "4")
    results: list[tuple[int, object]] = []

    def one(i: int) -> None:
        results.append(get_json(ex.url(f"/work?text=t{i}&ms=100")))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    assert get_json(ex.url("/health"))[0] == 200
    for t in threads:
        t.join(HTTP_TIMEOUT * 2)
    assert sorted(r[1]["text"] for r in results) == ["t0", "t1", "t2", "t3"]
    assert all(r[0] == 200 and r[1]["worker"].startswith("worker") for r in results)
    expected = b"t0"
    for _ in range(10_000):
        expected = hashlib.sha256(expected).digest()
    assert {r[1]["text"]: r[1]["sha256x10000"] for r in results}["t0"] == expected.hex()
    ex.stop()


def test_graceful_shutdown_finishes_the_request_in_flight(run_example):
    ex = run_example("graceful_shutdown.py", "0", "--grace", "10")
    result: dict[str, object] = {}

    def slow() -> None:
        c = http.client.HTTPConnection(HOST, ex.port, timeout=HTTP_TIMEOUT)
        try:
            c.request("GET", "/slow?ms=1000")
            r = c.getresponse()
            result.update(status=r.status, body=r.read(), connection=r.getheader("Connection"))
        except Exception as e:  # reported by the assertion below
            result["error"] = e
        finally:
            c.close()

    t = threading.Thread(target=slow)
    t.start()
    ex.expect(r"request \d+ started")
    ex.proc.send_signal(signal.SIGTERM)
    ex.expect(r"draining: 1 request")
    t.join(HTTP_TIMEOUT)
    assert result.get("status") == 200, result
    assert result["body"] == b"slow answer after 1000 ms\n"
    assert result["connection"] == "close"
    assert ex.wait() == 0, ex.report()
    assert ex.stdout[-1] == "bye\n"


# ======================================================================================
# asyncio, WSGI, ASGI
# ======================================================================================


def test_async_manager(run_example):
    ex = run_example("async_manager.py", "0")
    status, answer = get_json(ex.url("/hello?name=pytest&delay=20"))
    assert status == 200 and answer == {"hello": "pytest", "request": 1, "delay_ms": 20}
    ex.stop(signal.SIGINT)
    assert ex.stdout[-1] == "stopped\n"


def test_flask_app(run_example):
    pytest.importorskip("flask", reason="Flask is not installed (pip install flask)")
    ex = run_example("flask_app.py", "0")
    status, answer = get_json(ex.url("/hello/pytest"), headers={"User-Agent": "test"})
    assert status == 200 and answer == {"hello": "pytest", "user_agent": "test"}
    status, answer = get_json(ex.url("/echo"), data=b'{"a": [1, 2]}', method="POST",
                              headers={"Content-Type": "application/json"})
    assert status == 200 and answer == {"received": {"a": [1, 2]}}
    ex.stop()


def test_fastapi_app(run_example):
    pytest.importorskip("fastapi", reason="FastAPI is not installed (pip install fastapi)")
    ex = run_example("fastapi_app.py", "0")
    assert get_json(ex.url("/items/42?q=x")) == (200, {"item_id": 42, "q": "x"})
    ex.stop()
    assert "lifespan: shutdown (0 items created)\n" in ex.stdout


# ======================================================================================
# TLS
# ======================================================================================


def https_get(url: str, cafile: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_https_server_with_given_certificate(run_example, tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ex = run_example("https_server.py", "0", "--cert", str(tmp_path / "cert.pem"),
                     "--key", str(tmp_path / "key.pem"))
    status, body = https_get(f"https://localhost:{ex.port}/", str(tmp_path / "ca.pem"))
    assert status == 200
    answer = json.loads(body)
    assert answer["tls"] is True and answer["version"] in ("TLSv1.3", "TLSv1.2")
    assert answer["alpn"] == "http/1.1" and answer["sni"] == "localhost"
    assert answer["client_cert"] is None
    status, body = https_get(f"https://localhost:{ex.port}/whoami", str(tmp_path / "ca.pem"))
    assert status == 403
    ex.stop(signal.SIGINT)


def test_https_server_self_signed_and_https_client(run_example):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    server = Example("https_server.py", "0", cwd=Path.cwd())
    try:
        cert = server.expect(r"self-signed certificate: (\S+)").group(1)
        server.started()
        status, body = https_get(f"https://127.0.0.1:{server.port}/", cert)
        assert status == 200 and json.loads(body)["tls"] is True
        url = f"https://localhost:{server.port}/"
        client = Example("https_client.py", url, "--ca", cert, cwd=Path.cwd())
        assert client.wait() == 0, client.report()
        out = "".join(client.stdout)
        assert out.startswith("TLS TLSv1.3 "), client.report()
        assert "HTTP 200 OK" in out and '"alpn":"http/1.1"' in out.replace(" ", "")
        # Verification is on by default: the system trust store does not know this certificate.
        client = Example("https_client.py", url, cwd=Path.cwd())
        assert client.wait() == 1, client.report()
        assert "error: TLS handshake failed: certificate verify failed" in "".join(client.stderr)
        client = Example("https_client.py", url, "--insecure", cwd=Path.cwd())
        assert client.wait() == 0, client.report()
        server.stop()
    finally:
        server.kill()


# ======================================================================================
# MQTT
# ======================================================================================


@pytest.mark.parametrize("qos,version", [(0, 4), (1, 4), (2, 5)])
def test_mqtt_client_through_the_example_broker(run_example, qos, version):
    broker = run_example("mqtt_broker.py", "0")
    client = run_example("mqtt_client.py", f"mqtt://{HOST}:{broker.port}", "--topic", "demo/t",
                         "--qos", str(qos), "--count", "3", "--version", str(version), wait_url=False)
    assert client.wait() == 0, client.report()
    lines = [ln.strip() for ln in client.stdout]
    assert lines[0] == "connected"
    assert lines[1:] == [f"demo/t: hello {i} (qos {min(qos, 1)})" for i in range(3)], client.report()
    broker.stop()


def test_mqtt_broker_routes_by_wildcard_to_a_raw_subscriber(run_example):
    broker = run_example("mqtt_broker.py", "0")
    with socket.create_connection((HOST, broker.port), timeout=HTTP_TIMEOUT) as sub:
        sub.sendall(b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02s1")      # CONNECT
        assert sub.recv(4) == b"\x20\x02\x00\x00"                                 # CONNACK
        sub.sendall(b"\x82\x0e\x00\x07\x00\x09sensors/#\x00")                    # SUBSCRIBE id 7
        assert sub.recv(5) == b"\x90\x03\x00\x07\x00"                             # SUBACK
        client = run_example("mqtt_client.py", f"mqtt://{HOST}:{broker.port}", "--topic", "sensors/temp",
                             "--message", "21.5", wait_url=False)
        assert client.wait() == 0, client.report()
        got = sub.recv(64)
        assert got == b"\x30\x14\x00\x0csensors/temp" + b"21.5 0"
    broker.stop()


# ======================================================================================
# UDP and SNTP
# ======================================================================================


def test_udp_echo(run_example):
    ex = run_example("udp_echo.py", "0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(HTTP_TIMEOUT)
        for payload in (b"hello", b"x" * 1200, b"bye"):
            s.sendto(payload, (HOST, ex.port))
            assert s.recvfrom(4096)[0] == payload
    ex.stop()


def test_sntp_client_against_a_local_responder(run_example):
    import struct

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.settimeout(HTTP_TIMEOUT)

    def answer():
        req, addr = sock.recvfrom(512)
        now = time.time() + 3600  # one hour ahead of the local clock
        reply = bytearray(48)
        reply[0], reply[1] = (4 << 3) | 4, 1
        reply[40:48] = struct.pack("!II", int(now) + 2208988800, int((now % 1) * (1 << 32)))
        sock.sendto(bytes(reply), addr)

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        ex = run_example("sntp_client.py", f"sntp://{HOST}:{sock.getsockname()[1]}", wait_url=False)
        assert ex.wait() == 0, ex.report()
        out = "".join(ex.stdout)
        offset = int(re.search(r"offset ([+-]\d+) ms", out).group(1))
        assert 3_590_000 < offset < 3_610_000, out
    finally:
        t.join(5)
        sock.close()


def test_sntp_client_without_a_server_exits_1(run_example):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        ex = run_example("sntp_client.py", f"udp://{HOST}:{port}", wait_url=False)
        assert ex.wait() == 1, ex.report()  # closes after 3 s without a reply
    assert "no time from the server" in "".join(ex.stderr)

# SPDX-License-Identifier: MIT
"""HTTP client (spec §3.1 connect, §5.6 TCP/HTTP client, §6.4, §6.11) against real servers:
our own, ``python -m http.server`` (subprocess), aiohttp (thread) and raw-socket servers
for the framings and failures that the others cannot produce on demand.

The client Manager is polled on the test thread with deadlines (``poll_until``).
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

from mgtest_helpers import HOST, HttpReader, Recorder, mg
from ws_helpers import poll_until

pytestmark = pytest.mark.timeout(10)


class ClientRecorder(Recorder):
    """Also records status() of every HttpMessage."""

    def __call__(self, conn, ev, data):
        super().__call__(conn, ev, data)
        if isinstance(data, mg.HttpMessage):
            with self.cond:
                self.events[-1].data["status"] = data.status()


class Client:
    def __init__(self, **limits):
        self.rec = ClientRecorder(self._inner)
        self.errors: list[BaseException] = []
        kw = {"limits": limits} if limits else {}
        self.mgr = mg.Manager(None, False, self.errors.append, **kw)
        self.requests: dict[int, bytes] = {}

    def _inner(self, conn, ev, data):
        if ev == mg.MG_EV_CONNECT and conn.id in self.requests:
            conn.send(self.requests.pop(conn.id))

    def fetch(self, url: str, raw: bytes | None = None, *, on_connect: bool = True,
              http: bool | None = None):
        """Open a connection and send ``raw`` on MG_EV_CONNECT (or at once)."""
        kw = {} if http is None else {"http": http}
        conn = self.mgr.connect(url, self.rec, **kw)
        if raw is not None:
            if on_connect:
                self.requests[conn.id] = raw
            else:
                conn.send(raw)
        return conn

    def run_until(self, pred, timeout=3.0, what="condition"):
        return poll_until(self.mgr, pred, timeout, what=what)

    def wait_ev(self, ev, conn=None, count=1, timeout=3.0):
        cid = None if conn is None else conn.id
        self.run_until(lambda: len(self.rec.of(ev, cid)) >= count, timeout,
                       what=f"{count}x {mg.event_name(ev)}; seq={self.rec.seq(cid)}")
        return self.rec.of(ev, cid)

    def close(self):
        self.mgr.close()
        assert not self.errors, self.errors


@pytest.fixture
def client():
    made = []

    def make(**kw):
        c = Client(**kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def get_req(path="/", host="x", extra="", close=True) -> bytes:
    conn = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{conn}{extra}\r\n".encode()


def msgs(cl: Client, conn) -> list[dict]:
    return [e.data for e in cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)]


# --------------------------------------------------------------------------------------
# Raw servers
# --------------------------------------------------------------------------------------


class RawServer:
    """Accepts connections on a thread; ``script(sock, reader)`` answers each one."""

    def __init__(self, script, conns: int = 1, backlog: int = 8):
        self.lsock = socket.socket()
        self.lsock.bind((HOST, 0))
        self.lsock.listen(backlog)
        self.lsock.settimeout(4)
        self.port = self.lsock.getsockname()[1]
        self.script = script
        self.conns = conns
        self.results: list = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for _ in range(self.conns):
                s, _ = self.lsock.accept()
                s.settimeout(4)
                with s:
                    self.results.append(self.script(s, HttpReader(s)))
        except BaseException as e:
            self.error = e

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self):
        self.thread.join(5)
        self.lsock.close()
        assert not self.thread.is_alive(), "raw server thread hung"
        if self.error:
            raise self.error
        return self.results


def answer(data: bytes, *, read_head: bool = True, wait_close: bool = True):
    def script(s, r):
        head = r.read_until(b"\r\n\r\n") if read_head else b""
        s.sendall(data)
        if wait_close:
            r.wait_closed(3)
        return head
    return script


# --------------------------------------------------------------------------------------
# Our own server
# --------------------------------------------------------------------------------------


def test_fetch_from_own_server_event_order_and_mapping(client):
    cl = client()
    lst = cl.mgr.listen(f"http://{HOST}:0", lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and
                        c.reply(201, "created:" + d.uri, {"X-Echo": d.header("X-Req", "")}))
    port = lst.local_addr[1]
    conn = cl.fetch(f"http://{HOST}:{port}/thing", get_req("/thing", extra="X-Req: 42\r\n"))
    assert conn.is_client and not conn.is_listening
    assert conn.local_addr == ("0.0.0.0", 0, False)
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    seq = cl.rec.seq(conn.id)
    assert seq[:3] == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT"], seq
    assert seq[3] == "MG_EV_WRITE"
    i = seq.index("MG_EV_HTTP_HDRS")
    assert seq[i:i + 3] == ["MG_EV_HTTP_HDRS", "MG_EV_HTTP_MSG", "MG_EV_READ"], seq
    assert seq[-1] == "MG_EV_CLOSE" and "MG_EV_ERROR" not in seq
    m = msgs(cl, conn)[0]
    assert (m["method"], m["uri"], m["proto"], m["status"]) == ("HTTP/1.1", "201", "Created", 201)
    assert m["body"] == b"created:/thing"
    assert ("X-Echo", "42") in m["headers"]


def test_connect_is_never_sync_and_local_addr_valid_at_connect(client):
    cl = client()
    lst = cl.mgr.listen(f"http://{HOST}:0", lambda c, ev, d: None)
    seen = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_CONNECT:
            seen["local"] = conn.local_addr
            seen["remote"] = conn.remote_addr
    conn = cl.mgr.connect(f"http://{HOST}:{lst.local_addr[1]}/", h)
    assert "local" not in seen  # R3: CONNECT comes from a later poll()
    cl.run_until(lambda: "local" in seen)
    assert seen["local"][0] == HOST and seen["local"][1] > 0
    assert seen["remote"] == (HOST, lst.local_addr[1], False)
    conn.close()


def test_keep_alive_several_responses_on_one_connection(client):
    cl = client()
    lst = cl.mgr.listen(f"http://{HOST}:0",
                        lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, d.uri * 3))
    port = lst.local_addr[1]
    conn = cl.fetch(f"http://{HOST}:{port}/", get_req("/a", close=False) + get_req("/b", close=False)
                    + get_req("/c"))
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    assert [m["body"] for m in msgs(cl, conn)] == [b"/a/a/a", b"/b/b/b", b"/c/c/c"]
    assert len(cl.rec.of(mg.MG_EV_HTTP_HDRS, conn.id)) == 3


def test_localhost_name_resolves_synchronously(client):
    cl = client()
    lst = cl.mgr.listen(f"http://{HOST}:0",
                        lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, "lh"))
    conn = cl.fetch(f"http://localhost:{lst.local_addr[1]}/", get_req())
    assert cl.rec.seq(conn.id) == ["MG_EV_OPEN", "MG_EV_RESOLVE"]  # both sync
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    assert msgs(cl, conn)[0]["body"] == b"lh"


def test_data_queued_before_connect_is_sent_after_it(client):
    cl = client()
    lst = cl.mgr.listen(f"http://{HOST}:0",
                        lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, "early"))
    conn = cl.fetch(f"http://{HOST}:{lst.local_addr[1]}/", get_req(), on_connect=False)
    assert conn.send_len == len(get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    assert msgs(cl, conn)[0]["body"] == b"early"
    seq = cl.rec.seq(conn.id)
    assert seq.index("MG_EV_CONNECT") < seq.index("MG_EV_WRITE")


def test_raw_tcp_client_gets_only_read(client):
    srv = RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", wait_close=False))
    cl = client()
    conn = cl.fetch(f"tcp://{HOST}:{srv.port}", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    srv.join()
    seq = cl.rec.seq(conn.id)
    assert "MG_EV_HTTP_MSG" not in seq and "MG_EV_READ" in seq


def test_http_flag_forces_parsing_on_tcp_url(client):
    srv = RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", wait_close=False))
    cl = client()
    conn = cl.fetch(f"tcp://{HOST}:{srv.port}", get_req(), http=True)
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    srv.join()
    assert msgs(cl, conn)[0]["body"] == b"ok"


# --------------------------------------------------------------------------------------
# python -m http.server (HTTP/1.0 server, Content-Length responses)
# --------------------------------------------------------------------------------------


@pytest.fixture
def http_server_proc(tmp_path):
    (tmp_path / "hello.txt").write_bytes(b"hello from http.server\n")
    (tmp_path / "big.bin").write_bytes(os.urandom(1_500_000))
    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", HOST,
                             "--directory", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        line = b""
        while b"\n" not in line:
            left = deadline - time.monotonic()
            assert left > 0, f"http.server printed no port: {line!r}"
            r, _, _ = select.select([proc.stdout], [], [], left)
            if r:
                ch = os.read(proc.stdout.fileno(), 4096)
                assert ch, f"http.server exited: {line!r}"
                line += ch
        port = int(re.search(rb"port (\d+)", line).group(1))
        yield port, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(3)


def test_fetch_from_python_http_server(client, http_server_proc):
    port, root = http_server_proc
    cl = client()
    c1 = cl.fetch(f"http://{HOST}:{port}/hello.txt", get_req("/hello.txt"))
    c2 = cl.fetch(f"http://{HOST}:{port}/big.bin", get_req("/big.bin"))
    c3 = cl.fetch(f"http://{HOST}:{port}/missing", get_req("/missing"))
    for c in (c1, c2, c3):
        cl.wait_ev(mg.MG_EV_CLOSE, c)
    m1, m2, m3 = msgs(cl, c1)[0], msgs(cl, c2)[0], msgs(cl, c3)[0]
    assert (m1["method"], m1["uri"], m1["proto"], m1["status"]) == ("HTTP/1.0", "200", "OK", 200)
    assert m1["body"] == b"hello from http.server\n"
    assert m2["body"] == (root / "big.bin").read_bytes()
    assert (m3["status"], m3["proto"]) == (404, "File not found")
    for c in (c1, c2, c3):
        assert not cl.rec.of(mg.MG_EV_ERROR, c.id)
        assert len(cl.rec.of(mg.MG_EV_HTTP_HDRS, c.id)) == 1


# --------------------------------------------------------------------------------------
# aiohttp server in a thread (HTTP/1.1, Content-Length and chunked)
# --------------------------------------------------------------------------------------


@pytest.fixture
def aiohttp_server():
    web = pytest.importorskip("aiohttp.web", reason="pip install aiohttp")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict = {}

    async def plain(request):
        return web.Response(text="plain:" + request.path, headers={"X-Kind": "cl"})

    async def chunked(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(5):
            await resp.write(f"part{i};".encode() * (i + 1))
            await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    async def big(request):
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(20):
            await resp.write(bytes([65 + i]) * 50_000)
        await resp.write_eof()
        return resp

    async def nocontent(request):
        return web.Response(status=204)

    async def start():
        app = web.Application()
        app.router.add_get("/plain", plain)
        app.router.add_get("/chunked", chunked)
        app.router.add_get("/big", big)
        app.router.add_get("/204", nocontent)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        box["runner"] = runner
        box["port"] = runner.addresses[0][1]

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(5), "aiohttp did not start"
    yield box["port"]
    asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)
    loop.close()


def test_fetch_from_aiohttp_content_length_chunked_and_204(client, aiohttp_server):
    port = aiohttp_server
    cl = client()
    req = (get_req("/plain", close=False) + get_req("/204", close=False)
           + get_req("/chunked", close=False) + get_req("/big"))
    conn = cl.fetch(f"http://{HOST}:{port}/", req)
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    ms = msgs(cl, conn)
    assert [m["status"] for m in ms] == [200, 204, 200, 200]
    assert ms[0]["body"] == b"plain:/plain" and ("X-Kind", "cl") in ms[0]["headers"]
    assert ms[1]["body"] == b""
    assert ms[2]["body"] == b"".join(f"part{i};".encode() * (i + 1) for i in range(5))
    assert any(k.lower() == "transfer-encoding" and v == "chunked" for k, v in ms[2]["headers"])
    assert ms[3]["body"] == b"".join(bytes([65 + i]) * 50_000 for i in range(20))
    assert len(cl.rec.of(mg.MG_EV_HTTP_HDRS, conn.id)) == 4
    assert not cl.rec.of(mg.MG_EV_ERROR)


def test_aiohttp_client_against_our_server(server):
    aiohttp = pytest.importorskip("aiohttp")

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, data.body_bytes[::-1], {"Content-Type": "application/octet-stream"})
    srv = server(h)

    async def go():
        async with aiohttp.ClientSession() as s:
            out = []
            for body in (b"", b"abc", os.urandom(200_000)):
                async with s.post(srv.url("/rev"), data=body) as r:
                    out.append((r.status, await r.read(), body))
            return out
    for status, got, body in asyncio.run(asyncio.wait_for(go(), 5)):
        assert status == 200 and got == body[::-1]


# --------------------------------------------------------------------------------------
# Framings and status codes (raw servers)
# --------------------------------------------------------------------------------------


def test_read_until_close_http10(client):
    body = b"no length, the end is the close\n" * 1000
    srv = RawServer(answer(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body,
                           wait_close=False))
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    srv.join()
    seq = cl.rec.seq(conn.id)
    assert seq.count("MG_EV_HTTP_HDRS") == 1 and seq.count("MG_EV_HTTP_MSG") == 1
    assert seq.index("MG_EV_HTTP_MSG") < seq.index("MG_EV_CLOSE")
    assert "MG_EV_ERROR" not in seq
    m = msgs(cl, conn)[0]
    assert (m["method"], m["status"], m["body"]) == ("HTTP/1.0", 200, body)


def test_read_until_close_http11_without_length(client):
    srv = RawServer(answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
                           wait_close=False))
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    srv.join()
    assert msgs(cl, conn)[0]["body"] == b"until close"


def test_1xx_delivered_as_own_messages(client):
    srv = RawServer(answer(b"HTTP/1.1 100 Continue\r\n\r\n"
                           b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                           b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"))
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn, count=3)
    conn.close()
    srv.join()
    ms = msgs(cl, conn)
    assert [(m["status"], m["proto"], m["body"]) for m in ms] == [
        (100, "Continue", b""), (103, "Early Hints", b""), (200, "OK", b"final")]
    assert ("Link", "</style.css>; rel=preload") in ms[1]["headers"]


def test_204_and_304_have_no_body_even_with_bytes_following(client):
    srv = RawServer(answer(b"HTTP/1.1 204 No Content\r\n\r\n"
                           b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
                           b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend"))
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn, count=3)
    conn.close()
    srv.join()
    assert [(m["status"], m["body"]) for m in msgs(cl, conn)] == [(204, b""), (304, b""),
                                                                  (200, b"end")]


def test_chunked_response_with_extensions_and_trailers(client):
    srv = RawServer(answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n"
                           b"0\r\nX-Trailer: t\r\n\r\n"
                           b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"))
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn, count=2)
    conn.close()
    srv.join()
    assert [m["body"] for m in msgs(cl, conn)] == [b"hello 0123456789", b"next"]


def test_http_hdrs_before_a_slow_body(client):
    gate = threading.Event()

    def script(s, r):
        r.read_until(b"\r\n\r\n")
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        assert gate.wait(4)
        s.sendall(b"56789")
        r.wait_closed(3)

    srv = RawServer(script)
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    hdrs = cl.wait_ev(mg.MG_EV_HTTP_HDRS, conn)
    assert hdrs[0].data["status"] == 200
    # HTTP_HDRS may expose the body bytes received so far, never more
    assert hdrs[0].data["body"] in (b"", b"01234")
    assert not cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)
    gate.set()
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    conn.close()
    srv.join()
    assert msgs(cl, conn)[0]["body"] == b"0123456789"
    assert len(cl.rec.of(mg.MG_EV_HTTP_HDRS, conn.id)) == 1


def test_chunked_hdrs_before_body_complete(client):
    gate = threading.Event()

    def script(s, r):
        r.read_until(b"\r\n\r\n")
        s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        assert gate.wait(4)
        s.sendall(b"3\r\ndef\r\n0\r\n\r\n")
        r.wait_closed(3)

    srv = RawServer(script)
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_HTTP_HDRS, conn)
    assert not cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)
    gate.set()
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    conn.close()
    srv.join()
    assert msgs(cl, conn)[0]["body"] == b"abcdef"


def test_response_split_byte_by_byte(client):
    resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"

    def script(s, r):
        r.read_until(b"\r\n\r\n")
        for b in resp:
            s.sendall(bytes([b]))
        r.wait_closed(3)

    srv = RawServer(script)
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    conn.close()
    srv.join()
    assert msgs(cl, conn)[0]["body"] == b"abcd"
    assert len(cl.rec.of(mg.MG_EV_HTTP_HDRS, conn.id)) == 1


@pytest.mark.parametrize("resp,text", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", "MG_MAX_RECV_SIZE"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n15\r\n" + b"x" * 21 + b"\r\n0\r\n\r\n",
     "MG_MAX_RECV_SIZE"),
    (b"HTTP/1.0 200 OK\r\n\r\n" + b"y" * 64, "MG_MAX_RECV_SIZE"),
], ids=["content-length", "chunked", "until-close"])
def test_response_body_above_max_body(client, resp, text):
    srv = RawServer(answer(resp))
    cl = client(max_body=16)
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    srv.join()
    assert [e.data for e in cl.rec.of(mg.MG_EV_ERROR, conn.id)] == [text]
    assert not cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)


@pytest.mark.parametrize("resp", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["garbage", "4-digit-status", "cl-conflict", "cl-and-te", "bad-chunk"])
def test_malformed_responses_error_then_close(client, resp):
    srv = RawServer(answer(resp))
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    srv.join()
    errs = [e.data for e in cl.rec.of(mg.MG_EV_ERROR, conn.id)]
    assert len(errs) == 1, errs
    assert errs[0].startswith(("HTTP parse error", "Invalid")), errs
    assert not cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)
    seq = cl.rec.seq(conn.id)
    assert seq.index("MG_EV_ERROR") < seq.index("MG_EV_CLOSE") == len(seq) - 1


def test_response_head_above_max_header_bytes(client):
    srv = RawServer(answer(b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * 5000 + b"\r\n\r\n",
                           wait_close=True))
    cl = client(max_header_bytes=1024)
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    srv.join()
    assert [e.data for e in cl.rec.of(mg.MG_EV_ERROR, conn.id)] == ["HTTP header limit exceeded"]


def test_server_closes_mid_content_length_body(client):
    srv = RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
                           wait_close=False))
    cl = client()
    conn = cl.fetch(f"http://{HOST}:{srv.port}/", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    srv.join()
    # A truncated Content-Length body is not a complete message.
    assert not cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)


# --------------------------------------------------------------------------------------
# Failures: refused, DNS, connect timeout
# --------------------------------------------------------------------------------------


def unused_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def test_refused_port_error_then_close(client):
    cl = client()
    port = unused_port()
    conn = cl.fetch(f"http://{HOST}:{port}/", get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    seq = cl.rec.seq(conn.id)
    assert seq == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_ERROR", "MG_EV_CLOSE"], seq
    assert cl.rec.of(mg.MG_EV_ERROR, conn.id)[0].data == "socket error"
    # D32: role and id survive the close
    assert conn.is_client and conn.id > 0 and conn.is_closing


def test_refused_many_at_once(client):
    cl = client()
    port = unused_port()
    conns = [cl.fetch(f"http://{HOST}:{port}/") for _ in range(20)]
    cl.wait_ev(mg.MG_EV_CLOSE, count=20, timeout=4)
    assert all(e.data == "socket error" for e in cl.rec.of(mg.MG_EV_ERROR))
    assert len(cl.rec.of(mg.MG_EV_ERROR)) == 20
    assert cl.mgr.connections == ()
    assert len({c.id for c in conns}) == 20


def test_connect_bad_url_raises(client):
    cl = client()
    with pytest.raises(RuntimeError, match="Failed to connect to ''"):
        cl.mgr.connect("")


def _resolvable_local_name() -> tuple[str, str] | None:
    """A host name (not 'localhost', which the engine resolves itself) that the system
    resolver maps to an address we can listen on; None if there is none."""
    cands = [socket.gethostname(), socket.getfqdn()]
    try:
        with open("/etc/hosts") as f:
            for line in f:
                parts = line.split("#")[0].split()
                cands += parts[1:]
    except OSError:
        pass
    for name in cands:
        if not name or name == "localhost" or re.fullmatch(r"[\d.:]+", name):
            continue
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError:
            continue
        addr = infos[0][4][0]
        fam = infos[0][0]
        try:
            with socket.socket(fam) as s:
                s.bind((addr, 0))
        except OSError:
            continue
        return name, addr
    return None


def test_dns_name_resolved_on_a_thread(client):
    found = _resolvable_local_name()
    if found is None:
        pytest.skip("no host name in this resolver maps to a local address")
    name, addr = found
    cl = client()
    url_host = f"[{addr}]" if ":" in addr else addr
    lst = cl.mgr.listen(f"http://{url_host}:0",
                        lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, d.header("Host")))
    port = lst.local_addr[1]
    conn = cl.fetch(f"http://{name}:{port}/", get_req(host=name))
    assert cl.rec.seq(conn.id) == ["MG_EV_OPEN"]  # RESOLVE comes later for a DNS name
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    seq = cl.rec.seq(conn.id)
    assert seq[:3] == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT"]
    assert msgs(cl, conn)[0]["body"] == name.encode()


def test_unresolvable_name_error_then_close(client):
    host = "no-such-host.invalid"
    try:
        socket.getaddrinfo(host, 80)
        pytest.skip(f"this resolver answers for {host}")
    except socket.gaierror as e:
        gai = e.errno
    cl = client()
    conn = cl.fetch(f"http://{host}/", get_req())
    assert cl.rec.seq(conn.id) == ["MG_EV_OPEN"]
    cl.wait_ev(mg.MG_EV_CLOSE, conn, timeout=5)
    seq = cl.rec.seq(conn.id)
    assert seq == ["MG_EV_OPEN", "MG_EV_ERROR", "MG_EV_CLOSE"], seq
    err = cl.rec.of(mg.MG_EV_ERROR, conn.id)[0].data
    if gai in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
        assert err == f"{host} DNS lookup failed"
    else:  # a resolver that cannot be reached reports a different failure
        assert err in ("DNS error", "DNS timeout"), (gai, err)


def test_close_while_resolving_does_not_wait(client):
    cl = client()
    conn = cl.fetch("http://no-such-host.invalid/")
    t0 = time.monotonic()
    conn.close()
    cl.mgr.poll(0)
    assert time.monotonic() - t0 < 0.5
    assert cl.rec.seq(conn.id) == ["MG_EV_OPEN", "MG_EV_CLOSE"]


def _full_backlog_listener() -> tuple[socket.socket, list[socket.socket]] | None:
    """A listener that is never accepted from, with its accept queue filled, so a further
    SYN goes unanswered and connect() hangs (Linux drops SYNs to a full queue)."""
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((HOST, port))
        fillers.append(s)
    probe = socket.socket()
    probe.setblocking(False)
    probe.connect_ex((HOST, port))
    _, w, _ = select.select([], [probe], [], 0.3)
    hangs = not w
    probe.close()
    if not hangs:
        for s in fillers:
            s.close()
        ls.close()
        return None
    return ls, fillers


def test_connect_timeout_against_a_full_backlog(client):
    got = _full_backlog_listener()
    if got is None:
        pytest.skip("cannot make connect() hang here: this kernel completes connections to a "
                    "listener with a full accept queue")
    ls, fillers = got
    try:
        cl = client(connect_timeout=0.3)
        t0 = time.monotonic()
        conn = cl.fetch(f"http://{HOST}:{ls.getsockname()[1]}/", get_req())
        cl.wait_ev(mg.MG_EV_CLOSE, conn, timeout=3)
        dt = time.monotonic() - t0
        seq = cl.rec.seq(conn.id)
        assert seq == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_ERROR", "MG_EV_CLOSE"], seq
        assert cl.rec.of(mg.MG_EV_ERROR, conn.id)[0].data == "connect timeout"
        assert 0.25 <= dt < 2.0, dt
    finally:
        for s in fillers:
            s.close()
        ls.close()


def test_connect_timeout_limit_validation():
    assert mg.Manager(limits={"connect_timeout": 1.5}).limits["connect_timeout"] == 1.5
    with pytest.raises(ValueError, match="invalid value for limit 'connect_timeout'"):
        mg.Manager(limits={"connect_timeout": -1})

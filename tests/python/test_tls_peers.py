# SPDX-License-Identifier: MIT
"""TLS with other implementations on the other end (spec §3.6, §5.6, §8.7).

Our clients — ``Manager.connect("https://...")`` and ``ws_connect("wss://...")`` — against
``http.server`` wrapped in ``ssl``, nginx with TLS, a ``websockets`` server over TLS and
our own listeners: when the request may be written, certificate and host-name
verification (default trust store, ``ca``, ``name``, IP SANs, ``skip_verification``),
client certificates and handshake failures. And third-party clients (aiohttp,
``websockets``) against our HTTPS/WSS server.

The client Manager is polled on the test thread with deadlines (``poll_until``); peer
servers run on threads or as subprocesses and are stopped at teardown.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from mgtest_helpers import HOST, Recorder, mg
from tls_helpers import (NGINX, OPENSSL, Pair, ThreadedTlsServer, cleanup_certs, client_context,
                         error_texts, free_port, load_pair, make_certs, wait_listening)
from ws_helpers import close_payload, poll_until

pytestmark = pytest.mark.timeout(20)


@pytest.fixture(scope="session")
def certs():
    if OPENSSL is None:
        pytest.skip("the openssl command is needed to make the test certificates")
    pytest.importorskip("trustme", reason="pip install trustme (scripts/setup.sh)")
    yield make_certs()
    cleanup_certs()


def server_context(pair: Pair, certs, *, client_ca: bytes | None = None,
                   maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_pair(ctx, pair)
    if client_ca is not None:
        ctx.load_verify_locations(cadata=client_ca.decode())
        ctx.verify_mode = ssl.CERT_REQUIRED
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def get_req(path: str = "/", host: str = "localhost", close: bool = True) -> bytes:
    conn = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{conn}\r\n".encode()


# ======================================================================================
# Our client, polled on the test thread
# ======================================================================================


class TlsClient:
    """A Manager polled on the test thread. ``open()`` makes one connection that calls
    ``tls_init(opts)`` in MG_EV_CONNECT (unless ``opts`` is None) and writes ``request``
    at the chosen moment: ``"hs"`` (MG_EV_TLS_HS), ``"connect"`` (MG_EV_CONNECT, i.e.
    before the handshake) or ``"now"`` (right after connect() returns)."""

    def __init__(self, **limits):
        self.errors: list[BaseException] = []
        self.infos: dict[int, dict | None] = {}
        self.rec = Recorder(self._inner)
        self.mgr = mg.Manager(None, False, self.errors.append,
                              **({"limits": limits} if limits else {}))
        self.plans: dict[int, tuple] = {}
        self.hooks: dict[int, object] = {}

    def _inner(self, conn, ev, data):
        plan = self.plans.get(conn.id)
        if plan is None:
            return
        opts, request, when = plan
        if ev == mg.MG_EV_CONNECT:
            if opts is not None:
                conn.tls_init(opts)
            if when == "connect" and request:
                conn.send(request)
        elif ev == mg.MG_EV_TLS_HS:
            self.infos[conn.id] = conn.tls_info()
            if when == "hs" and request:
                conn.send(request)
        hook = self.hooks.get(conn.id)
        if hook is not None:
            hook(conn, ev, data)

    def open(self, url: str, opts=None, request: bytes | None = None, when: str = "hs",
             *, http: bool | None = True, ws: bool = False, hook=None):
        if ws:
            conn = self.mgr.ws_connect(url, self.rec)
        else:
            kw = {} if http is None else {"http": http}
            conn = self.mgr.connect(url, self.rec, **kw)
        self.plans[conn.id] = (opts, request, when)
        if hook is not None:
            self.hooks[conn.id] = hook
        if when == "now" and request:
            conn.send(request)
        return conn

    def run_until(self, pred, timeout=5.0, what="condition"):
        return poll_until(self.mgr, pred, timeout, what=what)

    def wait_ev(self, ev, conn=None, count=1, timeout=5.0):
        cid = None if conn is None else conn.id
        self.run_until(lambda: len(self.rec.of(ev, cid)) >= count, timeout,
                       what=f"{count}x {mg.event_name(ev)}; seq={self.rec.seq(cid)}")
        return self.rec.of(ev, cid)

    def bodies(self, conn) -> list[bytes]:
        return [e.data["body"] for e in self.rec.of(mg.MG_EV_HTTP_MSG, conn.id)]

    def errors_of(self, conn) -> list[str]:
        return [e.data for e in self.rec.of(mg.MG_EV_ERROR, conn.id)]

    def close(self):
        self.mgr.close()
        assert not self.errors, self.errors


@pytest.fixture
def client():
    made = []

    def make(**kw):
        c = TlsClient(**kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def pem_der(pem: bytes | str) -> bytes:
    if isinstance(pem, bytes):
        pem = pem.decode()
    first = pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return ssl.PEM_cert_to_DER_cert(first)


# -------------------------------------------------------------- http.server wrapped in ssl


@pytest.fixture
def py_tls_server(certs):
    made = []

    def make(pair: Pair | None = None, routes: dict | None = None, **kw):
        routes = routes or {"/a": (200, {"X-Peer": "python"}, b"hello from python ssl")}
        s = ThreadedTlsServer(pair or certs.server, routes, certs_dir=certs.dir, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("when", ["hs", "connect", "now"])
def test_https_client_against_python_ssl_server(client, certs, py_tls_server, when):
    srv = py_tls_server()
    cl = client()
    conn = cl.open(f"https://localhost:{srv.port}/a", mg.TlsOpts(ca=certs.ca),
                   get_req("/a"), when)
    assert conn.is_tls and conn.is_client
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    seq = cl.rec.seq(conn.id)
    assert seq[:4] == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT", "MG_EV_TLS_HS"], seq
    assert seq.index("MG_EV_WRITE") > seq.index("MG_EV_TLS_HS")
    i = seq.index("MG_EV_HTTP_HDRS")
    assert seq[i:i + 3] == ["MG_EV_HTTP_HDRS", "MG_EV_HTTP_MSG", "MG_EV_READ"], seq
    assert seq[-1] == "MG_EV_CLOSE" and "MG_EV_ERROR" not in seq  # peer's close: no error
    msg = cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)[0].data
    assert msg["body"] == b"hello from python ssl"
    assert ("X-Peer", "python") in msg["headers"]
    assert [r[:2] for r in srv.requests] == [("GET", "/a")]
    info = cl.infos[conn.id]
    assert info["version"] == "TLSv1.3" and info["server_name"] == "localhost"
    assert info["server_cert"] is None  # a client without a certificate
    peer = info["peer_cert"]
    assert peer["verified"] is True
    assert peer["san"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert "CN=localhost" in peer["subject"]
    assert pem_der(peer["pem"]) == pem_der(certs.server.cert)


def test_https_client_post_and_keep_alive(client, certs, py_tls_server):
    body = os.urandom(300_000)
    srv = py_tls_server(routes={
        "/echo": (200, {}, lambda method, b: hashlib.sha256(b).hexdigest().encode()),
        "/a": (200, {}, b"A")})
    cl = client()
    post = (f"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)
    conn = cl.open(f"https://localhost:{srv.port}/", mg.TlsOpts(ca=certs.ca),
                   get_req("/a", close=False) + post + get_req("/a"))
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    assert cl.bodies(conn) == [b"A", hashlib.sha256(body).hexdigest().encode(), b"A"]
    assert len(cl.rec.of(mg.MG_EV_TLS_HS, conn.id)) == 1


def test_https_client_large_response(client, certs, py_tls_server):
    big = os.urandom(2_500_000)
    srv = py_tls_server(routes={"/big": (200, {}, big)})
    cl = client()
    conn = cl.open(f"https://localhost:{srv.port}/", mg.TlsOpts(ca=certs.ca), get_req("/big"))
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    assert cl.bodies(conn) == [big]


def test_default_verification_rejects_unknown_ca(client, py_tls_server):
    """No tls_init in CONNECT: TLS starts with the system trust store, which does not know
    the test CA."""
    srv = py_tls_server()
    cl = client()
    conn = cl.open(f"https://localhost:{srv.port}/a", None, get_req("/a"), "connect")
    assert conn.is_tls
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    assert cl.rec.seq(conn.id) == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT",
                                   "MG_EV_ERROR", "MG_EV_CLOSE"]
    errs = cl.errors_of(conn)
    assert errs[0].startswith("TLS handshake failed: certificate verify failed"), errs
    assert srv.requests == []  # the request never left in any form


def test_default_verification_with_wss(client, certs):
    ws = pytest.importorskip("websockets.sync.server")

    def handler(c):
        for m in c:
            c.send(m)
    with ws.serve(handler, HOST, 0, ssl=server_context(certs.server, certs)) as server:
        port = server.socket.getsockname()[1]
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        try:
            cl = client()
            conn = cl.open(f"wss://localhost:{port}/", None, ws=True)
            cl.wait_ev(mg.MG_EV_CLOSE, conn)
            assert cl.errors_of(conn)[0].startswith(
                "TLS handshake failed: certificate verify failed"), cl.errors_of(conn)
            assert not cl.rec.of(mg.MG_EV_WS_OPEN)
        finally:
            server.shutdown()
            t.join(3)


@pytest.mark.parametrize("url_host,pair,name,ok,reason", [
    pytest.param("localhost", "server", None, True, None, id="dns-san"),
    pytest.param("127.0.0.1", "server", None, True, None, id="ip-san"),
    pytest.param("localhost", "server", "wrong.test", False, "hostname mismatch",
                 id="wrong-name"),
    pytest.param("127.0.0.1", "name_only", None, False, "IP address mismatch",
                 id="ip-not-in-san"),
    pytest.param("127.0.0.1", "name_only", "localhost", True, None, id="name-overrides-ip"),
    pytest.param("localhost", "untrusted", None, False, "unable to get local issuer certificate",
                 id="other-ca"),
    pytest.param("localhost", "chained", None, True, None, id="intermediate"),
])
def test_client_verification(client, certs, py_tls_server, url_host, pair, name, ok, reason):
    srv = py_tls_server(getattr(certs, pair))
    cl = client()
    conn = cl.open(f"https://{url_host}:{srv.port}/a", mg.TlsOpts(ca=certs.ca, name=name),
                   get_req("/a"))
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    errs = cl.errors_of(conn)
    if ok:
        assert errs == [] and cl.bodies(conn) == [b"hello from python ssl"]
        assert cl.infos[conn.id]["peer_cert"]["verified"] is True
    else:
        assert errs == [f"TLS handshake failed: certificate verify failed: {reason}"], errs
        assert cl.rec.seq(conn.id)[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]
        assert not cl.rec.of(mg.MG_EV_TLS_HS, conn.id) and srv.requests == []


def test_skip_verification_accepts_untrusted_and_mismatched(client, certs, py_tls_server):
    srv = py_tls_server(certs.untrusted)
    cl = client()
    conns = [cl.open(f"https://localhost:{srv.port}/a", mg.TlsOpts(skip_verification=True),
                     get_req("/a")),
             cl.open(f"https://localhost:{srv.port}/a",
                     mg.TlsOpts(ca=certs.ca, name="nope.test", skip_verification=True),
                     get_req("/a"))]
    for conn in conns:
        cl.wait_ev(mg.MG_EV_CLOSE, conn)
        assert cl.errors_of(conn) == [] and cl.bodies(conn) == [b"hello from python ssl"]
        assert cl.infos[conn.id]["peer_cert"]["verified"] is False


def test_sni_sent_by_our_client(client, certs, py_tls_server):
    """name= is the SNI (and the expected name); without it, the URL host."""
    seen = []
    srv = py_tls_server(certs.alpha)

    def sni_cb(sslobj, name, ctx):
        seen.append(name)
    srv.httpd.socket.context.sni_callback = sni_cb
    cl = client()
    a = cl.open(f"https://localhost:{srv.port}/a", mg.TlsOpts(ca=certs.ca, name="alpha.test"),
                get_req("/a"))
    cl.wait_ev(mg.MG_EV_CLOSE, a)
    assert cl.bodies(a) == [b"hello from python ssl"]
    assert cl.infos[a.id]["server_name"] == "alpha.test"
    b = cl.open(f"https://127.0.0.1:{srv.port}/a", mg.TlsOpts(skip_verification=True),
                get_req("/a"))
    cl.wait_ev(mg.MG_EV_CLOSE, b)
    assert seen == ["alpha.test", None]  # RFC 6066: no SNI for an IP literal


def test_client_certificate_presented_to_mtls_server(client, certs, py_tls_server):
    srv = py_tls_server(ca_for_clients=certs.ca)
    cl = client()
    ok = cl.open(f"https://localhost:{srv.port}/a",
                 mg.TlsOpts(ca=certs.ca, cert=certs.client.cert, key=certs.client.key),
                 get_req("/a"))
    cl.wait_ev(mg.MG_EV_CLOSE, ok)
    assert cl.bodies(ok) == [b"hello from python ssl"]
    peer = srv.client_certs[0]
    assert dict(x[0] for x in peer["subject"])["commonName"] == "test client"
    assert cl.infos[ok.id]["server_cert"] is not None
    assert pem_der(cl.infos[ok.id]["server_cert"]) == pem_der(certs.client.cert)
    # and without a certificate the server refuses it
    no = cl.open(f"https://localhost:{srv.port}/a", mg.TlsOpts(ca=certs.ca), get_req("/a"))
    cl.wait_ev(mg.MG_EV_CLOSE, no)
    assert cl.bodies(no) == []
    errs = cl.errors_of(no)
    assert len(errs) == 1 and errs[0].startswith("TLS "), errs  # handshake or first read
    assert len(srv.requests) == 1


@pytest.mark.parametrize("kw,reason", [
    (dict(ca="not a pem"), "invalid CA certificate (PEM expected)"),
    (dict(cert="junk", key="junk"), "invalid certificate (PEM expected)"),
])
def test_client_bad_options_fail_the_handshake(client, certs, py_tls_server, kw, reason):
    srv = py_tls_server()
    cl = client()
    conn = cl.open(f"https://localhost:{srv.port}/a", mg.TlsOpts(**kw), get_req("/a"))
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    assert cl.errors_of(conn) == ["TLS handshake failed: " + reason]
    assert srv.requests == []


def test_tls12_only_peer(client, certs):
    ctx = server_context(certs.server, certs, maximum=ssl.TLSVersion.TLSv1_2)
    lsock = socket.socket()
    lsock.bind((HOST, 0))
    lsock.listen(1)
    lsock.settimeout(5)
    port = lsock.getsockname()[1]
    got = []

    def serve():
        s, _ = lsock.accept()
        s.settimeout(5)
        with ctx.wrap_socket(s, server_side=True) as t:
            got.append(t.version())
            data = b""
            while b"\r\n\r\n" not in data:
                data += t.recv(4096)
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nv12")
            try:
                t.unwrap()
            except (ssl.SSLError, OSError):
                pass
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        cl = client()
        conn = cl.open(f"https://localhost:{port}/", mg.TlsOpts(ca=certs.ca), get_req())
        cl.wait_ev(mg.MG_EV_CLOSE, conn)
        th.join(5)
        assert got == ["TLSv1.2"] and cl.bodies(conn) == [b"v12"]
        info = cl.infos[conn.id]
        assert info["version"] == "TLSv1.2" and info["version_code"] == 0x0303
        assert cl.errors_of(conn) == []
    finally:
        lsock.close()


def silent_server(action: str):
    """A TCP server that accepts one connection and then stays silent (``"hang"``) or
    closes at once after reading a little (``"close"``)."""
    lsock = socket.socket()
    lsock.bind((HOST, 0))
    lsock.listen(1)
    lsock.settimeout(5)
    done = threading.Event()

    def run():
        try:
            s, _ = lsock.accept()
        except OSError:
            return
        with s:
            s.settimeout(5)
            try:
                s.recv(100)
                if action == "hang":
                    done.wait(5)
            except OSError:
                pass
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return lsock, done, th


def test_client_handshake_timeout(client):
    lsock, done, th = silent_server("hang")
    try:
        cl = client(tls_handshake_timeout=0.5)
        conn = cl.open(f"https://localhost:{lsock.getsockname()[1]}/", None, get_req())
        cl.wait_ev(mg.MG_EV_CONNECT, conn)
        t0 = time.monotonic()
        cl.wait_ev(mg.MG_EV_CLOSE, conn)
        assert 0.35 < time.monotonic() - t0 < 2.5
        assert cl.errors_of(conn) == ["TLS handshake failed: timeout"]
    finally:
        done.set()
        lsock.close()
        th.join(5)


def test_client_peer_closes_during_handshake(client):
    lsock, done, th = silent_server("close")
    try:
        cl = client()
        conn = cl.open(f"https://localhost:{lsock.getsockname()[1]}/", None, get_req())
        cl.wait_ev(mg.MG_EV_CLOSE, conn)
        errs = cl.errors_of(conn)
        assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
        assert not cl.rec.of(mg.MG_EV_TLS_HS)
    finally:
        done.set()
        lsock.close()
        th.join(5)


def test_tcp_url_with_tls_init_speaks_tls(client, certs, py_tls_server):
    srv = py_tls_server()
    cl = client()
    conn = cl.open(f"tcp://localhost:{srv.port}", mg.TlsOpts(ca=certs.ca), get_req("/a"))
    assert not conn.is_tls
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    assert cl.bodies(conn) == [b"hello from python ssl"]
    assert cl.infos[conn.id]["peer_cert"]["verified"] is True


def test_tls_init_then_tls_free_in_connect_stays_plaintext(client):
    """tls_free before the handshake began: the connection goes back to plaintext."""
    cl = client()
    lst = cl.mgr.listen(f"http://{HOST}:0",
                        lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, "plain"))

    def hook(conn, ev, data):
        if ev == mg.MG_EV_CONNECT:
            conn.tls_free()
            conn.send(get_req())
    conn = cl.open(f"http://{HOST}:{lst.local_addr[1]}/", mg.TlsOpts(skip_verification=True),
                   None, hook=hook)
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    assert cl.bodies(conn) == [b"plain"]
    assert not cl.rec.of(mg.MG_EV_TLS_HS) and not conn.is_tls


def test_tls_init_twice_after_handshake_raises(client, certs):
    cl = client()
    lst = cl.mgr.listen(f"https://{HOST}:0",
                        lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, "x"))
    lst.tls_init(certs.server.opts())
    raised = []

    def hook(conn, ev, data):
        if ev == mg.MG_EV_TLS_HS:
            try:
                conn.tls_init(mg.TlsOpts(ca=certs.ca))
            except RuntimeError as e:
                raised.append(str(e))
    conn = cl.open(f"https://localhost:{lst.local_addr[1]}/", mg.TlsOpts(ca=certs.ca),
                   get_req(), hook=hook)
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    assert raised == ["TLS already started on this connection; call tls_free() first"]
    assert cl.bodies(conn) == [b"x"]


# ------------------------------------------------------------------ our client, our server


def test_own_https_client_and_server_with_mtls(client, certs):
    cl = client()
    seen = {}

    def srv_handler(c, ev, d):
        if ev == mg.MG_EV_HTTP_MSG:
            seen["server_info"] = c.tls_info()
            c.reply(200, "mutual")
    lst = cl.mgr.listen(f"https://{HOST}:0", srv_handler)
    lst.tls_init(certs.server.opts(ca=certs.ca))
    conn = cl.open(f"https://localhost:{lst.local_addr[1]}/",
                   mg.TlsOpts(ca=certs.ca, cert=certs.client.cert, key=certs.client.key),
                   get_req())
    cl.wait_ev(mg.MG_EV_HTTP_MSG, conn)
    assert cl.bodies(conn) == [b"mutual"]
    server_peer = seen["server_info"]["peer_cert"]
    assert "CN=test client" in server_peer["subject"] and server_peer["verified"] is True
    client_info = cl.infos[conn.id]
    assert client_info["alpn"] == "http/1.1"  # we offer it, we select it
    assert client_info["peer_cert"]["verified"] is True
    assert seen["server_info"]["alpn"] == "http/1.1"


def test_own_client_without_cert_refused_by_own_mtls_server(client, certs):
    cl = client()
    srv_rec = Recorder(lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, "no"))
    lst = cl.mgr.listen(f"https://{HOST}:0", srv_rec)
    lst.tls_init(certs.server.opts(ca=certs.ca))
    conn = cl.open(f"https://localhost:{lst.local_addr[1]}/", mg.TlsOpts(ca=certs.ca),
                   get_req())
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    cl.run_until(lambda: len(srv_rec.of(mg.MG_EV_CLOSE)) >= 1, what="server child closed")
    assert cl.bodies(conn) == []
    assert error_texts(srv_rec) == ["TLS handshake failed: peer did not return a certificate"]
    errs = cl.errors_of(conn)
    assert len(errs) == 1 and errs[0].startswith("TLS "), errs


def test_ws_connect_wss_against_own_server(client, certs):
    cl = client()

    def echo(c, ev, d):
        if ev == mg.MG_EV_HTTP_MSG:
            c.ws_upgrade(d)
        elif ev == mg.MG_EV_WS_MSG:
            c.ws_send(d.data, d.opcode)
    lst = cl.mgr.listen(f"https://{HOST}:0", echo)
    lst.tls_init(certs.server.opts())
    big = os.urandom(1024 * 1024)
    msgs = []

    def hook(conn, ev, data):
        if ev == mg.MG_EV_WS_OPEN:
            conn.ws_send("hello wss")
            conn.ws_send(big, mg.WEBSOCKET_OP_BINARY)
        elif ev == mg.MG_EV_WS_MSG:
            msgs.append((data.opcode, data.data))
    conn = cl.open(f"wss://localhost:{lst.local_addr[1]}/ws", mg.TlsOpts(ca=certs.ca), ws=True,
                   hook=hook)
    cl.run_until(lambda: len(msgs) >= 2, what="two echoed messages")
    assert msgs == [(mg.WEBSOCKET_OP_TEXT, b"hello wss"), (mg.WEBSOCKET_OP_BINARY, big)]
    seq = cl.rec.seq(conn.id)
    assert seq[:5] == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT", "MG_EV_TLS_HS",
                       "MG_EV_WRITE"], seq
    assert "MG_EV_WS_OPEN" in seq and conn.is_websocket and conn.is_tls


def test_ws_connect_wss_against_websockets_server(client, certs):
    ws = pytest.importorskip("websockets.sync.server")
    got = []

    def handler(c):
        for m in c:
            got.append(m)
            c.send(m)
    with ws.serve(handler, HOST, 0, ssl=server_context(certs.server, certs),
                  max_size=4 * 1024 * 1024) as server:
        port = server.socket.getsockname()[1]
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        try:
            cl = client()
            big = os.urandom(1024 * 1024)
            msgs = []

            def hook(conn, ev, data):
                if ev == mg.MG_EV_WS_OPEN:
                    conn.ws_send("h\u00e9llo")
                    conn.ws_send(big, mg.WEBSOCKET_OP_BINARY)
                elif ev == mg.MG_EV_WS_MSG:
                    msgs.append(data.data)
            conn = cl.open(f"wss://localhost:{port}/", mg.TlsOpts(ca=certs.ca), ws=True,
                           hook=hook)
            cl.run_until(lambda: len(msgs) >= 2, what="echoes from websockets")
            assert msgs == ["h\u00e9llo".encode(), big]
            assert got == ["h\u00e9llo", big]
            conn.ws_send(close_payload(1000), 8)
            cl.wait_ev(mg.MG_EV_CLOSE, conn)
            assert cl.errors_of(conn) == []
        finally:
            server.shutdown()
            t.join(3)


# ======================================================================================
# nginx with TLS
# ======================================================================================

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ application/octet-stream bin; text/plain txt; }}
    keepalive_requests 100;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root {tmp}/www;
        location = /hello {{ default_type text/plain; return 200 "hello from nginx\\n"; }}
    }}
}}
"""


@pytest.fixture
def nginx_tls(tmp_path, certs):
    if NGINX is None:
        pytest.skip("nginx is not installed")
    www = tmp_path / "www"
    www.mkdir()
    blob = os.urandom(2 * 1024 * 1024 + 5)
    (www / "blob.bin").write_bytes(blob)
    (tmp_path / "cert.pem").write_bytes(certs.server.cert)
    (tmp_path / "key.pem").write_bytes(certs.server.key)
    last = ""
    for _ in range(3):  # free_port() may race with another process: retry on bind failure
        port = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp_path, port=port))
        proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-e",
                                 str(tmp_path / "error.log")],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            wait_listening(port, proc, timeout=10)
        except AssertionError as e:
            last = f"{e}: {(tmp_path / 'error.log').read_text(errors='replace')[-500:]}"
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            continue
        try:
            yield port, blob
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return
    pytest.fail(f"nginx did not start: {last}")


def test_https_client_against_nginx(client, certs, nginx_tls):
    port, blob = nginx_tls
    cl = client()
    conn = cl.open(f"https://localhost:{port}/", mg.TlsOpts(ca=certs.ca),
                   get_req("/hello", close=False) + get_req("/blob.bin", close=False)
                   + get_req("/missing"))
    cl.wait_ev(mg.MG_EV_CLOSE, conn)
    msgs = [e.data for e in cl.rec.of(mg.MG_EV_HTTP_MSG, conn.id)]
    assert [m["body"] for m in msgs[:2]] == [b"hello from nginx\n", blob]
    assert len(msgs) == 3 and b"404" in msgs[2]["body"]
    assert cl.errors_of(conn) == []
    info = cl.infos[conn.id]
    assert info["version"] == "TLSv1.3" and info["alpn"] == "http/1.1"
    assert info["peer_cert"]["verified"] is True


def test_https_client_against_nginx_verification(client, certs, nginx_tls):
    port, _ = nginx_tls
    cl = client()
    default = cl.open(f"https://localhost:{port}/hello", None, get_req("/hello"))
    wrong = cl.open(f"https://localhost:{port}/hello", mg.TlsOpts(ca=certs.ca, name="x.test"),
                    get_req("/hello"))
    ip = cl.open(f"https://127.0.0.1:{port}/hello", mg.TlsOpts(ca=certs.ca), get_req("/hello"))
    for c in (default, wrong, ip):
        cl.wait_ev(mg.MG_EV_CLOSE, c)
    assert cl.errors_of(default)[0].startswith("TLS handshake failed: certificate verify failed")
    assert cl.errors_of(wrong) == ["TLS handshake failed: certificate verify failed: "
                                   "hostname mismatch"]
    assert cl.errors_of(ip) == [] and cl.bodies(ip) == [b"hello from nginx\n"]


def test_several_https_clients_share_nginx(client, certs, nginx_tls):
    """Six TLS sessions of one Manager to nginx at the same time, each a 2 MiB body."""
    port, blob = nginx_tls
    cl = client()
    conns = [cl.open(f"https://localhost:{port}/", mg.TlsOpts(ca=certs.ca),
                     get_req("/blob.bin")) for _ in range(6)]
    for c in conns:
        cl.wait_ev(mg.MG_EV_CLOSE, c)
        assert cl.bodies(c) == [blob] and cl.errors_of(c) == []


# ======================================================================================
# Third-party clients against our server
# ======================================================================================


@pytest.fixture
def tls_srv(server, certs):
    def make(handler, **kw):
        srv = server(handler, url=f"https://{HOST}:0", **kw)
        srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
        return srv
    return make


def test_aiohttp_client_against_our_https_server(tls_srv, certs):
    aiohttp = pytest.importorskip("aiohttp")

    def h(conn, ev, d):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply_json({"m": d.method, "uri": d.uri, "n": len(d.body_bytes),
                             "conn": conn.id, "tls": conn.tls_info()["version"]})
    srv = tls_srv(h)
    ctx = client_context(certs.ca)
    body = os.urandom(500_000)

    async def main():
        conn = aiohttp.TCPConnector(ssl=ctx, limit=1)
        async with aiohttp.ClientSession(connector=conn) as s:
            out = []
            for i in range(3):
                async with s.get(f"https://localhost:{srv.port}/g{i}") as r:
                    out.append((r.status, await r.json()))
            async with s.post(f"https://localhost:{srv.port}/p", data=body) as r:
                out.append((r.status, await r.json()))
            return out
    out = asyncio.run(asyncio.wait_for(main(), 10))
    assert [s for s, _ in out] == [200] * 4
    assert out[0][1]["tls"] == "TLSv1.3"
    assert [j["uri"] for _, j in out] == ["/g0", "/g1", "/g2", "/p"]
    assert out[3][1]["n"] == len(body) and out[3][1]["m"] == "POST"
    assert len({j["conn"] for _, j in out}) == 1  # keep-alive over one TLS connection


def test_websockets_client_over_wss(tls_srv, certs):
    ws_client = pytest.importorskip("websockets.sync.client")
    opened = []

    def h(conn, ev, d):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(d)
        elif ev == mg.MG_EV_WS_OPEN:
            opened.append(conn.is_tls)
        elif ev == mg.MG_EV_WS_MSG:
            conn.ws_send(d.data, d.opcode)
    srv = tls_srv(h)
    big = os.urandom(1024 * 1024)
    with ws_client.connect(f"wss://localhost:{srv.port}/ws", ssl=client_context(certs.ca),
                           max_size=4 * 1024 * 1024, open_timeout=5, close_timeout=3) as c:
        c.send("text \u2713")
        assert c.recv(timeout=5) == "text \u2713"
        c.send(b"\x00\x01binary")
        assert c.recv(timeout=5) == b"\x00\x01binary"
        c.send(big)
        assert c.recv(timeout=10) == big
        c.ping(b"p").wait(5)
    assert opened == [True]

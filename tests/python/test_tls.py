# SPDX-License-Identifier: MIT
"""TLS server side (spec §3.6, §5.6 "TLS server", §5.11, §8.6, §8.7) seen from real peers.

``TlsOpts`` and ``tls_init``/``tls_free``/``tls_info`` as an API; then HTTPS and raw TLS
listeners against Python's ``ssl``/``http.client``/``urllib``, ``curl`` and
``openssl s_client``: protocol versions, ALPN, SNI, client certificates, key formats,
certificate chains, large and streamed bodies, static files, and what happens to
plaintext, garbage, silent and rude peers.

Certificates are made at test time (``tls_helpers.make_certs``: trustme + openssl); no
private key is committed. Client-side TLS (our ``connect``/``ws_connect`` against other
servers) lives in ``test_tls_peers.py``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

from mgtest_helpers import HOST, HttpReader, PeerClosed, Recorder, get, mg, req, wait_until
from tls_helpers import (CURL, OPENSSL, cleanup_certs, client_context, error_texts, make_certs,
                         openssl_s_client, tls_connect, tls_get)

pytestmark = pytest.mark.timeout(20)

needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")

CLOSE_REQ = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="session")
def certs():
    if OPENSSL is None:
        pytest.skip("the openssl command is needed to make the test certificates")
    pytest.importorskip("trustme", reason="pip install trustme (scripts/setup.sh)")
    yield make_certs()
    cleanup_certs()


@pytest.fixture
def ctx(certs) -> ssl.SSLContext:
    """A client context that trusts the test CA and checks host names."""
    return client_context(certs.ca)


@pytest.fixture
def tls_server(server, certs):
    """``tls_server(handler, pair="server"|None, opts=None, url=..., **server_opts)``:
    a polled Manager whose listener (``https://127.0.0.1:0`` by default) got
    ``tls_init(opts)`` (default: the localhost certificate and key) on the polling thread
    before any client connects."""
    def make(handler=None, *, pair: str | None = "server", opts=None,
             url: str = f"https://{HOST}:0", **kw):
        srv = server(handler, url=url, **kw)
        if opts is None and pair is not None:
            opts = getattr(certs, pair).opts()
        if opts is not None:
            srv.call(lambda: srv.listener.tls_init(opts))
        return srv
    return make


def answer_uri(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, "uri=" + data.uri)


def wait_closed_child(rec: Recorder, count: int = 1) -> list[int]:
    """Wait until ``count`` accepted connections have had their CLOSE; their ids."""
    def pred(evs):
        acc = [e.conn_id for e in evs if e.ev == mg.MG_EV_ACCEPT]
        closed = {e.conn_id for e in evs if e.ev == mg.MG_EV_CLOSE}
        done = [i for i in acc if i in closed]
        return done if len(done) >= count else None
    return rec.wait_for(pred, what=f"{count} accepted connection(s) closed")


def assert_tls_alive(port: int, ctx: ssl.SSLContext, path: str = "/alive") -> None:
    """After a misbehaving peer, a well-formed HTTPS request is answered (spec §8.5)."""
    r = tls_get(port, ctx, req(path))
    assert r.status == 200, (r.status, r.body)


def pem_to_der(pem: bytes | str) -> bytes:
    if isinstance(pem, bytes):
        pem = pem.decode()
    first = pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return ssl.PEM_cert_to_DER_cert(first)


# ======================================================================================
# TlsOpts (§3.6)
# ======================================================================================

FIELDS = ["ca", "cert", "key", "name"]


def test_tlsopts_defaults():
    o = mg.TlsOpts()
    assert (o.ca, o.cert, o.key, o.name) == (b"", b"", b"", b"")
    assert o.skip_verification is False
    assert all(type(getattr(o, f)) is bytes for f in FIELDS)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value,expected", [
    ("text", b"text"), ("h\u00e9llo", "h\u00e9llo".encode()), (b"raw\x00\xff", b"raw\x00\xff"),
    (bytearray(b"ba"), b"ba"), (memoryview(b"mv"), b"mv"), (None, b""), ("", b""), (b"", b""),
])
def test_tlsopts_str_bytes_none_conversion(field, value, expected):
    o = mg.TlsOpts(**{field: value})
    got = getattr(o, field)
    assert got == expected and type(got) is bytes
    others = [getattr(o, f) for f in FIELDS if f != field]
    assert others == [b"", b"", b""]


@pytest.mark.parametrize("field", FIELDS)
def test_tlsopts_attributes_are_writable(field):
    o = mg.TlsOpts()
    setattr(o, field, "abc")
    assert getattr(o, field) == b"abc"
    setattr(o, field, b"\x01\x02")
    assert getattr(o, field) == b"\x01\x02"
    setattr(o, field, None)
    assert getattr(o, field) == b""


def test_tlsopts_positional_order():
    o = mg.TlsOpts("CA", "CERT", "KEY", "NAME", True)
    assert (o.ca, o.cert, o.key, o.name, o.skip_verification) == \
        (b"CA", b"CERT", b"KEY", b"NAME", True)


@pytest.mark.parametrize("value,expected", [(True, True), (False, False), (1, True), (0, False),
                                            ("yes", True), ("", False)])
def test_tlsopts_skip_verification_is_stored_as_bool(value, expected):
    o = mg.TlsOpts(skip_verification=value)
    assert o.skip_verification is expected
    o.skip_verification = not expected
    assert o.skip_verification is (not expected)
    o.skip_verification = value
    assert o.skip_verification is expected


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", [1, 0, 2.5, ["x"], {"a": 1}, object()])
def test_tlsopts_wrong_types_raise_typeerror(field, bad):
    with pytest.raises(TypeError):
        mg.TlsOpts(**{field: bad})
    o = mg.TlsOpts(**{field: "keep"})
    with pytest.raises(TypeError):
        setattr(o, field, bad)
    assert getattr(o, field) == b"keep"  # a failed assignment changes nothing


def test_tlsopts_repr_never_shows_key_material(certs):
    secret = certs.server.key
    body = secret.split(b"\n")[1].decode()  # a base64 line of the key
    o = mg.TlsOpts(ca=certs.ca, cert=certs.server.cert, key=secret, name="localhost")
    for text in (repr(o), str(o)):
        assert body not in text
        assert "PRIVATE" not in text
        assert "TlsOpts" in text
    marker = "SUPERSECRETKEYMATERIAL"
    assert marker not in repr(mg.TlsOpts(key=marker)) and marker not in str(mg.TlsOpts(key=marker))


def test_tlsopts_subclass_works_with_tls_init(tls_server, certs, ctx):
    class MyOpts(mg.TlsOpts):
        def __init__(self, pair):
            super().__init__(cert=pair.cert, key=pair.key)
            self.tag = "mine"

    o = MyOpts(certs.server)
    assert isinstance(o, mg.TlsOpts) and o.tag == "mine" and o.cert == certs.server.cert
    srv = tls_server(answer_uri, pair=None, opts=o)
    assert tls_get(srv.port, ctx, req("/sub")).body == b"uri=/sub"


@pytest.mark.parametrize("bad", [{"cert": "x", "key": "y"}, None, "cert", 1, (b"c", b"k")])
def test_tls_init_requires_tlsopts(server, bad):
    srv = server(answer_uri, url=f"https://{HOST}:0")

    def call():
        srv.listener.tls_init(bad)
    with pytest.raises(TypeError):
        srv.call(call)
    assert srv.listener.is_listening and srv.listener.is_tls


GARBAGE = [
    pytest.param(dict(), id="empty"),
    pytest.param(dict(ca="not a pem"), id="ca-only"),
    pytest.param(dict(name="localhost"), id="name-only"),
    pytest.param(dict(skip_verification=True), id="skip-only"),
    pytest.param(dict(cert="-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"),
                 id="cert-without-key"),
    pytest.param(dict(cert="garbage", key="garbage"), id="garbage-cert-key"),
    pytest.param(dict(cert=b"\x00\xff" * 50, key=b"\x00" * 10, ca=b"\xfe", name=b"\xff"),
                 id="binary-junk"),
]


@pytest.mark.parametrize("kw", GARBAGE)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_listener_tls_init_and_free_never_raise_nor_close_the_listener(server, scheme, kw):
    srv = server(answer_uri, url=f"{scheme}://{HOST}:0")
    lst = srv.listener
    before = lst.is_tls
    assert before is (scheme == "https")

    def poke():
        lst.tls_init(mg.TlsOpts(**kw))
        mid = (lst.is_tls, lst.is_listening, lst.is_closing)
        lst.tls_free()
        lst.tls_init(mg.TlsOpts(**kw))
        lst.tls_free()
        lst.tls_free()  # idempotent
        return mid
    assert srv.call(poke) == (before, True, False)
    assert lst.is_tls is before and lst.is_listening and not lst.is_closing
    assert lst in srv.mgr.connections
    assert lst.tls_info() is None
    if scheme == "http":
        # defaults dropped: plain HTTP is served again
        assert get(srv.port, "/after").body == b"uri=/after"


def test_listener_without_cert_and_key_changes_nothing(tls_server, certs, ctx):
    """§3.6: tls_init on a listener without both cert and key is accepted and changes
    nothing — the defaults set before stay in force."""
    srv = tls_server(answer_uri)
    for kw in (dict(ca=certs.ca), dict(name="localhost"), dict(cert=certs.alpha.cert),
               dict(key=certs.alpha.key), dict(skip_verification=True)):
        srv.call(lambda kw=kw: srv.listener.tls_init(mg.TlsOpts(**kw)))
    with tls_connect(srv.port, ctx) as s:
        assert pem_to_der(certs.server.cert) == s.getpeercert(binary_form=True)
        s.sendall(req("/same"))
        assert HttpReader(s).read_response().body == b"uri=/same"


def test_tls_info_is_none_without_tls_and_on_listeners(server):
    seen = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            seen["info"] = conn.tls_info()
            seen["is_tls"] = conn.is_tls
            conn.reply(200, "plain")
    srv = server(h)
    assert get(srv.port).body == b"plain"
    assert seen == {"info": None, "is_tls": False}
    assert srv.listener.tls_info() is None


def test_tls_methods_after_close(tls_server, ctx):
    kept = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            kept.append(conn)
            conn.reply(200, "x")
    rec = Recorder(h)
    srv = tls_server(rec)
    with tls_connect(srv.port, ctx) as s:
        s.sendall(req(headers={"Connection": "close"}))
        HttpReader(s).read_response()
    wait_closed_child(rec)
    conn = kept[0]
    assert conn.tls_info() is None
    conn.tls_free()  # no-op on a closed connection
    with pytest.raises(RuntimeError, match="closed"):
        conn.tls_init(mg.TlsOpts())


# ======================================================================================
# HTTPS server with Python clients
# ======================================================================================


def test_https_get_event_order_and_tls_info(tls_server, certs):
    infos = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_ACCEPT:
            infos["accept"] = (conn.is_tls, conn.tls_info())
        elif ev == mg.MG_EV_TLS_HS:
            infos["hs"] = conn.tls_info()
        elif ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "secure " + data.uri)
    rec = Recorder(h)
    srv = tls_server(rec)
    c = client_context(certs.ca, alpn=["http/1.1"])
    with tls_connect(srv.port, c) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        s.sendall(req("/index?x=1"))
        r = HttpReader(s).read_response()
        version, cipher = s.version(), s.cipher()[0]
    assert (r.status, r.body) == (200, b"secure /index")
    cid = rec.children()[0]
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    seq = rec.seq(cid)
    assert seq[:5] == ["MG_EV_OPEN", "MG_EV_ACCEPT", "MG_EV_TLS_HS", "MG_EV_HTTP_HDRS",
                       "MG_EV_HTTP_MSG"], seq
    assert seq[-1] == "MG_EV_CLOSE" and "MG_EV_ERROR" not in seq
    assert infos["accept"] == (True, None)  # TLS scheme, handshake not done yet
    info = infos["hs"]
    assert info["version"] == version == "TLSv1.3" and info["version_code"] == 0x0304
    assert info["cipher"] == cipher
    assert isinstance(info["cipher_code"], int) and info["cipher_code"] > 0
    assert info["alpn"] == "http/1.1"
    assert info["server_name"] == "localhost"
    assert pem_to_der(info["server_cert"]) == pem_to_der(certs.server.cert)
    assert info["peer_cert"] is None


def test_https_urllib_get_and_post_body(tls_server, ctx):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply_json({"method": data.method, "uri": data.uri,
                             "len": len(data.body_bytes),
                             "sha": hashlib.sha256(data.body_bytes).hexdigest()})
    srv = tls_server(h)
    base = f"https://localhost:{srv.port}"
    with urllib.request.urlopen(base + "/get", context=ctx, timeout=5) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"method": "GET", "uri": "/get", "len": 0,
                                           "sha": hashlib.sha256(b"").hexdigest()}
    body = os.urandom(1_000_000)
    rq = urllib.request.Request(base + "/post", data=body, method="POST",
                                headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(rq, context=ctx, timeout=5) as resp:
        got = json.loads(resp.read())
    assert got == {"method": "POST", "uri": "/post", "len": len(body),
                   "sha": hashlib.sha256(body).hexdigest()}


def test_https_keep_alive_several_requests_on_one_connection(tls_server, ctx):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, f"{conn.id}:{data.uri}:{data.body_bytes.decode()}")
    rec = Recorder(h)
    srv = tls_server(rec, limits={"max_body": 64 * 1024 * 1024})
    hc = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=5)
    try:
        bodies = []
        for i in range(6):
            if i % 2:
                hc.request("POST", f"/p{i}", body=f"body{i}" * 100)
            else:
                hc.request("GET", f"/g{i}")
            resp = hc.getresponse()
            assert resp.status == 200
            bodies.append(resp.read().decode())
        ids = {b.split(":")[0] for b in bodies}
        assert len(ids) == 1, bodies  # one TLS connection for all of them
        assert [b.split(":")[1] for b in bodies] == ["/g0", "/p1", "/g2", "/p3", "/g4", "/p5"]
        assert bodies[1].split(":")[2] == "body1" * 100
    finally:
        hc.close()
    assert len(rec.of(mg.MG_EV_TLS_HS)) == 1 and len(rec.of(mg.MG_EV_ACCEPT)) == 1


def test_https_pipelined_requests_in_one_write(tls_server, ctx):
    srv = tls_server(answer_uri)
    with tls_connect(srv.port, ctx) as s:
        s.sendall(req("/1") + req("/2") + req("/3", headers={"Connection": "close"}))
        rd = HttpReader(s)
        assert [rd.read_response().body for _ in range(3)] == [b"uri=/1", b"uri=/2", b"uri=/3"]
        assert rd.wait_closed(3)


@pytest.mark.timeout(30)
def test_https_8mib_response_intact(tls_server, ctx):
    big = os.urandom(8 * 1024 * 1024)

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, big, {"Content-Type": "application/octet-stream"})
    srv = tls_server(h)
    with tls_connect(srv.port, ctx, timeout=10) as s:
        s.sendall(req("/big"))
        r = HttpReader(s).read_response()
    assert int(r.header("Content-Length")) == len(big)
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(big).digest()


@pytest.mark.timeout(30)
def test_https_8mib_upload_intact(tls_server, ctx):
    body = os.urandom(8 * 1024 * 1024)

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, hashlib.sha256(data.body_bytes).hexdigest())
    srv = tls_server(h, limits={"max_body": 16 * 1024 * 1024})
    with tls_connect(srv.port, ctx, timeout=10) as s:
        s.sendall(req("/up", method="POST", body=body))
        r = HttpReader(s).read_response()
    assert r.body.decode() == hashlib.sha256(body).hexdigest()


@pytest.mark.timeout(30)
def test_blocked_reader_gets_every_byte(tls_server, ctx):
    """Backpressure under TLS: the client reads nothing until the server's socket is full
    and output waits in the engine (partial sends in the middle of TLS records), then
    reads it all: 8 MiB byte for byte, nothing dropped or reordered."""
    big = os.urandom(8 * 1024 * 1024)
    kids = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            kids.append(conn)
            conn.reply(200, big)
    srv = tls_server(h)
    with tls_connect(srv.port, ctx, timeout=10, rcvbuf=64 * 1024) as s:
        s.sendall(req("/blocked"))
        wait_until(lambda: kids and srv.call(lambda: kids[0].send_len) > 0, 5,
                   "the reply to back up in the engine")
        r = HttpReader(s).read_response()
    assert len(r.body) == len(big) and r.body == big


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    data = {"big.bin": os.urandom(3 * 1024 * 1024 + 17), "index.html": b"<h1>tls index</h1>",
            "sub/a.txt": b"A" * 70_000}
    for name, content in data.items():
        (root / name).write_bytes(content)
    return root, data


def test_serve_dir_and_serve_file_over_tls(tls_server, ctx, files):
    root, data = files

    def h(conn, ev, msg):
        if ev == mg.MG_EV_HTTP_MSG:
            if msg.uri == "/the-file":
                conn.serve_file(msg, str(root / "big.bin"))
            else:
                conn.serve_dir(msg, str(root))
    srv = tls_server(h)
    hc = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=10)
    try:
        for path, want in [("/big.bin", data["big.bin"]), ("/the-file", data["big.bin"]),
                           ("/", data["index.html"]), ("/sub/a.txt", data["sub/a.txt"])]:
            hc.request("GET", path)
            resp = hc.getresponse()
            body = resp.read()
            assert resp.status == 200, (path, resp.status)
            assert body == want, path
        hc.request("GET", "/big.bin", headers={"Range": "bytes=1000-1999"})
        resp = hc.getresponse()
        assert resp.status == 206 and resp.read() == data["big.bin"][1000:2000]
        hc.request("HEAD", "/big.bin")
        resp = hc.getresponse()
        assert resp.status == 200 and resp.read() == b""
        assert int(resp.getheader("Content-Length")) == len(data["big.bin"])
        hc.request("GET", "/missing")
        resp = hc.getresponse()
        resp.read()
        assert resp.status == 404
        hc.request("GET", "/sub/a.txt")  # the connection still works after all that
        resp = hc.getresponse()
        assert resp.read() == data["sub/a.txt"]
    finally:
        hc.close()


def test_chunked_streaming_and_sse_over_tls(tls_server, ctx):
    def h(conn, ev, msg):
        if ev == mg.MG_EV_HTTP_MSG:
            if msg.uri == "/sse":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")
                conn.http_sse("tick", "one")
                conn.http_sse("tick", "two")
                conn.http_chunk(b"")
            else:
                conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for i in range(200):
                    conn.http_chunk(f"part{i};" * (i + 1))
                conn.http_chunk(b"")
    srv = tls_server(h)
    hc = http.client.HTTPSConnection("localhost", srv.port, context=ctx, timeout=5)
    try:
        hc.request("GET", "/chunks")
        resp = hc.getresponse()
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.read().decode() == "".join(f"part{i};" * (i + 1) for i in range(200))
        hc.request("GET", "/sse")
        resp = hc.getresponse()
        assert resp.read() == b"event: tick\ndata: one\n\nevent: tick\ndata: two\n\n"
    finally:
        hc.close()


def test_deferred_reply_from_wakeup_over_tls(tls_server, ctx):
    """A response completed later (from MG_EV_WAKEUP on the polling thread) goes out
    encrypted like any other."""
    holder = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            holder["id"] = conn.id
        elif ev == mg.MG_EV_WAKEUP:
            conn.reply(200, b"late:" + data)
    srv = tls_server(h, enable_wakeup=True)
    with tls_connect(srv.port, ctx) as s:
        s.sendall(req("/later"))
        deadline = time.monotonic() + 3
        while "id" not in holder:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert srv.mgr.wakeup(holder["id"], b"payload")
        assert HttpReader(s).read_response().body == b"late:payload"


@pytest.mark.parametrize("pair,key_header", [
    ("ec_sec1", b"-----BEGIN EC PRIVATE KEY-----"),
    ("rsa_pkcs1", b"-----BEGIN RSA PRIVATE KEY-----"),
    ("server_pkcs8", b"-----BEGIN PRIVATE KEY-----"),
    ("server", b"-----BEGIN EC PRIVATE KEY-----"),
])
def test_key_formats(tls_server, certs, ctx, pair, key_header):
    p = getattr(certs, pair)
    assert p.key.startswith(key_header)
    srv = tls_server(answer_uri, pair=pair)
    for maximum in (None, ssl.TLSVersion.TLSv1_2):
        c = client_context(certs.ca, maximum=maximum)
        with tls_connect(srv.port, c) as s:
            assert s.getpeercert(binary_form=True) == pem_to_der(p.cert)
            s.sendall(req("/k"))
            assert HttpReader(s).read_response().body == b"uri=/k"


@pytest.mark.parametrize("as_type", [str, bytes])
def test_pem_given_as_str_or_bytes(tls_server, certs, ctx, as_type):
    conv = (lambda b: b.decode()) if as_type is str else (lambda b: b)
    opts = mg.TlsOpts(cert=conv(certs.server.cert), key=conv(certs.server.key))
    srv = tls_server(answer_uri, pair=None, opts=opts)
    assert tls_get(srv.port, ctx, req("/t")).body == b"uri=/t"


def test_intermediate_chain_is_served(tls_server, certs):
    """The leaf is issued by an intermediate CA: a client trusting only the root verifies
    because the listener sends leaf + intermediate."""
    srv = tls_server(answer_uri, pair="chained")
    assert tls_get(srv.port, client_context(certs.ca), req("/chain")).body == b"uri=/chain"
    p = openssl_s_client(srv.port, "-showcerts", "-servername", "localhost",
                         ca_file=certs.ca_file)
    assert p.stdout.count("-----BEGIN CERTIFICATE-----") == 2, p.stdout
    assert "Verify return code: 0 (ok)" in p.stdout


def test_server_cipher_and_version_limits_of_python_client(tls_server, certs):
    srv = tls_server(answer_uri)
    seen = []
    for lo, hi, want in [(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                         (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3, "TLSv1.3")]:
        c = client_context(certs.ca, minimum=lo, maximum=hi)
        with tls_connect(srv.port, c) as s:
            seen.append(s.version())
            s.sendall(req())
            assert HttpReader(s).read_response().status == 200
        assert seen[-1] == want


def test_many_concurrent_tls_clients(tls_server, ctx):
    srv = tls_server(answer_uri)
    results: list = [None] * 24

    def one(i):
        try:
            results[i] = tls_get(srv.port, ctx, req(f"/c{i}")).body
        except BaseException as e:  # reported below
            results[i] = e
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [f"uri=/c{i}".encode() for i in range(len(results))]


# ======================================================================================
# curl and openssl s_client
# ======================================================================================


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CURL, "-sS", "--max-time", "5", *args], capture_output=True,
                          timeout=10, stdin=subprocess.DEVNULL)


@needs_curl
def test_curl_https_tls13_alpn(tls_server, certs):
    srv = tls_server(answer_uri)
    p = curl("-v", "--cacert", certs.ca_file, "--resolve", f"localhost:{srv.port}:{HOST}",
             f"https://localhost:{srv.port}/curl?q=1")
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert p.stdout == b"uri=/curl"
    assert "TLSv1.3" in err
    assert "ALPN: server accepted http/1.1" in err or "ALPN, server accepted to use http/1.1" in err


@needs_curl
def test_curl_tls12_only(tls_server, certs):
    srv = tls_server(answer_uri)
    p = curl("-v", "--tlsv1.2", "--tls-max", "1.2", "--cacert", certs.ca_file,
             f"https://{HOST}:{srv.port}/v12")
    err = p.stderr.decode()
    assert p.returncode == 0, err
    assert p.stdout == b"uri=/v12"
    assert "SSL connection using TLSv1.2" in err


@needs_curl
def test_curl_post_and_verification_of_ip_san(tls_server, certs):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, hashlib.sha256(data.body_bytes).hexdigest())
    srv = tls_server(h)
    body = os.urandom(200_000)
    path = certs.write(f"body-{os.getpid()}.bin", body)
    p = curl("--cacert", certs.ca_file, "--data-binary", f"@{path}",
             f"https://{HOST}:{srv.port}/post")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == hashlib.sha256(body).hexdigest()


@needs_curl
def test_curl_refuses_untrusted_server(tls_server, certs):
    """The other side of verification: curl without our CA refuses our certificate, and
    the server reports the client's alert as a failed handshake."""
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    p = curl("--cacert", certs.write("untrusted-ca.pem", certs.untrusted_ca),
             f"https://{HOST}:{srv.port}/")
    assert p.returncode == 60, p.stderr  # CURLE_PEER_FAILED_VERIFICATION
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
    assert not rec.of(mg.MG_EV_TLS_HS)


@needs_openssl
@pytest.mark.parametrize("flag,version", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_openssl_s_client_tls12_and_13(tls_server, certs, flag, version):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    p = openssl_s_client(srv.port, flag, "-ign_eof", "-servername", "localhost",
                         stdin=CLOSE_REQ, ca_file=certs.ca_file)
    assert p.returncode == 0, p.stderr
    assert "HTTP/1.1 200 OK" in p.stdout and "uri=/" in p.stdout
    assert f"Protocol  : {version}" in p.stdout or f"New, {version}" in p.stdout
    assert "Verify return code: 0 (ok)" in p.stdout
    cid = wait_closed_child(rec)[0]
    assert "MG_EV_ERROR" not in rec.seq(cid)


@needs_openssl
@pytest.mark.parametrize("flag", ["-tls1_1", "-tls1"])
def test_openssl_s_client_old_versions_refused(tls_server, certs, flag, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    p = openssl_s_client(srv.port, flag, "-cipher", "DEFAULT@SECLEVEL=0", stdin=CLOSE_REQ,
                         ca_file=certs.ca_file)
    assert p.returncode != 0
    assert "HTTP/1.1" not in p.stdout
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
    assert not rec.of(mg.MG_EV_TLS_HS) and not rec.of(mg.MG_EV_HTTP_MSG)
    assert_tls_alive(srv.port, ctx)


@needs_openssl
def test_openssl_alpn_http11_negotiated(tls_server, certs):
    infos = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_TLS_HS:
            infos.append(conn.tls_info()["alpn"])
        answer_uri(conn, ev, data)
    srv = tls_server(h)
    p = openssl_s_client(srv.port, "-alpn", "http/1.1", "-ign_eof", stdin=CLOSE_REQ,
                         ca_file=certs.ca_file)
    assert "ALPN protocol: http/1.1" in p.stdout, p.stdout
    assert "HTTP/1.1 200 OK" in p.stdout
    p = openssl_s_client(srv.port, "-alpn", "h2,http/1.1", "-ign_eof", stdin=CLOSE_REQ,
                         ca_file=certs.ca_file)
    assert "ALPN protocol: http/1.1" in p.stdout, p.stdout
    assert infos == ["http/1.1", "http/1.1"]


@needs_openssl
def test_openssl_alpn_without_http11_is_refused_on_http_listener(tls_server, certs, ctx):
    """RFC 7301 §3.2: no protocol in common → fatal no_application_protocol alert."""
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    p = openssl_s_client(srv.port, "-alpn", "h2", stdin=CLOSE_REQ, ca_file=certs.ca_file)
    assert p.returncode != 0 and "HTTP/1.1 200" not in p.stdout
    assert "no application protocol" in (p.stdout + p.stderr)
    wait_closed_child(rec)
    assert error_texts(rec)[0].startswith("TLS handshake failed: ")
    assert_tls_alive(srv.port, ctx)


@needs_openssl
def test_sni_picks_the_certificate_for_the_name(tls_server, certs):
    infos = {}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            infos[data.header("Host")] = conn.tls_info()["server_name"]
            conn.reply(200, "sni")
    srv = tls_server(h, pair=None)
    srv.call(lambda: srv.listener.tls_init(certs.alpha.opts(name="alpha.test")))
    srv.call(lambda: srv.listener.tls_init(certs.beta.opts(name="beta.test")))

    def subject(*args, host="x"):
        request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        p = openssl_s_client(srv.port, *args, "-ign_eof", stdin=request, ca_file=certs.ca_file)
        assert "HTTP/1.1 200 OK" in p.stdout, p.stdout + p.stderr
        line = [ln for ln in p.stdout.splitlines() if ln.startswith("subject=")]
        assert line, p.stdout
        return line[0]

    assert subject("-servername", "alpha.test", host="a").endswith("CN = alpha.test")
    assert subject("-servername", "beta.test", host="b").endswith("CN = beta.test")
    assert subject("-servername", "BETA.Test", host="B").endswith("CN = beta.test")
    # unknown or no name: the first certificate registered is the fallback
    assert subject("-servername", "other.test", host="o").endswith("CN = alpha.test")
    assert subject("-noservername", host="n").endswith("CN = alpha.test")
    assert infos == {"a": "alpha.test", "b": "beta.test", "B": "BETA.Test", "o": "other.test",
                     "n": ""}
    # and the chosen certificate verifies for its name with a strict client
    c = client_context(certs.ca)
    with tls_connect(srv.port, c, server_hostname="beta.test") as s:
        assert s.getpeercert()["subjectAltName"] == (("DNS", "beta.test"),)


def test_sni_default_then_named(tls_server, certs):
    """A nameless tls_init is the fallback; a named one adds a certificate by name."""
    srv = tls_server(answer_uri)  # localhost cert, no name
    srv.call(lambda: srv.listener.tls_init(certs.alpha.opts(name="alpha.test")))
    with tls_connect(srv.port, client_context(certs.ca), server_hostname="alpha.test") as s:
        assert s.getpeercert(binary_form=True) == pem_to_der(certs.alpha.cert)
    with tls_connect(srv.port, client_context(certs.ca), server_hostname="localhost") as s:
        assert s.getpeercert(binary_form=True) == pem_to_der(certs.server.cert)


def test_accept_handler_tls_init_overrides_listener_defaults(tls_server, certs):
    def h(conn, ev, data):
        if ev == mg.MG_EV_ACCEPT:
            conn.tls_init(certs.alpha.opts())
        answer_uri(conn, ev, data)
    srv = tls_server(h)  # listener defaults: the localhost certificate
    with tls_connect(srv.port, client_context(certs.ca), server_hostname="alpha.test") as s:
        assert s.getpeercert(binary_form=True) == pem_to_der(certs.alpha.cert)
        s.sendall(req("/own"))
        assert HttpReader(s).read_response().body == b"uri=/own"


def test_http_listener_with_defaults_serves_tls_children(server, certs, ctx):
    """§3.6 [ext]: defaults on an http:// listener make its children TLS; the listener's
    own is_tls does not change; tls_free goes back to plaintext children."""
    kids = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            kids.append(conn.is_tls)
        answer_uri(conn, ev, data)
    rec = Recorder(h)
    srv = server(rec)
    srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
    assert srv.listener.is_tls is False
    assert tls_get(srv.port, ctx, req("/tls")).body == b"uri=/tls"
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(req("/plain"))
        rd = HttpReader(s)
        assert rd.wait_closed(3) and b"HTTP/1.1" not in rd.buf
    srv.call(srv.listener.tls_free)
    assert get(srv.port, "/plain2").body == b"uri=/plain2"
    assert kids == [True, False]
    assert error_texts(rec) and error_texts(rec)[0].startswith("TLS handshake failed: ")


def test_accept_handler_tls_init_on_plain_listener(server, certs, ctx):
    """Compat style: an http:// listener without defaults, TLS started per connection in
    MG_EV_ACCEPT."""
    def h(conn, ev, data):
        if ev == mg.MG_EV_ACCEPT:
            conn.tls_init(certs.server.opts())
        answer_uri(conn, ev, data)
    srv = server(h)
    assert srv.listener.is_tls is False
    assert tls_get(srv.port, ctx, req("/compat")).body == b"uri=/compat"


# -------------------------------------------------------------------- client certificates


def test_mtls_accepts_valid_client_certificate(tls_server, certs):
    infos = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            infos.append(conn.tls_info())
            conn.reply(200, "hello " + conn.tls_info()["peer_cert"]["subject"])
    srv = tls_server(h, opts=certs.server.opts(ca=certs.ca))
    c = client_context(certs.ca, cert=certs.client, certs_dir=certs.dir)
    r = tls_get(srv.port, c, req("/m"))
    assert r.status == 200 and b"CN=test client" in r.body
    peer = infos[0]["peer_cert"]
    assert "CN=test client" in peer["subject"]
    assert peer["san"] == ["DNS:client.test"]
    assert pem_to_der(peer["pem"]) == pem_to_der(certs.client.cert)
    assert peer["chain"][0] == peer["pem"]
    assert peer["verified"] is True


@needs_curl
def test_mtls_with_curl_client_certificate(tls_server, certs):
    srv = tls_server(lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and
                     c.reply(200, c.tls_info()["peer_cert"]["san"][0]),
                     opts=certs.server.opts(ca=certs.ca))
    cert = certs.write("curl-client.crt", certs.client.cert)
    key = certs.write("curl-client.key", certs.client.key)
    p = curl("--cacert", certs.ca_file, "--cert", cert, "--key", key,
             f"https://{HOST}:{srv.port}/")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"DNS:client.test"


@pytest.mark.parametrize("who", ["no-cert", "untrusted-cert"])
def test_mtls_rejects_client_without_valid_certificate(tls_server, certs, who):
    rec = Recorder(answer_uri)
    srv = tls_server(rec, opts=certs.server.opts(ca=certs.ca))
    cert = None if who == "no-cert" else certs.untrusted
    c = client_context(certs.ca, cert=cert, certs_dir=certs.dir if cert else None)
    got = None
    with pytest.raises((ssl.SSLError, ConnectionError, PeerClosed)):
        # TLS 1.3: the client may finish its side before the server refuses; the refusal
        # then arrives as an alert on the first read.
        with tls_connect(srv.port, c) as s:
            s.sendall(req("/m"))
            got = HttpReader(s).read_response()
    assert got is None
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
    if who == "untrusted-cert":
        assert errs[0].startswith("TLS handshake failed: certificate verify failed"), errs
    assert not rec.of(mg.MG_EV_HTTP_MSG) and not rec.of(mg.MG_EV_TLS_HS)
    # a good client is still served
    good = client_context(certs.ca, cert=certs.client, certs_dir=certs.dir)
    assert tls_get(srv.port, good, req("/ok")).body == b"uri=/ok"


def test_without_ca_no_client_certificate_is_requested(tls_server, certs):
    infos = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            infos.append(conn.tls_info()["peer_cert"])
            conn.reply(200, "x")
    srv = tls_server(h)
    c = client_context(certs.ca, cert=certs.client, certs_dir=certs.dir)
    tls_get(srv.port, c, req())
    assert infos == [None]


# ======================================================================================
# Robustness: plaintext, garbage, silence, rude and polite closes
# ======================================================================================


def test_plaintext_http_to_https_port(tls_server, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(req("/plain"))
        rd = HttpReader(s)
        t0 = time.monotonic()
        assert rd.wait_closed(2.5), "the server kept a plaintext client connected"
        assert time.monotonic() - t0 < 2.5
    assert b"HTTP/1.1 200" not in rd.buf and b"uri=/plain" not in rd.buf
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
    assert not rec.of(mg.MG_EV_HTTP_HDRS) and not rec.of(mg.MG_EV_TLS_HS)
    assert_tls_alive(srv.port, ctx)


@pytest.mark.parametrize("junk", [
    pytest.param(os.urandom(300), id="random"),
    pytest.param(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", id="tiny-hello"),
    pytest.param(b"\x16\x03\x01\xff\xff" + b"\x00" * 64, id="bogus-length"),
    pytest.param(b"\x17\x03\x03\x00\x10" + b"A" * 16, id="appdata-before-hs"),
])
def test_garbage_bytes_fail_the_handshake(tls_server, ctx, junk):
    rec = Recorder(answer_uri)
    srv = tls_server(rec, limits={"header_timeout": 1.0})
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        rd = HttpReader(s)
        assert rd.wait_closed(3)
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
    assert not rec.of(mg.MG_EV_TLS_HS)
    assert_tls_alive(srv.port, ctx)


def client_hello(ctx: ssl.SSLContext) -> bytes:
    """The ClientHello a Python client would send (through memory BIOs)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[0] == 0x16 and len(hello) > 100
    return hello


def test_truncated_client_hello_then_close(tls_server, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    hello = client_hello(ctx)
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(hello[: len(hello) // 2])
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
    assert_tls_alive(srv.port, ctx)


def test_truncated_client_hello_then_silence_hits_header_timeout(tls_server, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec, limits={"header_timeout": 0.5})
    hello = client_hello(ctx)
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(hello[:60])
        t0 = time.monotonic()
        assert HttpReader(s).wait_closed(3)
        elapsed = time.monotonic() - t0
    assert 0.35 < elapsed < 2.5, elapsed
    wait_closed_child(rec)
    assert error_texts(rec) == ["TLS handshake failed: timeout"]


def test_port_probe_connect_and_close_is_not_an_error(tls_server, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    socket.create_connection((HOST, srv.port), timeout=5).close()
    cid = wait_closed_child(rec)[0]
    assert rec.seq(cid) == ["MG_EV_OPEN", "MG_EV_ACCEPT", "MG_EV_CLOSE"]
    assert_tls_alive(srv.port, ctx)


def test_silent_client_closed_after_header_timeout_on_https_listener(tls_server, ctx):
    """An HTTP listener's children get header_timeout for the handshake (not the longer
    tls_handshake_timeout)."""
    rec = Recorder(answer_uri)
    srv = tls_server(rec, limits={"header_timeout": 0.5, "tls_handshake_timeout": 10.0})
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        t0 = time.monotonic()
        rd = HttpReader(s)
        assert rd.wait_closed(3), "silent client never closed"
        elapsed = time.monotonic() - t0
    assert 0.35 < elapsed < 2.5, elapsed
    assert rd.buf == b""
    cid = wait_closed_child(rec)[0]
    assert rec.seq(cid) == ["MG_EV_OPEN", "MG_EV_ACCEPT", "MG_EV_ERROR", "MG_EV_CLOSE"]
    assert error_texts(rec) == ["TLS handshake failed: timeout"]
    assert_tls_alive(srv.port, ctx)


def test_completed_handshake_then_silence_is_a_normal_http_timeout(tls_server, ctx):
    """Once the session is up the handshake deadline is gone: an idle keep-alive HTTPS
    connection is governed by the HTTP timeouts (a silent close, §8.1 keepalive)."""
    rec = Recorder(answer_uri)
    srv = tls_server(rec, limits={"header_timeout": 0.4, "keepalive_timeout": 0.8})
    with tls_connect(srv.port, ctx, ragged_ok=False) as s:
        t0 = time.monotonic()
        s.settimeout(3)
        assert s.recv(10) == b""  # close_notify, then EOF
        elapsed = time.monotonic() - t0
    assert 0.6 < elapsed < 2.5, elapsed
    cid = wait_closed_child(rec)[0]
    assert "MG_EV_ERROR" not in rec.seq(cid), rec.seq(cid)
    assert rec.seq(cid)[:3] == ["MG_EV_OPEN", "MG_EV_ACCEPT", "MG_EV_TLS_HS"]


def test_raw_tls_listener_handshake_timeout(server, certs):
    """A raw tls:// listener (http=False) bounds handshakes with tls_handshake_timeout,
    not header_timeout (which only HTTP listeners have)."""
    rec = Recorder()
    srv = server(rec, url=f"tls://{HOST}:0", http=False,
                 limits={"tls_handshake_timeout": 0.8, "header_timeout": 0.2})
    srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        t0 = time.monotonic()
        assert HttpReader(s).wait_closed(4)
        elapsed = time.monotonic() - t0
    assert 0.6 < elapsed < 3.0, elapsed
    wait_closed_child(rec)
    assert error_texts(rec) == ["TLS handshake failed: timeout"]


def test_https_listener_without_tls_init_refuses_children(server, ctx):
    rec = Recorder(answer_uri)
    srv = server(rec, url=f"https://{HOST}:0")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_get(srv.port, ctx, req("/x"))
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(req("/plain"))  # and never plaintext either
        rd = HttpReader(s)
        assert rd.wait_closed(2)
        assert rd.buf == b""
    ids = wait_closed_child(rec, 2)
    for cid in ids:
        assert rec.seq(cid) == ["MG_EV_OPEN", "MG_EV_ACCEPT", "MG_EV_ERROR", "MG_EV_CLOSE"]
    assert error_texts(rec) == ["TLS not initialized"] * 2
    assert srv.listener.is_listening


def test_close_notify_after_drain(tls_server, ctx):
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbye!")
            conn.drain()
    rec = Recorder(h)
    srv = tls_server(rec)
    s = tls_connect(srv.port, ctx, ragged_ok=False)
    try:
        s.sendall(req("/d"))
        rd = HttpReader(s)
        assert rd.read_response().body == b"bye!"
        # close_notify: a clean end of the TLS stream (a truncation would raise SSLEOFError)
        assert s.recv(100) == b""
        plain = s.unwrap()  # our close_notify back; the TLS layer is closed both ways
        plain.settimeout(3)
        assert plain.recv(10) == b""  # then the TCP FIN
        plain.close()
    finally:
        s.close()
    cid = wait_closed_child(rec)[0]
    assert "MG_EV_ERROR" not in rec.seq(cid)


def test_close_notify_after_close(tls_server, ctx):
    """close() drops unsent output (§3.2) but still ends the session politely."""
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.close()
    srv = tls_server(h)
    with tls_connect(srv.port, ctx, ragged_ok=False) as s:
        s.sendall(req("/c"))
        s.settimeout(3)
        assert s.recv(100) == b""


def test_manager_close_sends_close_notify(tls_server, ctx):
    srv = tls_server(answer_uri)
    with tls_connect(srv.port, ctx, ragged_ok=False) as s:
        s.sendall(req("/k"))
        assert HttpReader(s).read_response().body == b"uri=/k"
        srv.shutdown()  # Manager.close() closes every connection
        s.settimeout(3)
        assert s.recv(100) == b""


@pytest.mark.parametrize("when", ["after-response", "mid-request", "mid-body"])
def test_peer_closing_without_close_notify_is_no_error(tls_server, ctx, when):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    s = tls_connect(srv.port, ctx)
    if when == "after-response":
        s.sendall(req("/a"))
        assert HttpReader(s).read_response().body == b"uri=/a"
    elif when == "mid-request":
        s.sendall(b"GET /partial HTTP/1.1\r\nHost: x\r\n")
    else:
        s.sendall(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
    # SSLSocket.shutdown drops the TLS layer without close_notify: a bare TCP close
    s.shutdown(socket.SHUT_RDWR)
    s.close()
    cid = wait_closed_child(rec)[0]
    seq = rec.seq(cid)
    assert "MG_EV_ERROR" not in seq, (seq, error_texts(rec))
    assert seq[-1] == "MG_EV_CLOSE"
    assert_tls_alive(srv.port, ctx)


@pytest.mark.timeout(20)
def test_peer_sending_garbage_record_after_handshake(tls_server, ctx):
    """A corrupted record after the handshake: ERROR("TLS error: ...") then CLOSE."""
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    with tls_connect(srv.port, ctx) as s:
        s.sendall(req("/first"))
        assert HttpReader(s).read_response().body == b"uri=/first"
        raw = socket.socket(fileno=os.dup(s.fileno()))  # the TCP stream under the session
        try:
            raw.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))  # bad MAC
        finally:
            raw.close()
        cid = wait_closed_child(rec)[0]
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS error: "), errs
    assert rec.seq(cid)[-2:] == ["MG_EV_ERROR", "MG_EV_CLOSE"]
    assert_tls_alive(srv.port, ctx)


@needs_openssl
def test_tls12_renegotiation_is_refused(tls_server, certs, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    p = openssl_s_client(srv.port, "-tls1_2", stdin=b"R\n", ca_file=certs.ca_file)
    out = p.stdout + p.stderr
    assert "RENEGOTIATING" in out, out
    assert "no renegotiation" in out, out  # the server's refusal (no_renegotiation alert)
    cid = wait_closed_child(rec)[0]
    assert rec.seq(cid).count("MG_EV_TLS_HS") == 1  # exactly the first handshake
    errs = error_texts(rec)
    assert all(e.startswith("TLS error: ") for e in errs), errs
    assert_tls_alive(srv.port, ctx)


# ---------------------------------------------------------------------------- raw TLS


def tls_echo(conn, ev, data):
    if ev == mg.MG_EV_READ and not conn.is_listening:
        conn.send(conn.recv_consume())


@pytest.mark.timeout(30)
def test_raw_tls_echo_server(server, certs, ctx):
    rec = Recorder(tls_echo)
    srv = server(rec, url=f"tls://{HOST}:0", http=False)
    srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
    assert srv.listener.is_tls
    big = os.urandom(1024 * 1024 + 3)
    with tls_connect(srv.port, ctx, ragged_ok=False) as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(b"hello")
        rd = HttpReader(s)
        assert rd.read_exact(5) == b"hello"
        # One thread drives the socket: an SSL object must not be read and written from
        # two threads at once (OpenSSL sessions are not thread-safe).
        got = bytearray()
        for at in range(0, len(big), 64 * 1024):
            piece = big[at:at + 64 * 1024]
            s.sendall(piece)
            got += rd.read_exact(len(piece))
        assert bytes(got) == big
    cid = wait_closed_child(rec)[0]
    seq = rec.seq(cid)
    assert seq[:3] == ["MG_EV_OPEN", "MG_EV_ACCEPT", "MG_EV_TLS_HS"]
    assert "MG_EV_ERROR" not in seq and "MG_EV_HTTP_MSG" not in seq


@pytest.mark.parametrize("scheme", ["tls", "ssl", "tcps"])
def test_raw_tls_schemes_are_tls(server, certs, ctx, scheme):
    srv = server(tls_echo, url=f"{scheme}://{HOST}:0", http=False)
    assert srv.listener.is_tls
    srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
    with tls_connect(srv.port, ctx) as s:
        s.sendall(b"ping")
        assert HttpReader(s).read_exact(4) == b"ping"


def test_raw_tls_alpn_offer_is_ignored(server, certs):
    """A raw listener picks no application protocol and does not refuse a client that
    offers some."""
    srv = server(tls_echo, url=f"tls://{HOST}:0", http=False)
    srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
    c = client_context(certs.ca, alpn=["h2", "http/1.1"])
    with tls_connect(srv.port, c) as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(b"x")
        assert HttpReader(s).read_exact(1) == b"x"


# ======================================================================================
# tls_free / bad defaults / key material in errors (§3.6, §8.7)
# ======================================================================================


def test_listener_tls_free_drops_defaults_and_tls_init_restores(tls_server, certs, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    assert tls_get(srv.port, ctx, req("/1")).body == b"uri=/1"
    srv.call(srv.listener.tls_free)
    assert srv.listener.is_tls and srv.listener.is_listening
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_get(srv.port, ctx, req("/2"))
    wait_closed_child(rec, 2)
    assert error_texts(rec) == ["TLS not initialized"]
    srv.call(lambda: srv.listener.tls_init(certs.rsa_pkcs1.opts()))
    with tls_connect(srv.port, ctx) as s:
        assert s.getpeercert(binary_form=True) == pem_to_der(certs.rsa_pkcs1.cert)
        s.sendall(req("/3"))
        assert HttpReader(s).read_response().body == b"uri=/3"


def test_tls_free_on_listener_drops_sni_names_too(tls_server, certs):
    srv = tls_server(answer_uri, pair=None)
    srv.call(lambda: srv.listener.tls_init(certs.alpha.opts(name="alpha.test")))
    srv.call(srv.listener.tls_free)
    srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
    c = client_context(certs.ca)
    c.check_hostname = False
    with tls_connect(srv.port, c, server_hostname="alpha.test") as s:
        assert s.getpeercert(binary_form=True) == pem_to_der(certs.server.cert)


def test_existing_sessions_survive_listener_tls_free(tls_server, ctx):
    srv = tls_server(answer_uri)
    with tls_connect(srv.port, ctx) as s:
        rd = HttpReader(s)
        s.sendall(req("/before"))
        assert rd.read_response().body == b"uri=/before"
        srv.call(srv.listener.tls_free)
        s.sendall(req("/after"))
        assert rd.read_response().body == b"uri=/after"


def test_tls_free_on_established_connection_sends_queued_reply_then_close_notify(tls_server, ctx):
    """Connection.tls_free docstring: "a running session sends close_notify and the
    connection closes once its output is sent" — the reply queued before it must arrive."""
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "last words")
            conn.tls_free()
    rec = Recorder(h)
    srv = tls_server(rec)
    with tls_connect(srv.port, ctx, ragged_ok=False) as s:
        s.sendall(req("/free"))
        rd = HttpReader(s)
        try:
            r = rd.read_response()
        except PeerClosed:
            r = None
        assert r is not None and r.body == b"last words", "reply queued before tls_free() lost"
        assert s.recv(10) == b""
    wait_closed_child(rec)


def test_tls_free_with_pending_output_does_not_leak_the_connection(tls_server, ctx):
    """Whatever happens to output queued before tls_free(), the connection must end: at the
    latest when the peer has gone (and send_timeout / keepalive_timeout are short)."""
    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "last words")
            conn.tls_free()
    rec = Recorder(h)
    srv = tls_server(rec, limits={"send_timeout": 0.5, "keepalive_timeout": 0.5})
    with tls_connect(srv.port, ctx) as s:
        s.sendall(req("/free"))
        HttpReader(s).wait_closed(3)
    wait_closed_child(rec)  # fails: the child stays draining forever with its reply unsent


def test_tls_free_on_idle_established_connection_closes_politely(tls_server, ctx):
    kids = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            kids.append(conn)
            conn.reply(200, "x")
    rec = Recorder(h)
    srv = tls_server(rec)
    with tls_connect(srv.port, ctx, ragged_ok=False) as s:
        s.sendall(req("/a"))
        assert HttpReader(s).read_response().body == b"x"
        srv.call(kids[0].tls_free)
        s.settimeout(3)
        assert s.recv(10) == b""  # close_notify
        cid = wait_closed_child(rec)[0]
    assert "MG_EV_ERROR" not in rec.seq(cid)


@pytest.mark.parametrize("kw,reason", [
    (dict(cert="garbage", key="garbage"), "invalid certificate (PEM expected)"),
    (dict(cert="CERT", key="SUPERSECRETKEYMATERIAL"), None),
    ("bad-key", "invalid private key (unencrypted PEM expected: EC, RSA or PKCS#8)"),
    ("mismatch", "certificate and private key do not match"),
])
def test_bad_listener_defaults_fail_children_handshake_not_the_listener(tls_server, certs, ctx,
                                                                        kw, reason):
    secret = "SUPERSECRETKEYMATERIAL"
    if kw == "bad-key":
        kw = dict(cert=certs.server.cert, key=f"-----BEGIN PRIVATE KEY-----\n{secret}\n"
                  "-----END PRIVATE KEY-----\n")
    elif kw == "mismatch":
        kw = dict(cert=certs.server.cert, key=certs.client.key)
    rec = Recorder(answer_uri)
    srv = tls_server(rec, pair=None, opts=mg.TlsOpts(**kw))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_get(srv.port, ctx, req("/x"))
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert len(errs) == 1 and errs[0].startswith("TLS handshake failed: "), errs
    if reason:
        assert errs[0] == "TLS handshake failed: " + reason
    assert secret not in errs[0] and "PRIVATE" not in errs[0]
    assert srv.listener.is_listening and not srv.listener.is_closing
    # good defaults replace the bad ones; the listener serves again
    srv.call(lambda: srv.listener.tls_init(certs.server.opts()))
    assert_tls_alive(srv.port, ctx)


def test_bad_sni_certificate_fails_only_that_name(tls_server, certs, ctx):
    rec = Recorder(answer_uri)
    srv = tls_server(rec)
    srv.call(lambda: srv.listener.tls_init(mg.TlsOpts(cert="bad", key="bad", name="bad.test")))
    c = client_context(certs.ca)
    c.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_connect(srv.port, c, server_hostname="bad.test").close()
    wait_closed_child(rec)
    errs = error_texts(rec)
    assert errs == ["TLS handshake failed: invalid certificate (PEM expected)"], errs
    assert_tls_alive(srv.port, ctx)  # SNI localhost → the fallback certificate

# SPDX-License-Identifier: MIT
"""Malformed, oversized, smuggling and slow requests (spec §6.3 "Rejected", §8.1, §8.2,
§8.5, §8.6). For each rejection: the exact status and reason, the engine's own
`text/plain` + `Connection: close` answer with the reason phrase as body, the exact
MG_EV_ERROR text observed by the handler, no HTTP_MSG, the connection closed, and a
normal GET on a new connection still answered."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from mgtest_helpers import (
    HttpReader,
    PeerClosed,
    Recorder,
    assert_server_alive,
    connect,
    mg,
    req,
)

REASONS = {
    400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large",
    414: "Request-URI Too Long", 431: "Request Header Fields Too Large",
    501: "Not Implemented", 505: "HTTP Version Not Supported",
}


def ok_handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, "ok:" + data.uri)


@pytest.fixture
def guarded(server):
    """Factory: a server answering every complete request with 200, plus its Recorder."""
    def make(**kw):
        rec = Recorder(ok_handler)
        return server(rec, **kw), rec
    return make


def expect_rejection(srv, rec, raw, status, error, *, prefix=False, send_more=None):
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(raw)
        if send_more is not None:
            send_more(s)
        try:
            r = rd.read_response()
        except PeerClosed:
            pytest.fail(f"connection closed without a {status} response")
        assert (r.status, r.reason) == (status, REASONS[status])
        assert r.header("Content-Type") == "text/plain"
        assert r.header("Connection") == "close"
        assert r.body == REASONS[status].encode()
        assert rd.wait_closed(), "connection not closed after the error response"
    cid = rec.wait_ev(mg.MG_EV_ACCEPT)[0].conn_id
    text = rec.wait_ev(mg.MG_EV_ERROR, conn_id=cid)[0].data
    if prefix:
        assert text.startswith(error), text
        assert len(text) > len(error)  # a reason follows
    else:
        assert text == error
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    seq = rec.seq(cid)
    assert "MG_EV_HTTP_MSG" not in seq
    assert seq.index("MG_EV_ERROR") < seq.index("MG_EV_CLOSE") == len(seq) - 1
    assert_server_alive(srv.port)
    return r


H = b"Host: x\r\n"
PARSE = "HTTP parse error: "

PARSE_ERRORS = {
    "garbage-request-line": b"GARBAGE\r\n\r\n",
    "missing-version": b"GET /\r\n" + H + b"\r\n",
    "missing-colon": b"GET / HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n",
    "empty-header-name": b"GET / HTTP/1.1\r\n" + H + b": v\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\n" + H + b"X-A : v\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n",
    "obs-fold-htab": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n\tb\r\n\r\n",
    "ctl-in-value": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    "nul-in-uri": b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n",
    "ctl-in-uri": b"GET /a\x1bb HTTP/1.1\r\n" + H + b"\r\n",
    "invalid-utf8-uri": b"GET /\xff\xfe HTTP/1.1\r\n" + H + b"\r\n",
    "invalid-utf8-method": b"G\xc3T / HTTP/1.1\r\n" + H + b"\r\n",
    "bare-cr": b"GET / HTTP/1.1\r" + H + b"\r\n",
    "bogus-method-chars": b"G@T / HTTP/1.1\r\n" + H + b"\r\n",
    "non-token-header-name": b"GET / HTTP/1.1\r\n" + H + b"X(A): v\r\n\r\n",
    "non-http-bytes": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x8f\x00\xfe\x7f\r\n\r\n",
}


@pytest.mark.parametrize("raw", PARSE_ERRORS.values(), ids=PARSE_ERRORS.keys())
def test_malformed_head_rejected_400(guarded, raw):
    srv, rec = guarded()
    expect_rejection(srv, rec, raw, 400, PARSE, prefix=True)


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9"])
def test_unsupported_version_505(guarded, version):
    srv, rec = guarded()
    expect_rejection(srv, rec, b"GET / " + version + b"\r\n" + H + b"\r\n", 505, PARSE + "version")


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
], ids=["missing", "two-different", "two-same"])
def test_http11_host_rules_400(guarded, raw):
    srv, rec = guarded()
    expect_rejection(srv, rec, raw, 400, PARSE + "host")


def test_http10_without_host_is_accepted(guarded):
    srv, _ = guarded()
    with connect(srv.port) as s:
        s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        assert HttpReader(s).read_response().body == b"ok:/old"


@pytest.mark.parametrize("value", ["-5", "+5", "5 5", "0x5", "5a", "", "99999999999999999999999"])
def test_invalid_content_length_400(guarded, value):
    srv, rec = guarded()
    raw = b"POST / HTTP/1.1\r\n" + H + f"Content-Length: {value}\r\n\r\nhello".encode()
    expect_rejection(srv, rec, raw, 400, PARSE + "content-length")


def test_differing_duplicate_content_length_400_and_no_smuggling(guarded):
    srv, rec = guarded()
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\nContent-Length: "
           + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled)
    expect_rejection(srv, rec, raw, 400, PARSE + "content-length")
    assert rec.of(mg.MG_EV_HTTP_MSG)[-1].data["uri"] == "/alive"  # only the liveness probe
    assert all(e.data["uri"] != "/smuggled" for e in rec.of(mg.MG_EV_HTTP_HDRS))


@pytest.mark.parametrize("order", ["CL-TE", "TE-CL"])
def test_content_length_with_transfer_encoding_400_and_no_smuggling(guarded, order):
    srv, rec = guarded()
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    cl = b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    te = b"Transfer-Encoding: chunked\r\n"
    raw = b"POST / HTTP/1.1\r\n" + H + (cl + te if order == "CL-TE" else te + cl) + b"\r\n" + body
    expect_rejection(srv, rec, raw, 400, PARSE + "content-length with transfer-encoding")
    assert all(e.data["uri"] != "/smuggled" for e in rec.of(mg.MG_EV_HTTP_HDRS))


@pytest.mark.parametrize("headers", [
    [b"Transfer-Encoding: gzip"],
    [b"Transfer-Encoding: gzip, chunked"],
    [b"Transfer-Encoding: identity"],
    [b"Transfer-Encoding: xchunked"],
    [b"Transfer-Encoding: chunked, chunked"],
    [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"],
], ids=["gzip", "gzip-chunked", "identity", "xchunked", "repeated-list", "repeated-field"])
def test_unsupported_transfer_encoding_501(guarded, headers):
    srv, rec = guarded()
    raw = b"POST / HTTP/1.1\r\n" + H + b"".join(h + b"\r\n" for h in headers) + b"\r\n0\r\n\r\n"
    expect_rejection(srv, rec, raw, 501, "Invalid Transfer-Encoding")


def test_transfer_encoding_on_http10_400(guarded):
    srv, rec = guarded()
    raw = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    expect_rejection(srv, rec, raw, 400, "Invalid Transfer-Encoding")


@pytest.mark.parametrize("body", [
    b"zz\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloXX0\r\n\r\n",
    b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    b"-5\r\nhello\r\n0\r\n\r\n",
    b"\r\n0\r\n\r\n",
], ids=["non-hex", "missing-crlf-after-data", "size-overflow", "negative", "empty-size"])
def test_malformed_chunk_400(guarded, body):
    srv, rec = guarded()
    raw = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + body
    expect_rejection(srv, rec, raw, 400, "Invalid chunk")


def test_bad_request_followed_by_good_one_in_same_write(guarded):
    srv, rec = guarded()
    raw = b"GET / HTTP/1.1\r\nX A: 1\r\n" + H + b"\r\nGET /second HTTP/1.1\r\n" + H + b"\r\n"
    r = expect_rejection(srv, rec, raw, 400, PARSE, prefix=True)
    assert r.body == b"Bad Request"
    assert all(e.data["uri"] != "/second" for e in rec.of(mg.MG_EV_HTTP_HDRS))


# ------------------------------------------------------------------------------------
# Size limits (§8.1) with small Manager(limits=...)
# ------------------------------------------------------------------------------------


def test_request_line_too_long_414(guarded):
    srv, rec = guarded(limits={"max_request_line": 256})
    raw = b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n" + H + b"\r\n"
    expect_rejection(srv, rec, raw, 414, "URI too long")


def test_request_line_under_limit_accepted(guarded):
    srv, _ = guarded(limits={"max_request_line": 256})
    with connect(srv.port) as s:
        s.sendall(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n" + H + b"\r\n")
        assert HttpReader(s).read_response().status == 200


def test_request_line_too_long_without_terminator_414(guarded):
    # the limit applies before the line ends: a client that never sends LF is cut off
    srv, rec = guarded(limits={"max_request_line": 256})
    expect_rejection(srv, rec, b"GET /" + b"b" * 1000, 414, "URI too long")


def test_header_block_too_large_431(guarded):
    srv, rec = guarded(limits={"max_header_bytes": 1024})
    raw = b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 2000 + b"\r\n\r\n"
    expect_rejection(srv, rec, raw, 431, "HTTP header limit exceeded")


def test_too_many_header_fields_431(guarded):
    srv, rec = guarded(limits={"max_headers": 10})
    raw = b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(10)) + b"\r\n"
    expect_rejection(srv, rec, raw, 431, "HTTP header limit exceeded")


def test_header_count_at_limit_accepted(guarded):
    srv, _ = guarded(limits={"max_headers": 10})
    with connect(srv.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(9)) + b"\r\n")
        assert HttpReader(s).read_response().status == 200


def test_single_100kb_header_value_431_with_defaults(guarded):
    srv, rec = guarded()
    raw = b"GET / HTTP/1.1\r\n" + H + b"X-Huge: " + b"h" * 100_000 + b"\r\n\r\n"
    expect_rejection(srv, rec, raw, 431, "HTTP header limit exceeded")


def test_500_distinct_headers_431_with_defaults(guarded):
    srv, rec = guarded()
    raw = b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(500)) + b"\r\n"
    expect_rejection(srv, rec, raw, 431, "HTTP header limit exceeded")


def test_declared_body_too_large_413_before_body_is_sent(guarded):
    srv, rec = guarded(limits={"max_body": 1000})
    raw = b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1001\r\n\r\n"  # body never sent
    expect_rejection(srv, rec, raw, 413, "MG_MAX_RECV_SIZE")


def test_chunked_body_accumulating_above_limit_413(guarded):
    srv, rec = guarded(limits={"max_body": 1000})
    chunk = b"258\r\n" + b"c" * 600 + b"\r\n"
    raw = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + chunk + chunk
    expect_rejection(srv, rec, raw, 413, "MG_MAX_RECV_SIZE")


def test_413_readable_while_client_still_sends_large_body(guarded):
    """Lingering close: a client pushing a large body reads the 413, not a reset."""
    srv, rec = guarded(limits={"max_body": 1000})
    size = 4 << 20
    raw = b"POST / HTTP/1.1\r\n" + H + f"Content-Length: {size}\r\n\r\n".encode()

    def push(s):
        def run():
            try:
                s.sendall(b"x" * size)
            except OSError:
                pass
        threading.Thread(target=run, daemon=True).start()

    expect_rejection(srv, rec, raw, 413, "MG_MAX_RECV_SIZE", send_more=push)


# ------------------------------------------------------------------------------------
# Timeouts (§8.1, §8.5) with tiny limits
# ------------------------------------------------------------------------------------


def test_header_timeout_408(guarded):
    srv, rec = guarded(limits={"header_timeout": 0.3})
    t0 = time.monotonic()
    expect_rejection(srv, rec, b"GET / HTTP/1.1\r\nHost: x\r\n", 408, "HTTP request timeout")
    assert 0.25 <= time.monotonic() - t0 < 3.0


def test_header_timeout_not_reset_by_dribbled_bytes(guarded):
    """Slow loris: one byte at a time keeps the head incomplete; the timeout counts from
    the first byte, so the server answers 408 instead of waiting forever."""
    srv, rec = guarded(limits={"header_timeout": 0.5})
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        t0 = time.monotonic()
        while rd.nothing_within(0.05):
            assert time.monotonic() - t0 < 4.0, "no 408 while dribbling"
            try:
                s.sendall(b"a")
            except OSError:
                break
        r = rd.read_response()
        assert (r.status, r.body) == (408, b"Request Timeout")
        assert rd.wait_closed()
    cid = rec.children()[0]
    assert rec.wait_ev(mg.MG_EV_ERROR, conn_id=cid)[0].data == "HTTP request timeout"
    assert_server_alive(srv.port)


def test_body_timeout_408(guarded):
    srv, rec = guarded(limits={"body_timeout": 0.3})
    raw = b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nabc"
    t0 = time.monotonic()
    expect_rejection(srv, rec, raw, 408, "HTTP request timeout")
    assert 0.25 <= time.monotonic() - t0 < 3.0


def test_keepalive_timeout_closes_idle_connection_silently(guarded):
    srv, rec = guarded(limits={"keepalive_timeout": 0.3})
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/one"))
        assert rd.read_response().status == 200
        t0 = time.monotonic()
        assert rd.wait_closed(3.0)
        assert rd.buf == b""  # closed without any bytes
        assert time.monotonic() - t0 >= 0.2
    cid = rec.children()[0]
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert rec.of(mg.MG_EV_ERROR, conn_id=cid) == []


def test_keepalive_timeout_applies_right_after_accept(guarded):
    srv, rec = guarded(limits={"keepalive_timeout": 0.3})
    with connect(srv.port) as s:
        assert HttpReader(s).wait_closed(3.0)
    assert rec.of(mg.MG_EV_ERROR) == []


def test_zero_timeout_disables_it(guarded):
    srv, _ = guarded(limits={"keepalive_timeout": 0, "header_timeout": 0})
    with connect(srv.port) as s:
        rd = HttpReader(s)
        s.sendall(b"GET / HTTP/1.1\r\n")
        assert rd.nothing_within(0.5)
        s.sendall(H + b"\r\n")
        assert rd.read_response().status == 200


# ------------------------------------------------------------------------------------
# §8.6 adversarial inputs the server must survive
# ------------------------------------------------------------------------------------


def test_unterminated_head_then_disconnect(guarded):
    srv, rec = guarded()
    with connect(srv.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Never: ends")
    cid = rec.wait_ev(mg.MG_EV_ACCEPT)[0].conn_id
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert rec.of(mg.MG_EV_HTTP_MSG) == []
    assert_server_alive(srv.port)


def test_connect_and_close_without_data(guarded):
    srv, rec = guarded()
    for _ in range(20):
        connect(srv.port).close()
    rec.wait_ev(mg.MG_EV_CLOSE, count=20)
    assert rec.of(mg.MG_EV_ERROR) == []  # clean EOF is not an error (R7)
    assert_server_alive(srv.port)


def test_reset_by_peer_mid_request(guarded):
    srv, rec = guarded()
    s = connect(srv.port)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
    rec.wait_ev(mg.MG_EV_HTTP_HDRS)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # RST
    cid = rec.children()[0]
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert rec.of(mg.MG_EV_ERROR, conn_id=cid) == []
    assert_server_alive(srv.port)


def test_headers_one_byte_at_a_time_then_hangup(guarded):
    srv, rec = guarded()
    with connect(srv.port) as s:
        for b in b"GET /slow HTTP/1.1\r\nHost: x\r\nX-A: b":
            s.send(bytes([b]))
    cid = rec.wait_ev(mg.MG_EV_ACCEPT)[0].conn_id
    rec.wait_ev(mg.MG_EV_CLOSE, conn_id=cid)
    assert rec.of(mg.MG_EV_HTTP_MSG) == []
    assert_server_alive(srv.port)


def test_request_sent_one_byte_at_a_time_is_served(guarded):
    srv, _ = guarded()
    with connect(srv.port) as s:
        for b in req("/bytewise", "POST", body=b"xyz"):
            s.send(bytes([b]))
        assert HttpReader(s).read_response().body == b"ok:/bytewise"


def test_many_idle_sockets_do_not_block_service(guarded):
    srv, rec = guarded()
    idle = [connect(srv.port) for _ in range(100)]
    try:
        rec.wait_ev(mg.MG_EV_ACCEPT, count=100)
        assert_server_alive(srv.port)
    finally:
        for s in idle:
            s.close()


def test_rejection_does_not_affect_other_connections(guarded):
    srv, rec = guarded()
    with connect(srv.port) as good:
        rg = HttpReader(good)
        good.sendall(req("/before"))
        assert rg.read_response().body == b"ok:/before"
        with connect(srv.port) as bad:
            rb = HttpReader(bad)
            bad.sendall(b"\x00\x01\x02 garbage\r\n\r\n")
            assert rb.read_response().status == 400
            assert rb.wait_closed()
        good.sendall(req("/after"))
        assert rg.read_response().body == b"ok:/after"

# SPDX-License-Identifier: MIT
"""WebSocket permessage-deflate (RFC 7692): ``Connection.ws_upgrade(..., compression=...)``
and ``Manager.ws_connect(..., compression=...)`` [ext].

Peers: the ``websockets`` package (client and server, compression on, with every
negotiation parameter), and raw sockets compressing with Python's ``zlib`` for exact
bytes: RSV1 on the wire, fragments, corrupt data, the decompressed-size limit at its
edges and a "zip bomb" against a server in a child process whose peak RSS is read from
``/proc``. Headless Chromium with compression is in test_browser.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import zlib

import pytest

from mgtest_helpers import HOST, HttpReader, PeerClosed, mg, wait_until
from ws_helpers import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWs,
                        close_payload, frame, poll_until, read_frame)

pytestmark = pytest.mark.timeout(20)

websockets = pytest.importorskip("websockets", reason="pip install websockets")
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory, PerMessageDeflate, ServerPerMessageDeflateFactory)
from websockets.sync.client import connect as ws_connect_sync  # noqa: E402
from websockets.sync.server import serve as ws_serve_sync  # noqa: E402

OFFER = [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]
TAIL = b"\x00\x00\xff\xff"


def deflate(data: bytes, bits: int = 15, co=None) -> bytes:
    """One message compressed as RFC 7692 §7.2.1 says: sync flush, tail removed."""
    co = co or zlib.compressobj(wbits=-bits)
    out = co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload: bytes, do=None) -> bytes:
    do = do or zlib.decompressobj(wbits=-15)
    return do.decompress(payload + TAIL)


def echo_server(server, compression=True, **kw):
    """An echo server accepting permessage-deflate with ``compression``; records opens,
    messages and errors."""
    seen = {"open": [], "msgs": [], "errors": []}

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data, compression=compression)
        elif ev == mg.MG_EV_WS_OPEN:
            seen["open"].append(data.header("Sec-WebSocket-Extensions"))
        elif ev == mg.MG_EV_WS_MSG:
            seen["msgs"].append(bytes(data.data))
            conn.ws_send(data.data, data.opcode)
        elif ev == mg.MG_EV_ERROR:
            seen["errors"].append(data)
    return server(h, **kw), seen


def raw_deflate_ws(port: int, offer: str = "permessage-deflate; client_max_window_bits") -> RawWs:
    ws = RawWs(port)
    r = ws.handshake(extra=[("Sec-WebSocket-Extensions", offer)])
    ws.extensions = r.header("Sec-WebSocket-Extensions")  # type: ignore[attr-defined]
    return ws


# ======================================================================================
# Server: negotiation (RFC 7692 §7.1) seen by websockets and by raw handshakes
# ======================================================================================


def test_websockets_client_negotiates_and_echoes_compressed(server):
    srv, seen = echo_server(server)
    big = ("a fairly repetitive line of text\n" * 5000).encode()
    with ws_connect_sync(f"ws://{HOST}:{srv.port}/", open_timeout=5, close_timeout=5,
                         max_size=None) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
        assert [type(e) for e in ws.protocol.extensions] == [PerMessageDeflate]
        for msg in ["hello", "héllo ✓" * 100, big, b"\x00\x01\x02" * 1000, b"", ""]:
            ws.send(msg)
            assert ws.recv(timeout=5) == msg
    assert seen["msgs"][2] == big and not seen["errors"]


@pytest.mark.parametrize("client_kw, server_opts, expect", [
    # §7.1.1.1 / §7.1.1.2: no context takeover asked for by the client, granted.
    (dict(server_no_context_takeover=True, client_no_context_takeover=True), True,
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    # §7.1.2.1: the server's window no larger than the client asked for.
    (dict(server_max_window_bits=9), True, "permessage-deflate; server_max_window_bits=9"),
    (dict(server_max_window_bits=12), {"server_max_window_bits": 10},
     "permessage-deflate; server_max_window_bits=10"),
    # §7.1.2.2: the client's window limited by the server only because it offered it.
    (dict(client_max_window_bits=True), {"client_max_window_bits": 11},
     "permessage-deflate; client_max_window_bits=11"),
    (dict(client_max_window_bits=10), {"client_max_window_bits": 12},
     "permessage-deflate; client_max_window_bits=10"),
    # The server's own wishes without an offer for them.
    (dict(), {"server_no_context_takeover": True, "client_no_context_takeover": True,
              "level": 9, "mem_level": 9},
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
])
def test_websockets_client_with_each_parameter(server, client_kw, server_opts, expect):
    srv, seen = echo_server(server, compression=server_opts)
    factory = ClientPerMessageDeflateFactory(**client_kw)
    msgs = [("message %d " % i) * (50 + 30 * i) for i in range(6)] + [os.urandom(3000)]
    with ws_connect_sync(f"ws://{HOST}:{srv.port}/", extensions=[factory], compression=None,
                         open_timeout=5, close_timeout=5) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == expect
        for m in msgs:
            ws.send(m)
            assert ws.recv(timeout=5) == m
    assert not seen["errors"]


def test_compression_off_by_default_and_when_false(server):
    for opts in (None, False):
        srv, seen = echo_server(server, compression=opts)
        with RawWs(srv.port) as ws:
            r = ws.handshake(extra=OFFER)
            assert r.header("Sec-WebSocket-Extensions") is None
            # RSV1 is then a protocol error (RFC 6455 §5.2): 1002.
            ws.send_frame(OP_TEXT, deflate(b"hello"), rsv=4)
            assert ws.expect_close().close_code == 1002


def test_no_offer_no_extension_and_the_applications_own_answer_wins(server):
    srv, seen = echo_server(server)
    with RawWs(srv.port) as ws:
        assert ws.handshake().header("Sec-WebSocket-Extensions") is None
        ws.send_frame(OP_TEXT, b"plain")
        f = ws.recv()
        assert (f.rsv, f.payload) == (0, b"plain")

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.ws_upgrade(data, {"Sec-WebSocket-Extensions": "x-mine"}, compression=True)
    srv2 = server(h)
    with RawWs(srv2.port) as ws:
        r = ws.handshake(extra=OFFER)
        assert r.headers.count(("Sec-WebSocket-Extensions", "x-mine")) == 1
        assert [k for k, _ in r.headers].count("Sec-WebSocket-Extensions") == 1


def test_declined_offers_and_the_next_one_taken(server):
    srv, _ = echo_server(server)
    with RawWs(srv.port) as ws:
        # 8-bit server window: zlib cannot compress with it, so that offer is declined.
        r = ws.handshake(extra=[("Sec-WebSocket-Extensions",
                                 "permessage-deflate; server_max_window_bits=8, "
                                 "permessage-deflate; bogus, permessage-deflate; client_max_window_bits=9")])
        assert r.header("Sec-WebSocket-Extensions") == "permessage-deflate; client_max_window_bits=9"
    with RawWs(srv.port) as ws:
        r = ws.handshake(extra=[("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=8")])
        assert r.header("Sec-WebSocket-Extensions") is None


def test_compression_option_validation(server):
    got = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            for bad, err in [({"nope": 1}, ValueError), ({"level": 10}, ValueError),
                             ({"level": -2}, ValueError), ({"mem_level": 0}, ValueError),
                             ({"server_max_window_bits": 8}, ValueError),
                             ({"client_max_window_bits": 16}, ValueError),
                             ({"server_max_window_bits": True}, ValueError),
                             ({"server_no_context_takeover": 1}, ValueError),
                             ("deflate", TypeError), (1, TypeError)]:
                try:
                    conn.ws_upgrade(data, compression=bad)
                    got.append(("accepted", bad))
                except err as e:
                    got.append(str(e))
            # A refused option leaves the connection untouched: the upgrade still works.
            conn.ws_upgrade(data, compression={"server_max_window_bits": 9, "client_max_window_bits": 15})
    srv = server(h)
    with RawWs(srv.port) as ws:
        r = ws.handshake(extra=OFFER)
        assert r.header("Sec-WebSocket-Extensions") == "permessage-deflate; server_max_window_bits=9"
    assert got[0] == "unknown compression option 'nope'"
    assert got[1] == "invalid value for compression option 'level'"
    assert got[-2] == "compression must be a bool or a dict"
    assert not [g for g in got if isinstance(g, tuple)], got
    m = mg.Manager(None)
    with pytest.raises(ValueError, match="unknown compression option 'x'"):
        m.ws_connect(f"ws://{HOST}:1/", compression={"x": 1})
    m.close()


# ======================================================================================
# Server: frames on the wire (RFC 7692 §6, §7.2)
# ======================================================================================


def test_raw_compressed_frames_both_ways_with_context_takeover(server):
    srv, seen = echo_server(server)
    co = zlib.compressobj(wbits=-15)
    do = zlib.decompressobj(wbits=-15)
    with raw_deflate_ws(srv.port) as ws:
        assert ws.extensions == "permessage-deflate"
        for i in range(3):
            msg = b"Hello, compressed world! " * 40
            z = deflate(msg, co=co)
            if i:
                assert len(z) < 20  # the peer refers back to the previous message
            ws.send_frame(OP_TEXT, z, rsv=4)
            f = ws.recv()
            assert (f.fin, f.rsv, f.op, f.masked) == (True, 4, OP_TEXT, False)  # RSV1 = compressed
            assert inflate(f.payload, do) == msg
            if i:
                assert len(f.payload) < 20  # the server keeps its context too
        # An uncompressed message is still allowed (RSV1 clear, §6); empty replies go plain.
        ws.send_frame(OP_BINARY, b"plain")
        f = ws.recv()
        assert f.rsv == 4 and inflate(f.payload, do) == b"plain"
        ws.send_frame(OP_TEXT, b"")
        f = ws.recv()
        assert (f.rsv, f.payload) == (0, b"")
        ws.send_frame(OP_CLOSE, close_payload(1000))
        assert ws.expect_close().close_code == 1000
    assert not seen["errors"]


def test_rfc_examples_and_bfinal_blocks(server):
    srv, seen = echo_server(server)
    with raw_deflate_ws(srv.port) as ws:
        # RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello", then "Hello" referring back to it.
        ws.send_frame(OP_TEXT, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv=4)
        ws.send_frame(OP_TEXT, bytes([0xf2, 0x00, 0x11, 0x00, 0x00]), rsv=4)
        # §7.2.3.3: a stored block; §7.2.3.4: a block with BFINAL set.
        ws.send_frame(OP_TEXT, bytes([0x00, 0x05, 0x00, 0xfa, 0xff]) + b"Hello" + b"\x00", rsv=4)
        ws.send_frame(OP_TEXT, bytes([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]), rsv=4)
        # §7.2.3.6: an empty message.
        ws.send_frame(OP_TEXT, b"\x00", rsv=4)
        ws.send_frame(OP_TEXT, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv=4)
        do = zlib.decompressobj(wbits=-15)
        got = []
        for _ in range(6):
            f = ws.recv()
            got.append(inflate(f.payload, do) if f.rsv else f.payload)
        assert got == [b"Hello"] * 4 + [b""] + [b"Hello"]
    assert seen["msgs"] == [b"Hello"] * 4 + [b""] + [b"Hello"]


def test_fragmented_compressed_message_with_control_frames_between(server):
    srv, seen = echo_server(server)
    msg = ("fragmented ✓ " * 3000).encode()
    z = deflate(msg)
    parts = [z[:1], z[1:100], z[100:101], z[101:]]
    with raw_deflate_ws(srv.port) as ws:
        ws.send_frame(OP_TEXT, parts[0], fin=False, rsv=4)  # RSV1 on the first frame only (§6)
        ws.send_frame(OP_CONT, parts[1], fin=False)
        ws.send_frame(OP_PING, b"p")
        ws.send_frame(OP_CONT, parts[2], fin=False)
        ws.send_frame(OP_CONT, parts[3], fin=True)
        f = ws.recv()
        assert (f.op, f.payload) == (OP_PONG, b"p")
        f = ws.recv()
        assert f.rsv == 4 and inflate(f.payload) == msg
    assert seen["msgs"] == [msg]


@pytest.mark.parametrize("first, second, code", [
    # RSV1 on a continuation (RFC 7692 §6.1) or a control frame: protocol error.
    (frame(OP_TEXT, b"x", fin=False, rsv=4), frame(OP_CONT, b"y", rsv=4), 1002),
    (frame(OP_PING, b"x", rsv=4), b"", 1002),
    # RSV2/RSV3 stay reserved.
    (frame(OP_TEXT, b"x", rsv=2), b"", 1002),
    # Data that is not DEFLATE (reserved block type 11): 1007.
    (frame(OP_TEXT, b"\xff\xff\xff", rsv=4), b"", 1007),
    # Valid DEFLATE of invalid UTF-8 in a text message: 1007 (RFC 6455 §8.1).
    (frame(OP_TEXT, deflate(b"\xc3\x28"), rsv=4), b"", 1007),
])
def test_bad_compressed_frames_close(server, first, second, code):
    srv, seen = echo_server(server)
    with raw_deflate_ws(srv.port) as ws:
        ws.send(first + second)
        assert ws.expect_close().close_code == code
    wait_until(lambda: seen["errors"], what="ERROR event")


# ======================================================================================
# The decompressed-size limit (max_ws_message): at, below, above, raised; a zip bomb
# ======================================================================================


@pytest.mark.parametrize("size, ok", [(65535, True), (65536, True), (65537, False)])
def test_decompressed_size_limit_edges(server, size, ok):
    srv, seen = echo_server(server, limits={"max_ws_message": 65536})
    msg = b"z" * size  # compresses to ~100 bytes: only the decompressed size can refuse it
    with raw_deflate_ws(srv.port) as ws:
        ws.send_frame(OP_BINARY, deflate(msg), rsv=4)
        if ok:
            f = ws.recv()
            assert inflate(f.payload) == msg
        else:
            assert ws.expect_close().close_code == 1009
            wait_until(lambda: seen["errors"] == ["MG_MAX_RECV_SIZE"], what="1009 ERROR")


def test_decompressed_size_limit_counts_across_fragments_and_raised(server):
    srv, seen = echo_server(server, limits={"max_ws_message": 10000})
    z = deflate(b"q" * 10001)
    with raw_deflate_ws(srv.port) as ws:
        ws.send_frame(OP_TEXT, z[:3], fin=False, rsv=4)
        ws.send_frame(OP_CONT, z[3:], fin=True)
        assert ws.expect_close().close_code == 1009
    srv2, _ = echo_server(server, limits={"max_ws_message": 20 << 20})
    msg = os.urandom(4 << 20) + b"\x00" * (12 << 20)  # 16 MiB, incompressible first part
    with raw_deflate_ws(srv2.port) as ws:
        ws.sock.settimeout(20)
        ws.send_frame(OP_BINARY, deflate(msg), rsv=4)
        assert inflate(ws.recv().payload) == msg


def test_incompressible_message_of_exactly_max_size(server):
    # Compressed, random data grows a little (stored blocks): still accepted at the edge.
    srv, seen = echo_server(server, limits={"max_ws_message": 1 << 20})
    msg = os.urandom(1 << 20)
    z = deflate(msg)
    assert len(z) > len(msg)
    with raw_deflate_ws(srv.port) as ws:
        ws.send_frame(OP_BINARY, z, rsv=4)
        assert inflate(ws.recv().payload) == msg


BOMB_SERVER = r"""
import sys
import pymongoose as mg
def h(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.ws_upgrade(data, compression=True)
    elif ev == mg.MG_EV_WS_MSG:
        conn.ws_send(data.data, data.opcode)
m = mg.Manager(h, limits={"max_ws_message": 1 << 20})
l = m.listen("http://127.0.0.1:0")
print(l.local_addr[1], flush=True)
while True:
    m.poll(50)
"""


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_zip_bomb_closes_1009_before_memory_grows(tmp_path):
    """512 MiB of zeros in ~500 KiB of DEFLATE against max_ws_message = 1 MiB: the server
    answers 1009 and its peak RSS grows by a few MiB, not by the decompressed size."""
    co = zlib.compressobj(9, wbits=-15)
    chunk = bytes(1 << 20)
    z = b"".join(co.compress(chunk) for _ in range(512)) + co.flush(zlib.Z_SYNC_FLUSH)
    z = z[:-4]
    assert len(z) < 1 << 20  # fits the frame-size check: only inflating can catch it
    p = subprocess.Popen([sys.executable, "-c", BOMB_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        with raw_deflate_ws(port) as ws:  # warm up: one ordinary compressed echo
            ws.send_frame(OP_BINARY, deflate(b"warm" * 1000), rsv=4)
            assert inflate(ws.recv().payload) == b"warm" * 1000
        before = vm_hwm_kib(p.pid)
        with raw_deflate_ws(port) as ws:
            ws.send_frame(OP_BINARY, z, rsv=4)
            assert ws.expect_close(5).close_code == 1009
        # Still serving, and the peak grew by the limit's order of magnitude only.
        with raw_deflate_ws(port) as ws:
            ws.send_frame(OP_TEXT, deflate(b"after"), rsv=4)
            assert inflate(ws.recv().payload) == b"after"
        grown = vm_hwm_kib(p.pid) - before
        assert grown < 8 * 1024, f"peak RSS grew by {grown} KiB"
    finally:
        p.kill()
        p.wait(5)


# ======================================================================================
# Client: Manager.ws_connect(..., compression=...)
# ======================================================================================


class Client:
    def __init__(self, **limits):
        self.mgr = mg.Manager(None, limits=limits) if limits else mg.Manager(None)
        self.events: list = []

    def h(self, conn, ev, data):
        if ev == mg.MG_EV_WS_OPEN:
            self.events.append(("open", data.header("Sec-WebSocket-Extensions")))
        elif ev == mg.MG_EV_WS_MSG:
            self.events.append(("msg", bytes(data.data), data.opcode))
        elif ev == mg.MG_EV_ERROR:
            self.events.append(("error", data))
        elif ev == mg.MG_EV_CLOSE:
            self.events.append(("close",))

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]

    def run_until(self, pred, what="condition", timeout=5.0):
        return poll_until(self.mgr, pred, timeout, what=what)


@pytest.fixture
def client():
    made = []

    def make(**kw):
        c = Client(**kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.mgr.close()


def websockets_server(handler, **kw):
    srv = ws_serve_sync(handler, HOST, 0, **kw)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv, t


@pytest.mark.parametrize("ours, theirs, expect", [
    (True, {}, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"),
    ({"client_no_context_takeover": True, "server_no_context_takeover": True}, {},
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=12; client_max_window_bits=12"),
    ({"server_max_window_bits": 10, "client_max_window_bits": 9},
     dict(server_max_window_bits=15, client_max_window_bits=15),
     "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"),
    (True, dict(server_no_context_takeover=True, client_no_context_takeover=True),
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
])
def test_ws_connect_compressed_against_websockets_server(client, ours, theirs, expect):
    got = []

    def handler(ws):
        for msg in ws:
            got.append(msg)
            ws.send(msg)
    kw = {"extensions": [ServerPerMessageDeflateFactory(**theirs)], "compression": None} if theirs else {}
    srv, t = websockets_server(handler, **kw)
    try:
        port = srv.socket.getsockname()[1]
        cl = client()
        msgs = [b"x" * 100_000, "héllo " * 500, b"\x00\x01" * 7000, b"", "tail"]

        def h(conn, ev, data):
            cl.h(conn, ev, data)
            if ev == mg.MG_EV_WS_OPEN:
                for m in msgs:
                    conn.ws_send(m, mg.WEBSOCKET_OP_BINARY if isinstance(m, bytes) else mg.WEBSOCKET_OP_TEXT)
        conn = cl.mgr.ws_connect(f"ws://{HOST}:{port}/", h, compression=ours)
        cl.run_until(lambda: len(cl.of("msg")) == len(msgs) or cl.of("error"), "echoes")
        assert cl.of("open") == [("open", expect)]
        assert [e[1] for e in cl.of("msg")] == [m if isinstance(m, bytes) else m.encode() for m in msgs]
        assert got == msgs and not cl.of("error")
        conn.ws_send(close_payload(1000), 8)
        cl.run_until(lambda: cl.of("close"), "close")
    finally:
        srv.shutdown()
        t.join(3)


def test_ws_connect_uncompressed_when_server_declines_and_off_by_default(client):
    def handler(ws):
        for msg in ws:
            ws.send(msg)
    srv, t = websockets_server(handler, compression=None)
    try:
        port = srv.socket.getsockname()[1]
        for opts in (True, None):
            cl = client()
            conn = cl.mgr.ws_connect(f"ws://{HOST}:{port}/", lambda c, ev, d: (
                cl.h(c, ev, d), ev == mg.MG_EV_WS_OPEN and c.ws_send("plain")), compression=opts)
            cl.run_until(lambda: cl.of("msg"), "echo")
            assert cl.of("open") == [("open", None)] and cl.of("msg")[0][1] == b"plain"
            conn.close()
    finally:
        srv.shutdown()
        t.join(3)


def test_ws_connect_to_our_own_server_and_the_offer_on_the_wire(client, server):
    srv, seen = echo_server(server, compression={"server_max_window_bits": 11})
    cl = client()
    conn = cl.mgr.ws_connect(f"ws://{HOST}:{srv.port}/", lambda c, ev, d: (
        cl.h(c, ev, d), ev == mg.MG_EV_WS_OPEN and c.ws_send("round " * 1000)),
        compression={"client_max_window_bits": 10})
    cl.run_until(lambda: cl.of("msg"), "echo")
    assert cl.of("open") == [("open", "permessage-deflate; server_max_window_bits=11; "
                                      "client_max_window_bits=10")]
    assert cl.of("msg")[0][1] == b"round " * 1000
    conn.close()


def raw_server_answering(extensions: str | None):
    """A one-shot server that answers the upgrade with ``extensions`` and reports the
    request it got; returns (port, thread, box)."""
    import socket as _s
    from ws_helpers import accept_for
    ls = _s.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    ls.settimeout(5)
    box = {}

    def run():
        try:
            c, _ = ls.accept()
        finally:
            ls.close()
        c.settimeout(5)
        with c:
            rd = HttpReader(c)
            head = rd.read_until(b"\r\n\r\n")
            box["request"] = head
            key = [ln.split(b":", 1)[1].strip().decode() for ln in head.split(b"\r\n")
                   if ln.lower().startswith(b"sec-websocket-key:")][0]
            resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept_for(key)}\r\n")
            if extensions is not None:
                resp += f"Sec-WebSocket-Extensions: {extensions}\r\n"
            c.sendall((resp + "\r\n").encode())
            # One compressed message to the client, then wait for its (masked) answer.
            if extensions and extensions.startswith("permessage-deflate"):
                try:
                    c.sendall(frame(OP_TEXT, deflate(b"from server " * 50), mask=False, rsv=4))
                    box["reply"] = read_frame(rd)
                    return
                except (PeerClosed, OSError):  # a client that refused the answer hung up
                    return
            if extensions is not None:
                rd.wait_closed(3)  # the client refuses the answer: it hangs up
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return ls.getsockname()[1], t, box


@pytest.mark.parametrize("answer, compression, ok", [
    (None, True, True),
    ("permessage-deflate", True, True),
    ("permessage-deflate; client_no_context_takeover; client_max_window_bits=9", True, True),
    ("permessage-deflate", None, False),               # RFC 6455 §4.1: not offered
    ("x-other", True, False),
    ("permessage-deflate, permessage-deflate", True, False),
    ("permessage-deflate; client_max_window_bits", True, False),    # §7.1.2.2: needs a value
    ("permessage-deflate; client_max_window_bits=8", True, False),  # zlib cannot
    ("permessage-deflate; server_max_window_bits=11", {"server_max_window_bits": 10}, False),
    ("permessage-deflate", {"server_no_context_takeover": True}, False),  # §7.1.1.1
    ("permessage-deflate; mystery", True, False),
])
def test_ws_connect_judges_the_servers_answer(client, answer, compression, ok):
    port, t, box = raw_server_answering(answer)
    cl = client()
    cl.mgr.ws_connect(f"ws://{HOST}:{port}/", lambda c, ev, d: (
        cl.h(c, ev, d), ev == mg.MG_EV_WS_MSG and c.ws_send(d.data)), compression=compression)
    if ok and answer:
        cl.run_until(lambda: "reply" in box or cl.of("error"), "the client's echo")
        f = box["reply"]
        assert f.masked and f.rsv == 4 and inflate(f.payload) == b"from server " * 50
    elif ok:
        cl.run_until(lambda: cl.of("open"), "open")
    else:
        cl.run_until(lambda: cl.of("close"), "close")
        assert cl.of("error") == [("error", "ws handshake error")] and not cl.of("open")
    t.join(5)
    offer = [ln for ln in box["request"].split(b"\r\n") if ln.lower().startswith(b"sec-websocket-extensions")]
    assert (offer != []) == (compression is not None)

# SPDX-License-Identifier: MIT
"""UDP (spec §3.1 URL rules, §3.2 send, §5.6 R3/R9), SNTP (§6.10) against a local SNTP
responder the tests start, and name resolution on the bounded resolver pool (§6.11)."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from mgtest_helpers import HOST, mg

pytestmark = pytest.mark.timeout(30)
TIMEOUT = 5.0


def poll_until(mgr, cond, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        mgr.poll(10)


def name(ev: int) -> str:
    return mg.event_name(ev)


# ---------------------------------------------------------------------------------------
# UDP


def test_udp_listener_echoes_each_datagram_to_its_sender():
    seen = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_READ:
            payload = conn.recv_consume()
            seen.append((payload, conn.remote_addr))
            conn.send(b"echo:" + payload)

    m = mg.Manager(h)
    try:
        listener = m.listen(f"udp://{HOST}:0")
        assert listener.is_udp and listener.is_listening
        port = listener.local_addr[1]
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for c in clients:
            c.settimeout(TIMEOUT)
            c.bind((HOST, 0))
        clients[0].sendto(b"one", (HOST, port))
        clients[0].sendto(b"two", (HOST, port))   # two datagrams back to back: never merged
        clients[1].sendto(b"x" * 1400, (HOST, port))
        poll_until(m, lambda: len(seen) == 3, "three datagrams")
        assert [p for p, _ in seen] == [b"one", b"two", b"x" * 1400]
        assert seen[0][1][:2] == (HOST, clients[0].getsockname()[1])
        assert seen[2][1][:2] == (HOST, clients[1].getsockname()[1])
        assert clients[0].recvfrom(2048)[0] == b"echo:one"
        assert clients[0].recvfrom(2048)[0] == b"echo:two"
        assert clients[1].recvfrom(2048)[0] == b"echo:" + b"x" * 1400
        for c in clients:
            c.close()
    finally:
        m.close()


def test_udp_client_events_are_sync_and_datagrams_stay_datagrams():
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind((HOST, 0))
    peer.settimeout(TIMEOUT)
    events = []

    def h(conn, ev, data):
        if ev != mg.MG_EV_POLL:
            events.append(name(ev))

    m = mg.Manager(h)
    try:
        conn = m.connect(f"udp://{HOST}:{peer.getsockname()[1]}")
        assert events == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT"]  # all inside connect()
        assert conn.is_udp and conn.is_client and conn.local_addr[1] != 0
        conn.send(b"ping-1")
        assert events[-1] == "MG_EV_WRITE"  # sync (spec §5.6 R9)
        conn.send(b"ping-2")
        got = [peer.recvfrom(100) for _ in range(2)]
        assert [g[0] for g in got] == [b"ping-1", b"ping-2"]
        src = got[0][1]
        peer.sendto(b"pong-A", src)
        peer.sendto(b"pong-B", src)
        poll_until(m, lambda: events.count("MG_EV_READ") == 2, "two READs")
        # Receive buffers of raw connections accumulate (spec §7.2) until consumed.
        assert conn.recv_data() == b"pong-Apong-B"
        assert conn.recv_consume(6) == b"pong-A"
        assert conn.recv_data() == b"pong-B"
    finally:
        m.close()
        peer.close()


def test_udp_max_recv_bounds_unconsumed_datagrams():
    errors = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_ERROR:
            errors.append(data)

    m = mg.Manager(h, limits={"max_recv": 100})
    try:
        port = m.listen(f"udp://{HOST}:0").local_addr[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.sendto(b"a" * 60, (HOST, port))
            c.sendto(b"b" * 40, (HOST, port))  # 100 bytes: at the limit
            poll_until(m, lambda: len(m.connections) == 1 and m.connections[0].recv_len == 100, "100 bytes")
            assert errors == []
            c.sendto(b"c", (HOST, port))       # above it
            poll_until(m, lambda: errors, "MG_MAX_RECV_SIZE")
        assert errors == ["MG_MAX_RECV_SIZE"]
    finally:
        m.close()


def test_udp_send_to_a_closed_port_does_not_close_or_spin():
    m = mg.Manager()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        conn = m.connect(f"udp://{HOST}:{port}")  # nobody listens there any more
        conn.send(b"anyone?")
        start = time.process_time()
        for _ in range(20):
            m.poll(10)
        assert not conn.is_closing
        assert time.process_time() - start < 0.15  # an ICMP error must not make the loop spin
    finally:
        m.close()


def test_udp_listen_errors():
    m = mg.Manager()
    try:
        with pytest.raises(RuntimeError, match="Failed to listen on"):
            m.listen("udp://example.invalid:0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            with pytest.raises(RuntimeError, match="Failed to listen on"):
                m.listen(f"udp://{HOST}:{s.getsockname()[1]}")  # port in use
    finally:
        m.close()


# ---------------------------------------------------------------------------------------
# SNTP against a responder of our own


class SntpResponder:
    """Answers each SNTP request on 127.0.0.1 with `reply(request) -> bytes | None`."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            self.requests.append(data)
            out = self.reply(data)
            if out is not None:
                self.sock.sendto(out, addr)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


NTP_EPOCH = 2208988800


def ntp_reply(unix_seconds: float, mode: int = 4, version: int = 4, stratum: int = 2, size: int = 48) -> bytes:
    secs = int(unix_seconds) + NTP_EPOCH
    frac = int((unix_seconds % 1) * (1 << 32))
    pkt = bytearray(48)
    pkt[0] = (version << 3) | mode
    pkt[1] = stratum
    pkt[40:48] = struct.pack("!II", secs & 0xFFFFFFFF, frac)
    return bytes(pkt[:size]) if size <= 48 else bytes(pkt) + b"\0" * (size - 48)


def run_sntp(reply, url_tmpl: str = "udp://127.0.0.1:{port}", timeout: float = TIMEOUT):
    resp = SntpResponder(reply)
    events: list[tuple[str, object]] = []

    def h(conn, ev, data):
        if ev != mg.MG_EV_POLL:
            events.append((name(ev), data))

    m = mg.Manager(h)
    try:
        conn = m.sntp_connect(url_tmpl.format(port=resp.port))
        assert conn.is_udp
        poll_until(m, lambda: ("MG_EV_CLOSE", None) in events, "close", timeout)
    finally:
        m.close()
        resp.stop()
    return events, resp


def test_sntp_time_from_a_valid_reply():
    server_time = 1_700_000_000.25
    events, resp = run_sntp(lambda req: ntp_reply(server_time))
    req = resp.requests[0]
    assert len(req) == 48 and req[0] == 0x23 and req[1:40] == b"\0" * 39
    sent = struct.unpack("!I", req[40:44])[0] - NTP_EPOCH
    assert abs(sent - time.time()) < 60  # our transmit timestamp is the local clock
    names = [e for e, _ in events]
    assert names[:3] == ["MG_EV_OPEN", "MG_EV_RESOLVE", "MG_EV_CONNECT"]
    times = [d for e, d in events if e == "MG_EV_SNTP_TIME"]
    assert len(times) == 1 and isinstance(times[0], int)
    assert 1_700_000_000_250 <= times[0] < 1_700_000_000_250 + 1000  # plus half the round trip
    assert names[-1] == "MG_EV_CLOSE" and "MG_EV_ERROR" not in names


@pytest.mark.parametrize("reply", [
    ntp_reply(1e9, mode=3), ntp_reply(1e9, stratum=0), ntp_reply(1e9, version=2), ntp_reply(1e9, size=47),
])
def test_sntp_invalid_replies(reply):
    events, _ = run_sntp(lambda req: reply)
    assert [d for e, d in events if e == "MG_EV_ERROR"] == ["invalid SNTP reply"]
    assert "MG_EV_SNTP_TIME" not in [e for e, _ in events]


def test_sntp_version3_and_broadcast_mode_are_valid():
    for kw in ({"version": 3}, {"mode": 5}):
        events, _ = run_sntp(lambda req, kw=kw: ntp_reply(1.5e9, **kw))
        assert [e for e, _ in events].count("MG_EV_SNTP_TIME") == 1


def test_sntp_without_a_reply_closes_after_3_seconds():
    start = time.monotonic()
    events, resp = run_sntp(lambda req: None, timeout=6)
    took = time.monotonic() - start
    assert 2.8 <= took <= 5.5
    assert resp.requests and "MG_EV_SNTP_TIME" not in [e for e, _ in events]


def test_sntp_scheme_and_default_port():
    events, _ = run_sntp(lambda req: ntp_reply(1.6e9), url_tmpl="sntp://127.0.0.1:{port}")
    assert [e for e, _ in events].count("MG_EV_SNTP_TIME") == 1
    m = mg.Manager()
    try:
        conn = m.sntp_connect("udp://127.0.0.1")
        assert conn.remote_addr[1] == 123
        conn.sntp_request()  # another request: queued as a datagram, no error
    finally:
        m.close()


# ---------------------------------------------------------------------------------------
# Name resolution


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def test_resolver_uses_a_bounded_pool():
    # A name the system resolver knows without a network: this machine's own name
    # (/etc/hosts), which is not a literal, so it goes through getaddrinfo.
    host = socket.gethostname()
    try:
        if "127.0.0.1" not in [i[4][0] for i in socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)]:
            pytest.skip(f"{host} does not resolve to 127.0.0.1 here")
    except OSError:
        pytest.skip(f"{host} does not resolve here")
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    resolved = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_RESOLVE:
            resolved.append(conn.remote_addr[0])
        elif ev == mg.MG_EV_ERROR:
            resolved.append(("error", data))

    m = mg.Manager(h)
    before = thread_count()
    try:
        for _ in range(30):
            m.connect(f"tcp://{host}:{port}")
        peak = thread_count()
        poll_until(m, lambda: len(resolved) == 30, "30 lookups")
        peak = max(peak, thread_count())
        assert peak - before <= 4, (before, peak)  # never a thread per lookup (30 here)
        assert resolved == ["127.0.0.1"] * 30, resolved
    finally:
        m.close()
        srv.close()


def test_failed_address_falls_back_to_the_next_family():
    try:
        infos = socket.getaddrinfo("localhost.", 80, type=socket.SOCK_STREAM)
    except OSError:
        pytest.skip("no resolver for localhost.")
    families = [i[0] for i in infos]
    if families[:1] != [socket.AF_INET6] or socket.AF_INET not in families:
        pytest.skip(f"localhost. does not resolve to ::1 first, then 127.0.0.1 here: {families}")
    srv = socket.socket()  # IPv4 only: the first address (::1) is refused
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    events = []
    m = mg.Manager(lambda c, ev, d: events.append((name(ev), d)) if ev != mg.MG_EV_POLL else None)
    try:
        conn = m.connect(f"tcp://localhost.:{srv.getsockname()[1]}")
        poll_until(m, lambda: any(e in ("MG_EV_CONNECT", "MG_EV_ERROR") for e, _ in events), "connect")
        assert ("MG_EV_CONNECT", None) in events, events
        assert conn.remote_addr[0] == "127.0.0.1"
    finally:
        m.close()
        srv.close()


def test_datagrams_sent_while_resolving_stay_separate():
    host = socket.gethostname()
    try:
        socket.getaddrinfo(host, 80)
    except OSError:
        pytest.skip(f"{host} does not resolve here")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("0.0.0.0", 0))
    peer.settimeout(TIMEOUT)
    m = mg.Manager()
    try:
        conn = m.connect(f"udp://{host}:{peer.getsockname()[1]}")  # a name: resolved later
        conn.send(b"first")
        conn.send(b"second")
        poll_until(m, lambda: conn.local_addr is not None and conn.local_addr[1] != 0, "connected")
        assert [peer.recvfrom(64)[0] for _ in range(2)] == [b"first", b"second"]
    finally:
        m.close()
        peer.close()

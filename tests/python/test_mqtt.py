# SPDX-License-Identifier: MIT
"""MQTT (spec §3.1, §3.2, §3.5, §6.9) against real peers: a mosquitto broker from Debian
started by the tests on 127.0.0.1 (plain and TLS), the paho-mqtt client against a broker
built with mqtt_listen, and raw sockets sending malformed packets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from typing import Any, Callable

import pytest

from mgtest_helpers import HOST, mg

pytestmark = pytest.mark.timeout(60)

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {proc.stderr.read().decode(errors='replace')}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("mosquitto did not start listening")


class Mosquitto:
    """A mosquitto broker on a free 127.0.0.1 port, stopped at teardown."""

    def __init__(self, tmp_path, extra: str = "", anonymous: bool = True) -> None:
        if MOSQUITTO is None:
            pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto; scripts/setup.sh does)")
        for _ in range(5):
            self.port = free_port()
            conf = tmp_path / f"mosquitto-{self.port}.conf"
            # As root, mosquitto would switch to its own user, which cannot read the test's
            # key files: it keeps running as root for the few seconds of a test.
            user = "user root\n" if os.geteuid() == 0 else ""
            conf.write_text(f"{user}listener {self.port} {HOST}\nallow_anonymous {'true' if anonymous else 'false'}\n"
                            f"persistence false\n{extra}")
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            try:
                wait_port(self.port, self.proc)
                return
            except RuntimeError:
                self.stop()
        raise RuntimeError("could not start mosquitto")

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path)
    yield b
    b.stop()


class Client:
    """A Manager with one MQTT client connection, polled from the test thread."""

    def __init__(self, url: str, on_event: Callable | None = None, **kw: Any) -> None:
        self.events: list[tuple[int, Any]] = []
        self.msgs: list[dict[str, Any]] = []
        self.on_event = on_event
        self.mgr = mg.Manager(self._handler)
        self.conn = self.mgr.mqtt_connect(url, **kw)

    def _handler(self, conn, ev, data):
        if ev in (mg.MG_EV_MQTT_CMD, mg.MG_EV_MQTT_MSG):
            rec = {"cmd": data.cmd, "topic": data.topic, "data": data.data, "id": data.id, "qos": data.qos,
                   "ack": data.ack, "props": data.properties()}
            self.events.append((ev, rec))
            if ev == mg.MG_EV_MQTT_MSG:
                self.msgs.append(rec)
        elif ev in (mg.MG_EV_MQTT_OPEN, mg.MG_EV_ERROR):
            self.events.append((ev, data))
        elif ev in (mg.MG_EV_CLOSE, mg.MG_EV_CONNECT):
            self.events.append((ev, None))
        if self.on_event:
            self.on_event(conn, ev, data)

    def poll_until(self, cond: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.events[-10:]}"
            self.mgr.poll(20)

    def cmds(self) -> list[int]:
        return [d["cmd"] for ev, d in self.events if ev == mg.MG_EV_MQTT_CMD]

    def opened(self) -> list[int]:
        return [d for ev, d in self.events if ev == mg.MG_EV_MQTT_OPEN]

    def wait_open(self) -> None:
        self.poll_until(lambda: self.opened(), "MQTT_OPEN")
        assert self.opened() == [0], self.events

    def close(self) -> None:
        self.mgr.close()


# ---------------------------------------------------------------------------------------
# Against mosquitto


def test_connect_gets_open_then_connack_cmd(broker):
    c = Client(broker.url, client_id="t-open")
    try:
        c.wait_open()
        evs = [ev for ev, _ in c.events]
        assert evs[:3] == [mg.MG_EV_CONNECT, mg.MG_EV_MQTT_OPEN, mg.MG_EV_MQTT_CMD]
        assert c.cmds() == [2]
    finally:
        c.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_and_receive_at_each_qos(broker, qos):
    c = Client(broker.url, client_id=f"t-qos{qos}")
    try:
        c.wait_open()
        c.conn.mqtt_sub("pm/qos", qos=qos)
        c.poll_until(lambda: 9 in c.cmds(), "SUBACK")
        pid = c.conn.mqtt_pub("pm/qos", b"payload-\x00\xff", qos=qos)
        assert (pid == 0) == (qos == 0)
        c.poll_until(lambda: c.msgs, "the message back")
        msg = c.msgs[0]
        assert msg["topic"] == "pm/qos" and msg["data"] == b"payload-\x00\xff" and msg["qos"] == qos
        if qos == 1:
            c.poll_until(lambda: 4 in c.cmds(), "PUBACK")
            assert [d["id"] for ev, d in c.events if ev == mg.MG_EV_MQTT_CMD and d["cmd"] == 4] == [pid]
        if qos == 2:
            # PUBREC from the broker -> our automatic PUBREL -> PUBCOMP.
            c.poll_until(lambda: 7 in c.cmds(), "PUBCOMP")
            assert [d["id"] for ev, d in c.events if ev == mg.MG_EV_MQTT_CMD and d["cmd"] in (5, 7)] == [pid, pid]
            # The broker's QoS 2 delivery to us: our PUBREC, its PUBREL, our PUBCOMP.
            c.poll_until(lambda: 6 in c.cmds(), "PUBREL from the broker")
        assert not [d for ev, d in c.events if ev == mg.MG_EV_ERROR]
    finally:
        c.close()


def test_packet_ids_are_per_manager_and_shared(broker):
    c = Client(broker.url, client_id="t-ids")
    try:
        c.wait_open()
        ids = [c.conn.mqtt_pub("x", "1", qos=1), c.conn.mqtt_pub("x", "2", qos=2)]
        c.conn.mqtt_sub("y", qos=1)
        ids.append(c.conn.mqtt_pub("x", "3", qos=1))
        assert ids[1] == ids[0] + 1 and ids[2] == ids[1] + 2  # the SUBSCRIBE took one
        assert c.conn.mqtt_pub("x", "qos0") == 0
        with pytest.raises(ValueError):
            c.conn.mqtt_pub("x", "bad", qos=3)
        with pytest.raises(ValueError):
            c.conn.mqtt_sub("x", qos=-1)
    finally:
        c.close()


def test_retained_message_reaches_a_later_subscriber(broker):
    pub = Client(broker.url, client_id="t-ret-pub")
    try:
        pub.wait_open()
        pub.conn.mqtt_pub("pm/retained", "kept", qos=1, retain=True)
        pub.poll_until(lambda: 4 in pub.cmds(), "PUBACK")
    finally:
        pub.close()
    sub = Client(broker.url, client_id="t-ret-sub")
    try:
        sub.wait_open()
        sub.conn.mqtt_sub("pm/retained", qos=1)
        sub.poll_until(lambda: sub.msgs, "the retained message")
        assert sub.msgs[0]["data"] == b"kept"
    finally:
        sub.close()


def test_will_message_on_abrupt_disconnect(broker):
    watcher = Client(broker.url, client_id="t-will-watch")
    try:
        watcher.wait_open()
        watcher.conn.mqtt_sub("pm/will", qos=1)
        watcher.poll_until(lambda: 9 in watcher.cmds(), "SUBACK")
        dying = Client(broker.url, client_id="t-will-dying", will_topic="pm/will", will_message=b"gone",
                       will_qos=1)
        dying.wait_open()
        dying.close()  # the socket closes without DISCONNECT: the broker publishes the will
        watcher.poll_until(lambda: watcher.msgs, "the will message")
        assert watcher.msgs[0]["topic"] == "pm/will" and watcher.msgs[0]["data"] == b"gone"
    finally:
        watcher.close()


def test_clean_disconnect_sends_no_will(broker):
    watcher = Client(broker.url, client_id="t-nowill-watch")
    try:
        watcher.wait_open()
        watcher.conn.mqtt_sub("pm/nowill", qos=0)
        watcher.poll_until(lambda: 9 in watcher.cmds(), "SUBACK")
        polite = Client(broker.url, client_id="t-nowill", will_topic="pm/nowill", will_message=b"x")
        polite.wait_open()
        polite.conn.mqtt_disconnect()
        polite.conn.drain()
        polite.poll_until(lambda: (mg.MG_EV_CLOSE, None) in polite.events, "close")
        polite.close()
        watcher.conn.mqtt_pub("pm/nowill", "marker")
        watcher.poll_until(lambda: watcher.msgs, "marker")
        assert [m["data"] for m in watcher.msgs] == [b"marker"]
    finally:
        watcher.close()


def test_mqtt5_properties_round_trip(broker):
    c = Client(broker.url, client_id="t-v5", version=5)
    try:
        c.wait_open()
        c.conn.mqtt_sub("pm/v5", qos=1)
        c.poll_until(lambda: 9 in c.cmds(), "SUBACK")
        props = [{"id": 0x03, "val": "text/plain"},              # content type
                 {"id": 0x26, "key": "k", "val": "v"},           # user property
                 {"id": 0x02, "iv": 3600},                       # message expiry
                 {"id": 0x01, "iv": 1}]                          # payload format
        c.conn.mqtt_pub("pm/v5", "hello 5", qos=1, props=props)
        c.poll_until(lambda: c.msgs, "the v5 message")
        got = {(p["id"], p["key"], p["val"]) for p in c.msgs[0]["props"]}
        assert (0x03, "", "text/plain") in got and (0x26, "k", "v") in got
        ivs = {p["id"]: p["iv"] for p in c.msgs[0]["props"]}
        assert ivs[0x01] == 1 and 0 < ivs[0x02] <= 3600  # the broker counts expiry down
        with pytest.raises(ValueError):
            c.conn.mqtt_pub("pm/v5", "x", props=[{"id": 0x7F, "iv": 1}])
    finally:
        c.close()


def test_properties_are_empty_on_311(broker):
    c = Client(broker.url, client_id="t-311")
    try:
        c.wait_open()
        c.conn.mqtt_sub("pm/311")
        c.poll_until(lambda: 9 in c.cmds(), "SUBACK")
        c.conn.mqtt_pub("pm/311", "x", props=[{"id": 0x03, "val": "ignored on 3.1.1"}])
        c.poll_until(lambda: c.msgs, "message")
        assert c.msgs[0]["props"] == []
    finally:
        c.close()


def test_ping_gets_pingresp_and_unsubscribe_gets_unsuback(broker):
    c = Client(broker.url, client_id="t-ping")
    try:
        c.wait_open()
        c.conn.mqtt_ping()
        c.poll_until(lambda: 13 in c.cmds(), "PINGRESP")
        c.conn.mqtt_sub("pm/u")
        c.conn.mqtt_unsub("pm/u")
        c.poll_until(lambda: 11 in c.cmds(), "UNSUBACK")
    finally:
        c.close()


@pytest.mark.parametrize("version,code", [(4, 5), (5, 0x87)])
def test_broker_refusing_credentials_closes(tmp_path, version, code):
    b = Mosquitto(tmp_path, anonymous=False)
    try:
        c = Client(b.url, client_id="t-refused", version=version)
        try:
            c.poll_until(lambda: (mg.MG_EV_CLOSE, None) in c.events, "close after refusal")
            assert c.opened() == [code]
        finally:
            c.close()
    finally:
        b.stop()


def test_mqtts_to_mosquitto_with_tls(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    tls_port = free_port()
    b = Mosquitto(tmp_path, extra=f"listener {tls_port} {HOST}\ncafile {tmp_path}/ca.pem\n"
                                  f"certfile {tmp_path}/cert.pem\nkeyfile {tmp_path}/key.pem\n")
    wait_port(tls_port, b.proc)
    try:
        def on_event(conn, ev, data):
            if ev == mg.MG_EV_CONNECT:
                conn.tls_init(mg.TlsOpts(ca=ca.cert_pem.bytes()))
        c = Client(f"mqtts://localhost:{tls_port}", on_event, client_id="t-tls")
        try:
            c.wait_open()
            assert c.conn.is_tls and c.conn.tls_info()["version"] in ("TLSv1.2", "TLSv1.3")
            c.conn.mqtt_sub("pm/tls", qos=1)
            c.poll_until(lambda: 9 in c.cmds(), "SUBACK")
            c.conn.mqtt_pub("pm/tls", "secret", qos=1)
            c.poll_until(lambda: c.msgs, "message over TLS")
            assert c.msgs[0]["data"] == b"secret"
        finally:
            c.close()
        # Without the CA the default verification refuses the broker's certificate.
        bad = Client(f"mqtts://localhost:{tls_port}", client_id="t-tls-bad")
        try:
            bad.poll_until(lambda: (mg.MG_EV_CLOSE, None) in bad.events, "close")
            errors = [d for ev, d in bad.events if ev == mg.MG_EV_ERROR]
            assert errors and errors[0].startswith("TLS handshake failed: certificate verify failed")
            assert bad.opened() == []
        finally:
            bad.close()
    finally:
        b.stop()


# ---------------------------------------------------------------------------------------
# A broker built with mqtt_listen, and paho-mqtt as the client


class MiniBroker:
    """Enough of a broker for tests: CONNACK, SUBACK, PINGRESP, and PUBLISH routed to every
    subscriber of the exact topic. Polled on its own thread."""

    def __init__(self, limits: dict | None = None) -> None:
        self.subs: dict[str, list] = {}
        self.seen: list[tuple[int, int, str, bytes]] = []  # (conn id, cmd, topic, data)
        self.errors: list[str] = []
        kw = {"limits": limits} if limits else {}
        self.mgr = mg.Manager(self._handler, **kw)
        self.listener = self.mgr.mqtt_listen(f"mqtt://{HOST}:0")
        self.port = self.listener.local_addr[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.mgr.poll(10)

    def _handler(self, conn, ev, data):
        if ev == mg.MG_EV_MQTT_CMD:
            self.seen.append((conn.id, data.cmd, data.topic, data.data))
            if data.cmd == 1:
                conn.send(b"\x20\x02\x00\x00")
            elif data.cmd == 8:
                # SUBSCRIBE topics are not parsed by the view (spec §3.5): every subscriber
                # gets every message, and clients filter by topic.
                self.subs.setdefault("*", []).append(conn)
                conn.send(bytes([0x90, 3, data.id >> 8, data.id & 0xFF, 1]))
            elif data.cmd == 12:
                conn.mqtt_pong()
            elif data.cmd == 14:
                conn.drain()
            elif data.cmd == 3:
                for sub in self.subs.get("*", []):
                    if sub.local_addr is not None:
                        sub.mqtt_pub(data.topic, data.data, qos=0)
        elif ev == mg.MG_EV_ERROR:
            self.errors.append(data)
        elif ev == mg.MG_EV_CLOSE:
            for subs in self.subs.values():
                if conn in subs:
                    subs.remove(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.mgr.close()


def test_paho_client_against_an_mqtt_listen_broker():
    paho = pytest.importorskip("paho.mqtt.client")
    b = MiniBroker()
    got: list[tuple[str, bytes]] = []
    published = threading.Event()
    received = threading.Event()
    connected = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="paho-test")
    client.on_connect = lambda cl, ud, flags, rc, props: connected.set()
    client.on_message = lambda cl, ud, msg: (got.append((msg.topic, msg.payload)), received.set())
    client.on_publish = lambda cl, ud, mid, rc, props: published.set()
    try:
        client.connect(HOST, b.port, keepalive=30)
        client.loop_start()
        assert connected.wait(TIMEOUT)
        client.subscribe("paho/t", qos=0)
        time.sleep(0)  # paho sends from its own thread
        deadline = time.monotonic() + TIMEOUT
        while not [s for s in b.seen if s[1] == 8] and time.monotonic() < deadline:
            time.sleep(0.01)
        info = client.publish("paho/t", b"from paho", qos=1)
        assert published.wait(TIMEOUT), "no PUBACK from the mqtt_listen child (automatic answer)"
        assert received.wait(TIMEOUT)
        info.wait_for_publish(TIMEOUT)
        assert got == [("paho/t", b"from paho")]
        assert (3 in [s[1] for s in b.seen])
    finally:
        client.loop_stop()
        client.disconnect()
        b.stop()
    assert b.errors == []


def test_our_client_against_our_broker_qos2_handshake():
    b = MiniBroker()
    try:
        c = Client(f"mqtt://{HOST}:{b.port}", client_id="ours")
        try:
            c.wait_open()
            pid = c.conn.mqtt_pub("t", "two", qos=2)
            # The child answers PUBREC automatically; we answer PUBREL; it answers PUBCOMP.
            c.poll_until(lambda: 7 in c.cmds(), "PUBCOMP")
            deadline = time.monotonic() + TIMEOUT
            while 6 not in [s[1] for s in b.seen] and time.monotonic() < deadline:
                c.mgr.poll(10)
            assert [s[1] for s in b.seen][:3] == [1, 3, 6]
            assert [d["id"] for ev, d in c.events if ev == mg.MG_EV_MQTT_CMD and d["cmd"] in (5, 7)] == [pid, pid]
        finally:
            c.close()
    finally:
        b.stop()


# ---------------------------------------------------------------------------------------
# Hostile input


def raw_exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=5) as s:
        try:
            s.sendall(payload)
        except ConnectionResetError:  # refused before all of it was sent
            pass
        s.settimeout(5)
        chunks = []
        while True:
            try:
                d = s.recv(4096)
            except ConnectionResetError:
                break
            if not d:
                break
            chunks.append(d)
        return b"".join(chunks)


CONNECT_311 = b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c"


@pytest.mark.parametrize("wire,error", [
    (b"\x30\xff\xff\xff\xff\x01", "MQTT malformed packet"),  # 5-byte remaining length
    (b"\x36\x05\x00\x01t\x00\x01", "MQTT malformed packet"),  # QoS 3
    (b"\x30\x03\x00\x09t", "MQTT malformed packet"),          # topic longer than the packet
    (b"\x30\xff\xff\xff\x7f", "MG_MAX_RECV_SIZE"),            # announces 256 MiB
])
def test_malformed_and_oversized_packets_close_and_the_broker_keeps_serving(wire, error):
    b = MiniBroker(limits={"max_recv": 64 * 1024})
    try:
        got = raw_exchange(b.port, CONNECT_311 + wire)
        assert got == b"\x20\x02\x00\x00"  # the CONNACK, then the close
        deadline = time.monotonic() + TIMEOUT
        while error not in b.errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert error in b.errors
        assert raw_exchange(b.port, CONNECT_311 + b"\xe0\x00") == b"\x20\x02\x00\x00"
    finally:
        b.stop()


def publish_packet(size: int) -> bytes:
    """A QoS 0 PUBLISH on topic "t" of exactly `size` bytes."""
    for header in (2, 3, 4, 5):
        remaining = size - header
        enc = bytearray()
        rl = remaining
        while True:
            byte, rl = rl & 0x7F, rl >> 7
            enc.append(byte | (0x80 if rl else 0))
            if not rl:
                break
        if 1 + len(enc) == header:
            return b"\x30" + bytes(enc) + b"\x00\x01t" + b"x" * (remaining - 3)
    raise ValueError(size)


def wait_for(cond: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("limit", [1024, 8 * 1024 * 1024])
def test_max_recv_bounds_a_packet_at_below_and_above_the_edge(limit):
    b = MiniBroker(limits={"max_recv": limit})
    try:
        for size, accepted in ((limit - 1, True), (limit, True), (limit + 1, False)):
            packet = publish_packet(size)
            assert len(packet) == size
            b.errors.clear()
            raw_exchange(b.port, CONNECT_311 + packet + b"\xe0\x00")
            payload = size - (len(packet) - len(packet.split(b"\x00\x01t", 1)[1]))
            if accepted:
                wait_for(lambda: any(s[1] == 3 and len(s[3]) == payload for s in b.seen), f"{size}-byte PUBLISH")
                assert b.errors == []
            else:
                wait_for(lambda: "MG_MAX_RECV_SIZE" in b.errors, f"{size}-byte PUBLISH refused")
    finally:
        b.stop()


def test_message_view_is_invalid_after_its_handler():
    kept = []
    b_mgr = mg.Manager(lambda c, ev, d: kept.append(d) if ev == mg.MG_EV_MQTT_CMD else None)
    try:
        port = b_mgr.mqtt_listen(f"mqtt://{HOST}:0").local_addr[1]
        with socket.create_connection((HOST, port), timeout=5) as s:
            s.sendall(b"\x30\x07\x00\x01tdata")
            deadline = time.monotonic() + TIMEOUT
            while not kept and time.monotonic() < deadline:
                b_mgr.poll(10)
        assert kept and not kept[0]
        assert kept[0].topic == "" and kept[0].data == b"" and kept[0].cmd == 0 and kept[0].properties() == []
    finally:
        b_mgr.close()


def test_mqtt_methods_on_a_listener_only_queue_bytes():
    m = mg.Manager()
    try:
        listener = m.mqtt_listen(f"mqtt://{HOST}:0")
        listener.mqtt_ping()
        listener.mqtt_pong()
        listener.mqtt_disconnect()
        m.poll(0)
        assert listener.is_listening and not listener.is_closing
        assert listener.send_data() == b"\xc0\x00\xd0\x00\xe0\x00"
    finally:
        m.close()


def test_mqtt_connect_argument_errors():
    m = mg.Manager()
    try:
        with pytest.raises(ValueError):
            m.mqtt_connect(f"mqtt://{HOST}:1", version=3)
        with pytest.raises(RuntimeError, match="Failed to connect to MQTT broker"):
            m.mqtt_connect("")
        with pytest.raises(RuntimeError, match="Failed to listen for MQTT on"):
            m.mqtt_listen("mqtt://example.invalid:1883")
    finally:
        m.close()


def test_mqtt_argument_validation_never_puts_a_bad_packet_on_the_wire():
    m = mg.Manager()
    try:
        conn = m.mqtt_listen(f"mqtt://{HOST}:0")  # any connection object queues MQTT bytes
        for topic in ("", "a/+", "a/#", "x" * 65536):
            with pytest.raises(ValueError, match="invalid MQTT topic"):
                conn.mqtt_pub(topic, b"p")
        for flt in ("", "a/#/b", "a+", "x" * 65536):
            with pytest.raises(ValueError, match="invalid MQTT topic filter"):
                conn.mqtt_sub(flt)
        assert conn.mqtt_pub("x" * 65535, b"p") == 0  # at the edge
        conn.mqtt_sub("a/+/#")
        with pytest.raises(ValueError, match="at most 65535"):
            m.mqtt_connect(f"mqtt://{HOST}:1", client_id="c" * 65536)
        with pytest.raises(ValueError, match="will_topic"):
            m.mqtt_connect(f"mqtt://{HOST}:1", will_topic="w/#")
    finally:
        m.close()


def test_truncated_packet_then_close_is_a_quiet_close():
    b = MiniBroker()
    try:
        with socket.create_connection((HOST, b.port), timeout=5) as s:
            s.sendall(CONNECT_311 + b"\x30\x20\x00\x01t")  # PUBLISH announcing 32 bytes, 4 sent
            assert s.recv(4) == b"\x20\x02\x00\x00"
        wait_for(lambda: len(b.mgr.connections) == 1, "the child closed")  # only the listener
        assert b.errors == [] and [s[1] for s in b.seen] == [1]  # the PUBLISH never surfaced
        assert raw_exchange(b.port, CONNECT_311 + b"\xe0\x00") == b"\x20\x02\x00\x00"
    finally:
        b.stop()


def test_recv_consume_is_refused_on_mqtt_connections():
    m = mg.Manager()
    try:
        listener = m.mqtt_listen(f"mqtt://{HOST}:0")
        conn = m.mqtt_connect(f"mqtt://{HOST}:{listener.local_addr[1]}")
        with pytest.raises(RuntimeError, match="only available on raw connections"):
            conn.recv_consume()
    finally:
        m.close()

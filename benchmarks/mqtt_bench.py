#!/usr/bin/env python3
"""MQTT client benchmark: pymongoose next to paho-mqtt and gmqtt, through one mosquitto.

    .venv/bin/python benchmarks/mqtt_bench.py              # 3 x 5 s per (figure, client), ~4 min
    .venv/bin/python benchmarks/mqtt_bench.py --quick      # 1-second smoke run
    .venv/bin/python benchmarks/run_benchmark.py --mqtt    # as part of the full comparison

The broker is mosquitto (Debian's package; `mosquitto -c CONF`), one process on 127.0.0.1
pinned to one CPU, persistence off. Each client is a program written as its library's users
write it (benchmarks/mqtt_clients/: pymongoose_client.py, paho_client.py, gmqtt_client.py,
with what must be identical for all of them in mqtt_common.py), started once per run in its own
process, pinned to the other CPU(s). Four figures per client, MQTT 3.1.1, the same 64-byte
binary payload for all:

  rtt0 / rtt1   round trips per second: one connection subscribed to topic A publishes to A
                and waits for its own message before publishing the next (QoS 0 / QoS 1 for
                both the subscription and the publishes);
  msg0 / msg1   messages per second: one connection publishes as fast as it can (at most
                1000 messages published and not yet delivered back, so that no queue grows
                without bound; at QoS 1 at most 100 waiting for their PUBACK, like paho's
                max_inflight), a second connection of the same program subscribed to the
                topic counts the deliveries; the figure is deliveries per second.

Every run warms up (default 1 s) before its counted window (--duration); the client's CPU
time over exactly that window comes from /proc/<pid>/stat (the client stops and waits for
the runner once the window is over), and so does the broker's. Repetitions are interleaved
across clients, the order rotating between figures and repetitions; figures are medians.

Before measuring, each client is validated: in one connection it publishes a fixed list of
payloads (the benchmark payload at QoS 0 and 1, all 256 byte values, an empty one, 20,000
bytes, a per-run nonce) to a topic it subscribed to, and must get back exactly those (topic,
bytes, QoS, in order) and a PUBACK for each QoS 1 publish; a raw-socket subscriber in this
runner (independent of every client library) must see the same bytes at the broker. A
client that fails is refused. During the runs every received payload is compared with the
one sent.

Results go to mqtt_results.json and to the section between `<!-- mqtt:begin -->` and
`<!-- mqtt:end -->` of RESULTS.md in the output directory.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import queue
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import BENCH_DIR, Missing  # noqa: E402

CLIENTS_DIR = BENCH_DIR / "mqtt_clients"
sys.path.insert(0, str(CLIENTS_DIR))
import mqtt_common as client_common  # noqa: E402

JSON_NAME = "mqtt_results.json"
MARK_BEGIN, MARK_END = "<!-- mqtt:begin -->", "<!-- mqtt:end -->"
SECTION_TITLE = "## MQTT clients"
DEFAULT_SIZE = client_common.DEFAULT_SIZE
DEFAULT_WINDOW = client_common.DEFAULT_WINDOW
DEFAULT_CAP = client_common.DEFAULT_CAP
TARGET_FACTOR = 3.0  # pymongoose >= 3x paho-mqtt, every figure


@dataclass(frozen=True)
class ClientSpec:
    name: str
    label: str
    script: str  # in mqtt_clients/, or an absolute path
    modules: tuple[str, ...] = ()
    dists: tuple[str, ...] = ()
    install: str = ""
    description: str = ""

    @property
    def path(self) -> Path:
        p = Path(self.script)
        return p if p.is_absolute() else CLIENTS_DIR / p


def _req_hint() -> str:
    return f"{harness._venv_pip()} install -r benchmarks/requirements.txt"


MQTT_CLIENTS: dict[str, ClientSpec] = {
    s.name: s
    for s in (
        ClientSpec("pymongoose", "pymongoose", "pymongoose_client.py", modules=("pymongoose",),
                   dists=("pymongoose-cpp",), install=harness.SERVERS["pymongoose"].install,
                   description="Manager(handler, poll_events=False) + poll(100); mqtt_connect, "
                               "mqtt_sub on MQTT_OPEN, mqtt_pub from the handler on MQTT_MSG "
                               "and on PUBACK (MQTT_CMD 4); acks by the engine"),
        ClientSpec("paho", "paho-mqtt", "paho_client.py", modules=("paho.mqtt.client",),
                   dists=("paho-mqtt",),
                   install=f"{harness._venv_pip()} install paho-mqtt   (or: {_req_hint()})",
                   description="CallbackAPIVersion.VERSION2; round trips: loop_forever() on the "
                               "main thread; messages/s: loop_start() for each connection; "
                               "max_inflight_messages_set(window); TCP_NODELAY set in on_connect"),
        ClientSpec("gmqtt", "gmqtt", "gmqtt_client.py", modules=("gmqtt",), dists=("gmqtt",),
                   install=f"{harness._venv_pip()} install gmqtt   (or: {_req_hint()})",
                   description="asyncio on uvloop (when installed); on_message callbacks; "
                               "PUBACKs counted in a subclass extending "
                               "Client._remove_message_from_queue, which gmqtt calls on a PUBACK "
                               "(it has no PUBACK callback)"),
    )
}
MQTT_ORDER = ["pymongoose", "paho", "gmqtt"]
BASE = "paho"  # the targets compare pymongoose with it


@dataclass(frozen=True)
class MqttScenario:
    key: str
    mode: str  # "rtt" or "throughput"
    qos: int
    title: str
    unit: str  # what one counted message is


SCENARIOS = [
    MqttScenario("rtt0", "rtt", 0, "round trips per second, QoS 0", "round trip"),
    MqttScenario("rtt1", "rtt", 1, "round trips per second, QoS 1", "round trip"),
    MqttScenario("msg0", "throughput", 0, "messages per second, QoS 0", "message"),
    MqttScenario("msg1", "throughput", 1, "messages per second, QoS 1", "message"),
]
SCENARIO_BY_KEY = {s.key: s for s in SCENARIOS}


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Prerequisites
# --------------------------------------------------------------------------

def find_mosquitto() -> str | None:
    return harness.find_binary("mosquitto")


def mosquitto_version(exe: str | None = None) -> str:
    exe = exe or find_mosquitto()
    if not exe:
        return "not installed"
    try:
        p = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in (p.stdout + p.stderr).splitlines():
        if line.startswith("mosquitto version"):
            return line.strip()
    return "unknown"


def check_tools() -> list[Missing]:
    if find_mosquitto():
        return []
    return [Missing("mosquitto", "the MQTT broker of the benchmark is not installed",
                    "apt-get install -y mosquitto   (Debian; scripts/setup.sh installs it)")]


def check_clients(names: list[str], specs: dict[str, ClientSpec] | None = None
                  ) -> dict[str, Missing | None]:
    specs = specs or MQTT_CLIENTS
    imports = harness.probe_imports(sorted({m for n in names for m in specs[n].modules}))
    out: dict[str, Missing | None] = {}
    for n in names:
        out[n] = None
        for m in specs[n].modules:
            if imports.get(m):
                out[n] = Missing(f"{n} (MQTT client)", f"cannot import '{m}' ({imports[m]})",
                                 specs[n].install)
                break
    return out


def parse_clients(text: str | None) -> list[str]:
    if not text or text == "all":
        return list(MQTT_ORDER)
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in MQTT_CLIENTS]
    if bad:
        raise SystemExit(f"unknown MQTT client(s): {', '.join(bad)}; known: "
                         + ", ".join(MQTT_ORDER))
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------
# Broker
# --------------------------------------------------------------------------

def broker_config(port: int, window: int = DEFAULT_WINDOW, as_root: bool | None = None,
                  cap: int = DEFAULT_CAP) -> str:
    """mosquitto.conf for the run: one listener on 127.0.0.1, nothing written to disk."""
    if as_root is None:
        as_root = os.geteuid() == 0
    lines = [
        # As root mosquitto would switch to its own user; it stays who started it instead.
        *(["user root"] if as_root else []),
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        # Nagle off on the broker's side too (every client here turns it off on its own).
        "set_tcp_nodelay true",
        # QoS 1 deliveries in flight to one subscriber: the clients' window (default 20).
        f"max_inflight_messages {window}",
        # Above the clients' cap of messages on their way, so that mosquitto never drops one
        # (it drops QoS 0 messages for a subscriber with this many packets queued).
        f"max_queued_messages {max(1000, 2 * cap)}",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages false",
    ]
    return "\n".join(lines) + "\n"


class Broker:
    def __init__(self, port: int, proc: subprocess.Popen, tmp: tempfile.TemporaryDirectory,
                 log_path: Path, conf: str, cpus: set[int] | None) -> None:
        self.port, self.proc, self.tmp, self.log_path = port, proc, tmp, log_path
        self.conf, self.cpus = conf, cpus
        self.clean_exit: bool | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
                self.clean_exit = True
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self.clean_exit = False
        elif self.clean_exit is None:
            self.clean_exit = False
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


def start_broker(*, cpus: set[int] | None = None, log_dir: Path | None = None,
                 window: int = DEFAULT_WINDOW, cap: int = DEFAULT_CAP,
                 ready_timeout: float = 15.0) -> Broker:
    exe = find_mosquitto()
    if not exe:
        raise harness.ServerError("mosquitto is not installed (apt-get install -y mosquitto)")
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="mqtt-bench-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    last = ""
    for _ in range(5):
        port = harness.free_port()
        tmp = tempfile.TemporaryDirectory(prefix="bench-mosquitto-")
        conf_text = broker_config(port, window, cap=cap)
        conf = Path(tmp.name) / "mosquitto.conf"
        conf.write_text(conf_text)
        log_path = log_dir / f"mosquitto-{port}.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen([exe, "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=harness._affinity_preexec(cpus))
        b = Broker(port, proc, tmp, log_path, conf_text, cpus)
        try:
            harness.wait_for_port(port, ready_timeout, proc)
            return b
        except harness.ServerError as exc:
            b.stop()
            last = f"{exc}: {b.log_tail()}"
    raise harness.ServerError(f"mosquitto did not start: {last}")


# --------------------------------------------------------------------------
# A raw MQTT 3.1.1 client (independent of the libraries under test)
# --------------------------------------------------------------------------

def encode_varint(n: int) -> bytes:
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None when `buf` ends inside it."""
    value, shift = 0, 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        b = buf[pos + i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ValueError("malformed remaining length (more than 4 bytes)")


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_varint(len(body)) + body


def connect_packet(client_id: str, keepalive: int = 60) -> bytes:
    return _packet(0x10, _str("MQTT") + bytes([4, 0x02]) + keepalive.to_bytes(2, "big")
                   + _str(client_id))


def subscribe_packet(pid: int, topic: str, qos: int = 0) -> bytes:
    return _packet(0x82, pid.to_bytes(2, "big") + _str(topic) + bytes([qos]))


def publish_packet(topic: str, payload: bytes, qos: int = 0, pid: int = 0) -> bytes:
    body = _str(topic) + (pid.to_bytes(2, "big") if qos else b"") + payload
    return _packet(0x30 | (qos << 1), body)


def puback_packet(pid: int) -> bytes:
    return _packet(0x40, pid.to_bytes(2, "big"))


def parse_publish(first: int, body: bytes) -> tuple[str, bytes, int, int]:
    """(topic, payload, qos, packet id) of a PUBLISH packet's body."""
    qos = (first >> 1) & 3
    n = int.from_bytes(body[:2], "big")
    topic = body[2:2 + n].decode("utf-8", "surrogateescape")
    pos = 2 + n
    pid = 0
    if qos:
        pid = int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
    return topic, bytes(body[pos:]), qos, pid


class RawClient:
    """Blocking MQTT 3.1.1 over a plain socket: enough to watch a topic and publish."""

    def __init__(self, port: int, client_id: str, host: str = "127.0.0.1",
                 timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()
        self.sock.sendall(connect_packet(client_id))
        first, body = self.read_packet(time.monotonic() + timeout)
        if first >> 4 != 2 or len(body) != 2 or body[1] != 0:
            raise ConnectionError(f"no CONNACK 0: {bytes([first]) + body!r}")

    def read_packet(self, deadline: float) -> tuple[int, bytes]:
        while True:
            if len(self.buf) >= 2:
                got = decode_varint(self.buf, 1)
                if got is not None:
                    length, pos = got
                    if len(self.buf) >= pos + length:
                        first, body = self.buf[0], bytes(self.buf[pos:pos + length])
                        del self.buf[:pos + length]
                        return first, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete MQTT packet in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self.buf.extend(chunk)

    def subscribe(self, topic: str, qos: int = 0, timeout: float = 5.0) -> None:
        self.sock.sendall(subscribe_packet(1, topic, qos))
        deadline = time.monotonic() + timeout
        while True:
            first, body = self.read_packet(deadline)
            if first >> 4 == 9:
                if body[2:] not in (bytes([qos]), bytes([min(qos, 1)])):
                    raise ConnectionError(f"SUBACK {body!r}")
                return

    def publish(self, topic: str, payload: bytes, qos: int = 0, pid: int = 1) -> None:
        self.sock.sendall(publish_packet(topic, payload, qos, pid))

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        self.sock.close()


class Observer:
    """A raw subscriber at QoS 1 on one topic that records every PUBLISH on a thread."""

    def __init__(self, port: int, topic: str) -> None:
        self.client = RawClient(port, f"bench-observer-{uuid.uuid4().hex[:12]}")
        self.client.subscribe(topic, 1)
        self.messages: list[tuple[str, bytes, int]] = []
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first, body = self.client.read_packet(time.monotonic() + 0.1)
            except TimeoutError:
                continue
            except (OSError, ConnectionError, ValueError) as exc:
                if not self._stop.is_set():
                    self.error = f"{type(exc).__name__}: {exc}"
                return
            if first >> 4 == 3:
                topic, data, qos, pid = parse_publish(first, body)
                if qos:
                    self.client.sock.sendall(puback_packet(pid))
                self.messages.append((topic, data, qos))

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline and not self.error:
            time.sleep(0.01)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.client.close()


# --------------------------------------------------------------------------
# Running a client program
# --------------------------------------------------------------------------

def client_command(spec: ClientSpec, mode: str, port: int | str, topic: str, *, qos: int = 0,
                   size: int = DEFAULT_SIZE, duration: float = 3.0, warmup: float = 1.0,
                   window: int = DEFAULT_WINDOW, cap: int = DEFAULT_CAP,
                   nonce: str = "") -> list[str]:
    cmd = [harness.PYTHON, str(spec.path), mode, "--port", str(port), "--topic", topic]
    if mode != "validate":
        cmd += ["--qos", str(qos), "--duration", f"{duration:g}", "--warmup", f"{warmup:g}",
                "--window", str(window), "--cap", str(cap)]
    cmd += ["--size", str(size)]
    if nonce:
        cmd += ["--nonce", nonce]
    return cmd


def display_command(spec: ClientSpec, mode: str, qos: int, *, size: int, duration: float,
                    warmup: float, window: int, cap: int = DEFAULT_CAP, prefix: str = "") -> str:
    script = spec.path
    try:
        script = script.relative_to(harness.REPO_ROOT)
    except ValueError:
        pass
    cmd = [".venv/bin/python", str(script), mode, "--port", "PORT", "--topic", "TOPIC",
           "--qos", str(qos), "--duration", f"{duration:g}", "--warmup", f"{warmup:g}",
           "--window", str(window), "--cap", str(cap), "--size", str(size)]
    return (f"{prefix} " if prefix else "") + shlex.join(cmd)


def drive_client(cmd: list[str], *, cpus: set[int] | None, log_path: Path | None,
                 timeout: float, watch: dict[str, int] | None = None) -> dict:
    """Run one client program and follow its MQTT_* lines.

    CPU time (clock ticks from /proc) of the client's process tree and of every pid in
    `watch` is read when MQTT_COUNTING and when MQTT_RESULT arrive; after MQTT_RESULT the
    client gets its go on stdin. Returns what was seen: "result", "final", "valid", "info",
    "error", "cpu" ({who: ticks over the window}), "wall" (runner's window), "exit_code",
    "lines".
    """
    watch = watch or {}
    out: dict = {"lines": []}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                cwd=str(CLIENTS_DIR), env={**os.environ,
                                                           "PYTHONUNBUFFERED": "1"},
                                preexec_fn=harness._affinity_preexec(cpus),
                                start_new_session=True)
    finally:
        if log_path:
            log.close()
    lines: queue.Queue = queue.Queue()

    def reader() -> None:
        for raw in proc.stdout:
            lines.put(raw.decode("utf-8", "replace"))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + timeout
    c0: dict[str, int] = {}
    s0: dict = {}
    t0 = None
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                out.setdefault("error", f"no answer within {timeout:.0f} s")
                out["timed_out"] = True
                break
            if line is None:
                break
            out["lines"].append(line.rstrip("\n"))
            tag, _, rest = line.strip().partition(" ")
            if tag == "MQTT_COUNTING":
                c0 = {"client": harness.tree_cpu_ticks(proc.pid),
                      **{k: harness.tree_cpu_ticks(p) for k, p in watch.items()}}
                s0 = harness.system_cpu_ticks()
                t0 = time.monotonic()
            elif tag == "MQTT_RESULT":
                c1 = {"client": harness.tree_cpu_ticks(proc.pid),
                      **{k: harness.tree_cpu_ticks(p) for k, p in watch.items()}}
                s1 = harness.system_cpu_ticks()
                t1 = time.monotonic()
                out["result"] = _json(rest)
                if t0 is not None:
                    out["cpu"] = {k: c1[k] - c0.get(k, c1[k]) for k in c1}
                    out["system_tasks"] = s1["tasks"] - s0["tasks"]
                    out["wall"] = t1 - t0
                _go(proc)
            elif tag == "MQTT_FINAL":
                out["final"] = _json(rest)
            elif tag == "MQTT_VALID":
                out["valid"] = _json(rest)
            elif tag == "MQTT_INFO":
                out["info"] = _json(rest)
            elif tag == "MQTT_READY":
                out["ready"] = True
            elif tag == "MQTT_ERROR":
                out["error"] = rest or "client failed"
    finally:
        _go(proc)
        try:
            if out.get("timed_out"):
                raise subprocess.TimeoutExpired(cmd, 0)
            proc.wait(timeout=max(5.0, deadline - time.monotonic()) if "error" not in out else 5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait(5)
            out.setdefault("error", "client did not exit")
        out["exit_code"] = proc.returncode
    if out["exit_code"] != 0 and "error" not in out:
        out["error"] = f"client exited with status {out['exit_code']}"
    return out


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return {"unparsable": text[:200]}


def _go(proc: subprocess.Popen) -> None:
    try:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            proc.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def validate_client(spec: ClientSpec, port: int, *, size: int = DEFAULT_SIZE,
                    cpus: set[int] | None = None, log_dir: Path | None = None,
                    timeout: float = 40.0) -> dict:
    """The client must get back exactly what it published, and the broker must have seen
    exactly those bytes (checked by a raw subscriber here)."""
    problems: list[str] = []
    topic = f"bench/validate/{spec.name}/{uuid.uuid4().hex[:12]}"
    nonce = os.urandom(8).hex()
    plan = client_common.validation_plan(size, bytes.fromhex(nonce))
    try:
        obs = Observer(port, topic)
    except (OSError, ConnectionError, TimeoutError) as exc:
        return {"ok": False, "problems": [f"observer could not subscribe: {exc}"]}
    try:
        log_path = (log_dir / f"mqtt-validate-{spec.name}.log") if log_dir else None
        r = drive_client(client_command(spec, "validate", port, topic, size=size, nonce=nonce),
                         cpus=cpus, log_path=log_path, timeout=timeout)
        said = r.get("valid")
        # A client that got all of its messages back had them pass the broker, where the
        # observer subscribed first: they are there or about to be.
        obs.wait_for(len(plan), 2.0 if isinstance(said, dict) and said.get("ok") else 0.2)
        time.sleep(0.05)
    finally:
        obs.close()
    if r.get("error"):
        problems.append(f"client: {r['error']}")
    if not isinstance(said, dict):
        problems.append("client printed no MQTT_VALID line")
    elif not said.get("ok"):
        problems += [f"client: {p}" for p in said.get("problems", ["not ok"])]
    if obs.error:
        problems.append(f"observer: {obs.error}")
    problems += [f"at the broker: {p}" for p in
                 client_common.check_received(plan, obs.messages, topic, None)]
    return {"ok": not problems, "problems": problems,
            "observed": len(obs.messages), "plan": [[q, len(d)] for q, d in plan],
            "exit_code": r.get("exit_code")}


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------

def measure(spec: ClientSpec, sc: MqttScenario, broker: Broker, *, duration: float,
            warmup: float, size: int = DEFAULT_SIZE, window: int = DEFAULT_WINDOW,
            cap: int = DEFAULT_CAP, cpus: set[int] | None = None,
            log_path: Path | None = None) -> dict:
    rec: dict = {"client": spec.name, "scenario": sc.key}
    if not broker.alive():
        rec["error"] = f"the broker had exited (code {broker.proc.returncode})"
        return rec
    topic = f"bench/{spec.name}/{sc.key}/{uuid.uuid4().hex[:12]}"
    cmd = client_command(spec, sc.mode, broker.port, topic, qos=sc.qos, size=size,
                         duration=duration, warmup=warmup, window=window, cap=cap)
    r = drive_client(cmd, cpus=cpus, log_path=log_path, timeout=warmup + duration + 40,
                     watch={"broker": broker.pid})
    return summarize_run(rec, sc, r, broker_alive=broker.alive())


def summarize_run(rec: dict, sc: MqttScenario, r: dict, broker_alive: bool = True) -> dict:
    """Turn what drive_client saw into one run record (rates, CPU, errors)."""
    res = r.get("result")
    fin = r.get("final") or {}
    if not isinstance(res, dict) or "messages" not in res:
        rec["error"] = r.get("error") or "client printed no MQTT_RESULT line"
        return rec
    msgs, secs = res["messages"], res["seconds"]
    rec.update({"messages": msgs, "seconds": secs, "rate": msgs / secs if secs > 0 else 0.0,
                "bad": res.get("bad", 0)})
    if sc.mode == "throughput":
        rec.update({"published": res.get("published"), "acked": res.get("acked"),
                    "lost": fin.get("lost")})
    tick = harness.CLK_TCK
    cpu = r.get("cpu") or {}
    wall = r.get("wall")
    if "client" in cpu and wall:
        c = cpu["client"] / tick
        rec["client_cpu_s"] = c
        rec["client_cpu_util"] = c / wall
        rec["client_cpu_us_per_msg"] = c / msgs * 1e6 if msgs else None
        if "broker" in cpu:
            b = cpu["broker"] / tick
            rec["broker_cpu_util"] = b / wall
            rec["broker_cpu_us_per_msg"] = b / msgs * 1e6 if msgs else None
            rec["other_cpu_util"] = max(0.0, (r.get("system_tasks", 0) / tick - c - b) / wall)
    problems = []
    if r.get("error"):
        problems.append(r["error"])
    if msgs <= 0:
        problems.append("nothing counted")
    if rec["bad"] or fin.get("bad_total"):
        problems.append(f"{max(rec['bad'], fin.get('bad_total', 0))} message(s) with a wrong "
                        "payload")
    if not fin:
        problems.append("client printed no MQTT_FINAL line")
    elif sc.mode == "throughput" and sc.qos == 1 and fin.get("lost"):
        problems.append(f"{fin['lost']} QoS 1 message(s) never delivered")
    if not broker_alive:
        problems.append("the broker exited during the run")
    if problems:
        rec["error"] = "; ".join(dict.fromkeys(problems))
    return rec


def summarize(runs: list[dict], names: list[str], scenarios: list[MqttScenario]) -> dict:
    out: dict = {}
    for sc in scenarios:
        out[sc.key] = {}
        for n in names:
            rs = [r for r in runs if r["client"] == n and r["scenario"] == sc.key
                  and "error" not in r and "rate" in r]
            errs = [r["error"] for r in runs if r["client"] == n and r["scenario"] == sc.key
                    and "error" in r]
            if not rs:
                out[sc.key][n] = {"n": 0, "errors": errs}
                continue

            def med(k: str):
                v = [r[k] for r in rs if r.get(k) is not None]
                return statistics.median(v) if v else None
            rates = [r["rate"] for r in rs]
            out[sc.key][n] = {
                "n": len(rs), "rate_median": statistics.median(rates),
                "rate_min": min(rates), "rate_max": max(rates),
                "client_cpu_us_per_msg": med("client_cpu_us_per_msg"),
                "client_cpu_util": med("client_cpu_util"),
                "broker_cpu_us_per_msg": med("broker_cpu_us_per_msg"),
                "broker_cpu_util": med("broker_cpu_util"),
                "other_cpu_util": med("other_cpu_util"),
                "messages_total": sum(r["messages"] for r in rs),
                "lost_total": sum(r.get("lost") or 0 for r in rs),
                "errors": errs,
            }
    return out


def evaluate_targets(summary: dict, factor: float = TARGET_FACTOR, base: str = BASE) -> list[dict]:
    out = []
    for sc in SCENARIOS:
        p = summary.get(sc.key, {}).get("pymongoose", {})
        o = summary.get(sc.key, {}).get(base, {})
        ratio = cpu_ratio = None
        if p.get("n") and o.get("n") and o["rate_median"]:
            ratio = p["rate_median"] / o["rate_median"]
            if p.get("client_cpu_us_per_msg") and o.get("client_cpu_us_per_msg") is not None:
                cpu_ratio = o["client_cpu_us_per_msg"] / p["client_cpu_us_per_msg"]
        out.append({"scenario": sc.key,
                    "target": f"{sc.title}: pymongoose ≥ {factor:g}× "
                              f"{MQTT_CLIENTS[base].label}",
                    "ratio": ratio, "met": None if ratio is None else ratio >= factor,
                    "cpu_ratio": cpu_ratio, "bound": bound_by(p)})
    return out


def bound_by(s: dict) -> str:
    """What limited a client's figure when it was not its own CPU ("" when it was)."""
    client, broker = s.get("client_cpu_util"), s.get("broker_cpu_util")
    if client is None or broker is None:
        return ""
    if broker >= 0.9:
        return (f"broker-bound: mosquitto at {100 * broker:.0f} % of its core, the client "
                f"at {100 * client:.0f} %")
    if client < 0.8:
        return (f"latency-bound: the client at {100 * client:.0f} % of its core, mosquitto at "
                f"{100 * broker:.0f} % (each side waits for the other and the kernel)")
    return ""


def run_mqtt_scenario(names: list[str], *, duration: float, repetitions: int, warmup: float,
                      size: int = DEFAULT_SIZE, window: int = DEFAULT_WINDOW,
                      cap: int = DEFAULT_CAP, server_cpus: set[int] | None,
                      client_cpus: set[int] | None,
                      log_dir: Path | None = None, pause: float = 0.5,
                      scenarios: list[MqttScenario] | None = None,
                      specs: dict[str, ClientSpec] | None = None) -> dict:
    """Start the broker, validate every client, measure (interleaved), stop."""
    specs = specs or MQTT_CLIENTS
    scenarios = scenarios or list(SCENARIOS)
    validation: dict[str, dict] = {}
    runs: list[dict] = []
    broker_info: dict = {}
    log(f"[mqtt] starting mosquitto ({mosquitto_version()}) ...")
    build0 = pymongoose_build()
    broker = start_broker(cpus=server_cpus, log_dir=log_dir, window=window, cap=cap)
    broker_info.update({"port": broker.port, "pid": broker.pid, "config": broker.conf})
    try:
        for n in names:
            v = validate_client(specs[n], broker.port, size=size, cpus=client_cpus,
                                log_dir=log_dir)
            validation[n] = v
            log(f"[mqtt] {n}: " + ("validated" if v["ok"] else
                                   "REFUSED: " + "; ".join(v["problems"])))
        active = [n for n in names if validation[n]["ok"]]
        total = repetitions * len(scenarios) * len(active)
        k = 0
        for rep in range(repetitions):
            for si, sc in enumerate(scenarios):
                shift = (rep * len(scenarios) + si) % max(1, len(active))
                for n in active[shift:] + active[:shift]:
                    k += 1
                    time.sleep(pause)
                    lp = (log_dir / f"mqtt-{sc.key}-{n}-rep{rep + 1}.log") if log_dir else None
                    rec = measure(specs[n], sc, broker, duration=duration, warmup=warmup,
                                  size=size, window=window, cap=cap, cpus=client_cpus,
                                  log_path=lp)
                    rec["repetition"] = rep + 1
                    runs.append(rec)
                    if "error" in rec:
                        log(f"[mqtt] [{k}/{total}] {sc.key} rep {rep + 1} {n}: ERROR "
                            f"{rec['error']}")
                    else:
                        cpu = rec.get("client_cpu_us_per_msg")
                        log(f"[mqtt] [{k}/{total}] {sc.key} rep {rep + 1} {n:<10} "
                            f"{rec['rate']:>9,.0f} {sc.unit}s/s  client CPU "
                            f"{'—' if cpu is None else f'{cpu:.1f}'} µs/{sc.unit} "
                            f"({_pct(rec.get('client_cpu_util'))} %)  broker "
                            f"{_pct(rec.get('broker_cpu_util'))} %  other "
                            f"{_pct(rec.get('other_cpu_util'))} %")
                    if not broker.alive():
                        log("[mqtt] the broker exited; stopping: " + broker.log_tail(300))
                        raise RuntimeError("mosquitto exited during the runs")
    except RuntimeError as exc:
        broker_info["error"] = str(exc)
    finally:
        broker.stop()
        broker_info["clean_exit"] = broker.clean_exit
    summary = summarize(runs, names, scenarios)
    return {
        "generated": _dt.datetime.now().astimezone().isoformat(),
        "pymongoose_build": {"before": build0, "after": pymongoose_build()},
        "settings": {"message_bytes": size, "window": window, "cap": cap, "duration_s": duration,
                     "repetitions": repetitions, "warmup_s": warmup, "protocol": "MQTT 3.1.1",
                     "server_cpus": sorted(server_cpus or []),
                     "client_cpus": sorted(client_cpus or [])},
        "clients": names,
        "scenarios": [sc.__dict__ for sc in scenarios],
        "descriptions": {n: specs[n].description for n in names},
        "broker": {**broker_info, "version": mosquitto_version()},
        "validation": validation,
        "runs": runs,
        "summary": summary,
        "targets": evaluate_targets(summary),
        "versions": harness.package_versions([d for n in names for d in specs[n].dists]
                                             + ["uvloop"]),
    }


def pymongoose_build() -> str:
    """Size, mtime and hash prefix of the pymongoose extension the clients load ("" if none):
    a rebuild during the run (an editable install rewrites it in place) shows up as a change,
    and crashes every client process that has it mapped (SIGBUS)."""
    import hashlib

    # In a child: finding the submodule imports the package, which maps the extension.
    try:
        p = subprocess.run([harness.PYTHON, "-c", "import importlib.util as u; "
                            "print(u.find_spec('pymongoose._mongoose').origin)"],
                           capture_output=True, text=True, timeout=60,
                           cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired):
        return ""
    origin = p.stdout.strip()
    if p.returncode != 0 or not origin or not os.path.exists(origin):
        return ""
    st = os.stat(origin)
    with open(origin, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    when = _dt.datetime.fromtimestamp(st.st_mtime).astimezone().isoformat(timespec="seconds")
    return f"{st.st_size} bytes, {when}, sha256 {digest}"


def all_measured(res: dict) -> bool:
    return all(res["summary"].get(sc["key"], {}).get(n, {}).get("n")
               for sc in res["scenarios"] for n in res["clients"])


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "—" if x is None else f"{x:{spec}}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def _label(n: str) -> str:
    return f"**{MQTT_CLIENTS[n].label}**" if n == "pymongoose" else MQTT_CLIENTS[n].label


def summary_table(res: dict) -> str:
    scs = res["scenarios"]
    header = ["client"] + [f"{sc['key']}: {sc['title']}" for sc in scs]
    rows = ["| " + " | ".join(header) + " |", "|---|" + "|".join(["--:"] * len(scs)) + "|"]
    for n in res["clients"]:
        cells = [_label(n)]
        for sc in scs:
            s = res["summary"].get(sc["key"], {}).get(n, {})
            base = res["summary"].get(sc["key"], {}).get(BASE, {})
            if not s.get("n"):
                cells.append("—")
                continue
            cell = _fmt(s["rate_median"])
            if n != BASE and base.get("n") and base["rate_median"]:
                cell += f" ({s['rate_median'] / base['rate_median']:.2f}× paho)"
            cells.append(cell)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def scenario_table(res: dict, sc: dict) -> str:
    summ = res["summary"].get(sc["key"], {})
    base = summ.get("pymongoose", {})
    unit = sc["unit"]
    header = ["client", f"{unit}s/s median", "min", "max", "× pymongoose",
              f"client CPU µs/{unit}", "client CPU %", f"broker CPU µs/{unit}", "broker CPU %",
              "other CPU %"]
    if sc["mode"] == "throughput":
        header.append("lost")
    rows = ["| " + " | ".join(header) + " |", "|---|" + "|".join(["--:"] * (len(header) - 1))
            + "|"]
    for n in res["clients"]:
        s = summ.get(n, {})
        if not s.get("n"):
            v = res["validation"].get(n, {})
            why = "; ".join((v.get("problems") if not v.get("ok") else None)
                            or sorted(set(s.get("errors") or [])) or ["not run"])
            rows.append("| " + " | ".join([_label(n), why] + [""] * (len(header) - 2)) + " |")
            continue
        r = s["rate_median"]
        cells = [_label(n), _fmt(r), _fmt(s["rate_min"]), _fmt(s["rate_max"]),
                 "—" if not base.get("n") else f"{r / base['rate_median']:.2f}×",
                 _fmt(s["client_cpu_us_per_msg"], ".1f"), _pct(s["client_cpu_util"]),
                 _fmt(s["broker_cpu_us_per_msg"], ".1f"), _pct(s["broker_cpu_util"]),
                 _pct(s["other_cpu_util"])]
        if sc["mode"] == "throughput":
            cells.append(_fmt(s["lost_total"]))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def targets_table(res: dict) -> str:
    rows = ["| target | measured | status | client CPU per message: paho-mqtt ÷ pymongoose | "
            "pymongoose's figure |", "|---|--:|---|--:|---|"]
    for t in res.get("targets") or evaluate_targets(res["summary"]):
        rows.append(f"| {t['target']} | "
                    + ("not measured" if t["ratio"] is None else f"{t['ratio']:.2f}×") + " | "
                    + ("—" if t["met"] is None else ("met" if t["met"] else "**not met**"))
                    + " | " + ("—" if t.get("cpu_ratio") is None else f"{t['cpu_ratio']:.2f}×")
                    + f" | {t.get('bound') or ''} |")
    return "\n".join(rows)


def validation_table(res: dict) -> str:
    rows = ["| client | validation | messages seen at the broker |", "|---|---|--:|"]
    for n in res["clients"]:
        v = res["validation"].get(n, {})
        rows.append(f"| {MQTT_CLIENTS[n].label} | "
                    + ("ok" if v.get("ok") else "**REFUSED**: " + "; ".join(v.get("problems", [])))
                    + f" | {v.get('observed', '—')} of {len(v.get('plan', [])) or '—'} |")
    return "\n".join(rows)


def noisy_note(res: dict) -> list[str]:
    out = []
    b = res.get("pymongoose_build") or {}
    if b.get("before") != b.get("after"):
        out += [f"> **pymongoose changed during the run** (its extension was {b.get('before')!r} "
                f"at the start and {b.get('after')!r} at the end): some runs measured another "
                "build, and a client that had the old file mapped crashes (SIGBUS).", ""]
    vals = [r.get("other_cpu_util") for r in res.get("runs", []) if r.get("other_cpu_util")]
    if vals and max(vals) > 0.10:
        out += [f"> **Noisy machine**: during these runs other processes used up to "
                f"{100 * max(vals):.0f} % of a core (*other CPU %*); compare *client CPU µs* "
                "rather than rates, and re-run on a quiet machine.", ""]
    return out


def render_markdown(res: dict | None, quick: bool = False) -> str:
    if not res:
        return ("Not measured yet. Run `.venv/bin/python benchmarks/mqtt_bench.py` (about 4 "
                "minutes) or `benchmarks/run_benchmark.py --mqtt`.")
    st = res["settings"]
    pin = (f"broker pinned to CPU {','.join(map(str, st['server_cpus']))}, each client to "
           f"CPU(s) {','.join(map(str, st['client_cpus']))}" if st["server_cpus"]
           else "broker and clients NOT pinned apart (one CPU)")
    lines = []
    if quick:
        lines.append("> **Smoke run**: 1-second runs; these figures only show that the harness "
                     "works.\n")
    lines += [
        f"Three MQTT client libraries against one mosquitto broker ({res['broker'].get('version')}"
        f", one process, 127.0.0.1, persistence off), {st['protocol']}, the same "
        f"{st['message_bytes']}-byte binary payload for all. Each client is a program written "
        "as its library's users write it (`benchmarks/mqtt_clients/`), started for each run "
        f"in its own process. Medians of {st['repetitions']} run(s) of {st['duration_s']:g} s "
        f"per (figure, client), each after {st['warmup_s']:g} s of warm-up under the same load, "
        f"repetitions interleaved across clients (measured "
        f"{res['generated'][:16].replace('T', ' ')}; {pin}). Client and broker CPU are user+"
        "system time from `/proc/<pid>/stat` over exactly the counted window.",
        "",
        f"- **Round trips** (rtt0, rtt1): one connection subscribed to a topic publishes to it "
        "and waits for its own message before publishing the next; QoS 0, then QoS 1 for the "
        "subscription and the publishes (PUBACKs and the acks of deliveries flow as well).",
        "- **Messages** (msg0, msg1): a publishing connection publishes as fast as it can — "
        f"with at most {st.get('cap', DEFAULT_CAP):,} messages published and not yet "
        "delivered back, so that no queue grows without bound, and at QoS 1 at most "
        f"{st['window']} waiting for their PUBACK (like paho's `max_inflight`, which is set "
        "to the same) — and a second connection of the same program, subscribed to the topic "
        "at the same QoS, counts deliveries: messages/s is deliveries per second. The "
        f"broker's `max_inflight_messages` is {st['window']} too. *Lost* is published minus "
        "delivered once the publisher stopped and everything on its way had arrived.",
        "",
        summary_table(res),
        "",
    ]
    for sc in res["scenarios"]:
        lines += [f"### {sc['key']}: {sc['title']}", "", scenario_table(res, sc), ""]
    lines += [*noisy_note(res),
              "Target (ratio of the medians; beside it how many times more client CPU per "
              "message paho-mqtt used). A figure of pymongoose's that is *broker-bound* (mosquitto "
              "near 100 % of its core) or *latency-bound* (client and broker both waiting: one "
              "round trip at a time costs each side kernel work and a wake-up) is a floor of "
              "what the client can do; the client CPU per message compares the clients there.",
              "", targets_table(res), "",
              "Validation before any load: one connection publishes the benchmark payload at "
              "QoS 0 and 1, all 256 byte values, an empty payload, 20,000 bytes and a per-run "
              "nonce to a topic it subscribed to at QoS 1, one at a time, and must get back "
              "exactly those (topic, bytes, QoS, order) and a PUBACK for each QoS 1 publish; a "
              "raw-socket subscriber of the runner must see the same bytes at the broker. "
              "During the runs every received payload is compared with the one sent.", "",
              validation_table(res), ""]
    ver = ", ".join(f"`{k}` {v}" for k, v in res.get("versions", {}).items())
    lines += [f"Versions: {ver}, {res['broker'].get('version')}.", ""]
    lines += ["How each client is written:", ""]
    lines += [f"- {MQTT_CLIENTS[n].label if n in MQTT_CLIENTS else n}: {d}"
              for n, d in res.get("descriptions", {}).items()]
    spin = (f"taskset -c {','.join(map(str, st['server_cpus']))} " if st["server_cpus"] else "")
    cpin = (f"taskset -c {','.join(map(str, st['client_cpus']))}" if st["client_cpus"] else "")
    conf = (res["broker"].get("config") or broker_config(1883, st["window"])).strip()
    conf = "\n".join("listener PORT 127.0.0.1" if ln.startswith("listener ") else ln
                     for ln in conf.splitlines() if not ln.startswith("user "))
    cmds = ["# broker (mosquitto.conf below, with a free PORT; `user root` added when run as "
            "root)", f"{spin}mosquitto -c mosquitto.conf", "# clients, one run each"]
    for n in res["clients"]:
        if n not in MQTT_CLIENTS:
            continue
        for mode, q in (("rtt", 0), ("throughput", 1)):
            cmds.append(display_command(MQTT_CLIENTS[n], mode, q, size=st["message_bytes"],
                                        duration=st["duration_s"], warmup=st["warmup_s"],
                                        window=st["window"], cap=st.get("cap", DEFAULT_CAP),
                                        prefix=cpin))
    argv = res.get("argv") or ["benchmarks/mqtt_bench.py"]
    cmds += ["# or all of it (this report):", ".venv/bin/python " + shlex.join(argv)]
    lines += ["", "```sh", *cmds, "```", "", "```", "# mosquitto.conf", conf, "```"]
    return "\n".join(lines)


def console_summary(res: dict) -> str:
    lines = []
    for sc in res["scenarios"]:
        for n in res["clients"]:
            s = res["summary"].get(sc["key"], {}).get(n, {})
            if s.get("n"):
                lines.append(f"  {sc['key']:<5} {n:<10} {s['rate_median']:>9,.0f} "
                             f"{sc['unit']}s/s  client CPU "
                             f"{_fmt(s['client_cpu_us_per_msg'], '.1f')} µs/{sc['unit']}")
            else:
                lines.append(f"  {sc['key']:<5} {n:<10} not measured")
    for t in res.get("targets", []):
        lines.append(f"  target {t['target']}: "
                     + ("not measured" if t["ratio"] is None else
                        f"{t['ratio']:.2f}× ({'met' if t['met'] else 'NOT MET'})")
                     + ("" if t.get("cpu_ratio") is None else
                        f"; paho uses {t['cpu_ratio']:.2f}× pymongoose's client CPU per message")
                     + (f"; {t['bound'].split(':')[0]}" if t.get("bound") else ""))
    return "\n".join(lines)


def update_results_md(path: Path, md: str) -> None:
    harness.replace_section(path, MARK_BEGIN, MARK_END, SECTION_TITLE, md,
                            anchors=("## Idle keep-alive connections", "## Server validation"))


def load_results(outdir: Path) -> dict | None:
    return harness.load_json(outdir / JSON_NAME)


cpu_plan = harness.cpu_plan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--clients", default="all", help="subset of " + ",".join(MQTT_ORDER))
    ap.add_argument("--duration", type=float, default=5.0, help="counted seconds per run")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="seconds of load before each run's counted window")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE, help="payload bytes")
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                    help="QoS 1 publishes waiting for their PUBACK in the messages/s figure")
    ap.add_argument("--cap", type=int, default=DEFAULT_CAP,
                    help="messages published and not yet delivered back in the messages/s "
                         "figures")
    ap.add_argument("--figures", default="all",
                    help="subset of " + ",".join(s.key for s in SCENARIOS))
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of rest between runs")
    ap.add_argument("--quick", action="store_true", help="1-second runs, 1 repetition")
    ap.add_argument("--output-dir", default=None,
                    help="where mqtt_results.json goes and whose RESULTS.md is updated "
                         "(default: benchmarks/, or benchmarks/quick/ with --quick)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.repetitions, args.warmup, args.pause = 1.0, 1, 0.5, 0.2
    if (args.duration <= 0 or args.repetitions < 1 or args.window < 1 or args.cap < 1
            or args.size < 0):
        ap.error("--duration, --repetitions, --window and --cap must be positive")
    scenarios = list(SCENARIOS)
    if args.figures != "all":
        keys = [k.strip() for k in args.figures.split(",") if k.strip()]
        bad = [k for k in keys if k not in SCENARIO_BY_KEY]
        if bad:
            ap.error(f"unknown figure(s) {bad}; choose from "
                     + ",".join(s.key for s in SCENARIOS))
        scenarios = [s for s in SCENARIOS if s.key in keys]
    outdir = Path(args.output_dir or (BENCH_DIR / "quick" if args.quick else BENCH_DIR)).resolve()
    names = parse_clients(args.clients)
    missing = check_tools() + [m for m in check_clients(names).values() if m]
    if missing:
        log("Cannot run the MQTT benchmark; missing prerequisite(s):\n")
        for m in missing:
            log(f"  - {m}\n")
        log("Nothing was installed; install the above and run again.")
        return 2
    server_cpus, client_cpus = cpu_plan()
    outdir.mkdir(parents=True, exist_ok=True)
    res = run_mqtt_scenario(names, duration=args.duration, repetitions=args.repetitions,
                            warmup=args.warmup, size=args.size, window=args.window,
                            cap=args.cap, server_cpus=server_cpus, client_cpus=client_cpus,
                            log_dir=outdir / "logs", pause=args.pause, scenarios=scenarios)
    res["quick"] = args.quick
    res["argv"] = ["benchmarks/mqtt_bench.py", *(argv if argv is not None else sys.argv[1:])]
    (outdir / JSON_NAME).write_text(json.dumps(res, indent=2, default=str) + "\n")
    update_results_md(outdir / "RESULTS.md", render_markdown(res, args.quick))
    log(console_summary(res))
    log(f"wrote {outdir / JSON_NAME} and the MQTT section of {outdir / 'RESULTS.md'}")
    return 0 if all_measured(res) else 1


if __name__ == "__main__":
    sys.exit(main())

"""What the three MQTT benchmark clients share: the command line, the payloads, the
validation plan and the lines they print for benchmarks/mqtt_bench.py.

Each client program (pymongoose_client.py, paho_client.py, gmqtt_client.py) is the
program a user of that library would write; this module holds only what must be the same
for all of them so that they do the same work:

    python CLIENT.py MODE --host 127.0.0.1 --port P --topic T [--qos Q] [--size 64]
                     [--duration S] [--warmup S] [--window 100] [--cap 1000] [--nonce HEX]

MODE
  validate    one connection subscribed to T at QoS 1 publishes validation_plan() to T, one
              message at a time, and checks that it gets back exactly what it sent (topic,
              payload byte for byte, QoS) and a PUBACK for each QoS 1 publish.
  rtt         one connection subscribed to T publishes to T and waits for its own message
              before publishing the next (QoS --qos for both the subscription and the
              publishes); the figure is round trips per second.
  throughput  two connections of the same program: one subscribed to T counts deliveries,
              the other publishes to T as fast as it can, with at most --cap messages
              published and not yet delivered back (so that no queue grows without bound),
              and at QoS 1 at most --window waiting for their PUBACK (like paho's
              max_inflight). The figure is deliveries per second.

Lines on stdout (the runner reads them; everything else is ignored):
  MQTT_READY                    connected and subscribed; the warm-up starts
  MQTT_COUNTING                 the counted window starts (after --warmup seconds of load)
  MQTT_RESULT {json}            the counted window is over (--duration seconds); the client
                                then stops and waits for a line on stdin, so that the
                                runner can read its CPU time for exactly the window
  MQTT_FINAL {json}             after the go: publishing stopped, outstanding messages and
                                acks drained; totals and losses
  MQTT_VALID {json}             validate mode: {"ok", "problems", "received"}
  MQTT_ERROR text               failure (exit status 1)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

DEFAULT_SIZE = 64
DEFAULT_WINDOW = 100  # QoS 1 publishes waiting for their PUBACK
DEFAULT_CAP = 1000  # messages published and not yet delivered back
VALIDATION_TIMEOUT = 5.0  # seconds per validation message
DRAIN_TIMEOUT = 5.0  # seconds to wait for outstanding messages after the window
STALL_TIMEOUT = 5.0  # seconds without progress = the client is stuck


def payload(size: int = DEFAULT_SIZE) -> bytes:
    """The benchmark payload: `size` bytes, every byte value, not valid UTF-8."""
    return bytes((i * 37 + 0xA5) & 0xFF for i in range(size))


def validation_plan(size: int = DEFAULT_SIZE, nonce: bytes = b"") -> list[tuple[int, bytes]]:
    """(qos, payload) published in order in validate mode."""
    return [
        (0, payload(size)),
        (1, payload(size)),
        (1, bytes(range(256))),
        (0, b""),
        (1, bytes((i * 7) & 0xFF for i in range(20000))),  # 3-byte remaining length
        (0, b"nonce:" + nonce),
    ]


def check_received(plan: list[tuple[int, bytes]], received: list[tuple[str, bytes, int]],
                   topic: str, acks: int | None) -> list[str]:
    """What is wrong with what a client got back in validate mode (empty: nothing)."""
    problems = []
    for i, (qos, data) in enumerate(plan):
        if i >= len(received):
            problems.append(f"message {i + 1} ({len(data)} bytes, QoS {qos}) never came back")
            break
        t, got, gq = received[i]
        if t != topic:
            problems.append(f"message {i + 1}: topic {t!r}, expected {topic!r}")
        if bytes(got) != data:
            first = next((k for k, (x, y) in enumerate(zip(got, data)) if x != y),
                         min(len(got), len(data)))
            problems.append(f"message {i + 1}: {len(got)} bytes came back, expected {len(data)} "
                            f"(first difference at byte {first})")
        if gq != qos:
            problems.append(f"message {i + 1}: delivered at QoS {gq}, expected {qos}")
    if len(received) > len(plan):
        problems.append(f"{len(received) - len(plan)} unexpected extra message(s)")
    want = sum(1 for q, _ in plan if q == 1)
    if acks is not None and acks != want:
        problems.append(f"{acks} PUBACK(s) for {want} QoS 1 publishes")
    return problems


def parse_args(argv: list[str] | None = None, description: str = "") -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("mode", choices=("validate", "rtt", "throughput"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--qos", type=int, default=0, choices=(0, 1))
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    ap.add_argument("--cap", type=int, default=DEFAULT_CAP)
    ap.add_argument("--nonce", default="", help="hex bytes that end the validation plan")
    args = ap.parse_args(argv)
    args.payload = payload(args.size)
    args.plan = validation_plan(args.size, bytes.fromhex(args.nonce))
    return args


def emit(tag: str, obj: object = None) -> None:
    sys.stdout.write(tag if obj is None else f"{tag} {json.dumps(obj)}")
    sys.stdout.write("\n")
    sys.stdout.flush()


def wait_go() -> None:
    """Block until the runner has read our CPU time (a line on stdin, or its end)."""
    sys.stdin.readline()


def fail(text: str) -> None:
    emit("MQTT_ERROR " + text.replace("\n", " "))
    sys.stdout.flush()
    sys.exit(1)


class Window:
    """The counted window by the wall clock: `check(now)` after warm-up prints
    MQTT_COUNTING and returns 1, at the end returns 2; otherwise 0."""

    __slots__ = ("t_count", "t_end", "state", "duration", "t0")

    def __init__(self, warmup: float, duration: float) -> None:
        self.t0 = time.monotonic()
        self.t_count = self.t0 + warmup
        self.t_end = self.t_count + duration
        self.duration = duration
        self.state = 0  # 0 warm-up, 1 counting, 2 over

    def check(self, now: float) -> int:
        if self.state == 0 and now >= self.t_count:
            self.state = 1
            self.t_count = now
            self.t_end = now + self.duration
            return 1
        if self.state == 1 and now >= self.t_end:
            self.state = 2
            self.t_end = now
            return 2
        return 0


def result(mode: str, qos: int, messages: int, seconds: float, **extra) -> dict:
    return {"mode": mode, "qos": qos, "messages": messages, "seconds": seconds,
            "rate": messages / seconds if seconds > 0 else 0.0, **extra}


class Watchdog:
    """For clients whose loop we do not own (paho's loop_forever): a daemon thread that
    ends the process with MQTT_ERROR when `progress()` stops changing for STALL_TIMEOUT
    seconds while armed."""

    def __init__(self, progress, what: str) -> None:
        import threading

        self.progress, self.what, self.armed = progress, what, True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        import os

        last, t_last = self.progress(), time.monotonic()
        while True:
            time.sleep(0.5)
            cur, now = self.progress(), time.monotonic()
            if cur != last or not self.armed:
                last, t_last = cur, now
            elif now - t_last > STALL_TIMEOUT:
                emit(f"MQTT_ERROR stalled after {cur} {self.what}")
                os._exit(1)

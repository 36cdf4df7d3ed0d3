# SPDX-License-Identifier: MIT
"""Plumbing for the hostile-client tests (test_hostile.py), the full-size run
(scripts/hostile_full.py), the soak (scripts/soak.py, test_soak.py) and the fault tests:
a server in a child process (programs/hostile_server.py), its RSS and CPU time read from
/proc, and a prober that checks normal requests keep being answered in time."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def child_env() -> dict:
    env = dict(os.environ)
    if "PYMONGOOSE_ASAN_PRELOAD" in env:  # the sanitizer build needs its runtime first
        env["LD_PRELOAD"] = env["PYMONGOOSE_ASAN_PRELOAD"]
    return env


class ChildServer:
    """programs/hostile_server.py in a subprocess; ``port``, ``rss()``, ``cpu()``."""

    def __init__(self, impl: str = "pymongoose", **opts):
        self.proc = subprocess.Popen(
            [sys.executable, str(PROGRAMS / "hostile_server.py"), impl, json.dumps(opts)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else b""
        if not line.strip():
            self.proc.kill()
            err = self.proc.communicate(timeout=5)[1].decode(errors="replace")
            raise AssertionError("server did not start: " + err[-2000:])
        self.port = int(line)
        self.pid = self.proc.pid

    def rss(self) -> int:
        """Resident set size in bytes (VmRSS)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def cpu(self) -> float:
        """CPU seconds (user + system) used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def cpu_share(self, seconds: float = 1.0) -> float:
        """Fraction of one CPU used over the next ``seconds``."""
        c0, t0 = self.cpu(), time.monotonic()
        time.sleep(seconds)  # measuring over an interval, not waiting for a condition
        return (self.cpu() - c0) / (time.monotonic() - t0)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stats(self) -> dict:
        return json.loads(get(self.port, "/stats")[1])

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        return err.decode(errors="replace")


def read_response(s: socket.socket, buf: bytes = b"") -> tuple[int, bytes, bytes]:
    """One Content-Length response from ``s``: (status, body, bytes left over)."""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a response ({buf[:100]!r})")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        data = s.recv(max(65536, length - len(rest)))
        if not data:
            raise ConnectionError("closed inside a body")
        rest += data
    return status, rest[:length], rest[length:]


def get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode())
        status, body, _ = read_response(s)
        return status, body


class Prober(threading.Thread):
    """Sends ``GET /`` on a fresh connection every ``interval`` seconds while the attack
    runs; records each latency (or failure). ``check(limit)`` asserts that every probe
    was answered "hello" within ``limit`` seconds."""

    def __init__(self, port: int, interval: float = 0.1, timeout: float = 5.0):
        super().__init__(daemon=True)
        self.port, self.interval, self.timeout = port, interval, timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            t0 = time.monotonic()
            try:
                status, body = get(self.port, "/", self.timeout)
                if status != 200 or body != b"hello":
                    self.failures.append(f"{status} {body[:50]!r}")
                else:
                    self.latencies.append(time.monotonic() - t0)
            except OSError as e:
                self.failures.append(repr(e))
            self._halt.wait(self.interval)

    def __enter__(self) -> "Prober":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._halt.set()
        self.join(self.timeout + 1)

    def check(self, limit: float = 2.0, at_least: int = 1) -> str:
        assert not self.failures, f"normal requests failed: {self.failures[:5]}"
        assert len(self.latencies) >= at_least, f"only {len(self.latencies)} probes answered"
        worst = max(self.latencies)
        assert worst < limit, f"a normal request took {worst:.2f} s"
        return f"{len(self.latencies)} probes, worst {worst * 1000:.0f} ms"


def idle_and_slowloris(port: int, idle: int, slow: int, seconds: float,
                       tick: float = 0.1) -> dict:
    """Opens ``idle`` connections that send nothing and ``slow`` that trickle a request
    head one byte per ``tick``, for ``seconds``. Returns counts: how many slow clients
    the server closed (with or without a 408) and how many idle ones it kept."""
    socks_idle, socks_slow = [], []
    head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: " + b"a" * 100000
    try:
        for _ in range(idle):
            s = socket.create_connection((HOST, port), timeout=10)
            socks_idle.append(s)
        for _ in range(slow):
            s = socket.create_connection((HOST, port), timeout=10)
            s.setblocking(False)
            socks_slow.append([s, 0, False, b""])
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for entry in socks_slow:
                s, pos, closed, got = entry
                if closed:
                    continue
                try:
                    s.send(head[pos:pos + 1])
                    entry[1] = pos + 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    entry[2] = True
                    continue
                try:
                    data = s.recv(4096)
                    if data:
                        entry[3] = got + data
                    else:
                        entry[2] = True
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    entry[2] = True
            time.sleep(tick)  # the trickle's pace, not a wait for the server
        closed = sum(1 for e in socks_slow if e[2])
        got_408 = sum(1 for e in socks_slow if e[3].startswith(b"HTTP/1.1 408"))
        return {"slow_closed": closed, "slow_408": got_408, "slow_bytes_sent": max((e[1] for e in socks_slow), default=0)}
    finally:
        for s in socks_idle:
            s.close()
        for e in socks_slow:
            e[0].close()

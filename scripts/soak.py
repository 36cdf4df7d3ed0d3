#!/usr/bin/env python3
"""Soak: one server (tests/python/programs/hostile_server.py, in a child process) under a
mixed load for a while, its RSS sampled every second (issue 13, item 5).

Load, one client thread each (more with --clients): hello on a keep-alive connection, a
64 KiB reply, 256 KiB uploads, WebSocket echo of 1 KiB messages, and connection churn (a
new connection per request, 300 a second so that TIME_WAIT does not exhaust the ports
over ten minutes); each client sends its next request as soon as the answer is in.
Reports requests per kind, errors (client-side failures and the server's
MG_EV_ERROR/handler exceptions), and RSS growth after warm-up: the median of the last 5
samples against the median of the 5 samples after warm-up.

    .venv/bin/python scripts/soak.py --seconds 600               # the documented 10-minute soak
    .venv/bin/python scripts/soak.py --seconds 60 --warmup 20    # what tests/python/test_soak.py runs

Exit status 0 when growth < 5 % and there were no errors. --json FILE writes the summary
with every RSS sample.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
from hostile_helpers import HOST, ChildServer, read_response  # noqa: E402

UPLOAD = os.urandom(256 * 1024)


def _request(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: soak\r\n{extra}\r\n".encode()


def hello(port, stop, count):
    with socket.create_connection((HOST, port), timeout=10) as s:
        buf = b""
        while not stop.is_set():
            s.sendall(_request("/"))
            status, body, buf = read_response(s, buf)
            assert status == 200 and body == b"hello", (status, body[:50])
            count()


def big(port, stop, count):
    with socket.create_connection((HOST, port), timeout=10) as s:
        buf = b""
        while not stop.is_set():
            s.sendall(_request("/big?n=65536"))
            status, body, buf = read_response(s, buf)
            assert status == 200 and len(body) == 65536, (status, len(body))
            count()


def upload(port, stop, count):
    with socket.create_connection((HOST, port), timeout=10) as s:
        buf = b""
        head = f"POST /up HTTP/1.1\r\nHost: soak\r\nContent-Length: {len(UPLOAD)}\r\n\r\n".encode()
        while not stop.is_set():
            s.sendall(head + UPLOAD)
            status, body, buf = read_response(s, buf)
            assert status == 200 and body == str(len(UPLOAD)).encode(), (status, body[:50])
            count()


def websocket(port, stop, count):
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(_request("/ws", f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"))
        status, _, buf = read_response(s)
        assert status == 101, status
        payload = os.urandom(1024)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        frame = struct.pack("!BBH", 0x82, 0x80 | 126, len(payload)) + mask + masked
        while not stop.is_set():
            s.sendall(frame)
            while len(buf) < 4 + len(payload):
                data = s.recv(65536)
                assert data, "server closed the WebSocket"
                buf += data
            assert buf[0] == 0x82 and buf[1] == 126 and struct.unpack("!H", buf[2:4])[0] == len(payload)
            assert buf[4:4 + len(payload)] == payload, "echo differs"
            buf = buf[4 + len(payload):]
            count()


CHURN_RATE = 300.0  # new connections per second: TIME_WAIT tuples must not exhaust ports over 10 min


def churn(port, stop, count):
    next_at = time.monotonic()
    while not stop.is_set():
        next_at += 1.0 / CHURN_RATE
        stop.wait(max(0.0, next_at - time.monotonic()))  # the churn's pace
        with socket.create_connection((HOST, port), timeout=10) as s:
            s.sendall(_request("/", "Connection: close\r\n"))
            status, body, _ = read_response(s)
            assert status == 200 and body == b"hello", (status, body[:50])
        count()


KINDS = {"hello": hello, "big_64k": big, "upload_256k": upload, "websocket": websocket, "churn": churn}


def run(seconds: float, warmup: float, clients: int = 1, impl: str = "pymongoose") -> dict:
    server = ChildServer(impl)
    counts = {k: 0 for k in KINDS}
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(kind):
        def count():
            counts[kind] += 1  # one writer per kind and client thread: close enough under the GIL
        while not stop.is_set():
            try:
                KINDS[kind](server.port, stop, count)
            except Exception as e:  # noqa: BLE001 - every failure is an error of the soak
                if not stop.is_set():
                    with lock:
                        errors.append(f"{kind}: {e!r}")
                    time.sleep(0.1)  # do not turn one failure into thousands

    threads = [threading.Thread(target=worker, args=(k,), daemon=True)
               for k in KINDS for _ in range(clients)]
    samples = []
    t0 = time.monotonic()
    try:
        for t in threads:
            t.start()
        next_tick = t0
        while time.monotonic() - t0 < seconds:
            samples.append((round(time.monotonic() - t0, 1), server.rss()))
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))  # the sampling period
        stop.set()
        for t in threads:
            t.join(15)
        server_stats = server.stats() if server.alive() else {}
        alive = server.alive()
    finally:
        stop.set()
        stderr = server.stop()
    after = [rss for t, rss in samples if t >= warmup]
    start = statistics.median(after[:5]) if after else 0
    end = statistics.median(after[-5:]) if after else 0
    growth = (end - start) / start if start else float("nan")
    server_errors = server_stats.get("errors", 0)
    if not alive:
        errors.append("server died: " + stderr[-1000:])
    return {
        "seconds": seconds, "warmup": warmup, "clients_per_kind": clients,
        "requests": counts, "total": sum(counts.values()),
        "client_errors": len(errors), "first_errors": errors[:5], "server_errors": server_errors,
        "rss_after_warmup_mib": round(start / 2**20, 2), "rss_end_mib": round(end / 2**20, 2),
        "rss_max_mib": round(max((r for _, r in samples), default=0) / 2**20, 2),
        "growth_pct": round(growth * 100, 2),
        "rss_samples": samples,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--clients", type=int, default=1, help="client threads per kind of load")
    ap.add_argument("--impl", default="pymongoose")
    ap.add_argument("--json", help="write the summary (with every RSS sample) here")
    args = ap.parse_args()
    res = run(args.seconds, args.warmup, args.clients, args.impl)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "rss_samples"}, indent=2))
    ok = res["client_errors"] == 0 and res["server_errors"] == 0 and res["growth_pct"] < 5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: MIT
"""ASGI adapter: flow control, disconnects, lifespan state, draining, limits (issue 10)."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pymongoose.asgi import ASGIServer

try:  # module level so that FastAPI can resolve the (string) annotations below
    import fastapi
    from fastapi import Request
except ImportError:  # pragma: no cover - FastAPI is optional
    fastapi = None

pytestmark = pytest.mark.timeout(90)

PROGRAM = Path(__file__).parent / "programs" / "asgi_flow_server.py"
MiB = 1 << 20
LIMIT = 10.0


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Child:
    """The flow-control server in its own process (its RSS is the measure)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PROGRAM), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.port = int(self.expect("port").split()[1])

    def expect(self, prefix: str, timeout: float = 30.0) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"server exited before printing {prefix!r}")
            if line.startswith(prefix):
                return line.strip()
        raise AssertionError(f"no {prefix!r} line within {timeout} s")

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def test_streaming_1gib_to_slow_reader_keeps_memory_bounded() -> None:
    """send() waits while the connection is full: 1 GiB streamed with RSS bounded."""
    total = 1 << 30
    child = Child("stream", str(total))
    try:
        base = rss(child.proc.pid)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            s.settimeout(LIMIT)
            s.connect(("127.0.0.1", child.port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # A client that does not read for a second: the app must be parked, not
            # buffering the stream in memory.
            peak = base
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                peak = max(peak, rss(child.proc.pid))
                time.sleep(0.05)
            assert peak - base < 48 * MiB, f"RSS grew by {(peak - base) / MiB:.0f} MiB while the client did not read"
            buf = bytearray(MiB)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            head, _, rest = head.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: %d" % total in head
            received = len(rest)
            next_sample = 0
            while received < total:
                n = s.recv_into(buf)
                assert n, "connection closed early"
                received += n
                if received >= next_sample:
                    peak = max(peak, rss(child.proc.pid))
                    next_sample += 64 * MiB
            assert received == total
        assert peak - base < 48 * MiB, f"RSS grew by {(peak - base) / MiB:.0f} MiB"
        child.expect("stream done")
    finally:
        child.close()


def _ws_handshake(s: socket.socket) -> None:
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")


def _ws_frame_of_zeros(n: int, op: int = 2) -> bytes:
    """A masked client frame (RFC 6455 §5.3) carrying n zero bytes: the payload is the mask repeated."""
    mask = b"\x01\x02\x03\x04"
    if n < 126:
        head = struct.pack("!BB", 0x80 | op, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
    return head + mask + (mask * (n // 4 + 1))[:n]


def test_websocket_input_is_bounded_while_the_app_is_busy() -> None:
    """Reading pauses once 16 messages wait: a fast sender cannot fill the server's memory."""
    count, size = 1024, 64 * 1024  # 64 MiB in all
    child = Child("ws-slow", str(count))
    try:
        with socket.create_connection(("127.0.0.1", child.port), timeout=LIMIT) as s:
            _ws_handshake(s)
            child.expect("accepted")
            base = rss(child.proc.pid)
            frame = _ws_frame_of_zeros(size)
            s.setblocking(False)
            sent_frames = 0
            pending = memoryview(frame)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and sent_frames < count:
                try:
                    n = s.send(pending)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                pending = pending[n:]
                if not pending:
                    sent_frames += 1
                    pending = memoryview(frame)
            assert sent_frames < count, "every message was accepted while the app read none"
            grown = rss(child.proc.pid) - base
            assert grown < 32 * MiB, f"RSS grew by {grown / MiB:.0f} MiB"
            # The app catches up: nothing was lost.
            child.tell("go")
            s.setblocking(True)
            s.settimeout(LIMIT)
            s.sendall(pending)
            for _ in range(count - sent_frames - 1):
                s.sendall(frame)
            assert child.expect("received") == f"received {count} {count * size}"
    finally:
        child.close()


def test_upload_streams_to_the_app_before_it_ends_and_memory_stays_bounded() -> None:
    """A 128 MiB upload: the app gets its first piece (more_body=True) while the client is
    still sending; while the app does not read, the sender blocks and the server's RSS
    stays bounded; afterwards every byte arrives in order."""
    import hashlib
    import threading

    total = 128 * MiB
    child = Child("upload", str(total))
    try:
        base = rss(child.proc.pid)
        piece = os.urandom(MiB)
        sent = [0]
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            s.settimeout(30)
            s.connect(("127.0.0.1", child.port))

            def writer() -> None:
                s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
                while sent[0] < total:
                    s.sendall(piece)
                    sent[0] += len(piece)

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            first = child.expect("first").split()
            assert first[2] == "True", "the first body message must say more_body"
            assert sent[0] < total, "the app must start before the upload ends"
            # The app sleeps on its first message: the rest waits in the kernel buffers.
            peak = base
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                peak = max(peak, rss(child.proc.pid))
                time.sleep(0.05)
            assert t.is_alive() and sent[0] < 32 * MiB, f"sender not held back: {sent[0] / MiB:.0f} MiB sent"
            child.tell("go")
            while t.is_alive():
                peak = max(peak, rss(child.proc.pid))
                t.join(0.05)
            done = child.expect("upload done").split()
            assert int(done[2]) == total and int(done[3]) > 2
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b" " + done[3].encode()):
                chunk = s.recv(4096)
                assert chunk, "closed before the response"
                data += chunk
            expected = hashlib.sha256(piece * (total // MiB)).hexdigest()
            assert data.split(b"\r\n\r\n", 1)[1].split()[0].decode() == expected
        assert peak - base < 48 * MiB, f"RSS grew by {(peak - base) / MiB:.0f} MiB during a streamed upload"
    finally:
        child.close()


# ---------------------------------------------------------------------- in-process


def run(coro: Any) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro, LIMIT)

    asyncio.run(bounded())


def lifespan_app(inner: Any, state: dict[str, Any] | None = None) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"].update(state or {})
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await inner(scope, receive, send)

    return app


async def respond(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def fetch(port: int, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=LIMIT)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_client_going_away_ends_a_server_sent_events_loop() -> None:
    ended: list[str] = []

    async def sse(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        gone = asyncio.ensure_future(receive())
        await asyncio.sleep(0)  # the request message first
        n = 0
        while True:
            if gone.done() and gone.result()["type"] == "http.disconnect":
                ended.append("disconnect")
                return
            if gone.done():
                gone = asyncio.ensure_future(receive())
            n += 1
            await send({"type": "http.response.body", "body": b"data: %d\n\n" % n, "more_body": True})
            await asyncio.sleep(0.01)

    async def main() -> None:
        server = ASGIServer(lifespan_app(sse))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]

        def read_three_events_then_leave() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
                s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while data.count(b"data: ") < 3:
                    data += s.recv(4096)

        await asyncio.to_thread(read_three_events_then_leave)
        deadline = time.monotonic() + 2
        while not ended and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await server.stop()
        assert ended == ["disconnect"]

    run(main())


def test_lifespan_state_reaches_every_request_as_a_copy() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["state"]))
        scope["state"]["mutated"] = True  # must not leak into the next request
        await respond(send, 200, b"ok")

    async def main() -> None:
        server = ASGIServer(lifespan_app(app, {"db": "connected"}))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        for _ in range(2):
            assert (await asyncio.to_thread(fetch, port))[0] == 200
        await server.stop()

    run(main())
    assert seen == [{"db": "connected"}, {"db": "connected"}]


def test_fastapi_lifespan_state_reaches_request_state() -> None:
    if fastapi is None:
        pytest.skip("FastAPI is not installed")
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield {"answer": 42}

    api = fastapi.FastAPI(lifespan=lifespan)

    @api.get("/")
    async def root(request: Request) -> dict[str, int]:
        return {"answer": request.state.answer}

    async def main() -> None:
        server = ASGIServer(api)
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        status, _, body = await asyncio.to_thread(fetch, port)
        await server.stop()
        assert (status, body) == (200, b'{"answer":42}')

    run(main())


def test_stop_finishes_requests_in_flight_then_refuses() -> None:
    started = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await asyncio.sleep(0.3)
        await respond(send, 200, b"finished")

    async def main() -> None:
        server = ASGIServer(lifespan_app(slow))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        idle = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)  # keep-alive, no request
        pending = asyncio.ensure_future(asyncio.to_thread(fetch, port))
        await started.wait()
        await server.stop(timeout=5)
        status, headers, body = await pending
        assert (status, body) == (200, b"finished")
        assert headers.get("connection") == "close"
        assert idle.recv(1) == b""  # the idle connection was closed
        idle.close()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    run(main())


def test_stop_serves_the_first_request_of_a_connection_accepted_before_it() -> None:
    """A connection accepted just before stop() whose request comes during the drain is
    answered with Connection: close, not closed unanswered: its client could not retry."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"late but served")

    async def main() -> None:
        server = ASGIServer(lifespan_app(app))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        fresh = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
        # Answered on a later connection: the accept loop has taken `fresh` by then.
        assert (await asyncio.to_thread(fetch, port))[0] == 200
        stopping = asyncio.ensure_future(server.stop(timeout=5))
        await asyncio.sleep(0)  # stop() runs up to its first wait: listeners closed

        def late_request() -> bytes:
            fresh.sendall(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = fresh.recv(65536)
                if not chunk:
                    return data
                data += chunk

        raw = await asyncio.to_thread(late_request)
        fresh.close()
        await stopping
        assert raw.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in raw.lower()
        assert raw.endswith(b"late but served")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    run(main())


def test_stop_timeout_cancels_what_is_left() -> None:
    cancelled: list[bool] = []

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        server = ASGIServer(lifespan_app(stuck))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        s = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        while not server._tasks:
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        await server.stop(timeout=0.2)
        assert time.monotonic() - t0 < 3
        s.close()

    run(main())
    assert cancelled == [True]


def test_limit_concurrency_answers_503_beyond_it() -> None:
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await respond(send, 200, b"ok")

    async def main() -> None:
        server = ASGIServer(lifespan_app(app), limit_concurrency=1)
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        first = asyncio.ensure_future(asyncio.to_thread(fetch, port))
        while not server._tasks:
            await asyncio.sleep(0.01)
        status, headers, body = await asyncio.to_thread(fetch, port)
        assert (status, body) == (503, b"Service Unavailable")
        release.set()
        assert (await first)[0] == 200
        assert (await asyncio.to_thread(fetch, port))[0] == 200  # below the limit again
        await server.stop()

    run(main())
    with pytest.raises(ValueError, match="limit_concurrency"):
        ASGIServer(lifespan_app(app), limit_concurrency=0)


def test_root_path_date_and_server_headers() -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await respond(send, 200, b"ok")

    async def main() -> None:
        server = ASGIServer(lifespan_app(app), root_path="/api/")
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        _, headers, _ = await asyncio.to_thread(fetch, port, "/items?x=1")
        await server.stop()
        assert headers["server"] == "pymongoose"
        date = headers["date"]
        assert date.endswith(" GMT") and abs(
            time.mktime(time.strptime(date, "%a, %d %b %Y %H:%M:%S GMT")) - time.mktime(time.gmtime())) < 5
        bare = ASGIServer(lifespan_app(app), server_header=None, date_header=False)
        port = (await bare.start("http://127.0.0.1:0")).local_addr[1]
        _, headers, _ = await asyncio.to_thread(fetch, port)
        await bare.stop()
        assert "server" not in headers and "date" not in headers

    run(main())
    assert scopes[0]["root_path"] == "/api"
    assert scopes[0]["path"] == "/api/items"
    assert scopes[0]["raw_path"] == b"/api/items"
    assert scopes[0]["query_string"] == b"x=1"


def test_websocket_denial_response() -> None:
    websockets = pytest.importorskip("websockets")
    from websockets.asyncio.client import connect

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        assert "websocket.http.response" in scope["extensions"]
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"no token"})

    async def main() -> None:
        server = ASGIServer(lifespan_app(app))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{port}/"):
                pass
        await server.stop()
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"no token"

    run(main())


def test_websocket_compression_option() -> None:
    pytest.importorskip("websockets")
    from websockets.asyncio.client import connect

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message["text"]})

    async def main() -> None:
        for option, negotiated in ((None, None), (True, "permessage-deflate")):
            server = ASGIServer(lifespan_app(echo), ws_compression=option)
            port = (await server.start("http://127.0.0.1:0")).local_addr[1]
            async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
                await ws.send("a" * 10000)
                assert await ws.recv() == "a" * 10000
                got = ws.response.headers.get("Sec-WebSocket-Extensions")
                assert (got is None) if negotiated is None else (negotiated in got)
            await server.stop()

    run(main())


def test_requests_run_as_tasks_with_their_own_context() -> None:
    """Each request sees a current task that stays the same across awaits, and its own
    contextvars; anyio cancel scopes spanning an await work (as in Starlette middleware)."""
    import contextvars

    anyio = pytest.importorskip("anyio")
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[tuple[str, bool, bool]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        before = var.get()
        var.set(scope["path"])
        task = asyncio.current_task()
        assert task is not None
        if scope["path"] == "/wait":
            async with anyio.create_task_group() as tg:  # a cancel scope across an await
                tg.start_soon(anyio.sleep, 0.01)
            await asyncio.sleep(0.01)
        seen.append((before, asyncio.current_task() is task, var.get() == scope["path"]))
        await respond(send, 200, b"ok")

    async def main() -> None:
        server = ASGIServer(lifespan_app(app))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        for path in ("/a", "/wait", "/b", "/wait"):
            assert (await asyncio.to_thread(fetch, port, path))[0] == 200
        await server.stop()

    run(main())
    assert seen == [("unset", True, True)] * 4  # nothing leaked from one request to the next


# ---------------------------------------------------------------------- streamed request bodies


def _post_in_two_parts(port: int, body: bytes, split: int, first_seen: Any) -> bytes:
    """POST whose head and first `split` body bytes go first; the rest only once the app
    has its first body message (`first_seen`, a threading.Event), so the body is
    incomplete at its head whatever the kernel does."""
    with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
        s.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:split])
        assert first_seen.wait(LIMIT), "the app never got the first part of the body"
        s.sendall(body[split:])
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_streamed_body_messages_add_up_and_only_the_last_ends_it() -> None:
    import threading

    seen: list[tuple[int, bool]] = []
    first_seen = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            seen.append((len(message["body"]), message["more_body"]))
            if message["more_body"]:
                first_seen.set()
            body += message["body"]
            if not message["more_body"]:
                break
        await respond(send, 200, b"%d" % len(body))

    async def main() -> None:
        server = ASGIServer(lifespan_app(app))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        body = os.urandom(3000)
        data = await asyncio.to_thread(_post_in_two_parts, port, body, 1000, first_seen)
        assert data.endswith(b"\r\n\r\n3000"), data[-200:]
        # A body complete with its head comes as one message, as before.
        status, _, got = await asyncio.to_thread(fetch, port)
        assert status == 200 and got == b"0"
        await server.stop()

    run(main())
    assert seen[-1] == (0, False)  # the GET
    streamed = seen[:-1]
    assert sum(n for n, _ in streamed) == 3000
    assert [more for _, more in streamed] == [True] * (len(streamed) - 1) + [False]
    assert len(streamed) >= 2


def test_client_leaving_mid_body_gives_http_disconnect() -> None:
    got: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                got.append("disconnect")
                return
            if not message["more_body"]:
                got.append("complete")
                await respond(send, 200, b"?")
                return

    async def main() -> None:
        server = ASGIServer(lifespan_app(app))
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]

        def leave_mid_body() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
                s.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 5000)

        await asyncio.to_thread(leave_mid_body)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await server.stop()
        assert got == ["disconnect"]

    run(main())


def test_app_answering_without_reading_its_body_keeps_the_connection_usable() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/reject":
            await respond(send, 413, b"too big for me")  # the body is never read
            return
        message = await receive()
        await respond(send, 200, b"second %d" % len(message["body"]))

    async def main() -> None:
        server = ASGIServer(lifespan_app(app), limits={"max_body": 8 * MiB})
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]

        def two_requests() -> list[bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
                body = b"z" * (4 * MiB)
                s.sendall(b"POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
                first = b""
                while b"too big for me" not in first:
                    first += s.recv(4096)
                s.sendall(body)  # read and dropped by the server, never buffered for the app
                s.sendall(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
                second = b""
                while b"second" not in second:
                    chunk = s.recv(4096)
                    assert chunk, "closed instead of serving the next request"
                    second += chunk
                return [first, second]

        first, second = await asyncio.to_thread(two_requests)
        assert first.startswith(b"HTTP/1.1 413") and second.endswith(b"second 3")
        await server.stop()

    run(main())


@pytest.mark.parametrize("size,status", [(MiB - 1, 200), (MiB, 200), (MiB + 1, 413)])
def test_streamed_body_bounded_by_max_body_at_its_edge(size: int, status: int) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        n = 0
        while True:
            message = await receive()
            n += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await respond(send, 200, b"%d" % n)

    async def main() -> None:
        server = ASGIServer(lifespan_app(app), limits={"max_body": MiB})
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]

        def chunked_upload() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
                s.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                left = size
                try:
                    while left:
                        n = min(left, 100000)
                        s.sendall(b"%x\r\n" % n + b"q" * n + b"\r\n")
                        left -= n
                    s.sendall(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data

        data = await asyncio.to_thread(chunked_upload)
        assert data.startswith(b"HTTP/1.1 %d" % status), data[:100]
        await server.stop()

    run(main())


def test_aiohttp_client_streams_a_generator_upload() -> None:
    aiohttp = pytest.importorskip("aiohttp")
    import hashlib

    async def app(scope: Any, receive: Any, send: Any) -> None:
        digest = hashlib.sha256()
        messages = 0
        while True:
            message = await receive()
            messages += 1
            digest.update(message["body"])
            if not message["more_body"]:
                break
        await respond(send, 200, f"{digest.hexdigest()} {messages}".encode())

    async def main() -> None:
        server = ASGIServer(lifespan_app(app), limits={"max_body": 64 * MiB})
        port = (await server.start("http://127.0.0.1:0")).local_addr[1]
        pieces = [os.urandom(256 * 1024) for _ in range(40)]

        async def gen():
            for p in pieces:
                yield p
                await asyncio.sleep(0)

        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/u", data=gen()) as r:
                text = await r.text()
        digest, messages = text.split()
        assert digest == hashlib.sha256(b"".join(pieces)).hexdigest()
        assert int(messages) > 1
        await server.stop()

    run(main())

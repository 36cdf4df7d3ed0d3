# SPDX-License-Identifier: MIT
"""ASGI adapter (spec 3.11): real clients against pymongoose.asgi.ASGIServer."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pymongoose.asgi import ASGIServer

pytestmark = pytest.mark.timeout(15)

try:  # module level so that FastAPI can resolve the (string) annotations below
    import fastapi
    from fastapi import Request, WebSocket
except ImportError:  # pragma: no cover - FastAPI is optional
    fastapi = None

LIMIT = 5.0


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro_fn(), LIMIT)

    asyncio.run(bounded())


async def started(app: Any, **kw: Any) -> tuple[ASGIServer, int]:
    srv = ASGIServer(app, **kw)
    listener = await srv.start("http://127.0.0.1:0")
    return srv, listener.local_addr[1]


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send one request with Connection: close and read until EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
        s.sendall(request)
        out = b""
        while True:
            part = s.recv(65536)
            if not part:
                return out
            out += part


def get(port: int, path: str, method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=LIMIT)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


async def respond(send: Any, status: int, body: bytes,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


def no_lifespan(fn: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan not supported")
        await fn(scope, receive, send)

    return app


# ---------------------------------------------------------------------- HTTP


def test_http_scope() -> None:
    scopes: list[dict[str, Any]] = []

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(dict(scope))
        await receive()
        await respond(send, 200, b"ok")

    async def main() -> None:
        srv, port = await started(app)
        try:
            status, _, body = await asyncio.to_thread(
                get, port, "/a%20b/c?x=1&y=%20", "GET", None, {"X-Foo": "Bar"})
            assert (status, body) == (200, b"ok")
        finally:
            await srv.stop()
        s = scopes[0]
        assert s["type"] == "http"
        assert s["asgi"] == {"version": "3.0", "spec_version": "2.4"}
        assert s["http_version"] == "1.1"
        assert s["method"] == "GET"
        assert s["path"] == "/a b/c"
        assert s["raw_path"] == b"/a%20b/c"
        assert s["query_string"] == b"x=1&y=%20"
        assert s["root_path"] == ""
        assert s["scheme"] == "http"
        assert tuple(s["server"]) == ("127.0.0.1", port)
        assert s["client"][0] == "127.0.0.1" and isinstance(s["client"][1], int)
        assert (b"x-foo", b"Bar") in s["headers"]
        assert all(isinstance(n, bytes) and n == n.lower() for n, _ in s["headers"])

    run(main)


def test_request_body_and_disconnect() -> None:
    events: list[Any] = []

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        msg = await receive()
        events.append(msg)
        await respond(send, 201, msg["body"][::-1])
        events.append(await receive())

    async def main() -> None:
        srv, port = await started(app)
        try:
            payload = b"hello\x00world" * 1000
            req = (b"POST /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(payload)) + payload
            out = await asyncio.to_thread(raw_exchange, port, req)
            assert out.startswith(b"HTTP/1.1 201 Created\r\n")
            assert out.endswith(payload[::-1])
            while len(events) < 2:
                await asyncio.sleep(0.01)
        finally:
            await srv.stop()
        assert events[0] == {"type": "http.request", "body": payload, "more_body": False}
        assert events[1] == {"type": "http.disconnect"}

    run(main)


def test_buffered_headers_byte_exact() -> None:
    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, b"body", [
            (b"content-type", b"text/html"),
            (b"X-Custom", b"Val"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ])

    async def main() -> None:
        srv, port = await started(app)
        try:
            out = await asyncio.to_thread(
                raw_exchange, port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        finally:
            await srv.stop()
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\ncontent-type: text/html\r\nX-Custom: Val\r\nset-cookie: a=1\r\n" \
               b"set-cookie: b=2\r\n" in head + b"\r\n"
        assert b"Content-Length: 4" in head
        assert b"text/plain" not in head
        assert body == b"body"

    run(main)


def test_streamed_response_raw_and_aiohttp() -> None:
    import aiohttp

    parts = [b"part%03d-" % i for i in range(100)]

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-stream", b"yes"), (b"content-type", b"text/plain")]})
        for p in parts:
            await send({"type": "http.response.body", "body": p, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def main() -> None:
        srv, port = await started(app)
        try:
            out = await asyncio.to_thread(
                raw_exchange, port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as resp:
                    assert resp.status == 200
                    assert resp.headers["x-stream"] == "yes"
                    assert await resp.read() == b"".join(parts)
        finally:
            await srv.stop()
        head, _, body = out.partition(b"\r\n\r\n")
        head = b"\r\n".join(line for line in head.split(b"\r\n")
                             if not line.startswith((b"server: ", b"date: ")))
        assert head == (b"HTTP/1.1 200 OK\r\nx-stream: yes\r\ncontent-type: text/plain\r\n"
                        b"Transfer-Encoding: chunked")
        expected = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        assert body == expected

    run(main)


def test_streamed_last_body_message_ends_response_and_app_te_kept() -> None:
    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"transfer-encoding", b"chunked")]})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": b"cd"})

    async def main() -> None:
        srv, port = await started(app)
        try:
            out = await asyncio.to_thread(
                raw_exchange, port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            # keep-alive client also gets a complete response
            status, _, body = await asyncio.to_thread(get, port, "/")
            assert (status, body) == (202, b"abcd")
        finally:
            await srv.stop()
        out = b"\r\n".join(line for line in out.split(b"\r\n")
                            if not line.startswith((b"server: ", b"date: ")))
        assert out == (b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n"
                       b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")

    run(main)


def test_streamed_content_length_kept() -> None:
    """A streamed response with the app's Content-Length goes out unchunked (RFC 9112 §6.3)."""
    import aiohttp

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"6"), (b"X-A", b"b")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def", "more_body": False})

    async def main() -> None:
        srv, port = await started(app, server_header=None, date_header=False)
        try:
            out = await asyncio.to_thread(
                raw_exchange, port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as resp:
                    assert await resp.read() == b"abcdef"
        finally:
            await srv.stop()
        assert out == b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nX-A: b\r\n\r\nabcdef"

    run(main)


def test_exception_gives_500(capsys: pytest.CaptureFixture[str]) -> None:
    errors: list[Exception] = []

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("boom")

    async def main() -> None:
        srv, port = await started(app, error_handler=errors.append)
        try:
            status, headers, body = await asyncio.to_thread(get, port, "/")
        finally:
            await srv.stop()
        assert status == 500
        assert body == b"Internal Server Error"
        assert ("content-type", "text/plain; charset=utf-8") in headers

    run(main)
    assert any(isinstance(e, ValueError) and str(e) == "boom" for e in errors)


def test_keepalive_sequential_requests() -> None:
    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, 200, scope["path"].encode())

    async def main() -> None:
        srv, port = await started(app)

        def client() -> list[bytes]:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=LIMIT)
            out = []
            for i in range(5):
                c.request("GET", f"/r{i}")
                out.append(c.getresponse().read())
            c.close()
            return out

        try:
            assert await asyncio.to_thread(client) == [b"/r%d" % i for i in range(5)]
        finally:
            await srv.stop()

    run(main)


# ---------------------------------------------------------------------- lifespan


def test_lifespan_startup_and_shutdown() -> None:
    log: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert scope["asgi"]["version"] == "3.0"
            while True:
                msg = await receive()
                log.append(msg["type"])
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await respond(send, 200, ",".join(log).encode())

    async def main() -> None:
        srv, port = await started(app)
        assert log == ["lifespan.startup"]
        try:
            _, _, body = await asyncio.to_thread(get, port, "/")
            assert body == b"lifespan.startup"
        finally:
            await srv.stop()
        assert log == ["lifespan.startup", "lifespan.shutdown"]
        await srv.stop()
        assert log == ["lifespan.startup", "lifespan.shutdown"]

    run(main)


def test_lifespan_startup_failed() -> None:
    log: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        msg = await receive()
        log.append(msg["type"])
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        msg = await receive()
        log.append(msg["type"])

    async def main() -> None:
        srv = ASGIServer(app)
        with pytest.raises(RuntimeError) as ei:
            await srv.start("http://127.0.0.1:0")
        assert str(ei.value) == "ASGI lifespan startup failed: no database"
        with pytest.raises(RuntimeError, match="ASGIServer is not started"):
            srv.manager
        await srv.stop()
        await srv.stop()
        assert log == ["lifespan.startup"]  # no shutdown after a failed startup

    run(main)


def test_lifespan_unsupported_app_returning() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await respond(send, 200, b"fine")

    async def main() -> None:
        srv, port = await started(app)
        try:
            assert (await asyncio.to_thread(get, port, "/"))[2] == b"fine"
        finally:
            await srv.stop()

    run(main)


def test_stop_without_start_and_manager_property() -> None:
    async def main() -> None:
        srv = ASGIServer(no_lifespan(lambda *a: None))
        with pytest.raises(RuntimeError, match="^ASGIServer is not started$"):
            srv.manager
        await srv.stop()
        await srv.stop()
        srv2, _ = await started(no_lifespan(lambda *a: None))
        assert srv2.manager.wakeup_id == 1
        await srv2.stop()
        await srv2.stop()
        with pytest.raises(RuntimeError, match="^ASGIServer is not started$"):
            srv2.manager

    run(main)


def test_not_imported_by_package() -> None:
    code = "import sys, pymongoose; print('pymongoose.asgi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=LIMIT, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------- WebSocket


def test_websocket_accept_subprotocol_echo_close() -> None:
    from websockets.asyncio.client import connect

    received: list[dict[str, Any]] = []
    scopes: list[dict[str, Any]] = []

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(dict(scope))
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", "subprotocol": "chat.v2",
                    "headers": [(b"x-ws", b"1")]})
        while True:
            msg = await receive()
            received.append(msg)
            if "text" in msg:
                if msg["text"] == "bye":
                    await send({"type": "websocket.close", "code": 4001, "reason": "see ya"})
                    return
                await send({"type": "websocket.send", "text": "echo:" + msg["text"]})
            else:
                await send({"type": "websocket.send", "bytes": msg["bytes"][::-1]})

    async def main() -> None:
        srv, port = await started(app)
        try:
            async with connect(f"ws://127.0.0.1:{port}/ws?q=1",
                               subprotocols=["chat.v1", "chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"
                assert ws.response.headers["x-ws"] == "1"
                await ws.send("héllo")
                assert await ws.recv() == "echo:héllo"
                await ws.send(b"\x00\x01\x02")
                assert await ws.recv() == b"\x02\x01\x00"
                await ws.send("bye")
                with pytest.raises(Exception):
                    await ws.recv()
                assert ws.close_code == 4001
                assert ws.close_reason == "see ya"
        finally:
            await srv.stop()
        assert received[0] == {"type": "websocket.receive", "text": "héllo"}
        assert received[1] == {"type": "websocket.receive", "bytes": b"\x00\x01\x02"}
        s = scopes[0]
        assert s["type"] == "websocket" and s["scheme"] == "ws"
        assert s["path"] == "/ws" and s["query_string"] == b"q=1"
        assert s["subprotocols"] == ["chat.v1", "chat.v2"]
        assert s["asgi"] == {"version": "3.0", "spec_version": "2.4"}

    run(main)


def test_websocket_close_before_accept_is_403() -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close"})

    async def main() -> None:
        srv, port = await started(app)
        try:
            with pytest.raises(InvalidStatus) as ei:
                async with connect(f"ws://127.0.0.1:{port}/"):
                    pass
            assert ei.value.response.status_code == 403
        finally:
            await srv.stop()

    run(main)


def test_websocket_peer_close_disconnect_and_default_close_code() -> None:
    from websockets.asyncio.client import connect

    got: list[dict[str, Any]] = []
    done = asyncio.Event()

    @no_lifespan
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        if scope["path"] == "/server-close":
            await send({"type": "websocket.close"})
            return
        while True:
            msg = await receive()
            got.append(msg)
            if msg["type"] == "websocket.disconnect":
                done.set()
                return

    async def main() -> None:
        srv, port = await started(app)
        try:
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("x")
            await done.wait()
            async with connect(f"ws://127.0.0.1:{port}/server-close") as ws:
                with pytest.raises(Exception):
                    await ws.recv()
                assert ws.close_code == 1000
                assert ws.close_reason == ""
        finally:
            await srv.stop()
        assert got == [{"type": "websocket.receive", "text": "x"},
                       {"type": "websocket.disconnect", "code": 1000}]

    run(main)


# ---------------------------------------------------------------------- FastAPI


def test_fastapi_app() -> None:
    if fastapi is None:
        pytest.skip("fastapi is not installed")
    from fastapi.responses import StreamingResponse
    from websockets.asyncio.client import connect

    state: list[str] = []

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        state.append("up")
        yield
        state.append("down")

    api = fastapi.FastAPI(lifespan=lifespan)

    @api.get("/items/{item_id}")
    async def item(item_id: int, q: str | None = None) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    @api.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {"len": len(await request.body())}

    @api.get("/stream")
    async def stream() -> StreamingResponse:
        async def gen() -> Any:
            for i in range(20):
                yield f"{i};"
        return StreamingResponse(gen(), media_type="text/plain")

    @api.websocket("/ws")
    async def ws_ep(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())
        await websocket.close(code=4002)

    async def main() -> None:
        srv, port = await started(api)
        assert state == ["up"]
        try:
            status, _, body = await asyncio.to_thread(get, port, "/items/7?q=z")
            assert status == 200 and json.loads(body) == {"item_id": 7, "q": "z"}
            status, _, body = await asyncio.to_thread(get, port, "/echo", "POST", b"x" * 5000)
            assert json.loads(body) == {"len": 5000}
            status, _, body = await asyncio.to_thread(get, port, "/stream")
            assert body == "".join(f"{i};" for i in range(20)).encode()
            status, _, _ = await asyncio.to_thread(get, port, "/missing")
            assert status == 404
            async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                await ws.send("abc")
                assert await ws.recv() == "ABC"
                with pytest.raises(Exception):
                    await ws.recv()
                assert ws.close_code == 4002
        finally:
            await srv.stop()
        assert state == ["up", "down"]

    run(main)

# SPDX-License-Identifier: MIT
"""Real framework apps on pymongoose.wsgi and pymongoose.asgi, driven by real clients.

The apps (tests/python/framework_apps.py) are written with each framework's own API:
Flask and Django on ``WSGIServer``; FastAPI, Starlette, Quart and Django on ``ASGIServer``.
The clients are httpx, aiohttp, websockets, curl, urllib and http.client. Where the
behaviour is visible on the wire, the same app is also served by a reference server
(uvicorn for ASGI, gunicorn -- or wsgiref when gunicorn is missing -- for WSGI) and the
answers compared: status, body, content-type, set-cookie, location, allow and framing
(where the reference sent a Content-Length, ours must send the same one; where it chunked,
ours may send the exact length instead, both being valid HTTP/1.1). Every WSGI app is also
served wrapped in ``wsgiref.validate.validator`` and must answer the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any, Callable

import pytest

import framework_apps as fa
from framework_apps import STREAM_BODY, Validated
from mgtest_helpers import rss_bytes
from pymongoose.asgi import ASGIServer
from pymongoose.wsgi import WSGIServer

httpx = pytest.importorskip("httpx")

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning"),
]

LIMIT = 10.0  # seconds: every client call and every wait is bounded by this
HERE = os.path.dirname(os.path.abspath(__file__))
UPLOAD = bytes(range(256)) * 300  # 76.8 KB file for multipart uploads
UPLOAD_SHA = hashlib.sha256(UPLOAD).hexdigest()


def _skip_missing(name: str) -> Any:
    if name == "fastapi":  # its form and file parameters need python-multipart
        pytest.importorskip("python_multipart")
    return pytest.importorskip(name)


# ----------------------------------------------------------------------------- servers


@contextlib.asynccontextmanager
async def on_pymongoose(app: Any, **kw: Any) -> AsyncIterator[str]:
    srv = ASGIServer(app, **kw)
    listener = await srv.start("http://127.0.0.1:0")
    try:
        yield f"http://127.0.0.1:{listener.local_addr[1]}"
    finally:
        await srv.stop()


@contextlib.asynccontextmanager
async def on_uvicorn(app: Any) -> AsyncIterator[str | None]:
    """uvicorn on the same loop (None when uvicorn is not installed)."""
    try:
        import uvicorn
    except ImportError:
        yield None
        return
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="auto")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # older uvicorn
    task = asyncio.ensure_future(server.serve())
    deadline = time.monotonic() + LIMIT
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn did not start")
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start")
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, LIMIT)


class WsgiHost:
    """A WSGIServer on a thread (``run()``), stopped with ``stop()``."""

    def __init__(self, app: Any, **kw: Any) -> None:
        self.server = WSGIServer(app, **kw)
        listener = self.server.listen("http://127.0.0.1:0")
        self.port = listener.local_addr[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"poll_ms": 50}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.stop(timeout=2.0)
        self.thread.join(LIMIT)
        assert not self.thread.is_alive()


@contextlib.contextmanager
def on_wsgi(app: Any, validate: bool = False) -> Iterator[str]:
    """Serve ``app`` (wrapped in wsgiref.validate when ``validate``: any complaint of the
    validator, and any response iterator left unclosed, fails the test here)."""
    wrapped = Validated(app) if validate else app
    host = WsgiHost(wrapped)
    try:
        yield host.base
    finally:
        host.stop()
    if validate:
        wrapped.check()


# --------------------------------------------------------------------- wire comparison


def wire(resp: Any) -> dict[str, Any]:
    """What a client sees of a response, for comparing two servers."""
    h = resp.headers
    return {
        "status": resp.status_code,
        "body": resp.content,
        "content-type": h.get("content-type"),
        "content-length": h.get("content-length"),
        "chunked": "chunked" in h.get("transfer-encoding", "").lower(),
        "set-cookie": h.get_list("set-cookie"),
        "location": h.get("location"),
        # Werkzeug builds Allow from a set: its order changes from process to process.
        "allow": ", ".join(sorted(a.strip() for a in h["allow"].split(","))) if "allow" in h else None,
        "head": resp.request.method == "HEAD",
    }


def same_on_wire(ours: dict[str, Any], ref: dict[str, Any], what: str) -> None:
    """``ours`` answers as ``ref`` does (framing: see the module docstring)."""
    keys = ("status", "body", "content-type", "set-cookie", "location", "allow")
    assert {k: ours[k] for k in keys} == {k: ref[k] for k in keys}, what
    if ours["head"]:
        # HEAD: the Content-Length the app gives is replaced by 0 (see test_head_content_length).
        return
    if ref["content-length"] is not None:
        assert ours["content-length"] == ref["content-length"], what
        assert not ours["chunked"], what
    else:
        assert ours["chunked"] or ours["content-length"] == str(len(ours["body"])), what
    if ours["chunked"]:
        assert ours["content-length"] is None, what


def _multipart() -> dict[str, Any]:
    return {"data": {"note": "hi there"}, "files": {"upload": ("data.bin", UPLOAD, "application/octet-stream")}}


# method, path, httpx request keywords
COMMON: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("GET", "/items/42?q=hello%20world&x=1", {"headers": {"X-Token": "t0k", "Cookie": "session=s1; other=2"}}),
    ("POST", "/json", {"json": {"name": "n", "values": [1, 2, 3]}}),
    ("POST", "/form", {}),  # multipart, filled in by _kw
    ("GET", "/redirect", {}),
    ("GET", "/cookies", {}),
    ("GET", "/only-post", {}),
    ("POST", "/only-post", {"content": b""}),
    ("GET", "/missing/page", {}),
    ("GET", "/boom", {}),
    ("GET", "/stream", {}),
    ("GET", "/big", {}),
    ("HEAD", "/", {}),
]


def _kw(path: str, kw: dict[str, Any]) -> dict[str, Any]:
    return _multipart() if path == "/form" else kw


def check_common(framework: str, results: dict[str, dict[str, Any]]) -> None:
    """What each framework's app must answer (independent of any reference server)."""
    r = results["GET /"]
    assert r["status"] == 200 and r["body"] == b"Hello from " + framework.encode()
    assert r["content-type"].startswith("text/")
    r = results["GET /items/42?q=hello%20world&x=1"]
    assert r["status"] == 200 and r["content-type"].startswith("application/json")
    assert json.loads(r["body"]) == {"item_id": 42, "q": "hello world", "token": "t0k", "session": "s1"}
    r = results["POST /json"]
    assert r["status"] == 200
    assert json.loads(r["body"]) == {"got": {"name": "n", "values": [1, 2, 3]}, "total": 6}
    r = results["POST /form"]
    assert r["status"] == 200, r["body"][:500]
    assert json.loads(r["body"]) == {
        "fields": {"note": "hi there"},
        "files": {"upload": ["data.bin", len(UPLOAD), UPLOAD_SHA]},
    }
    r = results["GET /redirect"]
    assert r["status"] in (302, 307) and r["location"].endswith("/items/1?q=r")
    r = results["GET /cookies"]
    assert r["status"] == 200
    cookies = r["set-cookie"]
    assert len(cookies) == 2
    assert cookies[0].startswith("session=abc123") and "httponly" in cookies[0].lower()
    assert cookies[1].startswith("theme=dark")
    r = results["GET /only-post"]
    assert r["status"] == 405 and "POST" in (r["allow"] or "")
    assert results["POST /only-post"]["status"] == 200
    assert results["GET /missing/page"]["status"] == 404
    assert results["GET /boom"]["status"] == 500
    r = results["GET /stream"]
    assert r["status"] == 200 and r["body"] == STREAM_BODY
    r = results["GET /big"]
    assert r["status"] == 200 and json.loads(r["body"]) == {"data": fa.BIG_TEXT}
    r = results["HEAD /"]
    assert r["status"] == 200 and r["body"] == b""


async def exchange_async(base: str) -> dict[str, dict[str, Any]]:
    out = {}
    async with httpx.AsyncClient(base_url=base, timeout=LIMIT) as client:
        for method, path, kw in COMMON:
            out[f"{method} {path}"] = wire(await client.request(method, path, **_kw(path, kw)))
    return out


def exchange_sync(base: str) -> dict[str, dict[str, Any]]:
    out = {}
    with httpx.Client(base_url=base, timeout=LIMIT) as client:
        for method, path, kw in COMMON:
            out[f"{method} {path}"] = wire(client.request(method, path, **_kw(path, kw)))
    return out


def compare_all(ours: dict[str, dict[str, Any]], ref: dict[str, dict[str, Any]], ref_name: str) -> None:
    for key in ours:
        same_on_wire(ours[key], ref[key], f"{key}: pymongoose vs {ref_name}")


def run(coro_fn: Callable[[], Any], limit: float = 40.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), limit)

    return asyncio.run(bounded())


# ======================================================================== ASGI: HTTP

ASGI_APPS = {
    "FastAPI": ("fastapi", fa.make_fastapi),
    "Quart": ("quart", fa.make_quart),
    "Django": ("django", fa.make_django_asgi),
}


@pytest.mark.parametrize("framework", list(ASGI_APPS))
def test_asgi_app_common_routes_match_uvicorn(framework: str, caplog: pytest.LogCaptureFixture) -> None:
    module, make = ASGI_APPS[framework]
    _skip_missing(module)
    app = make()

    async def main() -> tuple[Any, Any]:
        async with on_pymongoose(app) as base:
            ours = await exchange_async(base)
        async with on_uvicorn(app) as ref_base:
            ref = await exchange_async(ref_base) if ref_base else None
        return ours, ref

    ours, ref = run(main)
    check_common(framework, ours)
    if ref is not None:
        compare_all(ours, ref, "uvicorn")
    # The app's exception reached the logs (the framework's or the server's), never lost.
    assert f"{framework.lower()} boom" in caplog.text


def test_fastapi_lifespan_state_reaches_requests() -> None:
    _skip_missing("fastapi")
    app = fa.make_fastapi()
    fa.EVENTS.clear()

    async def main() -> None:
        async with on_pymongoose(app) as base:
            assert fa.EVENTS == [("fastapi", "startup")]
            async with httpx.AsyncClient(base_url=base, timeout=LIMIT) as client:
                seen = [(await client.get("/state")).json() for _ in range(3)]
            assert fa.EVENTS == [("fastapi", "startup")]
        assert fa.EVENTS == [("fastapi", "startup"), ("fastapi", "shutdown")]
        # The state dict is copied into every scope (shallow): objects in it are shared.
        assert seen == [{"greeting": "hello from lifespan", "counter": i} for i in (1, 2, 3)]

    run(main)


def test_starlette_streaming_state_and_head() -> None:
    _skip_missing("starlette")
    aiohttp = _skip_missing("aiohttp")
    app = fa.make_starlette()
    fa.EVENTS.clear()

    async def main() -> None:
        async with on_pymongoose(app) as base:
            assert fa.EVENTS == [("starlette", "startup")]
            timeout = aiohttp.ClientTimeout(total=LIMIT)
            async with aiohttp.ClientSession(base, timeout=timeout) as session:
                async with session.get("/stream") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("text/plain")
                    assert r.headers.get("Transfer-Encoding") == "chunked"
                    assert "Content-Length" not in r.headers
                    assert await r.read() == STREAM_BODY
                async with session.get("/big") as r:
                    h = hashlib.sha256()
                    total = 0
                    async for chunk in r.content.iter_chunked(65536):
                        h.update(chunk)
                        total += len(chunk)
                    expected = hashlib.sha256()
                    for i in range(fa.STARLETTE_BIG // 65536):
                        expected.update(bytes([i % 251]) * 65536)
                    assert total == fa.STARLETTE_BIG and h.hexdigest() == expected.hexdigest()
                async with session.get("/state") as r:
                    assert await r.json() == {"greeting": "hello from starlette"}
                body = os.urandom(300_000)
                async with session.post("/echo?a=1&b=%C3%A9", data=body) as r:
                    assert await r.json() == {
                        "len": len(body), "sha": hashlib.sha256(body).hexdigest(), "query": {"a": "1", "b": "é"}
                    }
                async with session.head("/") as r:
                    assert r.status == 200 and await r.read() == b""
                    assert r.headers["Content-Length"] == str(len(b"Hello from Starlette"))
                async with session.put("/", data=b"x") as r:
                    assert r.status == 405
            # curl: HEAD, and the big stream in full
            curl = shutil.which("curl")
            if curl:
                proc = await asyncio.create_subprocess_exec(
                    curl, "-s", "-I", "--max-time", str(LIMIT), base + "/",
                    stdout=asyncio.subprocess.PIPE)
                out, _ = await asyncio.wait_for(proc.communicate(), LIMIT)
                assert out.startswith(b"HTTP/1.1 200 OK\r\n")
                assert b"content-length: 20\r\n" in out.lower()
        assert fa.EVENTS == [("starlette", "startup"), ("starlette", "shutdown")]

    run(main)


def test_starlette_stream_matches_uvicorn() -> None:
    _skip_missing("starlette")
    app = fa.make_starlette()

    async def fetch(base: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=base, timeout=LIMIT) as client:
            return [wire(await client.request(m, p)) for m, p in
                    [("GET", "/"), ("GET", "/stream"), ("HEAD", "/"), ("GET", "/state"), ("GET", "/nope"),
                     ("DELETE", "/echo")]]

    async def main() -> tuple[Any, Any]:
        async with on_pymongoose(app) as base:
            ours = await fetch(base)
        async with on_uvicorn(app) as ref_base:
            ref = await fetch(ref_base) if ref_base else None
        return ours, ref

    ours, ref = run(main)
    assert ours[1]["chunked"] and ours[1]["body"] == STREAM_BODY
    assert ours[4]["status"] == 404 and ours[5]["status"] == 405
    if ref is not None:
        for i, (a, b) in enumerate(zip(ours, ref)):
            same_on_wire(a, b, f"request {i}")


def test_quart_lifespan_events() -> None:
    _skip_missing("quart")
    app = fa.make_quart()
    fa.EVENTS.clear()

    async def main() -> None:
        async with on_pymongoose(app) as base:
            assert fa.EVENTS == [("quart", "startup")]
            async with httpx.AsyncClient(base_url=base, timeout=LIMIT) as client:
                r = await client.get("/redirect", follow_redirects=True)
                assert r.status_code == 200 and r.json()["item_id"] == 1 and r.json()["q"] == "r"
        assert fa.EVENTS == [("quart", "startup"), ("quart", "shutdown")]

    run(main)


def test_django_asgi_async_view_and_keepalive() -> None:
    _skip_missing("django")
    app = fa.make_django_asgi()

    async def main() -> None:
        async with on_pymongoose(app) as base:  # Django refuses the lifespan scope: served anyway
            async with httpx.AsyncClient(base_url=base, timeout=LIMIT) as client:
                for _ in range(3):  # one keep-alive connection, sync and async views in turn
                    r = await client.post("/async")
                    assert r.json() == {"async": True, "method": "POST"}
                    r = await client.get("/items/7?q=%E2%9C%93")
                    assert r.json()["q"] == "✓"

                async def chunked_body() -> AsyncIterator[bytes]:
                    yield b'{"name": "c", '
                    yield b'"values": [1, 2]}'

                # A chunked request body (no Content-Length) reaches Django whole.
                r = await client.post("/json", content=chunked_body(), headers={"Content-Type": "application/json"})
                assert r.json() == {"got": {"name": "c", "values": [1, 2]}, "total": 3}

    run(main)


def test_curl_against_fastapi() -> None:
    _skip_missing("fastapi")
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl not installed")
    app = fa.make_fastapi()

    async def curl_run(*args: str) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            curl, "-s", "--max-time", str(LIMIT), *args, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), LIMIT + 1)
        return out

    async def main() -> None:
        async with on_pymongoose(app) as base:
            out = await curl_run("-L", base + "/redirect", "-H", "X-Token: abc", "-b", "session=zz")
            assert json.loads(out) == {"item_id": 1, "q": "r", "token": "abc", "session": "zz"}
            out = await curl_run("-F", "note=from curl", "-F", "upload=@-;filename=up.bin", base + "/form")
            assert json.loads(out)["fields"] == {"note": "from curl"}
            out = await curl_run("-i", "-X", "POST", "-H", "Content-Type: application/json",
                                 "--data", '{"name": "c", "values": [5, 6]}', base + "/json")
            head, _, body = out.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert b"content-type: application/json" in head.lower()
            assert json.loads(body)["total"] == 11
            out = await curl_run("-i", base + "/nope")
            assert out.startswith(b"HTTP/1.1 404 Not Found") and out.endswith(b'{"detail":"Not Found"}')

    run(main)


# =================================================================== ASGI: WebSocket

WS_APPS = {
    "FastAPI": ("fastapi", fa.make_fastapi),
    "Starlette": ("starlette", fa.make_starlette),
    "Quart": ("quart", fa.make_quart),
}


async def ws_transcript(base: str, framework: str) -> list[Any]:
    """Talk to /ws with the websockets client: subprotocol, echo, server close code."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = base.replace("http://", "ws://") + "/ws"
    out: list[Any] = []
    async with connect(url, subprotocols=["chat", "other"], open_timeout=LIMIT, close_timeout=LIMIT) as ws:
        out.append(("subprotocol", ws.subprotocol))
        if framework == "FastAPI":
            out.append(("greeting", await asyncio.wait_for(ws.recv(), LIMIT)))
        for msg in ["hello", "ünïcødé ✓", b"\x00\x01binary\xff", "x" * 70_000, os.urandom(200_000)]:
            await ws.send(msg)
            back = await asyncio.wait_for(ws.recv(), LIMIT)
            out.append(("echo", back == msg, type(back).__name__))
        await ws.send("close:4001")
        try:
            await asyncio.wait_for(ws.recv(), LIMIT)
        except ConnectionClosed as exc:
            out.append(("closed", exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else None))
    # Without an offered subprotocol none is chosen.
    async with connect(url, open_timeout=LIMIT, close_timeout=LIMIT) as ws:
        out.append(("subprotocol", ws.subprotocol))
        if framework == "FastAPI":
            await asyncio.wait_for(ws.recv(), LIMIT)
        await ws.send("ping")
        out.append(("echo", await asyncio.wait_for(ws.recv(), LIMIT)))
    return out


@pytest.mark.parametrize("framework", list(WS_APPS))
def test_websocket_echo_close_code_subprotocol(framework: str) -> None:
    module, make = WS_APPS[framework]
    _skip_missing(module)
    _skip_missing("websockets")
    app = make()

    async def main() -> tuple[Any, Any]:
        async with on_pymongoose(app) as base:
            ours = await ws_transcript(base, framework)
        async with on_uvicorn(app) as ref_base:
            ref = await ws_transcript(ref_base, framework) if ref_base else None
        return ours, ref

    ours, ref = run(main)
    expected = [("subprotocol", "chat")]
    if framework == "FastAPI":
        expected.append(("greeting", "greeting:hello from lifespan"))
    expected += [("echo", True, "str"), ("echo", True, "str"), ("echo", True, "bytes"),
                 ("echo", True, "str"), ("echo", True, "bytes"),
                 ("closed", 4001, "bye" if framework == "FastAPI" else ""),
                 ("subprotocol", None), ("echo", "ping")]
    assert ours == expected
    if ref is not None:
        assert ours == ref


def test_websocket_refused_and_denial_response_match_uvicorn() -> None:
    """No route: the app closes before accepting (403). A denial response (ASGI extension
    websocket.http.response) reaches the client as the app wrote it."""
    _skip_missing("starlette")
    _skip_missing("websockets")
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import WebSocketRoute
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async def deny(ws: Any) -> None:
        await ws.send_denial_response(PlainTextResponse("token required", status_code=401,
                                                        headers={"WWW-Authenticate": "Bearer"}))

    app = Starlette(routes=[WebSocketRoute("/deny", deny)])

    async def attempts(base: str) -> list[Any]:
        out = []
        for path in ("/nowhere", "/deny"):
            with pytest.raises(InvalidStatus) as info:
                async with connect(base.replace("http://", "ws://") + path, open_timeout=LIMIT):
                    pass
            r = info.value.response
            out.append((r.status_code, r.headers.get("WWW-Authenticate"), bytes(r.body or b"")))
        return out

    async def main() -> tuple[Any, Any]:
        async with on_pymongoose(app) as base:
            ours = await attempts(base)
        async with on_uvicorn(app) as ref_base:
            ref = await attempts(ref_base) if ref_base else None
        return ours, ref

    ours, ref = run(main)
    assert ours[0][0] == 403
    assert ours[1] == (401, "Bearer", b"token required")
    if ref is not None:
        assert [o[0] for o in ours] == [r[0] for r in ref] and ours[1] == ref[1]


def test_fastapi_concurrent_requests_and_big_upload() -> None:
    """Fifty requests at once on a pool of keep-alive connections, and a 2 MiB upload that
    curl sends with Expect: 100-continue."""
    _skip_missing("fastapi")
    app = fa.make_fastapi()
    big = os.urandom(2 << 20)

    async def main() -> None:
        async with on_pymongoose(app) as base:
            limits = httpx.Limits(max_connections=10)
            async with httpx.AsyncClient(base_url=base, timeout=LIMIT, limits=limits) as client:
                rs = await asyncio.gather(*(client.get(f"/items/{i}?q={i}") for i in range(50)))
                assert [r.json()["q"] for r in rs] == [str(i) for i in range(50)]
                r = await client.post("/form", data={"note": "big"}, files={"upload": ("big.bin", big)})
                assert r.json()["files"]["upload"] == ["big.bin", len(big), hashlib.sha256(big).hexdigest()]
            curl = shutil.which("curl")
            if curl:
                proc = await asyncio.create_subprocess_exec(
                    curl, "-s", "-v", "--max-time", str(LIMIT), "-F", "note=c", "-F", "upload=@-;filename=c.bin",
                    base + "/form", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(proc.communicate(big), LIMIT + 1)
                assert json.loads(out)["files"]["upload"] == ["c.bin", len(big), hashlib.sha256(big).hexdigest()]
                assert b"Expect: 100-continue" in err and b"HTTP/1.1 100 Continue" in err

    run(main)


def test_websocket_aiohttp_client_and_client_close_code() -> None:
    _skip_missing("starlette")
    aiohttp = _skip_missing("aiohttp")
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    seen: list[Any] = []

    async def endpoint(ws: Any) -> None:
        await ws.accept()
        msg = await ws.receive()
        seen.append(msg.get("text"))
        msg = await ws.receive()
        seen.append((msg["type"], msg.get("code")))

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])

    async def one(base: str) -> list[Any]:
        seen.clear()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=LIMIT)) as session:
            async with session.ws_connect(base + "/ws") as ws:
                await ws.send_str("hi")
                await ws.close(code=4002, message=b"client says bye")
        deadline = time.monotonic() + LIMIT
        while len(seen) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return list(seen)

    async def main() -> tuple[Any, Any]:
        async with on_pymongoose(app) as base:
            ours = await one(base)
        async with on_uvicorn(app) as ref_base:
            ref = await one(ref_base) if ref_base else None
        return ours, ref

    ours, ref = run(main)
    assert ours[0] == "hi"
    if ref is not None:
        assert ref == ["hi", ("websocket.disconnect", 4002)]
    assert ours == ["hi", ("websocket.disconnect", 4002)]


# ========================================================================== WSGI

WSGI_APPS = {
    "Flask": ("flask", fa.make_flask, "flask_app"),
    "Django": ("django", fa.make_django_wsgi, "django_wsgi"),
}


class Gunicorn:
    """gunicorn (sync worker) serving framework_apps:<name> on a free port."""

    def __init__(self, name: str) -> None:
        import gunicorn.config

        args = [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", "127.0.0.1:0",
                "--chdir", HERE, "--log-level", "info", "--graceful-timeout", "1", "--timeout", "20"]
        if any(s.name == "control_socket_disable" for s in gunicorn.config.KNOWN_SETTINGS):
            args.append("--no-control-socket")
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.proc = subprocess.Popen(args + [f"framework_apps:{name}"], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, env=env)
        self.base = ""

    def wait_ready(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + LIMIT
        buf = b""
        while b"Booting worker" not in buf or not self.base:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("gunicorn did not start: " + buf.decode(errors="replace"))
            ready, _, _ = select.select([self.proc.stderr], [], [], left)
            if ready:
                buf += os.read(self.proc.stderr.fileno(), 65536)
            for line in buf.decode(errors="replace").splitlines():
                if "Listening at: " in line:
                    self.base = line.split("Listening at: ")[1].split()[0]
        # Keep reading its log so that it never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self.base

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        while self.proc.stderr.read(65536):
            pass

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(LIMIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(LIMIT)


@pytest.fixture(scope="module")
def wsgi_reference() -> Iterator[dict[str, Any]]:
    """Reference answers of each WSGI app: from gunicorn, else from wsgiref (no framing)."""
    answers: dict[str, Any] = {}
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        gunicorn_missing = True
    else:
        gunicorn_missing = False
    if not gunicorn_missing:
        servers = {}
        try:
            for framework, (module, _, name) in WSGI_APPS.items():
                try:
                    __import__(module)
                except ImportError:
                    continue
                servers[framework] = Gunicorn(name)
            for framework, g in servers.items():
                answers[framework] = ("gunicorn", exchange_sync(g.wait_ready()))
        finally:
            for g in servers.values():
                g.stop()
        yield answers
        return
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    for framework, (module, make, _) in WSGI_APPS.items():
        try:
            __import__(module)
        except ImportError:
            continue
        httpd = make_server("127.0.0.1", 0, make(), handler_class=Quiet)
        t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        try:
            answers[framework] = ("wsgiref", exchange_sync(f"http://127.0.0.1:{httpd.server_port}"))
        finally:
            httpd.shutdown()
            httpd.server_close()
            t.join(LIMIT)
    yield answers


@pytest.mark.parametrize("validate", [False, True], ids=["plain", "validator"])
@pytest.mark.parametrize("framework", list(WSGI_APPS))
def test_wsgi_app_common_routes_match_reference(
    framework: str, validate: bool, wsgi_reference: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    module, make, _ = WSGI_APPS[framework]
    _skip_missing(module)
    with on_wsgi(make(), validate) as base:
        ours = exchange_sync(base)
    check_common(framework, ours)
    assert f"{framework.lower()} boom" in caplog.text
    ref_name, ref = wsgi_reference.get(framework, (None, None))
    if ref_name == "gunicorn":
        compare_all(ours, ref, "gunicorn")
    elif ref_name == "wsgiref":  # HTTP/1.0 server: compare everything but the framing
        for key in ours:
            a = {k: v for k, v in ours[key].items() if k not in ("chunked", "content-length")}
            b = {k: v for k, v in ref[key].items() if k not in ("chunked", "content-length")}
            assert a == b, key


@pytest.mark.parametrize("validate", [False, True], ids=["plain", "validator"])
def test_flask_with_urllib_http_client_and_curl(validate: bool) -> None:
    _skip_missing("flask")
    with on_wsgi(fa.make_flask(), validate) as base:
        # urllib follows the redirect and sends the cookie it was given by hand.
        req = urllib.request.Request(base + "/redirect", headers={"Cookie": "session=u1", "X-Token": "tk"})
        with urllib.request.urlopen(req, timeout=LIMIT) as r:
            assert r.status == 200 and r.url.endswith("/items/1?q=r")
            assert json.loads(r.read()) == {"item_id": 1, "q": "r", "token": "tk", "session": "u1"}
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "/boom", timeout=LIMIT)
        assert info.value.code == 500
        info.value.close()
        # http.client: several requests on one keep-alive connection, including errors.
        port = int(base.rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=LIMIT)
        try:
            for method, path, status in [("GET", "/", 200), ("GET", "/missing", 404), ("GET", "/only-post", 405),
                                         ("HEAD", "/", 200), ("GET", "/stream", 200), ("GET", "/", 200)]:
                c.request(method, path)
                r = c.getresponse()
                body = r.read()
                assert r.status == status, (method, path)
                if path == "/stream":
                    assert r.getheader("Transfer-Encoding") == "chunked" and body == STREAM_BODY
                if method == "HEAD":
                    assert body == b""
            # A chunked request body: Werkzeug reads it to the end (wsgi.input_terminated).
            c.request("POST", "/json", body=iter([b'{"name": "c", ', b'"values": [4]}']),
                      headers={"Content-Type": "application/json"}, encode_chunked=True)
            r = c.getresponse()
            assert json.loads(r.read()) == {"got": {"name": "c", "values": [4]}, "total": 4}
        finally:
            c.close()
        curl = shutil.which("curl")
        if curl:
            big = os.urandom(2 << 20)  # curl sends Expect: 100-continue first
            done = subprocess.run(
                [curl, "-s", "-v", "--max-time", str(LIMIT), "-F", "note=curl", "-F", "upload=@-;filename=c.bin",
                 base + "/form"], input=big, capture_output=True, timeout=LIMIT + 1)
            assert json.loads(done.stdout) == {
                "fields": {"note": "curl"}, "files": {"upload": ["c.bin", len(big), hashlib.sha256(big).hexdigest()]}
            }
            assert b"HTTP/1.1 100 Continue" in done.stderr
            out = subprocess.run([curl, "-s", "-i", "--max-time", str(LIMIT), base + "/cookies"],
                                 capture_output=True, timeout=LIMIT + 1).stdout
            head = out.partition(b"\r\n\r\n")[0].lower()
            assert head.count(b"set-cookie:") == 2 and b"content-length: 11" in head


@pytest.mark.parametrize("validate", [False, True], ids=["plain", "validator"])
def test_django_wsgi_with_aiohttp(validate: bool) -> None:
    _skip_missing("django")
    aiohttp = _skip_missing("aiohttp")
    with on_wsgi(fa.make_django_wsgi(), validate) as base:

        async def main() -> None:
            async with aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=LIMIT)) as session:
                form = aiohttp.FormData()
                form.add_field("note", "aio")
                form.add_field("upload", UPLOAD, filename="a.bin", content_type="application/octet-stream")
                async with session.post("/form", data=form) as r:
                    assert (await r.json())["files"]["upload"] == ["a.bin", len(UPLOAD), UPLOAD_SHA]
                async with session.get("/redirect") as r:  # followed
                    assert r.status == 200 and (await r.json())["q"] == "r"
                async with session.post("/async") as r:
                    assert await r.json() == {"async": True, "method": "POST"}
                async with session.get("/stream") as r:
                    assert r.headers.get("Transfer-Encoding") == "chunked"
                    assert await r.read() == STREAM_BODY

        run(main)


# ============================================================== HEAD Content-Length


def test_head_keeps_the_apps_content_length() -> None:
    """Werkzeug answers HEAD with the GET response's Content-Length and no body; so does a
    raw ASGI app. Both adapters must pass that length on (gunicorn and uvicorn do)."""
    _skip_missing("flask")
    with on_wsgi(fa.make_flask()) as base:
        r = httpx.head(base + "/", timeout=LIMIT)
    wsgi_length = r.headers.get("content-length")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"16")]})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> tuple[str | None, str | None]:
        async with on_pymongoose(app) as base:
            async with httpx.AsyncClient(timeout=LIMIT) as client:
                ours = (await client.head(base + "/")).headers.get("content-length")
        async with on_uvicorn(app) as ref_base:
            async with httpx.AsyncClient(timeout=LIMIT) as client:
                ref = (await client.head(ref_base + "/")).headers.get("content-length") if ref_base else "16"
        return ours, ref

    asgi_length, ref_length = run(main)
    assert ref_length == "16"
    assert (wsgi_length, asgi_length) == ("16", "16")


# --------------------------------------------------------------------- streamed uploads


def _curl_form_upload(url: str, path: str) -> tuple[dict[str, Any], int]:
    """curl's JSON answer, and how far this process's RSS rose above its start meanwhile
    (sampled every 5 ms: large buffers are given back once freed)."""
    base = rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = subprocess.run(
            ["curl", "-s", "--max-time", str(LIMIT * 3), "-F", "note=big", "-F", f"upload=@{path};filename=big.bin", url],
            capture_output=True, timeout=LIMIT * 3 + 5, check=True).stdout
    finally:
        done.set()
        sampler.join(1)
    return json.loads(out), peak[0] - base


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_fastapi_and_flask_take_a_40_mib_multipart_upload_without_buffering_it(tmp_path: Any) -> None:
    """curl posts a 40 MiB file to the /form route of FastAPI (UploadFile) and Flask
    (request.files); the frameworks' own parsers read the body as it streams in, so the
    server process grows far less than the upload."""
    _skip_missing("fastapi")
    _skip_missing("flask")
    size = 40 << 20
    upload = tmp_path / "big.bin"
    piece = os.urandom(1 << 20)
    with open(upload, "wb") as f:
        for _ in range(size >> 20):
            f.write(piece)
    expected = ["big.bin", size, hashlib.sha256(piece * (size >> 20)).hexdigest()]
    limits = {"max_body": 64 << 20}

    async def fastapi_case() -> None:
        async with on_pymongoose(fa.make_fastapi(), limits=limits) as base:
            # The loop keeps running meanwhile: curl is driven from a thread.
            result, grown = await asyncio.to_thread(_curl_form_upload, base + "/form-digest", str(upload))
        assert result["files"]["upload"] == expected and result["fields"]["note"] == "big"
        assert grown < 24 << 20, f"FastAPI upload: RSS grew by {grown >> 20} MiB"

    run(fastapi_case)
    host = WsgiHost(fa.make_flask(), limits=limits)
    try:
        result, grown = _curl_form_upload(host.base + "/form-digest", str(upload))
    finally:
        host.stop()
    assert result["files"]["upload"] == expected
    assert grown < 24 << 20, f"Flask upload: RSS grew by {grown >> 20} MiB"

# SPDX-License-Identifier: MIT
"""ASGI 3.0 adapter: serve an asyncio ASGI application with a pymongoose ``Manager``.

Threading model
---------------
The ``Manager`` is polled by a daemon thread.  Its handler (running on that thread)
turns engine events into Python objects (scope dicts, bodies, WebSocket messages) and
hands them to the asyncio loop with ``loop.call_soon_threadsafe``.

The other direction goes through per-connection operation queues: a coroutine on the
loop appends an operation (a callable taking the ``Connection``) plus an
``asyncio.Future`` to the connection's deque and interrupts ``poll()`` with
``Manager.wakeup(conn_id)``.  The ``MG_EV_WAKEUP`` handler runs the queued operations in
order on the poll thread and resolves their futures on the loop.  Nothing is
serialised (no JSON, no latin-1 bodies): the queues carry Python objects.

Closing a connection resolves every outstanding future, so an application never waits
for a connection that is gone.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import struct
import sys
import threading
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._mongoose import (
    MG_EV_CLOSE,
    MG_EV_HTTP_MSG,
    MG_EV_WAKEUP,
    MG_EV_WS_MSG,
    Connection,
    HttpMessage,
    Manager,
    TlsOpts,
    WsMessage,
)

__all__ = ["ASGIServer", "serve"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorHandler = Callable[[Exception], Any]
_Op = Callable[[Connection], None]

_ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
_NOT_STARTED = "ASGIServer is not started"
_MAX_IN_FLIGHT = 16
_JOIN_TIMEOUT = 5.0
_SHUTDOWN_TIMEOUT = 5.0
_WS_OP_TEXT = 1
_WS_OP_BINARY = 2
_WS_OP_CLOSE = 8

# Reason phrases of spec 2.6 (used for the status line of streamed responses; buffered
# responses get theirs from reply()).
_REASONS: dict[int, str] = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 200: "OK",
    201: "Created", 202: "Accepted", 203: "Non-authoritative Information",
    204: "No Content", 205: "Reset Content", 206: "Partial Content", 207: "Multi-Status",
    208: "Already Reported", 226: "IM Used", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Payload Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable",
    417: "Expectation Failed", 418: "I'm a teapot", 421: "Misdirected Request",
    422: "Unprocessable Entity", 423: "Locked", 424: "Failed Dependency",
    426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 444: "Connection Closed Without Response",
    451: "Unavailable For Legal Reasons", 499: "Client Closed Request",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
    505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
    507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended",
    511: "Network Authentication Required", 599: "Network Connect Timeout Error",
}


def _enc(text: str) -> bytes:
    """Text from engine views back to the exact wire bytes (spec 1.4)."""
    return text.encode("utf-8", "surrogateescape")


def _dec(data: bytes) -> str:
    """Wire bytes to text that the engine encodes back byte-for-byte (spec 1.4)."""
    return bytes(data).decode("utf-8", "surrogateescape")


def _check_header_bytes(name: bytes, value: bytes) -> None:
    for ch in (b"\r", b"\n", b"\0"):
        if ch in name:
            raise ValueError(
                f"Header name contains illegal character (CR, LF, or NUL): {_dec(name)!r}"
            )
        if ch in value:
            raise ValueError(
                f"Header value contains illegal character (CR, LF, or NUL): {_dec(value)!r}"
            )


def _header_pairs(raw: Any) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    for name, value in raw or ():
        pairs.append((bytes(name), bytes(value)))
    return pairs


class _ConnState:
    """Per-connection bridge between the poll thread and the asyncio loop.

    ``ops`` is filled on the loop and drained on the poll thread (``deque`` append and
    popleft are atomic).  ``pending``, ``closed`` and ``inbox`` are touched on the loop
    only."""

    __slots__ = ("conn_id", "ops", "pending", "closed", "inbox", "upgrade")

    def __init__(self, conn_id: int) -> None:
        self.conn_id = conn_id
        self.ops: collections.deque[tuple[_Op, asyncio.Future[None]]] = collections.deque()
        self.pending: set[asyncio.Future[None]] = set()
        self.closed: asyncio.Event | None = None
        self.inbox: asyncio.Queue[Message] | None = None
        self.upgrade: HttpMessage | None = None



def _tls_extension(conn: Connection) -> dict[str, Any] | None:
    """The ASGI TLS extension's scope entry for a TLS connection (None before the handshake)."""
    info = conn.tls_info()
    if info is None:
        return None
    peer = info["peer_cert"]
    return {
        "server_cert": info["server_cert"],
        "client_cert_chain": list(peer["chain"]) if peer else [],
        "client_cert_name": peer["subject"] if peer else None,
        "client_cert_error": None if peer is None or peer["verified"] else "not verified",
        "tls_version": info["version_code"],
        "cipher_suite": info["cipher_code"],
    }

class ASGIServer:
    """Serve an ASGI 3.0 application (HTTP, WebSocket and lifespan scopes).

    ``await start(url)`` runs the lifespan startup, listens and starts the poll thread;
    ``await stop()`` undoes it. ``error_handler`` is passed to the ``Manager``.
    """

    def __init__(self, app: ASGIApp, error_handler: ErrorHandler | None = None) -> None:
        self.app = app
        self._error_handler = error_handler
        self._manager: Manager | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_flag = threading.Event()
        self._conns: dict[int, _ConnState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server_addr: tuple[str, int] | None = None
        self._stopped = False
        # lifespan
        self._ls_task: asyncio.Task[None] | None = None
        self._ls_inbox: asyncio.Queue[Message] | None = None
        self._ls_startup: asyncio.Future[str | None] | None = None
        self._ls_shutdown: asyncio.Future[None] | None = None
        self._ls_supported = False
        self._ls_failed = False

    # ------------------------------------------------------------------ public API

    @property
    def manager(self) -> Manager:
        """The running ``Manager`` (``RuntimeError`` when the server is not started)."""
        if self._manager is None:
            raise RuntimeError(_NOT_STARTED)
        return self._manager

    async def start(self, url: str = "http://127.0.0.1:8000", *, tls: TlsOpts | None = None) -> Connection:
        """Run the lifespan startup, listen on ``url`` and start polling; returns the listener.

        ``tls`` [ext]: certificate and key for every accepted connection (``https://`` URLs);
        requests then carry ``scheme`` ``https``/``wss`` and the ASGI ``tls`` extension.
        A failed lifespan startup raises ``RuntimeError``.
        """
        if self._manager is not None:
            raise RuntimeError("ASGIServer is already started")
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._stop_flag.clear()
        await self._lifespan_startup()
        manager = Manager(self._handle, True, self._error_handler, poll_events=False)
        try:
            listener = manager.listen(url)
            if tls is not None:
                listener.tls_init(tls)
        except BaseException:
            manager.close()
            raise
        addr = listener.local_addr
        if addr is not None:
            host = addr[0]
            if host in ("0.0.0.0", "0000:0000:0000:0000:0000:0000:0000:0000"):
                host = "127.0.0.1"
            self._server_addr = (host, addr[1])
        self._manager = manager
        self._thread = threading.Thread(
            target=self._poll_loop, args=(manager,), name="pymongoose-asgi", daemon=True
        )
        self._thread.start()
        return listener

    async def stop(self) -> None:
        """Stop polling, cancel the app's tasks, close the manager, run the lifespan shutdown.

        Never raises; safe to call twice or without a successful ``start()``.
        """
        try:
            await self._stop()
        except Exception:  # stop() never raises
            self._report(sys.exc_info()[1])

    # ------------------------------------------------------------------ shutdown

    async def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        manager, thread = self._manager, self._thread
        self._stop_flag.set()
        thread_stopped = True
        if thread is not None and manager is not None:
            try:
                manager.wakeup(manager.wakeup_id)
            except Exception:
                pass
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, thread.join, _JOIN_TIMEOUT)
            thread_stopped = not thread.is_alive()
        self._thread = None
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_JOIN_TIMEOUT)
        if manager is not None and thread_stopped:
            try:
                manager.close()
            except Exception:
                pass
        self._manager = None
        self._conns.clear()
        await self._lifespan_shutdown()

    # ------------------------------------------------------------------ lifespan

    async def _lifespan_startup(self) -> None:
        loop = asyncio.get_running_loop()
        self._ls_supported = False
        self._ls_failed = False
        self._ls_inbox = asyncio.Queue()
        self._ls_startup = loop.create_future()
        self._ls_shutdown = loop.create_future()
        self._ls_inbox.put_nowait({"type": "lifespan.startup"})
        self._ls_task = loop.create_task(self._lifespan_main())
        startup = self._ls_startup
        waiters: set[asyncio.Future[Any]] = {startup, self._ls_task}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():  # the app returned or raised without completing startup
            return
        message = startup.result()
        if message is None:
            self._ls_supported = True
            return
        self._ls_failed = True
        raise RuntimeError(f"ASGI lifespan startup failed: {message}")

    async def _lifespan_main(self) -> None:
        inbox, startup, shutdown = self._ls_inbox, self._ls_startup, self._ls_shutdown
        assert inbox is not None and startup is not None and shutdown is not None

        async def receive() -> Message:
            return await inbox.get()

        async def send(message: Message) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete":
                if not startup.done():
                    startup.set_result(None)
            elif kind == "lifespan.startup.failed":
                if not startup.done():
                    startup.set_result(str(message.get("message", "")))
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                if not shutdown.done():
                    shutdown.set_result(None)

        scope: Scope = {"type": "lifespan", "asgi": dict(_ASGI_VERSION), "state": {}}
        try:
            await self.app(scope, receive, send)
        except Exception:
            # An app that raises here (before completing startup) does not support
            # lifespan; after startup the error ends the lifespan task.
            if startup.done() and startup.result() is None:
                self._report(sys.exc_info()[1])

    async def _lifespan_shutdown(self) -> None:
        task, inbox, shutdown = self._ls_task, self._ls_inbox, self._ls_shutdown
        self._ls_task = None
        if task is None:
            return
        try:
            if (
                self._ls_supported
                and not self._ls_failed
                and not task.done()
                and inbox is not None
                and shutdown is not None
            ):
                inbox.put_nowait({"type": "lifespan.shutdown"})
                await asyncio.wait(
                    {shutdown, task},
                    timeout=_SHUTDOWN_TIMEOUT,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=_SHUTDOWN_TIMEOUT)

    # ------------------------------------------------------------------ poll thread

    def _poll_loop(self, manager: Manager) -> None:
        while not self._stop_flag.is_set():
            try:
                manager.poll(100)
            except Exception:
                self._report(sys.exc_info()[1])
                return

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # loop closed: nobody is listening any more
            pass

    def _handle(self, conn: Connection, ev: int, data: Any) -> None:
        if ev == MG_EV_WAKEUP:
            state = self._conns.get(conn.id)
            if state is not None:
                self._run_ops(conn, state)
        elif ev == MG_EV_HTTP_MSG:
            self._on_request(conn, data)
        elif ev == MG_EV_WS_MSG:
            state = self._conns.get(conn.id)
            if state is not None and isinstance(data, WsMessage):
                message: Message
                if data.flags & 0x0F == _WS_OP_BINARY:
                    message = {"type": "websocket.receive", "bytes": data.data}
                else:
                    message = {"type": "websocket.receive", "text": data.text}
                self._post(self._deliver_ws, state, message)
        elif ev == MG_EV_CLOSE:
            state = self._conns.pop(conn.id, None)
            if state is not None:
                dropped = []
                while state.ops:
                    dropped.append(state.ops.popleft()[1])
                self._post(self._on_closed, state, dropped)

    def _run_ops(self, conn: Connection, state: _ConnState) -> None:
        while state.ops:
            op, fut = state.ops.popleft()
            exc: BaseException | None = None
            try:
                op(conn)
            except Exception as e:  # reported to the awaiting coroutine
                exc = e
            self._post(_resolve, fut, exc)

    def _on_request(self, conn: Connection, hm: HttpMessage) -> None:
        state = self._conns.get(conn.id)
        if state is None:
            state = _ConnState(conn.id)
            self._conns[conn.id] = state
        uri = hm.uri
        upgrade = (hm.header("Upgrade") or "").lower() == "websocket"
        headers = [(_enc(n.lower()), _enc(v)) for n, v in hm.headers()]
        remote = conn.remote_addr
        client = (remote[0], remote[1]) if remote is not None else None
        local = conn.local_addr
        server = self._server_addr or ((local[0], local[1]) if local is not None else None)
        tls = conn.is_tls
        proto = hm.proto
        scope: Scope = {
            "type": "websocket" if upgrade else "http",
            "asgi": dict(_ASGI_VERSION),
            "http_version": proto[5:] if proto.upper().startswith("HTTP/") else proto,
            "path": urllib.parse.unquote(uri),
            "raw_path": _enc(uri),
            "query_string": _enc(hm.query),
            "root_path": "",
            "headers": headers,
            "server": server,
            "client": client,
        }
        if tls:
            tls_ext = _tls_extension(conn)
            if tls_ext is not None:
                scope["extensions"] = {"tls": tls_ext}
        if upgrade:
            scope["scheme"] = "wss" if tls else "ws"
            offered = hm.header("Sec-WebSocket-Protocol") or ""
            scope["subprotocols"] = [p.strip() for p in offered.split(",") if p.strip()]
            state.upgrade = hm.copy()
            self._post(self._spawn_ws, state, scope)
        else:
            scope["scheme"] = "https" if tls else "http"
            scope["method"] = hm.method
            self._post(self._spawn_http, state, scope, hm.body_bytes)

    # ------------------------------------------------------------------ loop side

    def _report(self, exc: BaseException | None) -> None:
        if exc is None:
            return
        if self._error_handler is not None and isinstance(exc, Exception):
            try:
                self._error_handler(exc)
                return
            except Exception:
                exc = sys.exc_info()[1] or exc
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)

    def _ensure_loop_state(self, state: _ConnState) -> asyncio.Event:
        if state.closed is None:
            state.closed = asyncio.Event()
        return state.closed

    def _on_closed(self, state: _ConnState, dropped: list[asyncio.Future[None]]) -> None:
        self._ensure_loop_state(state).set()
        for fut in list(state.pending) + dropped:
            if not fut.done():
                fut.set_result(None)
        state.pending.clear()
        if state.inbox is not None:
            state.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    def _deliver_ws(self, state: _ConnState, message: Message) -> None:
        if state.inbox is not None:
            state.inbox.put_nowait(message)

    def _submit(self, state: _ConnState, op: _Op) -> asyncio.Future[None]:
        """Queue ``op`` for the poll thread; the future resolves once it ran (or the
        connection closed)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        closed = self._ensure_loop_state(state)
        manager = self._manager
        if closed.is_set() or manager is None:
            fut.set_result(None)
            return fut
        state.pending.add(fut)
        fut.add_done_callback(state.pending.discard)
        state.ops.append((op, fut))
        self._kick(state.conn_id)
        return fut

    def _kick(self, conn_id: int) -> None:
        manager = self._manager
        if manager is None:
            return
        try:
            queued = manager.wakeup(conn_id)
        except RuntimeError:  # manager freed: stop() resolves what is left
            return
        if not queued and self._loop is not None:  # wakeup queue full: retry shortly
            self._loop.call_later(0.001, self._kick, conn_id)

    def _track(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_http(self, state: _ConnState, scope: Scope, body: bytes) -> None:
        if self._stopped:
            return
        self._ensure_loop_state(state)
        self._track(self._run_http(state, scope, body))

    def _spawn_ws(self, state: _ConnState, scope: Scope) -> None:
        if self._stopped:
            return
        self._ensure_loop_state(state)
        state.inbox = asyncio.Queue()
        state.inbox.put_nowait({"type": "websocket.connect"})
        self._track(self._run_ws(state, scope))

    # ------------------------------------------------------------------ HTTP

    async def _run_http(self, state: _ConnState, scope: Scope, body: bytes) -> None:
        closed = self._ensure_loop_state(state)
        request_sent = False
        status = 200
        headers: list[tuple[bytes, bytes]] = []
        started = False  # http.response.start received
        streaming = False
        finished = False
        sem = asyncio.Semaphore(_MAX_IN_FLIGHT)

        async def receive() -> Message:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await closed.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, headers, started, streaming, finished
            kind = message.get("type")
            if kind == "http.response.start":
                if started:
                    raise RuntimeError("http.response.start sent twice")
                status = int(message["status"])
                headers = _header_pairs(message.get("headers"))
                for name, value in headers:
                    _check_header_bytes(name, value)
                started = True
            elif kind == "http.response.body":
                if not started:
                    raise RuntimeError("http.response.body sent before http.response.start")
                if finished:
                    return
                chunk = bytes(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if not streaming and not more:
                    finished = True
                    await self._submit(state, _reply_op(status, chunk, headers))
                    return
                if not streaming:
                    streaming = True
                    await self._submit(state, _head_op(status, headers))
                if chunk:
                    await sem.acquire()
                    fut = self._submit(state, _chunk_op(chunk))
                    fut.add_done_callback(lambda _f: sem.release())
                if not more:
                    finished = True
                    await self._submit(state, _chunk_op(b""))

        try:
            await self.app(scope, receive, send)
        except Exception:
            self._report(sys.exc_info()[1])
            if not started:
                await self._submit(state, _reply_op(500, b"Internal Server Error", []))
            elif not finished:
                await self._submit(state, _close_op)
            return
        if not started:
            await self._submit(state, _reply_op(500, b"Internal Server Error", []))
        elif not finished:
            if streaming:
                await self._submit(state, _chunk_op(b""))
            else:
                await self._submit(state, _reply_op(status, b"", headers))

    # ------------------------------------------------------------------ WebSocket

    async def _run_ws(self, state: _ConnState, scope: Scope) -> None:
        inbox = state.inbox
        assert inbox is not None
        accepted = False
        closed_sent = False
        disconnected = False

        async def receive() -> Message:
            nonlocal disconnected
            message = await inbox.get()
            if message["type"] == "websocket.disconnect":
                disconnected = True
                inbox.put_nowait(message)  # later receive() calls see it again
            return message

        async def send(message: Message) -> None:
            nonlocal accepted, closed_sent
            kind = message.get("type")
            if disconnected or closed_sent:
                return
            if kind == "websocket.accept":
                if accepted:
                    raise RuntimeError("websocket.accept sent twice")
                extra = [(_dec(n), _dec(v)) for n, v in _header_pairs(message.get("headers"))]
                sub = message.get("subprotocol")
                if sub:
                    extra.append(("Sec-WebSocket-Protocol", str(sub)))
                hm = state.upgrade
                state.upgrade = None
                accepted = True
                fut = self._submit(state, _accept_op(hm, extra))
                await fut
            elif kind == "websocket.send":
                if not accepted:
                    raise RuntimeError("websocket.send before websocket.accept")
                text = message.get("text")
                if text is not None:
                    await self._submit(state, _ws_op(_enc(str(text)), _WS_OP_TEXT))
                else:
                    data = bytes(message.get("bytes") or b"")
                    await self._submit(state, _ws_op(data, _WS_OP_BINARY))
            elif kind == "websocket.close":
                closed_sent = True
                if not accepted:
                    state.upgrade = None
                    await self._submit(state, _reply_op(403, b"Forbidden", []))
                    return
                code = int(message.get("code") or 1000)
                reason = str(message.get("reason") or "").encode("utf-8")
                payload = struct.pack("!H", code) + reason
                await self._submit(state, _ws_op(payload, _WS_OP_CLOSE))

        try:
            await self.app(scope, receive, send)
        except Exception:
            self._report(sys.exc_info()[1])
            if not accepted and not closed_sent:
                await self._submit(state, _reply_op(500, b"Internal Server Error", []))
            elif not closed_sent:
                await self._submit(state, _ws_op(struct.pack("!H", 1011), _WS_OP_CLOSE))
            return
        if not closed_sent:
            if not accepted:
                await self._submit(state, _reply_op(403, b"Forbidden", []))
            elif not disconnected:
                await self._submit(state, _ws_op(struct.pack("!H", 1000), _WS_OP_CLOSE))


# ---------------------------------------------------------------------- operations
# Built on the loop, executed on the poll thread with the live Connection.


def _resolve(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)


def _reply_op(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> _Op:
    pairs = [(_dec(n), _dec(v)) for n, v in headers if n.lower() != b"transfer-encoding"]

    def op(conn: Connection) -> None:
        conn.reply(status, body, pairs)

    return op


def _head_op(status: int, headers: list[tuple[bytes, bytes]]) -> _Op:
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, "").encode("ascii"))]
    has_te = any(name.lower() == b"transfer-encoding" for name, _ in headers)
    for name, value in headers:
        # RFC 9112 6.1: no Content-Length next to Transfer-Encoding (e.g. Starlette's
        # FileResponse announces a length and then streams the file in pieces).
        if not has_te and name.lower() == b"content-length":
            continue
        lines.append(name + b": " + value + b"\r\n")
    if not has_te:
        lines.append(b"Transfer-Encoding: chunked\r\n")
    lines.append(b"\r\n")
    head = b"".join(lines)

    def op(conn: Connection) -> None:
        conn.send(head)

    return op


def _chunk_op(data: bytes) -> _Op:
    def op(conn: Connection) -> None:
        conn.http_chunk(data)

    return op


def _close_op(conn: Connection) -> None:
    conn.close()


def _ws_op(data: bytes, opcode: int) -> _Op:
    def op(conn: Connection) -> None:
        conn.ws_send(data, opcode)

    return op


def _accept_op(hm: HttpMessage | None, extra: list[tuple[str, str]]) -> _Op:
    def op(conn: Connection) -> None:
        if hm is None:
            raise RuntimeError("WebSocket upgrade request is no longer available")
        conn.ws_upgrade(hm, extra)

    return op


# ---------------------------------------------------------------------- serve()


def serve(app: ASGIApp, url: str = "http://127.0.0.1:8000", *, tls: TlsOpts | None = None) -> None:
    """Run ``app`` on ``url`` until SIGINT or SIGTERM (``tls``: see ``ASGIServer.start``)."""

    async def main() -> None:
        server = ASGIServer(app)
        loop = asyncio.get_running_loop()
        stop_event = asyncio.Event()
        installed: list[signal.Signals] = []
        previous: dict[signal.Signals, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop_event.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                try:
                    previous[sig] = signal.signal(
                        sig, lambda *_: loop.call_soon_threadsafe(stop_event.set)
                    )
                except (ValueError, OSError):
                    pass
        try:
            await server.start(url, tls=tls)
            await stop_event.wait()
        finally:
            await server.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    asyncio.run(main())

# SPDX-License-Identifier: MIT
"""ASGI 3.0 adapter: serve an asyncio ASGI application with a pymongoose ``Manager``.

Threading model
---------------
There is one thread: the asyncio loop's. The ``Manager``'s poller descriptor is watched
with ``loop.add_reader`` and polled with ``poll(0)`` when it is readable, when output was
queued, and when the engine's next timeout is due (``Manager.next_timeout_ms``). Engine
events become scopes and messages inside the handler and each request runs as a task on
the same loop, so a request costs no thread hop and no lock handoff; the app's ``send``
writes straight into the connection's send buffer (``Connection.http_respond``).

Flow control
------------
``send`` waits while the connection's send buffer is above ``send_high_water``
(``Connection.is_full``) until ``MG_EV_WRITE`` reports it drained; WebSocket messages
queue at most ``_WS_INBOX_HIGH`` deep before reading from the socket pauses
(``Connection.paused``). A request body that has not fully arrived with its head is
streamed (``Connection.http_stream_body``): the app's ``receive`` gets it piece by piece
with ``more_body``, and reading pauses while more than ``_BODY_HIGH`` bytes wait unread.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import email.utils
import logging
import signal
import struct
import sys
import time
import types
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._mongoose import (
    MG_EV_CLOSE,
    MG_EV_HTTP_HDRS,
    MG_EV_HTTP_MSG,
    MG_EV_WRITE,
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

logger = logging.getLogger("pymongoose.asgi")

_NOT_STARTED = "ASGIServer is not started"
_SHUTDOWN_TIMEOUT = 5.0
_FRESH_GRACE = 1.0  # seconds a drain waits for the first request of a connection just accepted
_TICK = 0.1  # seconds between polls when nothing else wakes the loop (engine timeouts)
_WS_INBOX_HIGH = 16  # WebSocket messages queued before reading pauses
_WS_INBOX_LOW = 4  # ... and resumes
_BODY_HIGH = 256 * 1024  # streamed request body bytes waiting for receive() before reading pauses
_BODY_LOW = 64 * 1024  # ... and resumes
_WS_OP_TEXT = 1
_WS_OP_BINARY = 2
_WS_OP_CLOSE = 8
_DISCONNECT: Message = {"type": "http.disconnect"}
_EVENTS = (MG_EV_HTTP_HDRS, MG_EV_HTTP_MSG, MG_EV_WRITE, MG_EV_WS_MSG, MG_EV_CLOSE)  # all the handler looks at
_TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
_CONNECTION_CLOSE = (b"connection", b"close")


def _enc(text: str) -> bytes:
    """Text from engine views back to the exact wire bytes (spec 1.4)."""
    return text.encode("utf-8", "surrogateescape")


def _dec(data: bytes) -> str:
    """Wire bytes to text that the engine encodes back byte-for-byte (spec 1.4)."""
    return bytes(data).decode("utf-8", "surrogateescape")


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


class _Host:
    """A parked task that lends its identity to first steps run outside any task.

    A task per request costs as much as the rest of the adapter (3.12's ``eager_start``
    still creates one, and 3.10/3.11 have no eager tasks at all). So the first step of each
    request runs with a parked host task made current (``asyncio.current_task()`` is a
    real task, as apps and anyio expect) in a context of its own. Most requests finish
    there and the host serves the next one; a request that waits is handed to the host,
    which continues it as its own task (same task, same context) and is replaced.
    """

    __slots__ = ("task", "park")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.park: asyncio.Future[tuple[Any, Any, contextvars.Context]] = loop.create_future()
        self.task = loop.create_task(self._main())

    async def _main(self) -> None:
        try:
            coro, first, ctx = await self.park
        except asyncio.CancelledError:
            return  # parked until the server stopped
        await _continue(coro, first, ctx)


@types.coroutine
def _continue(coro: Any, yielded: Any, ctx: contextvars.Context) -> Any:
    """Drive ``coro`` from where its first step stopped, every step in ``ctx``."""
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:  # thrown in by the task (cancellation)
            try:
                yielded = ctx.run(coro.throw, exc)
            except StopIteration:
                return
        else:
            try:
                yielded = ctx.run(coro.send, sent)
            except StopIteration:
                return


class _Conn:
    """What the server knows about one client connection (loop thread only)."""

    __slots__ = ("conn", "closed", "cycle", "write_waiter", "close_code", "body_cycle")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.closed = False
        self.cycle: _HttpCycle | _WsCycle | None = None  # the request being served
        self.write_waiter: asyncio.Future[None] | None = None
        self.close_code = 1006  # RFC 6455 §7.1.5: closed without a close frame (set at MG_EV_CLOSE)
        # The request whose body is being streamed, until its MG_EV_HTTP_MSG (None when
        # it was refused before the app saw it: its pieces are dropped).
        self.body_cycle: _HttpCycle | None | bool = False

    async def drain(self) -> None:
        """Wait while the send buffer is above its high-water mark (or until close)."""
        while not self.closed and self.conn.is_full:
            fut = self.write_waiter
            if fut is None or fut.done():
                fut = self.write_waiter = asyncio.get_running_loop().create_future()
            await fut

    def wake_writer(self) -> None:
        fut = self.write_waiter
        if fut is not None:
            self.write_waiter = None
            if not fut.done():
                fut.set_result(None)


class _HttpCycle:
    """One HTTP request/response: the app's ``receive`` and ``send``."""

    __slots__ = ("server", "st", "body", "body_sent", "status", "headers", "started",
                 "streaming", "finished", "waiters", "pieces", "queued", "body_done", "body_waiter")

    def __init__(self, server: ASGIServer, st: _Conn, body: bytes | None) -> None:
        self.server = server
        self.st = st
        self.body = body
        self.body_sent = False
        # A streamed body (body is None): pieces not yet received by the app.
        self.pieces: collections.deque[bytes] | None = None if body is not None else collections.deque()
        self.queued = 0
        self.body_done = body is not None
        self.body_waiter: asyncio.Future[None] | None = None
        self.status = 200
        self.headers: list[Any] = []
        self.started = False
        self.streaming = False
        self.finished = False
        self.waiters: list[asyncio.Future[None]] | None = None

    def feed(self, data: bytes, last: bool) -> None:
        """A piece of the streamed request body (from Connection.http_stream_body)."""
        pieces = self.pieces
        assert pieces is not None
        if data and not self.finished:  # after the response, the rest is read and dropped
            pieces.append(data)
            self.queued += len(data)
        if last:
            self.body_done = True
        st = self.st
        if self.queued > _BODY_HIGH and not st.closed and not st.conn.paused:
            st.conn.paused = True  # the app is behind: leave the rest in the kernel
        self._wake_body_reader()

    def _wake_body_reader(self) -> None:
        fut, self.body_waiter = self.body_waiter, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    def resume_reading(self) -> None:
        """Unpause the socket once the queued body was taken (or is to be dropped)."""
        st = self.st
        if not st.closed and st.conn.paused:
            st.conn.paused = False
            self.server._flush_soon()

    async def _receive_piece(self) -> Message:
        pieces = self.pieces
        assert pieces is not None
        while not pieces and not self.body_done:
            if self.st.closed:
                self.body_sent = True  # the client went away mid-body
                return dict(_DISCONNECT)
            fut = self.body_waiter = asyncio.get_running_loop().create_future()
            await fut
        body = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        self.queued = 0
        self.resume_reading()
        if self.body_done:
            self.body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.request", "body": body, "more_body": True}

    async def receive(self) -> Message:
        if not self.body_sent:
            if self.pieces is not None:
                return await self._receive_piece()
            self.body_sent = True
            body, self.body = self.body, b""
            return {"type": "http.request", "body": body, "more_body": False}
        if not (self.finished or self.st.closed):
            # Nothing more to read: the next message is the disconnect, delivered when the
            # client goes away or the response is complete (an SSE loop ends then).
            fut = asyncio.get_running_loop().create_future()
            if self.waiters is None:
                self.waiters = []
            self.waiters.append(fut)
            await fut
        return dict(_DISCONNECT)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)
        self._wake_body_reader()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.finished:
                raise RuntimeError("http.response.body sent after the response was complete")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            st = self.st
            if st.closed:
                if not more:
                    self.finished = True
                return
            server = self.server
            if not self.streaming:
                st.conn.http_respond(self.status, self.headers + server._extra_headers(), body, more=more)
                self.streaming = more
            else:
                st.conn.http_respond_body(body, more=more)
            server._flush_soon()
            if not more:
                self.finished = True
                self.wake()
            if more and st.conn.is_full:
                await st.drain()
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
            self.started = True
        elif kind == "http.response.pathsend":
            if not self.started or self.finished:
                raise RuntimeError("http.response.pathsend needs a started, unfinished response")
            path = message["path"]
            with open(path, "rb") as f:  # noqa: ASYNC230 - small local files; framing needs the length
                data = f.read()
            await self.send({"type": "http.response.body", "body": data})
        else:
            raise RuntimeError(f"unexpected ASGI message type for HTTP: {kind!r}")


class _WsCycle:
    """One WebSocket session: ``websocket.*`` messages both ways."""

    __slots__ = ("server", "st", "upgrade", "inbox", "waiter", "accepted", "closed_sent",
                 "denial", "disconnected")

    def __init__(self, server: ASGIServer, st: _Conn, upgrade: HttpMessage) -> None:
        self.server = server
        self.st = st
        self.upgrade: HttpMessage | None = upgrade
        self.inbox: collections.deque[Message] = collections.deque([{"type": "websocket.connect"}])
        self.waiter: asyncio.Future[None] | None = None
        self.accepted = False
        self.closed_sent = False
        self.denial: _HttpCycle | None = None  # websocket.http.response in progress
        self.disconnected = False

    def deliver(self, message: Message) -> None:
        self.inbox.append(message)
        st = self.st
        if len(self.inbox) >= _WS_INBOX_HIGH and not st.closed:
            st.conn.paused = True  # the app is behind: leave input in the kernel
        self.wake()

    def wake(self) -> None:
        fut, self.waiter = self.waiter, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    def on_close(self) -> None:
        self.inbox.append({"type": "websocket.disconnect", "code": self.st.close_code})
        self.wake()

    async def receive(self) -> Message:
        inbox = self.inbox
        while not inbox:
            if self.disconnected:
                return {"type": "websocket.disconnect", "code": self.st.close_code}
            fut = self.waiter = asyncio.get_running_loop().create_future()
            await fut
        message = inbox.popleft()
        if message["type"] == "websocket.disconnect":
            self.disconnected = True
        st = self.st
        if len(inbox) <= _WS_INBOX_LOW and not st.closed and st.conn.paused:
            st.conn.paused = False
            self.server._flush_soon()
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        st = self.st
        conn = st.conn
        server = self.server
        if kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if self.closed_sent or st.closed:
                return
            text = message.get("text")
            if text is not None:
                conn.ws_send(text.encode("utf-8"), _WS_OP_TEXT)
            else:
                conn.ws_send(message.get("bytes") or b"", _WS_OP_BINARY)
            server._flush_soon()
            if conn.is_full:
                await st.drain()
        elif kind == "websocket.accept":
            if self.accepted or self.closed_sent:
                raise RuntimeError("websocket.accept sent twice or after websocket.close")
            if st.closed:
                return
            extra = [(_dec(n), _dec(v)) for n, v in message.get("headers") or ()]
            sub = message.get("subprotocol")
            if sub:
                extra.append(("Sec-WebSocket-Protocol", str(sub)))
            hm, self.upgrade = self.upgrade, None
            self.accepted = True
            conn.ws_upgrade(hm, extra, compression=server._ws_compression)
            server._flush_soon()
        elif kind == "websocket.close":
            if self.closed_sent:
                return
            self.closed_sent = True
            if st.closed:
                return
            if not self.accepted:
                # ASGI: a close before accept is a 403 (RFC 6455 §4.2.2 lets us refuse).
                self.upgrade = None
                conn.http_respond(403, [_TEXT_PLAIN] + server._extra_headers(), b"Forbidden")
            else:
                code = int(message.get("code") or 1000)
                reason = str(message.get("reason") or "").encode("utf-8")
                conn.ws_send(struct.pack("!H", code) + reason, _WS_OP_CLOSE)
            server._flush_soon()
        elif kind in ("websocket.http.response.start", "websocket.http.response.body"):
            # The WebSocket denial response extension: an HTTP answer instead of the upgrade.
            if self.accepted or (self.closed_sent and self.denial is None):
                raise RuntimeError(f"{kind} after websocket.accept or websocket.close")
            if self.denial is None:
                if kind != "websocket.http.response.start":
                    raise RuntimeError("websocket.http.response.body before its start")
                self.closed_sent = True
                self.upgrade = None
                self.denial = _HttpCycle(server, st, b"")
                self.denial.body_sent = True
            await self.denial.send({**message, "type": kind[len("websocket."):]})
        else:
            raise RuntimeError(f"unexpected ASGI message type for WebSocket: {kind!r}")


class ASGIServer:
    """Serve an ASGI 3.0 application (HTTP, WebSocket and lifespan scopes).

    ``await start(url)`` runs the lifespan startup and listens; the engine is then driven
    by the running asyncio loop itself. ``await stop()`` drains and undoes it.

    Options (keyword-only): ``root_path`` (mount point: prefixed to ``path`` and given as
    ``root_path``, as a reverse proxy strips it); ``server_header`` (the ``Server``
    response header, ``None`` for none); ``date_header`` (a ``Date`` header on every
    response, RFC 9110 §6.6.1); ``limit_concurrency`` (requests and WebSocket sessions
    served at once; beyond it requests get ``503``); ``graceful_timeout`` (seconds
    ``stop()`` waits for requests in flight, ``None`` for ever); ``limits`` (the
    ``Manager``'s engine limits); ``ws_compression`` (WebSocket permessage-deflate, RFC
    7692: ``True`` or a dict of options as ``Connection.ws_upgrade``'s ``compression``;
    off by default). ``error_handler`` receives the app's exceptions
    (they are logged to the ``pymongoose.asgi`` logger otherwise).
    """

    def __init__(
        self,
        app: ASGIApp,
        error_handler: ErrorHandler | None = None,
        *,
        root_path: str = "",
        server_header: str | None = "pymongoose",
        date_header: bool = True,
        limit_concurrency: int | None = None,
        graceful_timeout: float | None = 30.0,
        limits: dict[str, int | float] | None = None,
        ws_compression: bool | dict[str, Any] | None = None,
    ) -> None:
        if limit_concurrency is not None and limit_concurrency < 1:
            raise ValueError("limit_concurrency must be at least 1")
        if graceful_timeout is not None and graceful_timeout < 0:
            raise ValueError("graceful_timeout must not be negative")
        self.app = app
        self.root_path = root_path.rstrip("/")
        self._error_handler = error_handler
        self._server_header = server_header
        self._date_header = date_header
        self._limit = limit_concurrency
        self._graceful_timeout = graceful_timeout
        self._limits = limits
        self._ws_compression = ws_compression
        self._manager: Manager | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Connection] = []
        self._conns: dict[int, _Conn] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # requests waiting on something
        self._in_flight = 0  # requests and WebSocket sessions being served
        self._host: _Host | None = None
        self._server_addr: tuple[str, int] | None = None
        self._flush_pending = False
        self._in_poll = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._timer_handle: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._fd = -1
        self._draining = False
        self._stopped = False
        self._date_second = -1
        self._extra: list[tuple[bytes, bytes]] = []
        self._state: dict[str, Any] = {}
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

    async def start(
        self, url: str = "http://127.0.0.1:8000", *, tls: TlsOpts | None = None, **listen_options: Any
    ) -> Connection:
        """Run the lifespan startup, listen on ``url`` and start serving; returns the listener.

        ``tls`` [ext]: certificate and key for every accepted connection (``https://`` URLs);
        requests then carry ``scheme`` ``https``/``wss`` and the ASGI ``tls`` extension.
        Other keywords go to ``Manager.listen``. A failed lifespan startup raises
        ``RuntimeError``.
        """
        if self._manager is not None:
            raise RuntimeError("ASGIServer is already started")
        loop = self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._draining = False
        await self._lifespan_startup()
        manager = Manager(
            self._handle, True, self._error_handler, poll_events=False, limits=self._limits, events=_EVENTS,
            hdrs_only_pending=True
        )
        try:
            listener = manager.listen(url, **listen_options)
            if tls is not None:
                listener.tls_init(tls)
        except BaseException:
            manager.close()
            await self._lifespan_shutdown()
            raise
        addr = listener.local_addr
        if addr is not None:
            host = addr[0]
            if host in ("0.0.0.0", "0000:0000:0000:0000:0000:0000:0000:0000", "::"):
                host = "127.0.0.1"
            self._server_addr = (host, addr[1])
        self._listeners = [listener]
        self._manager = manager
        self._refresh_headers()
        self._fd = manager.fileno()
        loop.add_reader(self._fd, self._poll)
        self._tick_handle = loop.call_later(_TICK, self._tick)
        return listener

    async def stop(self, timeout: float | None = None) -> None:
        """Drain, close the manager and run the lifespan shutdown.

        Listening stops at once; idle connections close; requests in flight finish (their
        responses carry ``Connection: close``) and WebSocket sessions get a ``1001`` close,
        for up to ``timeout`` seconds (default: ``graceful_timeout``); what is left is then
        cancelled. Never raises; safe to call twice or without a successful ``start()``.
        """
        try:
            await self._stop(self._graceful_timeout if timeout is None else timeout)
        except Exception:  # stop() never raises
            self._report(sys.exc_info()[1])

    # ------------------------------------------------------------------ engine driving

    def _poll(self) -> None:
        self._flush_pending = False
        manager = self._manager
        if manager is None:
            return
        self._in_poll = True
        try:
            manager.poll(0)
            ms = manager.next_timeout_ms()
        except Exception:
            self._report(sys.exc_info()[1])
            return
        finally:
            self._in_poll = False
        if ms == 0:
            self._flush_soon()
        elif 0 < ms < _TICK * 1000:
            self._arm_timer(ms / 1000.0)

    def _flush_soon(self) -> None:
        """Poll once more on the next loop iteration (output was queued outside poll).

        Output queued inside poll (an app answering during its first step) is sent by
        that poll itself."""
        if not self._flush_pending and not self._in_poll and self._loop is not None:
            self._flush_pending = True
            self._loop.call_soon(self._poll)

    def _arm_timer(self, delay: float) -> None:
        loop = self._loop
        assert loop is not None
        due = loop.time() + delay
        handle = self._timer_handle
        if handle is not None and not handle.cancelled() and self._timer_due <= due:
            return
        if handle is not None:
            handle.cancel()
        self._timer_due = due
        self._timer_handle = loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer_handle = None
        self._poll()

    def _tick(self) -> None:
        if self._manager is None or self._loop is None:
            return
        self._refresh_headers()
        self._poll()
        self._tick_handle = self._loop.call_later(_TICK, self._tick)

    def _refresh_headers(self) -> None:
        now = int(time.time())
        if now == self._date_second:
            return
        self._date_second = now
        extra: list[tuple[bytes, bytes]] = []
        if self._server_header:
            extra.append((b"server", self._server_header.encode("latin-1")))
        if self._date_header:
            extra.append((b"date", email.utils.formatdate(now, usegmt=True).encode("ascii")))
        self._extra = extra

    def _extra_headers(self) -> list[tuple[bytes, bytes]]:
        if self._draining:
            return self._extra + [_CONNECTION_CLOSE]
        return self._extra

    def _detach(self) -> None:
        loop = self._loop
        if loop is not None and self._fd >= 0:
            try:
                loop.remove_reader(self._fd)
            except Exception:
                pass
        self._fd = -1
        for handle in (self._tick_handle, self._timer_handle):
            if handle is not None:
                handle.cancel()
        self._tick_handle = self._timer_handle = None

    # ------------------------------------------------------------------ events

    def _handle(self, conn: Connection, ev: int, data: Any) -> None:
        if ev == MG_EV_HTTP_HDRS:
            # A body still on its way is streamed to the app, which starts now.
            if conn.http_stream_body(self._on_body):
                st = self._conns.get(conn.id)
                if st is None:
                    st = self._conns[conn.id] = _Conn(conn)
                st.body_cycle = None
                self._on_request(conn, data, st, streamed=True)
        elif ev == MG_EV_HTTP_MSG:
            st = self._conns.get(conn.id)
            if st is not None and st.body_cycle is not False:
                st.body_cycle = False  # its app started at MG_EV_HTTP_HDRS
                return
            self._on_request(conn, data, st)
        elif ev == MG_EV_WRITE:
            st = self._conns.get(conn.id)
            if st is not None and st.write_waiter is not None and not conn.is_full:
                st.wake_writer()
        elif ev == MG_EV_WS_MSG:
            st = self._conns.get(conn.id)
            if st is not None and isinstance(st.cycle, _WsCycle) and isinstance(data, WsMessage):
                if data.flags & 0x0F == _WS_OP_BINARY:
                    st.cycle.deliver({"type": "websocket.receive", "bytes": data.data})
                else:
                    st.cycle.deliver({"type": "websocket.receive", "text": data.text})
        elif ev == MG_EV_CLOSE:
            st = self._conns.pop(conn.id, None)
            if st is not None:
                st.closed = True
                code = conn.ws_close_code
                if code is not None:
                    st.close_code = code
                st.wake_writer()
                cycle = st.cycle
                if isinstance(cycle, _HttpCycle):
                    cycle.wake()
                elif isinstance(cycle, _WsCycle):
                    cycle.on_close()

    def _on_body(self, conn: Connection, data: bytes, last: bool) -> None:
        """A piece of a streamed request body (``Connection.http_stream_body``)."""
        st = self._conns.get(conn.id)
        cycle = st.body_cycle if st is not None else None
        if isinstance(cycle, _HttpCycle):
            cycle.feed(data, last)

    def _on_request(self, conn: Connection, hm: HttpMessage, st: _Conn | None, streamed: bool = False) -> None:
        if st is None:
            st = self._conns[conn.id] = _Conn(conn)
        # While draining, a request on a connection already accepted is still served
        # (with Connection: close): its client had no way to know.
        if self._limit is not None and self._in_flight >= self._limit:
            conn.http_respond(503, [_TEXT_PLAIN, _CONNECTION_CLOSE] + self._extra, b"Service Unavailable")
            return
        uri = hm.uri
        root = self.root_path
        path = urllib.parse.unquote(uri) if "%" in uri else uri
        raw_path = _enc(uri)
        if root:
            path = root + path
            raw_path = root.encode("utf-8") + raw_path
        proto = hm.proto
        remote = conn.remote_addr
        tls = conn.is_tls
        upgrade = hm.header("Upgrade")
        is_ws = upgrade is not None and upgrade.lower() == "websocket"
        scope: Scope = {
            "type": "websocket" if is_ws else "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1" if proto == "HTTP/1.1" else (proto[5:] if proto[:5].upper() == "HTTP/" else proto),
            "path": path,
            "raw_path": raw_path,
            "query_string": _enc(hm.query),
            "root_path": root,
            "headers": [(_enc(n.lower()), _enc(v)) for n, v in hm.headers()],
            "server": self._server_addr,
            "client": (remote[0], remote[1]) if remote is not None else None,
            "state": self._state.copy(),
        }
        if tls:
            tls_ext = _tls_extension(conn)
            if tls_ext is not None:
                scope["extensions"] = {"tls": tls_ext}
        loop = self._loop
        assert loop is not None
        if is_ws and streamed:
            # RFC 6455 §4.1: an opening handshake carries no body.
            conn.http_respond(400, [_TEXT_PLAIN, _CONNECTION_CLOSE] + self._extra, b"Bad Request")
            return
        if is_ws:
            scope["scheme"] = "wss" if tls else "ws"
            offered = hm.header("Sec-WebSocket-Protocol") or ""
            scope["subprotocols"] = [p.strip() for p in offered.split(",") if p.strip()]
            scope.setdefault("extensions", {})["websocket.http.response"] = {}
            cycle: _HttpCycle | _WsCycle = _WsCycle(self, st, hm.copy())
            coro = self._run_ws(st, scope, cycle)
        else:
            scope["scheme"] = "https" if tls else "http"
            scope["method"] = hm.method
            scope.setdefault("extensions", {})["http.response.pathsend"] = {}
            cycle = _HttpCycle(self, st, None if streamed else hm.body_bytes)
            if streamed:
                st.body_cycle = cycle
            coro = self._run_http(st, scope, cycle)
        st.cycle = cycle
        self._start(loop, coro)

    def _start(self, loop: asyncio.AbstractEventLoop, coro: Any) -> None:
        """Run ``coro`` as a task whose first step runs now, inside the engine's event.

        A request the app answers without waiting is then answered in the same poll that
        read it: no loop iteration, no second poll to send the response.
        """
        host = self._host
        if host is None or host.task.done():
            host = self._host = _Host(loop)
        ctx = contextvars.copy_context()
        asyncio.tasks._enter_task(loop, host.task)
        try:
            first = ctx.run(coro.send, None)
        except StopIteration:
            return
        finally:
            asyncio.tasks._leave_task(loop, host.task)
        self._host = None  # the host becomes this request's task
        host.park.set_result((coro, first, ctx))
        task = host.task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ running the app

    def _report(self, exc: BaseException | None) -> None:
        if exc is None:
            return
        if self._error_handler is not None and isinstance(exc, Exception):
            try:
                self._error_handler(exc)
                return
            except Exception:
                exc = sys.exc_info()[1] or exc
        logger.error("Exception in ASGI application", exc_info=(type(exc), exc, exc.__traceback__))

    async def _call_app(self, st: _Conn, scope: Scope, cycle: _HttpCycle | _WsCycle) -> Exception | None:
        """Run the app for one request or session; returns (and reports) what it raised."""
        failed: Exception | None = None
        self._in_flight += 1
        try:
            await self.app(scope, cycle.receive, cycle.send)
        except Exception as exc:
            failed = exc
        finally:
            self._in_flight -= 1
            if st.cycle is cycle:
                st.cycle = None
        if failed is not None:
            self._report(failed)
        return failed

    async def _run_http(self, st: _Conn, scope: Scope, cycle: _HttpCycle) -> None:
        failed = await self._call_app(st, scope, cycle)
        if not st.closed:
            conn = st.conn
            if not cycle.started:
                if failed is None:
                    self._report(RuntimeError("ASGI app returned without starting a response"))
                conn.http_respond(500, [_TEXT_PLAIN] + self._extra_headers(), b"Internal Server Error")
            elif not cycle.finished:
                if failed is not None:
                    conn.close()  # the response broke off: only a close tells the client
                elif cycle.streaming:
                    conn.http_respond_body(b"", more=False)
                else:
                    conn.http_respond(cycle.status, cycle.headers + self._extra_headers(), b"")
            self._flush_soon()
        cycle.finished = True
        cycle.wake()
        if cycle.pieces is not None:
            # The app stopped reading its body: the engine reads and drops the rest.
            cycle.pieces.clear()
            cycle.queued = 0
            cycle.resume_reading()

    async def _run_ws(self, st: _Conn, scope: Scope, cycle: _WsCycle) -> None:
        failed = await self._call_app(st, scope, cycle)
        if st.closed:
            return
        conn = st.conn
        denial = cycle.denial
        if denial is not None:
            if not denial.finished:
                if failed is not None or not denial.started:
                    conn.close()
                elif denial.streaming:
                    conn.http_respond_body(b"", more=False)
                else:
                    conn.http_respond(denial.status, denial.headers + self._extra_headers(), b"")
        elif not cycle.accepted and not cycle.closed_sent:
            # Never accepted: refused (500 when the app failed, 403 otherwise).
            if failed is not None:
                conn.http_respond(500, [_TEXT_PLAIN] + self._extra_headers(), b"Internal Server Error")
            else:
                conn.http_respond(403, [_TEXT_PLAIN] + self._extra_headers(), b"Forbidden")
        elif cycle.accepted and not cycle.closed_sent and not cycle.disconnected:
            # RFC 6455 §7.4.1: 1011 for a server error, 1000 when the app just returned.
            conn.ws_send(struct.pack("!H", 1011 if failed is not None else 1000), _WS_OP_CLOSE)
        self._flush_soon()

    # ------------------------------------------------------------------ shutdown

    async def _stop(self, timeout: float | None) -> None:
        if self._stopped:
            return
        self._stopped = True
        manager = self._manager
        if manager is not None:
            self._draining = True
            # Stop accepting; idle keep-alive connections close now, busy ones after their
            # response (it carries Connection: close); WebSocket sessions are told 1001.
            for listener in self._listeners:
                listener.accept_pending()  # queued clients are served, not reset
                listener.close()
            self._listeners = []
            for conn in manager.connections:
                if conn.is_listening or conn.is_closing:
                    continue
                st = self._conns.get(conn.id)
                cycle = st.cycle if st is not None else None
                if cycle is None and st is not None and not conn.recv_len:
                    # Idle keep-alive: a client retries a request that meets this close
                    # (RFC 9112 §9.3.1). A connection that has not sent its first
                    # request yet is left its grace below: its client could not retry.
                    conn.close()
                elif isinstance(cycle, _WsCycle) and cycle.accepted and not cycle.closed_sent:
                    cycle.closed_sent = True
                    conn.ws_send(struct.pack("!H", 1001), _WS_OP_CLOSE)
            self._flush_soon()
            loop = asyncio.get_running_loop()
            end = None if timeout is None else loop.time() + timeout
            grace_end = loop.time() + (_FRESH_GRACE if timeout is None else min(_FRESH_GRACE, timeout))
            while True:
                tasks = [t for t in self._tasks if not t.done()]
                waiting = loop.time() < grace_end and any(
                    not c.is_listening and not c.is_closing and (c.id not in self._conns or c.recv_len)
                    for c in manager.connections)
                if not tasks and not waiting:
                    break
                left = None if end is None else end - loop.time()
                if left is not None and left <= 0:
                    break
                if tasks and not waiting:
                    await asyncio.wait(tasks, timeout=left)
                else:
                    await asyncio.sleep(0.01 if left is None else min(0.01, left))  # a request may be on its way
            # Let the last responses leave (bounded: a client that does not read is dropped).
            deadline = loop.time() + min(timeout if timeout is not None else _SHUTDOWN_TIMEOUT, _SHUTDOWN_TIMEOUT)
            while self._conns and loop.time() < deadline and any(c.conn.send_len for c in self._conns.values()):
                self._flush_soon()  # polled from the loop, never from inside this task
                await asyncio.sleep(0.01)
        tasks = [t for t in self._tasks if not t.done()]
        host, self._host = self._host, None
        if host is not None:
            tasks.append(host.task)  # parked: nothing to finish
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_SHUTDOWN_TIMEOUT)
        self._detach()
        if manager is not None:
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
        self._state = {}
        self._ls_inbox = asyncio.Queue()
        self._ls_startup = loop.create_future()
        self._ls_shutdown = loop.create_future()
        self._ls_inbox.put_nowait({"type": "lifespan.startup"})
        self._ls_task = loop.create_task(self._lifespan_main())
        startup = self._ls_startup
        await asyncio.wait({startup, self._ls_task}, return_when=asyncio.FIRST_COMPLETED)
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
                if kind == "lifespan.shutdown.failed":
                    logger.error("ASGI lifespan shutdown failed: %s", message.get("message", ""))
                if not shutdown.done():
                    shutdown.set_result(None)

        # ASGI lifespan state: what the app stores here is copied into every request's scope.
        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.4"}, "state": self._state}
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
            if self._ls_supported and not self._ls_failed and not task.done() and inbox is not None and shutdown is not None:
                inbox.put_nowait({"type": "lifespan.shutdown"})
                await asyncio.wait({shutdown, task}, timeout=_SHUTDOWN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=_SHUTDOWN_TIMEOUT)


# ---------------------------------------------------------------------- serve()


def serve(
    app: ASGIApp, url: str = "http://127.0.0.1:8000", *, tls: TlsOpts | None = None, **options: Any
) -> None:
    """Run ``app`` on ``url`` until SIGINT or SIGTERM, then drain (``ASGIServer.stop``).

    ``tls``: see ``ASGIServer.start``; other keywords go to ``ASGIServer``.
    """

    async def main() -> None:
        server = ASGIServer(app, **options)
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
                    previous[sig] = signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop_event.set))
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

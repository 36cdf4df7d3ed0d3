# SPDX-License-Identifier: MIT
"""WSGI (PEP 3333) server on top of a pymongoose ``Manager``.

The loop thread (whoever calls ``Manager.poll``) builds each request's environ inside the
``MG_EV_HTTP_MSG`` handler and queues it for a pool of worker threads, which run the
application. Responses come back as ``_Response`` objects: a worker appends the pieces
the app produced and, once per batch, interrupts ``poll()`` with ``Manager.wakeup``; the
loop writes them with ``Connection.http_respond``. A response whose pieces are all there
when the loop looks (the common case: a worker holds the interpreter lock until it
blocks) goes out as one complete response with its ``Content-Length``; otherwise it is
streamed, at most ``_QUEUE_DEPTH`` pieces ahead of the socket (the worker waits, and
gives up after ``stream_timeout`` seconds without progress).

A request body that has not fully arrived with its head is streamed
(``Connection.http_stream_body``): the app starts at once and its ``wsgi.input`` blocks
until the next piece arrives; reading from the socket pauses while more than
``_BODY_HIGH`` bytes wait unread, so an upload is never buffered whole.

With ``workers=0`` the application runs on the loop thread itself: no handoff at all, for
applications that never block (one request at a time, as a sync worker; bodies are then
buffered whole, since the loop cannot wait for them).
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import queue
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from io import BytesIO
from types import TracebackType
from typing import IO, Any, Protocol
from urllib.parse import unquote_to_bytes

from ._mongoose import (
    MG_EV_CLOSE,
    MG_EV_HTTP_HDRS,
    MG_EV_HTTP_MSG,
    MG_EV_WAKEUP,
    MG_EV_WRITE,
    Connection,
    Manager,
    TlsOpts,
)

__all__ = ["FileWrapper", "WSGIServer", "serve"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
WSGIApp = Callable[..., Iterable[bytes]]
StartResponse = Callable[..., Callable[[bytes], None]]

logger = logging.getLogger("pymongoose.wsgi")

_QUEUE_DEPTH = 16  # pieces of a streamed response queued before the worker waits
_DEFAULT_MAX_QUEUE = 1024  # requests waiting for a worker before new ones get 503
_DRAIN_POLL_MS = 20
_BODY_HIGH = 256 * 1024  # streamed request body bytes waiting for the app before reading pauses
_BODY_LOW = 64 * 1024  # ... and resumes
_FRESH_GRACE = 1.0  # seconds a drain waits for the first request of a connection just accepted

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_RE = re.compile(r"([1-9][0-9]{2})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?\Z")
_UNAVAILABLE = [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")]
_ERROR_HEADERS = [("Content-Type", "text/plain; charset=utf-8")]


class _HttpMessageLike(Protocol):
    method: str
    uri: str
    query: str
    proto: str
    body_bytes: bytes

    def header(self, name: str, default: str | None = None) -> str | None: ...

    def headers(self) -> list[tuple[str, str]]: ...


class _ConnectionLike(Protocol):
    @property
    def is_tls(self) -> bool: ...

    @property
    def remote_addr(self) -> tuple[str, int, bool] | None: ...

class FileWrapper:
    """``wsgi.file_wrapper``: iterate over ``filelike.read(blksize)`` blocks."""

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self) -> None:
        """Close the wrapped file (when it has a ``close`` method)."""
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def _native(text: str) -> str:
    """Engine text (UTF-8/surrogateescape) → PEP 3333 native string (latin-1)."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _add_tls_environ(environ: dict[str, Any], conn: _ConnectionLike) -> None:
    """``HTTPS`` and the ``SSL_*`` variables web servers give (mod_ssl's names).

    Stand-in connections without ``tls_info`` get ``HTTPS`` only.
    """
    environ["HTTPS"] = "on"
    tls_info = getattr(conn, "tls_info", None)
    info = tls_info() if callable(tls_info) else None
    if not info:
        return
    environ["SSL_PROTOCOL"] = info["version"]
    environ["SSL_CIPHER"] = info["cipher"]
    if info["server_name"]:
        environ["SSL_TLS_SNI"] = info["server_name"]
    peer = info["peer_cert"]
    if peer is None:
        environ["SSL_CLIENT_VERIFY"] = "NONE"
        return
    environ["SSL_CLIENT_VERIFY"] = "SUCCESS" if peer["verified"] else "GENEROUS"
    environ["SSL_CLIENT_S_DN"] = peer["subject"]
    environ["SSL_CLIENT_CERT"] = peer["pem"]
    for i, pem in enumerate(peer["chain"][1:]):
        environ[f"SSL_CLIENT_CERT_CHAIN_{i}"] = pem



def _build_environ(
    hm: _HttpMessageLike, conn: _ConnectionLike, server_name: str, server_port: int, root_path: str = ""
) -> dict[str, Any]:
    """Build a PEP 3333 environ from a request view (or any object with the same members)."""
    uri = hm.uri
    if "?" in uri:
        path, query = uri.split("?", 1)
    else:
        path, query = uri, hm.query
    path_info = unquote_to_bytes(path.encode("utf-8", "surrogateescape")).decode("latin-1") if "%" in path else _native(path)
    if root_path and (path_info == root_path or path_info.startswith(root_path + "/")):
        path_info = path_info[len(root_path):]
    remote = conn.remote_addr
    remote_ip = remote[0] if remote else ""
    body = hm.body_bytes
    raw_uri = _native(uri if not query or "?" in uri else f"{uri}?{query}")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": hm.method,
        "SCRIPT_NAME": root_path,
        "PATH_INFO": path_info,
        "QUERY_STRING": _native(query),
        "RAW_URI": raw_uri,
        "REQUEST_URI": raw_uri,
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": hm.proto,
        "REMOTE_ADDR": remote_ip,
        "REMOTE_HOST": remote_ip,
        "REMOTE_PORT": str(remote[1]) if remote else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if conn.is_tls else "http",
        "wsgi.input": BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    if conn.is_tls:
        _add_tls_environ(environ, conn)
    for name, value in hm.headers():
        if "_" in name:
            # Header names with "_" would map to the same key as their "-" twin (PEP 3333
            # CGI naming): a client could spoof X-Forwarded-For as X_Forwarded_For. Dropped,
            # as gunicorn and nginx do.
            continue
        key = name.upper().replace("-", "_")
        value = _native(value.strip())
        if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
            environ[key] = value
            continue
        key = "HTTP_" + key
        if key in environ:
            environ[key] = environ[key] + ", " + value
        else:
            environ[key] = value
    if body and "CONTENT_LENGTH" not in environ:
        # A chunked body arrives whole (de-chunked): its length is known, and frameworks that
        # read CONTENT_LENGTH bytes (Django) would otherwise see none of it.
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


class _StreamInput:
    """``wsgi.input`` of a request whose body is still arriving.

    The loop thread feeds pieces (``feed``); the app's thread reads them, waiting for
    the next one. Pausing and resuming the socket happen on the loop thread only: a reader
    that drained the queue below ``_BODY_LOW`` asks for it through ``resume`` (the server
    wakes the loop), so the two threads never race on ``Connection.paused``.
    """

    __slots__ = ("conn", "server", "cond", "pieces", "queued", "done", "failed", "discarding",
                 "paused", "queued_for_loop", "conn_id")

    def __init__(self, conn: Connection, server: WSGIServer) -> None:
        self.conn = conn
        self.conn_id = conn.id
        self.server = server
        self.cond = threading.Condition()
        self.pieces: deque[bytes] = deque()
        self.queued = 0
        self.done = False  # the last piece arrived
        self.failed = False  # the client went away before the end
        self.discarding = False  # the app is done with its request: the rest is dropped
        self.paused = False  # loop side: reading is paused for this body
        self.queued_for_loop = False

    # loop thread
    def feed(self, data: bytes, last: bool) -> None:
        with self.cond:
            if data and not self.discarding:
                self.pieces.append(data)
                self.queued += len(data)
            if last:
                self.done = True
            self.cond.notify_all()
            pause = self.queued > _BODY_HIGH and not self.paused
            if pause:
                self.paused = True  # decided under the lock: a reader sees it and asks back
        if pause:
            self.conn.paused = True  # the app is behind: leave the rest in the kernel

    def abort(self) -> None:
        with self.cond:
            if not self.done:
                self.failed = True
            self.cond.notify_all()

    def resume_if_read(self) -> None:
        with self.cond:
            resume = self.paused and (self.queued < _BODY_LOW or self.discarding)
            if resume:
                self.paused = False
        if resume:
            self.conn.paused = False

    # app thread
    def discard(self) -> None:
        """The request is answered: whatever else arrives is dropped."""
        with self.cond:
            self.discarding = True
            self.pieces.clear()
            self.queued = 0
            resume = self.paused
        if resume:
            self.server._resume_input(self)

    def _wait_for_data(self) -> None:
        """With ``cond`` held: until a piece is queued or the body ended."""
        while not self.pieces and not self.done:
            if self.failed:
                raise OSError("client disconnected before the request body was complete")
            self.cond.wait()

    def _take(self, size: int) -> bytes:
        """Up to ``size`` bytes (all there are for a negative size), waiting for the first."""
        with self.cond:
            self._wait_for_data()
            pieces = self.pieces
            if size < 0 or size >= self.queued:
                data = pieces.popleft() if len(pieces) == 1 else b"".join(pieces)
                pieces.clear()
            else:
                data = b""
                while len(data) < size:
                    piece = pieces.popleft()
                    need = size - len(data)
                    if len(piece) > need:
                        pieces.appendleft(piece[need:])
                        piece = piece[:need]
                    data += piece
            self.queued -= len(data)
            resume = self.paused and self.queued < _BODY_LOW
        if resume:
            self.server._resume_input(self)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            out = []
            while True:
                data = self._take(-1)
                if not data:
                    return b"".join(out)
                out.append(data)
        if size == 0:
            return b""
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        line = b""
        limit = -1 if size is None else size
        while limit < 0 or len(line) < limit:
            with self.cond:
                self._wait_for_data()
                if not self.pieces:
                    return line
                head = self.pieces[0]
            nl = head.find(b"\n")
            want = len(head) if nl < 0 else nl + 1
            if limit >= 0:
                want = min(want, limit - len(line))
            line += self._take(want)
            if line.endswith(b"\n"):
                break
        return line

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class _Timeout(Exception):
    """A streamed response made no progress for ``stream_timeout`` seconds."""


class _Gone(Exception):
    """The connection went away (or the server closed): stop producing quietly."""


def _latin1_headers(headers: Any) -> list[tuple[str, str] | tuple[bytes, bytes]]:
    """Validated header pairs; non-ASCII (latin-1, PEP 3333) ones as bytes."""
    pairs: list[Any] = []
    for item in headers:
        name, value = item
        if type(name) is not str or type(value) is not str:
            raise TypeError(f"header name and value must be str: {item!r}")
        if not _TOKEN_RE.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE_RE.search(value):
            raise ValueError(f"invalid header value for {name!r}")
        if value.isascii():
            pairs.append((name, value))
        else:
            pairs.append((name.encode("latin-1"), value.encode("latin-1")))
    return pairs


class _Response:
    """One response on its way from a worker to the loop (guarded by the server's ``_cond``)."""

    __slots__ = ("conn_id", "waiting", "status", "headers", "pieces", "finished", "failed",
                 "started", "queued", "gone", "progress", "body")

    def __init__(self, conn_id: int, body: _StreamInput | None = None) -> None:
        self.conn_id = conn_id
        self.body = body  # a streamed request body (dropped once the app is done)
        self.waiting = False  # a worker waits for the loop to take pieces
        self.status = 0
        self.headers: list[Any] = []
        self.pieces: deque[bytes] = deque()
        self.finished = False  # the app is done: no more pieces
        self.failed = False  # the app broke off mid-response: close the connection
        self.started = False  # loop side: the head went out (streaming)
        self.queued = False  # in the loop's ready list
        self.gone = False  # the connection closed or the server stopped
        self.progress = 0  # pieces the loop has taken (the stream timeout's clock)


class WSGIServer:
    """Serve a WSGI application with a pymongoose ``Manager`` and a thread pool.

    ``app`` runs on ``workers`` threads (``0``: on the thread that polls). A worker
    streaming a response gives up after ``stream_timeout`` seconds without progress
    (the client stopped reading). ``error_handler`` is passed to the ``Manager``;
    application errors are logged to the ``pymongoose.wsgi`` logger.

    Keyword-only options: ``root_path`` (``SCRIPT_NAME``; stripped from ``PATH_INFO``
    when the request path starts with it); ``server_header`` (``None`` for no ``Server``
    header); ``date_header`` (``Date`` on every response, RFC 9110 §6.6.1);
    ``max_queue`` (requests waiting for a worker before new ones get ``503``, default
    1024); ``graceful_timeout`` (seconds ``run()`` waits for requests in flight when it
    stops, ``None`` for ever); ``limits`` (the ``Manager``'s engine limits).
    """

    def __init__(
        self,
        app: WSGIApp,
        workers: int = 4,
        error_handler: Callable[[Exception], Any] | None = None,
        stream_timeout: float = 5.0,
        *,
        root_path: str = "",
        server_header: str | None = "pymongoose",
        date_header: bool = True,
        max_queue: int | None = None,
        graceful_timeout: float | None = 30.0,
        limits: dict[str, int | float] | None = None,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must not be negative")
        if max_queue is not None and max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.app = app
        self.root_path = root_path.rstrip("/")
        self._workers = workers
        self._stream_timeout = stream_timeout
        self._server_header = server_header
        self._date_header = date_header
        self._max_queue = _DEFAULT_MAX_QUEUE if max_queue is None else max_queue
        self._graceful_timeout = graceful_timeout
        self._server_name = "127.0.0.1"
        self._server_port = 8000
        self._manager = Manager(
            self._handler, enable_wakeup=True, error_handler=error_handler, poll_events=False, limits=limits,
            events=(MG_EV_HTTP_HDRS, MG_EV_HTTP_MSG, MG_EV_WAKEUP, MG_EV_WRITE, MG_EV_CLOSE),  # all the handler looks at
            hdrs_only_pending=True,  # HTTP_HDRS matters only for a body still to come
        )
        # Loop side (the polling thread only).
        self._conns: dict[int, Connection] = {}  # connections with a request in flight
        self._streaming: dict[int, _Response] = {}  # responses waiting for the socket
        self._listeners: list[Connection] = []
        self._date_second = -1
        self._extra: list[tuple[str, str]] = []
        self._draining = False
        self._inputs: dict[int, _StreamInput] = {}  # streamed request bodies, until MG_EV_HTTP_MSG
        self._served: set[int] = set()  # connections that sent a request (idle ones may close at drain)
        # Shared (appends and pops are atomic; flags are advisory, see _ready_push).
        self._ready: deque[_Response] = deque()
        self._wake_pending = False
        self._wake_target = self._manager.wakeup_id
        self._jobs: queue.SimpleQueue[tuple[dict[str, Any], _Response] | None] = queue.SimpleQueue()
        self._in_flight = 0  # requests between MG_EV_HTTP_MSG and their response's end
        self._closed = False
        self._stop_requested = False
        self._stop_timeout: float | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())  # pieces taken, or a response gone
        self._refresh_headers()

    @property
    def manager(self) -> Manager:
        """The ``Manager`` that runs the server."""
        return self._manager

    # ------------------------------------------------------------------ control

    def listen(
        self, url: str = "http://127.0.0.1:8000", *, tls: TlsOpts | None = None, **listen_options: Any
    ) -> Connection:
        """Listen on ``url`` and return the listener; its address fills ``SERVER_NAME``/``SERVER_PORT``.

        ``tls`` [ext]: certificate and key for every accepted connection (``https://`` URLs);
        the environ then has ``wsgi.url_scheme`` ``https``, ``HTTPS=on`` and mod_ssl's
        ``SSL_*`` variables (``SSL_CLIENT_CERT`` and ``SSL_CLIENT_S_DN`` with client certificates).
        Other keywords go to ``Manager.listen`` (e.g. ``reuse_port=True``).
        """
        conn = self._manager.listen(url, **listen_options)
        if tls is not None:
            conn.tls_init(tls)
        self._listeners.append(conn)
        if len(self._listeners) == 1:
            # MG_EV_WAKEUP is delivered to a live connection (the wakeup channel itself only
            # interrupts poll); while draining, after the listeners closed, _drain() looks.
            self._wake_target = conn.id
        addr = conn.local_addr
        if addr is not None and addr[1]:
            host, port = addr[0], addr[1]
            try:
                if ipaddress.ip_address(host).is_unspecified:
                    host = "127.0.0.1"
            except ValueError:
                pass
            self._server_name = host
            self._server_port = port
        return conn

    def run(self, poll_ms: int = 100) -> None:
        """Poll until SIGINT, SIGTERM or ``stop()``, drain (see ``stop``), then ``close()``."""
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    previous[sig] = signal.signal(sig, lambda *_: self.stop())
                except (ValueError, OSError):
                    pass
        try:
            while not self._stop_requested:
                self._manager.poll(poll_ms)
                self._refresh_headers()
            self._drain()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.close()

    def stop(self, timeout: float | None = None) -> None:
        """Ask ``run()`` to stop gracefully (safe from any thread and from signal handlers).

        ``run()`` then stops accepting, closes idle connections, lets the requests in
        flight finish (their responses carry ``Connection: close``) for up to ``timeout``
        seconds (default: ``graceful_timeout``), closes and returns.
        """
        if timeout is not None:
            self._stop_timeout = timeout
        self._stop_requested = True
        try:
            self._manager.wakeup(self._manager.wakeup_id)
        except Exception:  # closed already
            pass

    def close(self) -> None:
        """Stop at once: workers are told to quit (without waiting for them) and the manager closes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        self._threads = []
        for body in self._inputs.values():
            body.abort()  # a worker waiting for its body wakes up
        self._inputs.clear()
        while self._ready:
            item = self._ready.popleft()
            if type(item) is _Response:
                self._gone(item)
        for resp in self._streaming.values():
            self._gone(resp)
        self._streaming.clear()
        self._conns.clear()
        self._manager.close()

    def _drain(self) -> None:
        timeout = self._stop_timeout if self._stop_timeout is not None else self._graceful_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        self._draining = True
        self._wake_target = self._manager.wakeup_id
        for listener in self._listeners:
            listener.accept_pending()  # queued clients are served, not reset
            listener.close()
        self._listeners = []
        served = self._served
        for conn in self._manager.connections:
            if not conn.is_listening and conn.id not in self._conns and conn.id in served and not conn.recv_len:
                # Idle keep-alive: a client retries a request that meets this close (RFC
                # 9112 §9.3.1). A connection that has not sent its first request yet gets
                # a grace: its client could not retry.
                conn.close()
        grace_end = time.monotonic() + (_FRESH_GRACE if timeout is None else min(_FRESH_GRACE, timeout))

        def waiting() -> bool:
            return time.monotonic() < grace_end and any(
                not c.is_listening and not c.is_closing and c.id not in self._conns
                and (c.id not in served or c.recv_len) for c in self._manager.connections)

        while self._in_flight or any(c.send_len for c in self._manager.connections) or waiting():
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._manager.poll(_DRAIN_POLL_MS)
            self._on_ready()

    # ------------------------------------------------------------- loop side

    def _refresh_headers(self) -> None:
        now = int(time.time())
        if now == self._date_second:
            return
        self._date_second = now
        extra: list[tuple[str, str]] = []
        if self._server_header:
            extra.append(("Server", self._server_header))
        if self._date_header:
            extra.append(("Date", email.utils.formatdate(now, usegmt=True)))
        self._extra = extra

    def _extra_headers(self) -> list[tuple[str, str]]:
        if self._draining:
            return self._extra + [("Connection", "close")]
        return self._extra

    def _handler(self, conn: Connection, ev: int, data: Any) -> None:
        if ev == MG_EV_HTTP_HDRS:
            if self._workers and not self._closed and conn.http_stream_body(self._feed_body):
                # A body still on its way is streamed: the app starts now.
                body = self._inputs[conn.id] = _StreamInput(conn, self)
                self._on_request(conn, data, body)
        elif ev == MG_EV_HTTP_MSG:
            if self._inputs and self._inputs.pop(conn.id, None) is not None:
                return  # its app started at MG_EV_HTTP_HDRS
            self._on_request(conn, data)
        elif ev == MG_EV_WAKEUP:
            self._on_ready()
        elif ev == MG_EV_WRITE:
            resp = self._streaming.get(conn.id)
            if resp is not None and not conn.is_full:
                self._pump(conn, resp)
        elif ev == MG_EV_CLOSE:
            conn_id = conn.id
            self._served.discard(conn_id)
            body = self._inputs.pop(conn_id, None) if self._inputs else None
            if body is not None:
                body.abort()
            if self._conns.pop(conn_id, None) is not None:
                self._in_flight -= 1
            resp = self._streaming.pop(conn_id, None)
            if resp is not None:
                self._gone(resp)

    def _feed_body(self, conn: Connection, data: bytes, last: bool) -> None:
        body = self._inputs.get(conn.id)
        if body is not None:
            body.feed(data, last)

    def _on_request(self, conn: Connection, hm: Any, body: _StreamInput | None = None) -> None:
        if self._closed:
            return
        # While draining, a request on a connection already accepted is still served (with
        # Connection: close): its client had no way to know.
        if self._jobs.qsize() >= self._max_queue:
            conn.http_respond(503, _UNAVAILABLE + self._extra, b"Service Unavailable")
            if body is not None:
                body.discard()
            return
        environ = _build_environ(hm, conn, self._server_name, self._server_port, self.root_path)
        if body is not None:
            environ["wsgi.input"] = body
            if hm.header("Transfer-Encoding") is not None:
                environ.pop("CONTENT_LENGTH", None)  # unknown: read to the end (input_terminated)
        resp = _Response(conn.id, body)
        self._served.add(conn.id)
        self._conns[conn.id] = conn
        self._in_flight += 1
        if self._workers == 0:
            environ["wsgi.multithread"] = False
            self._serve(environ, resp)
            self._deliver(resp)
            return
        if len(self._threads) < self._workers:
            self._spawn_worker()
        self._jobs.put((environ, resp))

    def _spawn_worker(self) -> None:
        t = threading.Thread(target=self._worker, name=f"pymongoose-wsgi-{len(self._threads)}", daemon=True)
        self._threads.append(t)
        t.start()

    def _on_ready(self) -> None:
        self._wake_pending = False  # before draining: a later push wakes us again
        ready = self._ready
        while ready:
            resp = ready.popleft()
            if type(resp) is _StreamInput:
                resp.queued_for_loop = False
                resp.resume_if_read()
                continue
            resp.queued = False
            self._deliver(resp)

    def _deliver(self, resp: _Response) -> None:
        conn = self._conns.get(resp.conn_id)
        if conn is None or self._closed:
            self._gone(resp)
            return
        self._pump(conn, resp)

    def _pump(self, conn: Connection, resp: _Response) -> None:
        """Write what ``resp`` has for ``conn``; stops while the send buffer is full."""
        with self._cond:
            pieces = resp.pieces
            if resp.failed:
                taken = len(pieces)
                pieces.clear()
                body, complete, more, end = b"", False, False, True
            elif not resp.started and resp.finished:
                taken = len(pieces)
                body = pieces[0] if taken == 1 else b"".join(pieces)
                pieces.clear()
                complete, more, end = True, False, True
            else:
                complete, end = False, False
                taken = 0
            if taken:
                resp.progress += taken
                if resp.waiting:
                    self._cond.notify_all()
        conn_id = resp.conn_id
        try:
            if resp.failed:
                if resp.started:
                    conn.close()  # the response broke off: only a close tells the client
                else:
                    conn.http_respond(500, _ERROR_HEADERS + self._extra_headers(), b"Internal Server Error")
            elif complete:
                conn.http_respond(resp.status, resp.headers + self._extra_headers(), body)
            else:
                self._pump_stream(conn, resp)
                if not resp.finished or resp.pieces or conn_id in self._streaming:
                    return
        except (ValueError, TypeError, RuntimeError) as exc:
            logger.error("Invalid WSGI response: %s", exc)
            if not conn.is_closing:
                conn.close()
        if self._conns.pop(conn_id, None) is not None:
            self._in_flight -= 1
        self._streaming.pop(conn_id, None)

    def _pump_stream(self, conn: Connection, resp: _Response) -> None:
        while not conn.is_full:
            with self._cond:
                if resp.pieces:
                    piece = resp.pieces.popleft()
                    resp.progress += 1
                    if resp.waiting:
                        self._cond.notify_all()
                    last = resp.finished and not resp.pieces
                elif resp.finished:
                    piece, last = b"", True
                else:
                    self._streaming[resp.conn_id] = resp
                    return
            if not resp.started:
                resp.started = True
                conn.http_respond(resp.status, resp.headers + self._extra_headers(), piece, more=not last)
            else:
                conn.http_respond_body(piece, more=not last)
            if last:
                self._streaming.pop(resp.conn_id, None)
                return
        self._streaming[resp.conn_id] = resp  # MG_EV_WRITE pumps the rest

    def _gone(self, resp: _Response) -> None:
        with self._cond:
            resp.gone = True
            resp.pieces.clear()
            self._cond.notify_all()

    # ----------------------------------------------------------- worker side

    def _worker(self) -> None:
        get = self._jobs.get
        while True:
            job = get()
            if job is None:
                return
            environ, resp = job
            if resp.gone or self._closed:
                continue
            self._serve(environ, resp)
            if resp.body is not None:
                resp.body.discard()
            if not self._closed:
                self._ready_push(resp)

    def _resume_input(self, body: _StreamInput) -> None:
        """Ask the loop to resume reading ``body``'s connection if it paused it."""
        if body.queued_for_loop:
            return
        body.queued_for_loop = True
        self._ready.append(body)  # type: ignore[arg-type]
        self._wake_loop()

    def _wake_loop(self) -> None:
        """Interrupt poll() once for everything queued in ``_ready`` since the last wakeup."""
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._manager.wakeup(self._wake_target)
            except Exception:  # the manager closed: nothing to deliver to
                pass

    def _ready_push(self, resp: _Response) -> None:
        """Hand ``resp`` to the loop (at most once until the loop took it)."""
        if resp.queued or self._workers == 0:
            return
        resp.queued = True
        self._ready.append(resp)
        self._wake_loop()

    def _serve(self, environ: dict[str, Any], resp: _Response) -> None:
        """Run the app for one request, filling ``resp``; never raises."""

        def write(data: bytes) -> None:
            if resp.status == 0:
                raise AssertionError("write() called before start_response()")
            self._emit(resp, data)

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None:
                try:
                    if resp.progress or resp.started:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif resp.status != 0:
                raise AssertionError("start_response() called twice without exc_info")
            if not isinstance(status, str) or not _STATUS_RE.match(status):
                raise ValueError(f"invalid WSGI status {status!r}")
            resp.headers = _latin1_headers(headers)
            resp.status = int(status[:3])
            return write

        try:
            result = self.app(environ, start_response)
            try:
                for piece in result:
                    if piece:
                        if resp.status == 0:
                            raise AssertionError("body produced before start_response()")
                        self._emit(resp, piece)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if resp.status == 0:
                raise AssertionError("application did not call start_response()")
        except _Gone:
            return
        except _Timeout:
            logger.warning("WSGI response abandoned: no progress for %s s (client not reading)", self._stream_timeout)
            with self._cond:
                resp.failed = True
            return
        except Exception:
            logger.exception("Exception in WSGI application")
            with self._cond:
                resp.failed = True
            return
        with self._cond:
            resp.finished = True

    def _emit(self, resp: _Response, data: Any) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"WSGI body data must be bytes, not {type(data).__name__}")
        if self._workers == 0:
            with self._cond:
                resp.pieces.append(bytes(data))
            return  # delivered whole when the app returns (the loop is this thread)
        deadline: float | None = None
        seen = -1
        with self._cond:
            while True:
                if resp.gone or self._closed:
                    raise _Gone()
                if len(resp.pieces) < _QUEUE_DEPTH:
                    break
                # The stream timeout measures a lack of progress, not the total time.
                if resp.progress != seen:
                    seen = resp.progress
                    deadline = time.monotonic() + float(self._stream_timeout)
                remaining = deadline - time.monotonic() if deadline is not None else 0.0
                if remaining <= 0:
                    raise _Timeout()
                resp.waiting = True
                self._cond.wait(remaining)
                resp.waiting = False
            resp.pieces.append(bytes(data))
        self._ready_push(resp)


def serve(
    app: WSGIApp,
    url: str = "http://127.0.0.1:8000",
    workers: int = 4,
    stream_timeout: float = 5.0,
    *,
    tls: TlsOpts | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` on ``url`` until SIGINT/SIGTERM (then drain), after printing a one-line banner.

    Other keywords go to ``WSGIServer``.
    """
    server = WSGIServer(app, workers=workers, stream_timeout=stream_timeout, **options)
    server.listen(url, tls=tls)
    scheme = "https" if tls is not None else "http"
    print(
        f"pymongoose WSGI server on {scheme}://{server._server_name}:{server._server_port}/ "
        f"({workers} workers, Ctrl+C to stop)",
        flush=True,
    )
    server.run()

# SPDX-License-Identifier: MIT
"""WSGI (PEP 3333) server on top of a pymongoose ``Manager``.

The event loop builds the environ inside the ``MG_EV_HTTP_MSG`` handler and hands
it, together with the connection *id* only, to a thread pool.  Workers never touch
the ``Connection``: results come back to the loop through ``Manager.wakeup`` with a
one-byte key, while the Python objects themselves travel through this module's own
per-connection structures:

* ``_stash[conn_id]`` holds a complete small response (status, header pairs, body)
  until the loop hands it to ``Connection.reply`` (wakeup key ``b"r"``);
* ``_streams[conn_id]`` holds a bounded queue of pieces of a large response
  (status line and headers, body batches, end marker; wakeup key ``b"s"``);
* the key ``b"x"`` asks the loop to close a connection whose response broke off.

Both dicts are empty whenever no response is in flight.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from types import TracebackType
from typing import IO, Any, Protocol
from urllib.parse import unquote_to_bytes

from ._mongoose import (
    MG_EV_CLOSE,
    MG_EV_HTTP_MSG,
    MG_EV_POLL,
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

_STREAM_THRESHOLD = 1 << 20  # bodies reaching this size are streamed
_BATCH = 256 * 1024  # bytes per streamed piece
_QUEUE_DEPTH = 16  # pieces queued per connection before the worker waits

_KEY_REPLY = b"r"
_KEY_STREAM = b"s"
_KEY_CLOSE = b"x"

_HEAD, _DATA, _END = 0, 1, 2

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_RE = re.compile(r"([1-9][0-9]{2})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?\Z")


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
    hm: _HttpMessageLike, conn: _ConnectionLike, server_name: str, server_port: int
) -> dict[str, Any]:
    """Build a PEP 3333 environ from a request view (or any object with the same members)."""
    uri = hm.uri
    if "?" in uri:
        path, query = uri.split("?", 1)
    else:
        path, query = uri, hm.query
    path_bytes = unquote_to_bytes(path.encode("utf-8", "surrogateescape"))
    body = hm.body_bytes
    remote = conn.remote_addr
    remote_ip = remote[0] if remote else ""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": hm.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path_bytes.decode("latin-1"),
        "QUERY_STRING": _native(query),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": hm.proto,
        "REMOTE_ADDR": remote_ip,
        "REMOTE_HOST": remote_ip,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if conn.is_tls else "http",
        "wsgi.input": BytesIO(bytes(body)),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    if conn.is_tls:
        _add_tls_environ(environ, conn)
    content_type = hm.header("Content-Type")
    if content_type is not None:
        environ["CONTENT_TYPE"] = _native(content_type)
    content_length = hm.header("Content-Length")
    if content_length is not None:
        environ["CONTENT_LENGTH"] = _native(content_length)
    for name, value in hm.headers():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        key = "HTTP_" + key
        value = _native(value.strip())
        if key in environ:
            environ[key] = environ[key] + ", " + value
        else:
            environ[key] = value
    return environ


class _Abort(Exception):
    """The connection went away (or the pool is closing): stop the worker quietly."""


class _Timeout(Exception):
    """The worker waited ``_stream_timeout`` seconds on a full queue."""


class _Stream:
    """Bounded queue of response pieces for one connection (worker → loop)."""

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked
        self.cond = threading.Condition()
        self.items: deque[tuple[int, bytes]] = deque()
        self.closed = False


class _Response:
    """Per-request worker state: status, headers and the body collected so far."""

    def __init__(self, conn_id: int, method: str, http10: bool) -> None:
        self.conn_id = conn_id
        self.method = method
        self.http10 = http10
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.stream: _Stream | None = None
        self.pending = bytearray()


def _check_headers(status: Any, headers: Any) -> tuple[str, list[tuple[str, str]]]:
    if not isinstance(status, str) or not _STATUS_RE.match(status):
        raise ValueError(f"invalid WSGI status {status!r}")
    pairs: list[tuple[str, str]] = []
    for item in headers:
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header name and value must be str: {item!r}")
        if not _TOKEN_RE.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE_RE.search(value):
            raise ValueError(f"invalid header value for {name!r}")
        pairs.append((name, value))
    return status, pairs


class WSGIServer:
    """Serve a WSGI application with a pymongoose ``Manager`` and a thread pool.

    ``app`` runs on a pool of ``workers`` threads, never on the loop thread.
    ``error_handler`` is passed to the ``Manager``. A worker streaming a large response
    gives up after waiting ``stream_timeout`` seconds for a slow client.
    """

    def __init__(
        self,
        app: WSGIApp,
        workers: int = 4,
        error_handler: Callable[[Exception], Any] | None = None,
        stream_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self._stream_timeout: float = stream_timeout
        self._stash: dict[int, tuple[int, list[tuple[str, str]], bytes]] = {}
        self._streams: dict[int, _Stream] = {}
        self._active: set[int] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._server_name = "127.0.0.1"
        self._server_port = 8000
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._manager = Manager(self._handler, enable_wakeup=True, error_handler=error_handler, poll_events=False)

    @property
    def manager(self) -> Manager:
        """The ``Manager`` that runs the server."""
        return self._manager

    # ------------------------------------------------------------------ control

    def listen(self, url: str = "http://127.0.0.1:8000", *, tls: TlsOpts | None = None) -> Connection:
        """Listen on ``url`` and return the listener; its address fills ``SERVER_NAME``/``SERVER_PORT``.

        ``tls`` [ext]: certificate and key for every accepted connection (``https://`` URLs);
        the environ then has ``wsgi.url_scheme`` ``https``, ``HTTPS=on`` and mod_ssl's
        ``SSL_*`` variables (``SSL_CLIENT_CERT`` and ``SSL_CLIENT_S_DN`` with client certificates).
        """
        conn = self._manager.listen(url)
        if tls is not None:
            conn.tls_init(tls)
        addr = conn.local_addr
        if addr is not None:
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
        """Poll until SIGINT or SIGTERM (as ``Manager.run``), then ``close()``."""
        try:
            self._manager.run(poll_ms)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker pool without waiting for it and close the manager."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._manager.close()

    # ------------------------------------------------------------- loop side

    def _handler(self, conn: Connection, ev: int, data: Any) -> None:
        if ev == MG_EV_HTTP_MSG:
            self._on_request(conn, data)
        elif ev == MG_EV_WAKEUP:
            if data == _KEY_CLOSE:
                conn.close()
            else:
                self._deliver(conn)
        elif ev == MG_EV_POLL or ev == MG_EV_WRITE:
            if self._stash or self._streams:
                self._deliver(conn)
        elif ev == MG_EV_CLOSE:
            self._release(conn.id)

    def _on_request(self, conn: Connection, hm: Any) -> None:
        environ = _build_environ(hm, conn, self._server_name, self._server_port)
        conn_id = conn.id
        with self._lock:
            if self._closed:
                return
            self._active.add(conn_id)
        http10 = environ["SERVER_PROTOCOL"].upper() == "HTTP/1.0"
        try:
            self._pool.submit(self._work, conn_id, environ, http10)
        except RuntimeError:  # pool shut down
            with self._lock:
                self._active.discard(conn_id)
            conn.reply(503, b"Service Unavailable")

    def _deliver(self, conn: Connection) -> None:
        conn_id = conn.id
        with self._lock:
            reply = self._stash.pop(conn_id, None)
            stream = self._streams.get(conn_id)
            if reply is not None:
                self._active.discard(conn_id)
        if reply is not None:
            status, headers, body = reply
            try:
                conn.reply(status, body, headers)
            except (ValueError, TypeError):
                traceback.print_exc(file=sys.stderr)
                conn.reply(500, b"Internal Server Error")
        elif stream is not None:
            self._pump(conn, stream)

    def _pump(self, conn: Connection, stream: _Stream) -> None:
        while not conn.is_full:
            with stream.cond:
                if not stream.items:
                    return
                kind, data = stream.items.popleft()
                stream.cond.notify_all()
            if kind == _HEAD:
                conn.send(data)
            elif kind == _DATA:
                if stream.chunked:
                    conn.http_chunk(data)
                else:
                    conn.send(data)
            else:
                with self._lock:
                    if self._streams.get(conn.id) is stream:
                        del self._streams[conn.id]
                    self._active.discard(conn.id)
                if stream.chunked:
                    conn.http_chunk(b"")
                else:
                    conn.drain()
                return

    def _release(self, conn_id: int) -> None:
        with self._lock:
            self._active.discard(conn_id)
            self._stash.pop(conn_id, None)
            stream = self._streams.pop(conn_id, None)
        if stream is not None:
            with stream.cond:
                stream.closed = True
                stream.cond.notify_all()

    # ----------------------------------------------------------- worker side

    def _wake(self, conn_id: int, key: bytes) -> None:
        try:
            self._manager.wakeup(conn_id, key)
        except Exception:  # manager freed after close(): drop silently
            pass

    def _work(self, conn_id: int, environ: dict[str, Any], http10: bool) -> None:
        try:
            self._serve_one(conn_id, environ, http10)
        except Exception:  # never let anything escape a worker
            pass

    def _serve_one(self, conn_id: int, environ: dict[str, Any], http10: bool) -> None:
        resp = _Response(conn_id, environ["REQUEST_METHOD"], http10)

        def write(data: bytes) -> None:
            if resp.status is None:
                raise AssertionError("write() called before start_response()")
            self._emit(resp, data)

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None:
                try:
                    if resp.stream is not None:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif resp.status is not None:
                raise AssertionError("start_response() called twice without exc_info")
            resp.status, resp.headers = _check_headers(status, headers)
            return write

        try:
            result = self.app(environ, start_response)
            try:
                for piece in result:
                    if piece:
                        if resp.status is None:
                            raise AssertionError("body produced before start_response()")
                        self._emit(resp, piece)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if resp.status is None:
                raise AssertionError("application did not call start_response()")
        except (_Abort, _Timeout):
            self._abort(resp)
            return
        except Exception:
            try:
                traceback.print_exc(file=environ["wsgi.errors"])
            except Exception:
                pass
            if resp.stream is not None:
                self._abort(resp)
            else:
                self._hand_reply(conn_id, 500, [], b"Internal Server Error")
            return
        if resp.stream is None:
            status_code = int(resp.status[:3])
            headers = [
                (n, v)
                for n, v in resp.headers
                if n.lower() not in ("content-length", "transfer-encoding")
            ]
            self._hand_reply(conn_id, status_code, headers, b"".join(resp.body))
            return
        try:
            if resp.pending:
                self._push(resp, _DATA, bytes(resp.pending))
                resp.pending.clear()
            self._push(resp, _END, b"")
        except (_Abort, _Timeout):
            self._abort(resp)

    def _hand_reply(
        self, conn_id: int, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        with self._lock:
            if self._closed or conn_id not in self._active:
                return
            self._stash[conn_id] = (status, headers, body)
        self._wake(conn_id, _KEY_REPLY)

    def _abort(self, resp: _Response) -> None:
        """Drop a broken-off stream and have the loop close the connection."""
        stream = resp.stream
        with self._lock:
            alive = resp.conn_id in self._active and not self._closed
            if stream is not None and self._streams.get(resp.conn_id) is stream:
                del self._streams[resp.conn_id]
            self._active.discard(resp.conn_id)
        if alive:
            self._wake(resp.conn_id, _KEY_CLOSE)

    def _emit(self, resp: _Response, data: Any) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"WSGI body data must be bytes, not {type(data).__name__}")
        if resp.stream is None:
            resp.body.append(bytes(data))
            resp.size += len(data)
            if resp.size < _STREAM_THRESHOLD or resp.method.upper() == "HEAD":
                return
            self._start_stream(resp)
            data = b"".join(resp.body)
            resp.body = []
        resp.pending += data
        while len(resp.pending) >= _BATCH:
            piece = bytes(resp.pending[:_BATCH])
            del resp.pending[:_BATCH]
            self._push(resp, _DATA, piece)

    def _start_stream(self, resp: _Response) -> None:
        assert resp.status is not None
        chunked = not resp.http10
        stream = _Stream(chunked)
        with self._lock:
            if self._closed or resp.conn_id not in self._active:
                raise _Abort()
            self._streams[resp.conn_id] = stream
        resp.stream = stream
        lines = [f"HTTP/1.1 {resp.status}\r\n"]
        has_type = False
        for name, value in resp.headers:
            lname = name.lower()
            if lname == "transfer-encoding" or (chunked and lname == "content-length"):
                continue
            if lname == "content-type":
                has_type = True
            lines.append(f"{name}: {value}\r\n")
        if not has_type:
            lines.insert(1, "Content-Type: text/plain\r\n")
        lines.append("Transfer-Encoding: chunked\r\n" if chunked else "Connection: close\r\n")
        lines.append("\r\n")
        self._push(resp, _HEAD, "".join(lines).encode("utf-8", "surrogateescape"))

    def _push(self, resp: _Response, kind: int, data: bytes) -> None:
        stream = resp.stream
        assert stream is not None
        deadline: float | None = None
        with stream.cond:
            while True:
                if stream.closed or self._closed:
                    raise _Abort()
                if len(stream.items) < _QUEUE_DEPTH:
                    break
                now = time.monotonic()
                if deadline is None:
                    deadline = now + float(self._stream_timeout)
                remaining = deadline - now
                if remaining <= 0:
                    raise _Timeout()
                stream.cond.wait(remaining)
            stream.items.append((kind, data))
        self._wake(resp.conn_id, _KEY_STREAM)


def serve(
    app: WSGIApp,
    url: str = "http://127.0.0.1:8000",
    workers: int = 4,
    stream_timeout: float = 5.0,
    *,
    tls: TlsOpts | None = None,
) -> None:
    """Serve ``app`` on ``url`` until SIGINT/SIGTERM, after printing a one-line banner."""
    server = WSGIServer(app, workers=workers, stream_timeout=stream_timeout)
    server.listen(url, tls=tls)
    scheme = "https" if tls is not None else "http"
    print(
        f"pymongoose WSGI server on {scheme}://{server._server_name}:{server._server_port}/ "
        f"({workers} workers, Ctrl+C to stop)",
        flush=True,
    )
    server.run()

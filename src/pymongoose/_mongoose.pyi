"""The native core of pymongoose: the event loop, connections, messages and utilities.

The `pymongoose` package re-exports everything listed in `__all__`; import from there.
"""

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, TypedDict, TypeVar, final

from typing_extensions import Buffer

_Handler = Callable[["Connection", int, Any], Any]
_BytesLike = str | Buffer
_HeaderArg = Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None
_Address = tuple[str, int, bool]
_T = TypeVar("_T")

class _WsCompressionOptions(TypedDict, total=False):
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    client_max_window_bits: int
    level: int
    mem_level: int

_WsCompression = bool | _WsCompressionOptions | None

class _MultipartPart(TypedDict):
    name: str
    filename: str
    body: bytes

__all__ = [
    'Connection',
    'HttpMessage',
    'MG_EV_ACCEPT',
    'MG_EV_CLOSE',
    'MG_EV_CONNECT',
    'MG_EV_ERROR',
    'MG_EV_HTTP_HDRS',
    'MG_EV_HTTP_MSG',
    'MG_EV_MQTT_CMD',
    'MG_EV_MQTT_MSG',
    'MG_EV_MQTT_OPEN',
    'MG_EV_OPEN',
    'MG_EV_POLL',
    'MG_EV_READ',
    'MG_EV_RESOLVE',
    'MG_EV_SNTP_TIME',
    'MG_EV_TLS_HS',
    'MG_EV_USER',
    'MG_EV_WAKEUP',
    'MG_EV_WRITE',
    'MG_EV_WS_CTL',
    'MG_EV_WS_MSG',
    'MG_EV_WS_OPEN',
    'MG_LL_DEBUG',
    'MG_LL_ERROR',
    'MG_LL_INFO',
    'MG_LL_NONE',
    'MG_LL_VERBOSE',
    'MQTT_PROP_TYPE_BINARY_DATA',
    'MQTT_PROP_TYPE_BYTE',
    'MQTT_PROP_TYPE_INT',
    'MQTT_PROP_TYPE_SHORT',
    'MQTT_PROP_TYPE_STRING',
    'MQTT_PROP_TYPE_STRING_PAIR',
    'MQTT_PROP_TYPE_VARIABLE_INT',
    'Manager',
    'MqttMessage',
    'Rpc',
    'RpcReq',
    'Timer',
    'TlsOpts',
    'WsMessage',
    'WEBSOCKET_OP_BINARY',
    'WEBSOCKET_OP_PING',
    'WEBSOCKET_OP_PONG',
    'WEBSOCKET_OP_TEXT',
    'base64_decode',
    'base64_encode',
    'crc32',
    'event_name',
    'hmac_sha256',
    'http_parse_multipart',
    'http_var',
    'json_get',
    'json_get_bool',
    'json_get_long',
    'json_get_num',
    'json_get_str',
    'log_get',
    'log_set',
    'match',
    'md5',
    'millis',
    'random_bytes',
    'random_str',
    'sha1',
    'sha256',
    'url_encode',
    'url_host',
    'url_is_ssl',
    'url_pass',
    'url_port',
    'url_uri',
    'url_user',
]

MG_EV_ERROR: Final[int]
"""Something failed; `data` is the error text (`str`). `MG_EV_CLOSE` follows."""
MG_EV_OPEN: Final[int]
"""First event of every connection; `data` is `None`."""
MG_EV_POLL: Final[int]
"""Once per `poll()` to every connection (unless `poll_events=False`); `data` is `None`."""
MG_EV_RESOLVE: Final[int]
"""The host name of an outbound connection was resolved; `data` is `None`."""
MG_EV_CONNECT: Final[int]
"""An outbound connection is established; `data` is `None`."""
MG_EV_ACCEPT: Final[int]
"""A listener accepted this connection; `data` is `None`."""
MG_EV_TLS_HS: Final[int]
"""The TLS handshake completed; `data` is `None`. Protocol events follow."""
MG_EV_READ: Final[int]
"""Bytes were received (after any protocol events for them); `data` is `None`."""
MG_EV_WRITE: Final[int]
"""Bytes were written to the socket; `data` is `None`."""
MG_EV_CLOSE: Final[int]
"""Last event of every connection; `data` is `None`."""
MG_EV_HTTP_HDRS: Final[int]
"""An HTTP head is complete; `data` is an `HttpMessage` (body possibly partial)."""
MG_EV_HTTP_MSG: Final[int]
"""A complete HTTP request or response; `data` is an `HttpMessage`."""
MG_EV_WS_OPEN: Final[int]
"""WebSocket handshake done; `data` is the upgrade request (server) or the 101 response (client), an `HttpMessage`."""
MG_EV_WS_MSG: Final[int]
"""A complete WebSocket message; `data` is a `WsMessage`."""
MG_EV_WS_CTL: Final[int]
"""A WebSocket control frame (ping, pong, close) or continuation; `data` is `None`."""
MG_EV_MQTT_CMD: Final[int]
"""Every MQTT packet received; `data` is an `MqttMessage`."""
MG_EV_MQTT_MSG: Final[int]
"""An MQTT PUBLISH received (before its `MG_EV_MQTT_CMD`); `data` is an `MqttMessage`."""
MG_EV_MQTT_OPEN: Final[int]
"""The MQTT CONNACK; `data` is its return code (`int`, 0 = accepted)."""
MG_EV_SNTP_TIME: Final[int]
"""An SNTP reply; `data` is the server's time in Unix milliseconds (`int`)."""
MG_EV_WAKEUP: Final[int]
"""A payload sent with `Manager.wakeup()`; `data` is `bytes`."""
MG_EV_USER: Final[int]
"""First code free for the program's own events (`MG_EV_USER + n`)."""

WEBSOCKET_OP_TEXT: Final[int]
"""WebSocket text frame opcode (1)."""
WEBSOCKET_OP_BINARY: Final[int]
"""WebSocket binary frame opcode (2)."""
WEBSOCKET_OP_PING: Final[int]
"""WebSocket ping opcode (9)."""
WEBSOCKET_OP_PONG: Final[int]
"""WebSocket pong opcode (10)."""

MG_LL_NONE: Final[int]
"""Log level: nothing (the start-up level)."""
MG_LL_ERROR: Final[int]
"""Log level: errors."""
MG_LL_INFO: Final[int]
"""Log level: errors and information."""
MG_LL_DEBUG: Final[int]
"""Log level: debugging detail."""
MG_LL_VERBOSE: Final[int]
"""Log level: everything."""

MQTT_PROP_TYPE_BYTE: Final[int]
MQTT_PROP_TYPE_STRING: Final[int]
MQTT_PROP_TYPE_STRING_PAIR: Final[int]
MQTT_PROP_TYPE_BINARY_DATA: Final[int]
MQTT_PROP_TYPE_VARIABLE_INT: Final[int]
MQTT_PROP_TYPE_INT: Final[int]
MQTT_PROP_TYPE_SHORT: Final[int]

def event_name(ev: int) -> str:
    """Name of an event code, for logging.

    Known codes give their constant's name (`"MG_EV_HTTP_MSG"`); `MG_EV_USER + n` gives
    `"MG_EV_USER+n"`; any other value gives `"MG_EV_UNKNOWN(<n>)"`.
    """

def millis() -> int:
    """Milliseconds of a monotonic clock (the clock timers use); never decreases."""

def log_set(level: int) -> None:
    """Set the process-wide engine log level, one of the `MG_LL_*` constants.

    The level starts at `MG_LL_NONE` (silent). Lines go straight to file descriptor 2, not
    through `sys.stderr`. A value outside 0-4 raises `ValueError`.
    """

def log_get() -> int:
    """The process-wide engine log level (an `MG_LL_*` value)."""

def base64_encode(data: _BytesLike) -> str:
    """Standard base64 (with `=` padding) of `data`; `""` for empty input."""

def base64_decode(data: str) -> bytes:
    """Decode standard padded base64 text.

    Only `str` is accepted (`TypeError` otherwise). Any character outside the alphabet gives
    `b""`; a trailing incomplete group of characters is ignored.
    """

def crc32(data: _BytesLike, initial: int = 0) -> int:
    """CRC-32 of `data`, the same value as `zlib.crc32`.

    Pass the previous result as `initial` to continue a checksum over several pieces.
    """

def md5(data: _BytesLike) -> bytes:
    """MD5 digest of `data` (16 raw bytes)."""

def sha1(data: _BytesLike) -> bytes:
    """SHA-1 digest of `data` (20 raw bytes)."""

def sha256(data: _BytesLike) -> bytes:
    """SHA-256 digest of `data` (32 raw bytes)."""

def hmac_sha256(key: _BytesLike, data: _BytesLike) -> bytes:
    """HMAC-SHA-256 of `data` under `key` (32 raw bytes)."""

def random_bytes(length: int) -> bytes:
    """`length` bytes from the operating system's CSPRNG.

    A negative length raises `OverflowError`; a failing generator raises `OSError`.
    """

def random_str(length: int) -> str:
    """A random string of `length` characters from `[A-Za-z0-9]` (CSPRNG, no modulo bias)."""

def json_get(data: _BytesLike, path: str) -> str | None:
    """Raw text of the JSON value at `path` (`$`, `$.a.b`, `$.list[0].name`).

    The text is returned as it appears in the document: strings keep their quotes, numbers
    and objects are verbatim. `None` when the path is absent or the document is not valid
    JSON up to that value.
    """

def json_get_num(data: _BytesLike, path: str, default: _T | None = None) -> float | _T | None:
    """The JSON number at `path` as a `float`, or `default` when it is missing or not a number.

    A quoted number is a string, not a number.
    """

def json_get_bool(data: _BytesLike, path: str, default: _T | None = None) -> bool | _T | None:
    """The JSON boolean at `path`, or `default` when it is missing or not a boolean."""

def json_get_long(data: _BytesLike, path: str, default: int = 0) -> int:
    """The JSON number at `path` as an `int`.

    Integers are exact within 64 bits (larger ones saturate); other numbers are truncated
    toward zero. `default` when the value is missing or not a number.
    """

def json_get_str(data: _BytesLike, path: str) -> str | None:
    """The JSON string at `path` with every escape decoded (surrogate pairs included).

    `None` when the value is missing, not a string, or badly escaped.
    """

def match(s: str, pattern: str) -> tuple[bool, list[str]]:
    """Match all of `s` against a glob `pattern` and return `(matched, captures)`.

    `?` matches one character, `*` a run without `/`, `#` any run; everything else is
    literal and case-sensitive. Each wildcard yields one capture, in order; the list is
    empty when there is no match.
    """

def http_var(buf: _BytesLike, name: str) -> str | None:
    """Value of `name` in an `&`-separated `name=value` buffer (a form body, a query).

    The name is compared case-insensitively and the value is not URL-decoded. `""` for an
    empty value, `None` when the name is absent.
    """

def http_parse_multipart(body: _BytesLike, offset: int = 0) -> tuple[int, _MultipartPart | None]:
    """Parse the `multipart/form-data` part of `body` that starts at `offset`.

    Returns `(next_offset, {"name": ..., "filename": ..., "body": ...})`; pass `next_offset`
    back to read the next part. `(0, None)` when there is no further part.
    """

def url_encode(data: str) -> str:
    """Percent-encode every byte of the UTF-8 text except `A-Z a-z 0-9 . _ - ~` (lowercase hex)."""

def url_host(url: str) -> str:
    """Host part of `url`, without user information and port (IPv6 keeps its brackets)."""

def url_port(url: str) -> int:
    """Port of `url`: the explicit one, else the scheme's default (80, 443, 1883, 8883), else 0."""

def url_user(url: str) -> str:
    """User name of `url`'s user information; `""` when absent."""

def url_pass(url: str) -> str:
    """Password of `url`'s user information; `""` when absent."""

def url_uri(url: str) -> str:
    """Path and query of `url` (from the first `/` after the host); `"/"` when there is none."""

def url_is_ssl(url: str) -> bool:
    """Whether `url` starts with one of the TLS schemes `https:`, `wss:`, `mqtts:`, `ssl:`, `tls:`, `tcps:`."""

@final
class HttpMessage:
    """An HTTP request (server side) or response (client side) handed to a handler.

    Delivered with `MG_EV_HTTP_HDRS`, `MG_EV_HTTP_MSG` and `MG_EV_WS_OPEN`. It is a view
    into the engine's buffers and is valid only during the handler call that received it;
    afterwards every accessor returns an empty value and `bool(msg)` is `False`. Use
    `copy()` to keep a message for later.

    For a response, `method` holds the protocol, `uri` the status code and `proto` the
    reason phrase.
    """

    def __init__(self) -> None: ...
    @property
    def method(self) -> str:
        """The request method as sent (for a response: the protocol, e.g. `HTTP/1.1`)."""
    @property
    def uri(self) -> str:
        """The request target up to `?`, not decoded (for a response: the status code)."""
    @property
    def query(self) -> str:
        """The raw query string after `?`, not decoded; `""` when there is none."""
    @property
    def proto(self) -> str:
        """`HTTP/1.1` or `HTTP/1.0` (for a response: the reason phrase)."""
    @property
    def body_bytes(self) -> bytes:
        """The body, de-chunked; in `MG_EV_HTTP_HDRS` only the part received so far."""
    @property
    def body_text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes kept with `surrogateescape`)."""
    def header(self, name: str, default: Any = None) -> Any:
        """Value of the first header called `name` (any case), trimmed; `default` when absent."""
    def headers(self) -> list[tuple[str, str]]:
        """Every header as `(name, value)`, in wire order, duplicates kept."""
    def query_var(self, name: str) -> str | None:
        """URL-decoded value of query parameter `name` (any case); `None` when missing or empty.

        A malformed `%` escape, or a decoded value of 2048 bytes or more, raises `ValueError`.
        """
    def status(self) -> int | None:
        """The status code of a response (the leading digits of `uri`); 0 when there are none."""
    def header_var(self, header_name: str, var_name: str) -> str | None:
        """Value of `var_name=...` inside header `header_name` (e.g. `charset` in `Content-Type`).

        Surrounding double quotes are removed. `None` when the header or the variable is
        missing or empty.
        """
    def copy(self) -> HttpMessage:
        """A detached message owning a copy of the head and body, valid for as long as it is kept.

        `serve_dir`, `serve_file` and `ws_upgrade` accept it later, e.g. from an
        `MG_EV_WAKEUP` handler.
        """
    def __bool__(self) -> bool:
        """`True` while the view is valid."""

@final
class WsMessage:
    """One complete (reassembled) WebSocket message, delivered with `MG_EV_WS_MSG`.

    Like `HttpMessage` it is valid only during the handler call that received it.
    """

    def __init__(self) -> None: ...
    @property
    def data(self) -> bytes:
        """The message payload."""
    @property
    def text(self) -> str:
        """The payload decoded as UTF-8 (undecodable bytes kept with `surrogateescape`)."""
    @property
    def flags(self) -> int:
        """First header byte of the final frame: `0x80 | opcode` (129 text, 130 binary).

        Test the type with `flags & 0x0F`, or use `opcode`.
        """
    @property
    def opcode(self) -> int:
        """`WEBSOCKET_OP_TEXT` or `WEBSOCKET_OP_BINARY`."""
    def __bool__(self) -> bool:
        """`True` while the view is valid."""

@final
class MqttMessage:
    """One MQTT packet, delivered with `MG_EV_MQTT_CMD` (every packet) and `MG_EV_MQTT_MSG` (PUBLISH).

    Like `HttpMessage` it is valid only during the handler call that received it; afterwards
    every member reads as empty and the view is false.
    """

    def __init__(self) -> None: ...
    @property
    def topic(self) -> str:
        """PUBLISH topic; `""` for other packets (SUBSCRIBE topics are not parsed)."""
    @property
    def data(self) -> bytes:
        """PUBLISH payload. [ext] Other packets: their bytes after the packet id and MQTT 5
        properties (SUBSCRIBE: the topic filters, each with its options byte; CONNECT: from
        the protocol level on), so a broker can read them."""
    @property
    def text(self) -> str:
        """The payload decoded as UTF-8 (undecodable bytes kept with `surrogateescape`)."""
    @property
    def id(self) -> int:
        """Packet id of PUBLISH (QoS > 0), the acks and (UN)SUBSCRIBE/(UN)SUBACK; else 0."""
    @property
    def cmd(self) -> int:
        """Control packet type: 1 CONNECT, 2 CONNACK, 3 PUBLISH, ... 14 DISCONNECT, 15 AUTH."""
    @property
    def qos(self) -> int:
        """QoS bits of the fixed header (PUBLISH)."""
    @property
    def ack(self) -> int:
        """CONNACK return code (MQTT 5: reason code; also the reason code of MQTT 5 acks)."""
    def properties(self) -> list[dict[str, Any]]:
        """MQTT 5 properties of a PUBLISH on a version-5 connection.

        Each is `{"id": int, "iv": int, "key": str, "val": str}`: `iv` for integer types,
        `key`/`val` for strings, binary data and string pairs. `[]` on MQTT 3.1.1.
        """
    def __bool__(self) -> bool:
        """`True` while the view is valid."""

@final
class Connection:
    """One socket of a `Manager`: a listener, an accepted connection or an outbound one.

    Only the engine creates connections; a handler receives the same object for every event
    of one connection. Methods append output to the send buffer, which `poll()` flushes.
    Once the connection has closed (after its `MG_EV_CLOSE` handler returned) methods raise
    `RuntimeError("Connection has been closed")` and properties read as closed.
    """

    def __init__(self) -> None: ...
    @property
    def id(self) -> int:
        """Connection id, unique within the manager and never reused; kept after close."""
    @property
    def handler(self) -> _Handler | None:
        """The connection's own handler, or `None` when it uses the manager's default."""
    @property
    def userdata(self) -> Any:
        """A free slot for the program's own per-connection state (default `None`)."""
    @userdata.setter
    def userdata(self, value: Any) -> None: ...
    @property
    def is_listening(self) -> bool:
        """Whether this is a listener."""
    @property
    def is_client(self) -> bool:
        """Whether this is an outbound connection (made by `connect` or `ws_connect`)."""
    @property
    def is_udp(self) -> bool:
        """Whether this is a datagram socket."""
    @property
    def is_tls(self) -> bool:
        """Whether TLS is in use on this connection."""
    @property
    def is_websocket(self) -> bool:
        """Whether the connection has been upgraded to WebSocket."""
    @property
    def is_closing(self) -> bool:
        """Whether the connection closes at the end of the current iteration (`True` after close)."""
    @property
    def is_draining(self) -> bool:
        """Whether the connection closes once its queued output has been sent."""
    @property
    def is_full(self) -> bool:
        """Whether reading is paused because the send buffer passed `send_high_water`.

        Reading resumes once the buffer falls below `send_low_water`.
        """
    @property
    def ws_close_code(self) -> int | None:
        """[ext] The status code of the close frame the peer sent (RFC 6455 §7.1.5).

        `1005` when its close frame had no code; `None` until a close frame arrived. Still
        readable in `MG_EV_CLOSE` and after.
        """
    @property
    def paused(self) -> bool:
        """[ext] Whether the program has stopped reading from this connection.

        While `True` no input is read: it stays in the kernel and the peer's TCP window
        closes, so a program that queues messages can bound its queue. Setting it back
        to `False` also delivers input that was already received.
        """
    @paused.setter
    def paused(self, value: bool) -> None: ...
    @property
    def is_readable(self) -> bool:
        """Whether the last wait reported the socket readable (informational)."""
    @property
    def is_writable(self) -> bool:
        """Whether the last wait reported the socket writable (informational)."""
    @property
    def local_addr(self) -> _Address | None:
        """Local address as `(ip, port, is_ipv6)`; `None` after close."""
    @property
    def remote_addr(self) -> _Address | None:
        """Peer address as `(ip, port, is_ipv6)`; `None` after close."""
    @property
    def recv_len(self) -> int:
        """Bytes waiting in the receive buffer."""
    @property
    def send_len(self) -> int:
        """Bytes queued in the send buffer."""
    @property
    def recv_size(self) -> int:
        """Allocated size of the receive buffer."""
    @property
    def send_size(self) -> int:
        """Allocated size of the send buffer."""
    def set_handler(self, handler: _Handler | None) -> None:
        """Give the connection its own handler, from its next event on.

        On a listener, connections accepted later inherit it. `None` goes back to the
        manager's default handler.
        """
    def send(self, data: _BytesLike) -> None:
        """Queue raw bytes (`str` is sent as UTF-8). On UDP, send one datagram at once."""
    def http_basic_auth(self, username: str, password: str) -> None:
        """Queue one `Authorization: Basic ...` header line for an HTTP request being written."""
    def reply(self, status_code: int, body: _BytesLike = b"", headers: _HeaderArg = None) -> None:
        """Queue a complete HTTP/1.1 response and mark the request answered.

        `headers` is a mapping or an iterable of `(name, value)` pairs (duplicates allowed).
        `Content-Length` is computed; `Content-Type: text/plain` is added when no content
        type is given. Invalid header names or values raise `ValueError`; a status code
        outside 100-999 raises `ValueError`.
        """
    def http_respond(
        self, status_code: int, headers: _HeaderArg = None, body: _BytesLike = b"", *, more: bool = False
    ) -> None:
        """[ext] Queue a response whose headers go out exactly as given (for ASGI/WSGI servers).

        Unlike `reply()` no `Content-Type` is added; the framing is chosen here (RFC 9112
        §6): with `more=False` the response is complete and gets its real `Content-Length`;
        with `more=True` it is streamed, continued by `http_respond_body()`, keeping the
        program's `Content-Length` if it gave one, else chunked (or delimited by the close
        for an HTTP/1.0 request). Bodies of `HEAD` requests are not sent. Header names and
        values may be `str` or bytes; invalid ones raise `ValueError`; `RuntimeError` when
        a streamed response is already in progress.
        """
    def accept_pending(self) -> int:
        """[ext] On a TCP listener, accept the connections waiting in the kernel's queue now.

        Each gets `MG_EV_OPEN` and `MG_EV_ACCEPT` as usual; returns how many. Call it right
        before closing a listener in a graceful stop: the kernel resets the connections
        still queued on a socket when it closes (with `reuse_port` nobody else takes
        them). `RuntimeError` on a connection that is not a listener; 0 once closed.
        """
    def http_stream_body(self, callback: Callable[[Connection, bytes, bool], Any]) -> bool:
        """[ext] Stream the body of the request being delivered instead of buffering it.

        Call it in the `MG_EV_HTTP_HDRS` handler of a server connection. When the body is
        still incomplete, `callback(conn, data, last)` then receives each piece as it arrives
        (de-chunked; the first right after the handler returns, with the bytes that came
        with the head), the last one with `last=True`, and `MG_EV_HTTP_MSG` follows with
        an empty `body_bytes`. Only one read is buffered at a time; set `paused` to hold the
        input back (the body timeout waits meanwhile). `max_body` still bounds the whole
        body. Returns `False`, changing nothing, when the body is already complete (it
        comes whole with `MG_EV_HTTP_MSG`) or outside an `MG_EV_HTTP_HDRS` handler;
        `RuntimeError` on a connection that is not an HTTP server connection. A response
        may be given before the body ends: the rest of the body is still read.
        """
    def http_respond_body(self, data: _BytesLike, *, more: bool = True) -> None:
        """[ext] Queue the next piece of a response started with `http_respond(more=True)`.

        `more=False` ends it (the request is then answered).
        """
    def reply_json(self, data: Any, status_code: int = 200, headers: _HeaderArg = None) -> None:
        """Reply with `json.dumps(data)` and `Content-Type: application/json`."""
    def serve_dir(
        self,
        message: HttpMessage,
        root_dir: str,
        extra_headers: str = "",
        mime_types: str = "",
        page404: str = "",
    ) -> None:
        """Answer `message` with the file it names below `root_dir`.

        Handles index files, `HEAD`, single byte ranges, `ETag`/`Last-Modified`
        revalidation and gzip variants; paths that leave the root are refused.
        `extra_headers` are `Name: value` lines added to the response, `mime_types` extra
        `ext=type` pairs separated by commas, `page404` a file sent when nothing matches.
        """
    def serve_file(
        self, message: HttpMessage, path: str, extra_headers: str = "", mime_types: str = ""
    ) -> None:
        """Answer `message` with the file at `path`, whatever its URI (same rules as `serve_dir`)."""
    def ws_upgrade(
        self, message: HttpMessage, extra_headers: _HeaderArg = None, *, compression: _WsCompression = None
    ) -> None:
        """Accept the WebSocket upgrade request `message`.

        Queues the `101` response and delivers `MG_EV_WS_OPEN` before returning. A request
        without `Sec-WebSocket-Key` gets a `426` instead.

        `compression` [ext]: `True` or a dict of options accepts the client's
        permessage-deflate offer (RFC 7692); off when `None` or `False`. Options:
        `server_no_context_takeover` and `client_no_context_takeover` (bool: compress each
        message on its own / ask the client to), `server_max_window_bits` and
        `client_max_window_bits` (9-15; the client's is limited only when it offered the
        parameter), `level` (-1-9) and `mem_level` (1-9), zlib's settings for what we send.
        Unknown option → `ValueError("unknown compression option '<key>'")`, bad value →
        `ValueError("invalid value for compression option '<key>'")`. Without an offer, or
        when `extra_headers` has `Sec-WebSocket-Extensions`, nothing is compressed.
        """
    def ws_send(self, data: _BytesLike, op: int = 1) -> None:
        """Queue one WebSocket frame with opcode `op` (default `WEBSOCKET_OP_TEXT`)."""
    def http_chunk(self, data: _BytesLike) -> None:
        """Queue one chunk of a chunked response; an empty chunk ends the response.

        The status line and headers (with `Transfer-Encoding: chunked`) are the program's to
        send first, e.g. with `send()`.
        """
    def http_sse(self, event_type: str, data: str) -> None:
        """Queue one Server-Sent Event (`event:` and one `data:` line per line) as a chunk."""
    def error(self, message: str) -> None:
        """Deliver `MG_EV_ERROR(message)` now and close the connection at the end of the iteration."""
    def close(self) -> None:
        """Close at once: the socket is closed, unsent output dropped, `MG_EV_CLOSE` delivered.

        Safe from any handler, including this connection's own; a no-op when already closed.
        """
    def drain(self) -> None:
        """Close once the queued output has been sent."""
    def recv_data(self, length: int = -1) -> bytes:
        """Copy of the first `length` bytes of the receive buffer (all when negative)."""
    def send_data(self, length: int = -1) -> bytes:
        """Copy of the first `length` bytes of the send buffer (all when negative)."""
    def recv_consume(self, length: int = -1) -> bytes:
        """Remove and return the first `length` bytes of the receive buffer (all when negative).

        Only for raw TCP/UDP connections; HTTP and WebSocket connections raise `RuntimeError`.
        """
    def mqtt_pub(
        self,
        topic: str,
        message: _BytesLike,
        qos: int = 0,
        retain: bool = False,
        *,
        props: Iterable[Mapping[str, Any]] | None = None,
    ) -> int:
        """Queue an MQTT PUBLISH; returns its packet id (0 for QoS 0).

        Ids come from one counter per manager (1-65535, shared with `mqtt_sub`/`mqtt_unsub`).
        `props` [ext]: MQTT 5 properties in the shape `MqttMessage.properties()` returns
        (sent on MQTT 5 connections only). Works on any connection (it queues bytes).
        """
    def mqtt_sub(self, topic: str, qos: int = 0) -> None:
        """Queue an MQTT SUBSCRIBE for one topic filter with the requested QoS."""
    def mqtt_unsub(self, topic: str) -> None:
        """Queue an MQTT UNSUBSCRIBE for one topic filter."""
    def mqtt_ping(self) -> None:
        """Queue an MQTT PINGREQ (no automatic keepalive: schedule it, e.g. with a timer)."""
    def mqtt_pong(self) -> None:
        """Queue an MQTT PINGRESP."""
    def mqtt_disconnect(self) -> None:
        """Queue an MQTT DISCONNECT; the connection stays open (close or drain it yourself)."""
    def sntp_request(self) -> None:
        """Send a 48-byte SNTP request (RFC 4330); on a connection still resolving its host,
        once resolution completes. On an `sntp_connect` connection the reply gives
        `MG_EV_SNTP_TIME`; on another UDP connection it arrives as `MG_EV_READ`."""
    def tls_init(self, opts: TlsOpts) -> None:
        """Start TLS on this connection with `opts` (OpenSSL 3; TLS 1.2 and 1.3).

        A client calls it in `MG_EV_CONNECT` (a TLS-scheme client that does not starts with
        default options: system trust store, host name checked); server code calls it on the
        accepted connection in `MG_EV_ACCEPT`. On a listener, options with `cert` and `key`
        become the defaults of every accepted connection ([ext]); with `name` set they are the
        certificate for clients asking for that name by SNI. Bad PEM never raises: the
        handshake fails with `MG_EV_ERROR("TLS handshake failed: <reason>")`, then
        `MG_EV_CLOSE`. `MG_EV_TLS_HS` marks a completed handshake.
        """
    def tls_free(self) -> None:
        """Release this connection's TLS options (on a listener: its child defaults).

        Before the handshake began the connection goes back to plaintext; a running session
        sends close_notify and the connection closes once its output is sent.
        """
    def tls_info(self) -> dict[str, Any] | None:
        """[ext] The established TLS session, or `None` (no TLS, or handshake not complete).

        Keys: `version` ("TLSv1.3"), `version_code` (0x0304), `cipher` (IANA name),
        `cipher_code`, `alpn` ("http/1.1" or ""), `server_name` (SNI), `server_cert` (our
        certificate as PEM, or `None`) and `peer_cert`: `None`, or a dict with `subject`
        (RFC 4514), `san` (e.g. `["DNS:localhost", "IP:127.0.0.1"]`), `pem`, `chain` (PEM
        list, peer first) and `verified`.
        """

class TlsOpts:
    """TLS options for `Connection.tls_init` (spec §3.6).

    `ca`, `cert`, `key` and `name` accept `str`, `bytes` or `None` and are stored as
    `bytes` (`None` becomes `b""`). `cert` is a PEM certificate, chain allowed (leaf
    first); `key` an unencrypted PEM private key (EC SEC1, RSA or PKCS#8). For clients,
    `ca` holds the trust anchors (empty: the system trust store) and `name` the SNI and
    expected host name (empty: the URL host); for servers, a non-empty `ca` requires
    clients to present a certificate chaining to it. `skip_verification` turns off the
    client's chain and host-name checks (development only). The key never appears in
    `repr()`, logs or error texts.
    """

    def __init__(
        self,
        ca: str | bytes | None = None,
        cert: str | bytes | None = None,
        key: str | bytes | None = None,
        name: str | bytes | None = None,
        skip_verification: bool = False,
    ) -> None: ...
    @property
    def ca(self) -> bytes:
        """PEM CA bundle: client trust anchors, or the CAs a server requires client certificates from."""
    @ca.setter
    def ca(self, value: str | bytes | None) -> None: ...
    @property
    def cert(self) -> bytes:
        """PEM certificate, chain allowed (leaf first)."""
    @cert.setter
    def cert(self, value: str | bytes | None) -> None: ...
    @property
    def key(self) -> bytes:
        """PEM private key (EC SEC1, RSA or PKCS#8, unencrypted)."""
    @key.setter
    def key(self, value: str | bytes | None) -> None: ...
    @property
    def name(self) -> bytes:
        """Client: SNI and expected host name (empty: the URL host). Listener: the SNI name of this certificate."""
    @name.setter
    def name(self, value: str | bytes | None) -> None: ...
    @property
    def skip_verification(self) -> bool:
        """Client: skip chain and host-name verification (development only)."""
    @skip_verification.setter
    def skip_verification(self, value: bool) -> None: ...

@final
class Timer:
    """A timer returned by `Manager.timer_add`; the manager keeps it alive."""

    def __init__(self) -> None: ...
    def cancel(self) -> None:
        """Stop the timer (thread-safe, idempotent); its callback does not run again."""
    @property
    def active(self) -> bool:
        """`True` until the timer is cancelled, a one-shot timer has fired, or the manager closed."""

class Rpc:
    """A JSON-RPC 2.0 style dispatcher: method-name patterns mapped to handlers.

    `add()` registers `handler(req)` for a pattern; `process()` takes one request frame
    (from an HTTP body, a WebSocket message, ...) and returns the response text to send
    back. The registry keeps its handlers alive. May be subclassed.
    """

    def __init__(self) -> None: ...
    def add(self, method: str, handler: Callable[[RpcReq], Any]) -> None:
        """Register `handler(req: RpcReq)` for the glob pattern `method` (`?`, `*`, `#` as in `match()`).

        New entries are tried first: the most recently added matching pattern wins. The
        empty pattern `""` receives frames that carry `result` or `error` (responses to
        calls of your own). A non-callable `handler` raises `TypeError`.
        """
    def process(self, frame: _BytesLike) -> str:
        """Dispatch one request frame and return the response text (no whitespace is added).

        The handler of the newest pattern matching the string `method` is called with an
        `RpcReq`; what it sends with `ok()` or `err()` is returned. `<id>` below is the
        request's raw `id` token; without an `id`, `ok()` produces `""` and errors omit the
        `"id"` member:

        - unknown method: `{"id":<id>,"error":{"code":-32601,"message":"<method> not found"}}`
        - neither a string `method` nor `result`/`error`: code -32700, the message being
          the frame itself as a JSON string
        - the handler returned without responding: code -32603,
          `"handler produced no response"`
        - the handler raised an `Exception` before responding: code -32603 with
          `str(exception)` as the message
        """
    @property
    def methods(self) -> list[str]:
        """The registered patterns, newest first."""

@final
class RpcReq:
    """One request, handed to an `Rpc` handler; valid until the handler returns.

    Respond once, with `ok()` or `err()`. Afterwards (or once the handler has returned)
    they raise `RuntimeError`.
    """

    def __init__(self) -> None: ...
    @property
    def frame(self) -> str:
        """The raw request JSON text; `""` once the request is no longer valid.

        Read its parts with `json_get()` and friends, e.g. `json_get(req.frame, "$.params[0]")`.
        """
    def ok(self, result_json: str) -> None:
        """Respond `{"id":<id>,"result":<result_json>}`; `result_json` is inserted verbatim.

        Pass JSON text (`"42"`, `'"text"'`, `json.dumps(value)`). A request without an
        `id` (a notification) gets no response text. `RuntimeError("Response already
        sent")` on a second response, `RuntimeError("RpcReq is no longer valid")` after
        the handler returned.
        """
    def err(self, code: int, message: str) -> None:
        """Respond `{"id":<id>,"error":{"code":<code>,"message":<message as a JSON string>}}`.

        The `"id"` member is left out when the request has none. Raises like `ok()`.
        """

class Manager:
    """The event loop: owns the sockets, timers and wakeup queue, and calls the handlers.

    `handler(conn, ev, data)` is the default handler of every connection without its own.
    `enable_wakeup=True` creates the channel `wakeup()` uses. `error_handler(exc)` receives
    each `Exception` a handler raises (otherwise the traceback is printed). `limits`
    overrides engine limits by name (see the `limits` property); `poll_events=False` stops
    the per-iteration `MG_EV_POLL` to every connection. `events` [ext], an iterable of
    event codes, hands only those events to handlers (the engine still runs every step;
    servers that need a few events save a call per skipped one); `None` hands all.
    `hdrs_only_pending=True` [ext] hands `MG_EV_HTTP_HDRS` of a server connection to
    handlers only when the request's body is still on its way (the requests
    `Connection.http_stream_body` can stream); a request that arrived whole goes straight
    to `MG_EV_HTTP_MSG`, saving a call per request.

    Usable as a context manager: leaving the block calls `close()`.
    """

    def __init__(
        self,
        handler: _Handler | None = None,
        enable_wakeup: bool = False,
        error_handler: Callable[[Exception], Any] | None = None,
        *,
        limits: dict[str, int | float] | None = None,
        poll_events: bool = True,
        events: Iterable[int] | None = None,
        hdrs_only_pending: bool = False,
    ) -> None: ...
    def poll(self, timeout_ms: int = 0) -> None:
        """Run one iteration of the loop: wait for activity, then dispatch every event.

        `0` never blocks, a positive value waits at most that many milliseconds, a negative
        one until something happens. The GIL is released while waiting. Not reentrant.
        """
    def run(self, poll_ms: int = 100) -> None:
        """Poll until SIGINT or SIGTERM, then restore the signal handlers and `close()`.

        Must run on the main thread.
        """
    def close(self) -> None:
        """Close every connection (delivering `MG_EV_CLOSE`) and free the manager; idempotent.

        Raises `RuntimeError` while a `poll()` is running.
        """
    def __enter__(self) -> Manager:
        """Return the manager itself."""
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Call `close()`; exceptions from the block propagate."""
    def listen(
        self,
        url: str,
        handler: _Handler | None = None,
        *,
        http: bool | None = None,
        reuse_port: bool = False,
        backlog: int | None = None,
    ) -> Connection:
        """Listen on `url` (e.g. `http://0.0.0.0:8000`, `tcp://127.0.0.1:0`) and return the listener.

        `handler` is used by the listener and inherited by every connection it accepts.
        `http` chooses HTTP parsing; by default it follows the scheme. Port 0 picks a free
        port (read it from `local_addr`). Failure raises `RuntimeError`.

        [ext] `http+unix:///run/app.sock` listens on a Unix-domain socket (`@name`: Linux's
        abstract namespace; a stale socket file nobody listens on is replaced; its peers'
        `remote_addr` is `("", 0, False)` and the listener's `local_addr` holds the path);
        `http+fd://3` adopts an inherited listening socket, e.g. from systemd socket
        activation, and owns it from then on (bare `unix://` and `fd://` are raw).
        `reuse_port=True` sets `SO_REUSEPORT`, so several processes listen on one port and
        the kernel spreads connections over them. `backlog` is the accept queue length
        (default `SOMAXCONN`; `ValueError` below 1).
        """
    def connect(self, url: str, handler: _Handler | None = None, *, http: bool | None = None) -> Connection:
        """Open an outbound connection to `url` and return it at once.

        Nothing is sent automatically: write the request, typically on `MG_EV_CONNECT`.
        Host names are resolved in the background; failures arrive as `MG_EV_ERROR` then
        `MG_EV_CLOSE`.
        """
    def ws_connect(
        self, url: str, handler: _Handler | None = None, *, compression: _WsCompression = None
    ) -> Connection:
        """Open a WebSocket client connection to `url` (`ws://...`).

        `MG_EV_WS_OPEN` follows a valid `101` response; a failed handshake gives
        `MG_EV_ERROR("ws handshake error")` and closes. `compression` [ext]: `True` or a
        dict of options (those of `Connection.ws_upgrade`) offers permessage-deflate
        (RFC 7692); an answer outside the offer is a failed handshake.
        """
    def mqtt_connect(
        self,
        url: str,
        handler: _Handler | None = None,
        client_id: str = "",
        username: str = "",
        password: str = "",
        clean_session: bool = True,
        keepalive: int = 60,
        *,
        version: int = 4,
        will_topic: str = "",
        will_message: _BytesLike = b"",
        will_qos: int = 0,
        will_retain: bool = False,
    ) -> Connection:
        """Open an MQTT client connection to `url` (`mqtt://host:1883`, `mqtts://` for TLS).

        The CONNECT packet is queued at once and sent when the connection is up. An empty
        `client_id` becomes a random 20-character one. `version` [ext]: 4 (MQTT 3.1.1) or 5.
        `will_*` [ext]: the will message the broker publishes if the client goes away.
        The CONNACK gives `MG_EV_MQTT_OPEN` with its return code (non-zero: the connection
        closes); every packet gives `MG_EV_MQTT_CMD`, a PUBLISH also `MG_EV_MQTT_MSG`.
        QoS 1 and 2 acknowledgements are sent automatically.
        """
    def mqtt_listen(self, url: str, handler: _Handler | None = None) -> Connection:
        """Listen for MQTT clients on `url`: accepted connections parse MQTT packets.

        Not a broker: it answers nothing but the automatic QoS acknowledgements; the handler
        sends CONNACK, SUBACK and routes messages (see `examples/mqtt_broker.py`).
        """
    def sntp_connect(self, url: str, handler: _Handler | None = None) -> Connection:
        """Ask an SNTP server for the time (UDP whatever the scheme, port 123 by default).

        A request goes out as soon as the host is resolved; the first valid reply gives
        `MG_EV_SNTP_TIME` with the server's time in Unix milliseconds (corrected by half the
        round trip) and the connection closes. An invalid reply gives
        `MG_EV_ERROR("invalid SNTP reply")`; no reply within 3000 ms closes it.
        """
    def wakeup(self, connection_id: int, data: Buffer = b"") -> bool:
        """Deliver `data` as `MG_EV_WAKEUP` to connection `connection_id`; callable from any thread.

        Interrupts a blocked `poll()`. Returns `False` when wakeup is disabled, the id is not
        positive or the queue is full; a payload above `wakeup_max_payload` raises
        `ValueError`.
        """
    def timer_add(
        self, milliseconds: int, callback: Callable[[], Any], *, repeat: bool = False, run_now: bool = False
    ) -> Timer:
        """Call `callback()` after `milliseconds` (every `milliseconds` with `repeat=True`).

        `run_now=True` also fires it in the next `poll()`. Callbacks run on the polling
        thread; their exceptions are printed.
        """
    @property
    def connections(self) -> tuple[Connection, ...]:
        """The live connections in creation order (listeners included, internal ones not)."""
    def fileno(self) -> int:
        """[ext] The poller's file descriptor: readable whenever `poll()` has events to process.

        Lets another event loop drive this manager: watch the descriptor (e.g. asyncio's
        `loop.add_reader`) and call `poll(0)` when it is readable and when
        `next_timeout_ms()` has elapsed.
        """
    def next_timeout_ms(self) -> int:
        """[ext] Milliseconds until `poll()` next has work without socket activity.

        A timer, a protocol timeout or queued output; `0` when `poll(0)` should run at
        once, `-1` when nothing is scheduled.
        """
    @property
    def wakeup_id(self) -> int:
        """Id of the internal wakeup connection (1), or 0 when wakeup is disabled."""
    @property
    def limits(self) -> dict[str, int | float]:
        """A copy of the effective engine limits (sizes in bytes, timeouts in seconds)."""

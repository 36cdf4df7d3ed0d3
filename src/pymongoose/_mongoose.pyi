"""Type stubs for pymongoose._mongoose (the native core)."""

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, final

from typing_extensions import Buffer

_Handler = Callable[["Connection", int, Any], Any]
_BytesLike = str | Buffer
_HeaderArg = Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None
_Address = tuple[str, int, bool]

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
    'Timer',
    'WEBSOCKET_OP_BINARY',
    'WEBSOCKET_OP_PING',
    'WEBSOCKET_OP_PONG',
    'WEBSOCKET_OP_TEXT',
    'event_name',
    'millis',
]

MG_EV_ERROR: Final[int]
MG_EV_OPEN: Final[int]
MG_EV_POLL: Final[int]
MG_EV_RESOLVE: Final[int]
MG_EV_CONNECT: Final[int]
MG_EV_ACCEPT: Final[int]
MG_EV_TLS_HS: Final[int]
MG_EV_READ: Final[int]
MG_EV_WRITE: Final[int]
MG_EV_CLOSE: Final[int]
MG_EV_HTTP_HDRS: Final[int]
MG_EV_HTTP_MSG: Final[int]
MG_EV_WS_OPEN: Final[int]
MG_EV_WS_MSG: Final[int]
MG_EV_WS_CTL: Final[int]
MG_EV_MQTT_CMD: Final[int]
MG_EV_MQTT_MSG: Final[int]
MG_EV_MQTT_OPEN: Final[int]
MG_EV_SNTP_TIME: Final[int]
MG_EV_WAKEUP: Final[int]
MG_EV_USER: Final[int]

WEBSOCKET_OP_TEXT: Final[int]
WEBSOCKET_OP_BINARY: Final[int]
WEBSOCKET_OP_PING: Final[int]
WEBSOCKET_OP_PONG: Final[int]

MG_LL_NONE: Final[int]
MG_LL_ERROR: Final[int]
MG_LL_INFO: Final[int]
MG_LL_DEBUG: Final[int]
MG_LL_VERBOSE: Final[int]

MQTT_PROP_TYPE_BYTE: Final[int]
MQTT_PROP_TYPE_STRING: Final[int]
MQTT_PROP_TYPE_STRING_PAIR: Final[int]
MQTT_PROP_TYPE_BINARY_DATA: Final[int]
MQTT_PROP_TYPE_VARIABLE_INT: Final[int]
MQTT_PROP_TYPE_INT: Final[int]
MQTT_PROP_TYPE_SHORT: Final[int]

def event_name(ev: int) -> str: ...
def millis() -> int: ...

@final
class HttpMessage:
    def __init__(self) -> None: ...
    @property
    def method(self) -> str: ...
    @property
    def uri(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def proto(self) -> str: ...
    @property
    def body_bytes(self) -> bytes: ...
    @property
    def body_text(self) -> str: ...
    def header(self, name: str, default: Any = None) -> Any: ...
    def headers(self) -> list[tuple[str, str]]: ...
    def query_var(self, name: str) -> str | None: ...
    def status(self) -> int | None: ...
    def header_var(self, header_name: str, var_name: str) -> str | None: ...
    def copy(self) -> HttpMessage: ...
    def __bool__(self) -> bool: ...

@final
class Connection:
    def __init__(self) -> None: ...
    @property
    def id(self) -> int: ...
    @property
    def handler(self) -> _Handler | None: ...
    @property
    def userdata(self) -> Any: ...
    @userdata.setter
    def userdata(self, value: Any) -> None: ...
    @property
    def is_listening(self) -> bool: ...
    @property
    def is_client(self) -> bool: ...
    @property
    def is_udp(self) -> bool: ...
    @property
    def is_tls(self) -> bool: ...
    @property
    def is_websocket(self) -> bool: ...
    @property
    def is_closing(self) -> bool: ...
    @property
    def is_draining(self) -> bool: ...
    @property
    def is_full(self) -> bool: ...
    @property
    def is_readable(self) -> bool: ...
    @property
    def is_writable(self) -> bool: ...
    @property
    def local_addr(self) -> _Address | None: ...
    @property
    def remote_addr(self) -> _Address | None: ...
    @property
    def recv_len(self) -> int: ...
    @property
    def send_len(self) -> int: ...
    @property
    def recv_size(self) -> int: ...
    @property
    def send_size(self) -> int: ...
    def set_handler(self, handler: _Handler | None) -> None: ...
    def send(self, data: _BytesLike) -> None: ...
    def reply(self, status_code: int, body: _BytesLike = b"", headers: _HeaderArg = None) -> None: ...
    def reply_json(self, data: Any, status_code: int = 200, headers: _HeaderArg = None) -> None: ...
    def serve_dir(
        self,
        message: HttpMessage,
        root_dir: str,
        extra_headers: str = "",
        mime_types: str = "",
        page404: str = "",
    ) -> None: ...
    def serve_file(
        self, message: HttpMessage, path: str, extra_headers: str = "", mime_types: str = ""
    ) -> None: ...
    def error(self, message: str) -> None: ...
    def close(self) -> None: ...
    def drain(self) -> None: ...
    def recv_data(self, length: int = -1) -> bytes: ...
    def send_data(self, length: int = -1) -> bytes: ...
    def recv_consume(self, length: int = -1) -> bytes: ...

@final
class Timer:
    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def active(self) -> bool: ...

class Manager:
    def __init__(
        self,
        handler: _Handler | None = None,
        enable_wakeup: bool = False,
        error_handler: Callable[[Exception], Any] | None = None,
        *,
        limits: dict[str, int | float] | None = None,
    ) -> None: ...
    def poll(self, timeout_ms: int = 0) -> None: ...
    def run(self, poll_ms: int = 100) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Manager: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...
    def listen(self, url: str, handler: _Handler | None = None, *, http: bool | None = None) -> Connection: ...
    def wakeup(self, connection_id: int, data: Buffer = b"") -> bool: ...
    def timer_add(
        self, milliseconds: int, callback: Callable[[], Any], *, repeat: bool = False, run_now: bool = False
    ) -> Timer: ...
    @property
    def connections(self) -> tuple[Connection, ...]: ...
    @property
    def wakeup_id(self) -> int: ...
    @property
    def limits(self) -> dict[str, int | float]: ...

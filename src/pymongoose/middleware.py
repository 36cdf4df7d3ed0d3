"""Middleware that ``pymongoose serve`` puts around an application when asked.

* Proxy headers: behind a reverse proxy the peer of every connection is the proxy. When
  that peer is trusted, the client address, scheme and host come from the proxy's
  ``Forwarded`` (RFC 7239) or ``X-Forwarded-For``/``-Proto``/``-Host`` headers.
* Access log: one ``logging`` record per response on the ``pymongoose.access`` logger.

Both exist for ASGI and WSGI applications. Neither is installed unless asked for, so an
application served without them pays nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

__all__ = [
    "TrustedPeers",
    "ProxyHeadersMiddleware",
    "WSGIProxyHeadersMiddleware",
    "AccessLogMiddleware",
    "WSGIAccessLogMiddleware",
    "parse_forwarded",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_logger = logging.getLogger("pymongoose.access")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedPeers:
    """The peers whose forwarding headers are believed.

    ``spec`` is a comma-separated list (or a list) of IP addresses, networks in CIDR form
    (``10.0.0.0/8``), ``unix`` (connections over a Unix-domain socket, whose peer has no
    address) or ``*`` (every peer: only when nothing but the proxy can reach the server).
    """

    def __init__(self, spec: str | Iterable[str]) -> None:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        self.all = False
        self.unix = False
        self.networks: list[_Network] = []
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            if item == "*":
                self.all = True
            elif item.lower() == "unix":
                self.unix = True
            else:
                try:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"--forwarded-allow-ips: {item!r} is not an IP address or network") from None

    def __contains__(self, host: str | None) -> bool:
        if self.all:
            return True
        if not host:  # a Unix-domain peer
            return self.unix
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.networks)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        out = []
        escaped = False
        for ch in value[1:-1]:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            else:
                out.append(ch)
        return "".join(out)
    return value


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in text:
        if quoted:
            cur.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            cur.append(ch)
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_forwarded(values: Iterable[str]) -> list[dict[str, str]]:
    """The hops of ``Forwarded`` header values (RFC 7239 §4), nearest-to-client first.

    Each hop maps lower-case parameter names (``for``, ``proto``, ``host``, ``by``) to
    their unquoted values; malformed pairs are skipped.
    """
    hops: list[dict[str, str]] = []
    for value in values:
        for element in _split_outside_quotes(value, ","):
            hop: dict[str, str] = {}
            for pair in _split_outside_quotes(element, ";"):
                name, eq, val = pair.partition("=")
                name = name.strip().lower()
                if eq and name:
                    hop[name] = _unquote(val.strip())
            if hop:
                hops.append(hop)
    return hops


def _node_host_port(node: str) -> tuple[str, int]:
    """``for=`` node (RFC 7239 §6): ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``unknown``."""
    if node.startswith("["):
        end = node.find("]")
        host = node[1:end] if end > 0 else node
        rest = node[end + 1 :] if end > 0 else ""
        port = rest[1:] if rest.startswith(":") else ""
    elif node.count(":") == 1:
        host, _, port = node.partition(":")
    else:
        host, port = node, ""
    return host, int(port) if port.isdigit() else 0


class _Forwarded:
    __slots__ = ("client", "scheme", "host")

    def __init__(self) -> None:
        self.client: tuple[str, int] | None = None
        self.scheme: str | None = None
        self.host: str | None = None


def _resolve(headers: dict[str, list[str]], trusted: TrustedPeers) -> _Forwarded | None:
    """What the forwarding headers say about the client, walking the chain of proxies from
    the nearest one: the first hop that is not a trusted proxy is the client."""
    out = _Forwarded()
    forwarded = headers.get("forwarded")
    if forwarded:
        hops = parse_forwarded(forwarded)
        if not hops:
            return None
        chosen = hops[0]
        for hop in reversed(hops):
            chosen = hop
            host = _node_host_port(hop.get("for", ""))[0]
            if host not in trusted:
                break
        if "for" in chosen:
            host, port = _node_host_port(chosen["for"])
            out.client = (host, port)
        proto = chosen.get("proto")
        if proto:
            out.scheme = proto.lower()
        if "host" in chosen:
            out.host = chosen["host"]
        return out
    xff = headers.get("x-forwarded-for")
    if xff:
        chain = [h.strip() for v in xff for h in v.split(",") if h.strip()]
        if chain:
            client = chain[0]
            for entry in reversed(chain):
                client = entry
                if entry not in trusted:
                    break
            out.client = (_node_host_port(client)[0], 0)
    xfp = headers.get("x-forwarded-proto")
    if xfp:
        out.scheme = xfp[-1].split(",")[-1].strip().lower()
    xfh = headers.get("x-forwarded-host")
    if xfh:
        out.host = xfh[-1].split(",")[-1].strip()
    if out.client is None and out.scheme is None and out.host is None:
        return None
    return out


_FORWARDING = (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")


class ProxyHeadersMiddleware:
    """ASGI middleware: the client address, scheme and ``Host`` from a trusted proxy.

    When the connection's peer is in ``trusted``, ``scope["client"]``, ``scope["scheme"]``
    (``http``/``https``, or ``ws``/``wss`` for WebSocket scopes) and the ``host`` header
    are replaced by what ``Forwarded`` says, or failing that ``X-Forwarded-For``,
    ``X-Forwarded-Proto`` and ``X-Forwarded-Host``. Requests from other peers are passed
    on untouched, whatever headers they carry.
    """

    def __init__(self, app: ASGIApp, trusted: TrustedPeers | str = "127.0.0.1,::1,unix") -> None:
        self.app = app
        self.trusted = trusted if isinstance(trusted, TrustedPeers) else TrustedPeers(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if (client[0] if client else None) in self.trusted:
                headers: dict[str, list[str]] = {}
                for name, value in scope["headers"]:
                    if name in _FORWARDING:
                        headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
                if headers:
                    fw = _resolve(headers, self.trusted)
                    if fw is not None:
                        scope = dict(scope)
                        if fw.client is not None:
                            scope["client"] = fw.client
                        if fw.scheme in ("http", "https", "ws", "wss"):
                            secure = fw.scheme in ("https", "wss")
                            if scope["type"] == "websocket":
                                scope["scheme"] = "wss" if secure else "ws"
                            else:
                                scope["scheme"] = "https" if secure else "http"
                        if fw.host:
                            host = fw.host.encode("latin-1")
                            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"]
                            scope["headers"].append((b"host", host))
        await self.app(scope, receive, send)


class WSGIProxyHeadersMiddleware:
    """WSGI middleware with the rules of `ProxyHeadersMiddleware`: ``REMOTE_ADDR``,
    ``REMOTE_PORT``, ``wsgi.url_scheme`` and ``HTTP_HOST`` from a trusted proxy."""

    def __init__(self, app: Callable[..., Iterable[bytes]], trusted: TrustedPeers | str = "127.0.0.1,::1,unix") -> None:
        self.app = app
        self.trusted = trusted if isinstance(trusted, TrustedPeers) else TrustedPeers(trusted)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REMOTE_ADDR") in self.trusted:
            headers: dict[str, list[str]] = {}
            for key, name in (
                ("HTTP_FORWARDED", "forwarded"),
                ("HTTP_X_FORWARDED_FOR", "x-forwarded-for"),
                ("HTTP_X_FORWARDED_PROTO", "x-forwarded-proto"),
                ("HTTP_X_FORWARDED_HOST", "x-forwarded-host"),
            ):
                if key in environ:
                    headers[name] = [environ[key]]
            if headers:
                fw = _resolve(headers, self.trusted)
                if fw is not None:
                    if fw.client is not None:
                        environ["REMOTE_ADDR"] = environ["REMOTE_HOST"] = fw.client[0]
                        environ["REMOTE_PORT"] = str(fw.client[1])
                    if fw.scheme in ("http", "https"):
                        environ["wsgi.url_scheme"] = fw.scheme
                    if fw.host:
                        environ["HTTP_HOST"] = fw.host
        return self.app(environ, start_response)


def _client_text(client: Any) -> str:
    if not client:
        return "-"
    host, port = client[0], client[1]
    if not host:
        return "unix"
    return f"{host}:{port}" if port else str(host)


class AccessLogMiddleware:
    """ASGI middleware: one INFO record per HTTP response on ``pymongoose.access``.

    The message reads like uvicorn's, ``127.0.0.1:50312 - "GET /path?q=1 HTTP/1.1" 200``,
    and the record carries ``client``, ``method``, ``path``, ``http_version``,
    ``status`` and ``duration_ms`` attributes for formatters that want them.
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or access_logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        status = 0
        logged = False

        def log(code: int) -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            _log_access(self.logger, _client_text(scope.get("client")), scope.get("method", ""),
                        scope.get("raw_path", b"").decode("latin-1") or scope.get("path", ""),
                        scope.get("query_string", b""), scope.get("http_version", "1.1"), code, start)

        async def logging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                log(status)

        try:
            await self.app(scope, receive, logging_send)
        except BaseException:
            log(status or 500)
            raise
        if status:
            log(status)


def _log_access(logger: logging.Logger, client: str, method: str, path: str, query: bytes,
                version: str, status: int, start: float) -> None:
    if query:
        path = f"{path}?{query.decode('latin-1')}"
    duration_ms = (time.monotonic() - start) * 1000.0
    logger.info('%s - "%s %s HTTP/%s" %d', client, method, path, version, status,
                extra={"client": client, "method": method, "path": path, "http_version": version,
                       "status": status, "duration_ms": duration_ms})


class _LoggedBody:
    """The application's iterable, logging the access when the server closes it."""

    __slots__ = ("_body", "_it", "_done")

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._it: Iterator[bytes] | None = None
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        self._it = iter(self._body)
        return self._it

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


class WSGIAccessLogMiddleware:
    """WSGI middleware with the record of `AccessLogMiddleware`, logged when the response
    is finished (the server closes the application's iterable)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or access_logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.logger.isEnabledFor(logging.INFO):
            return self.app(environ, start_response)
        start = time.monotonic()
        status = [500]

        def logging_start_response(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                status[0] = int(status_line.split(" ", 1)[0])
            except ValueError:
                pass
            return start_response(status_line, headers, exc_info) if exc_info is not None else start_response(status_line, headers)

        def done() -> None:
            addr = environ.get("REMOTE_ADDR", "")
            port = environ.get("REMOTE_PORT", "")
            client = (f"{addr}:{port}" if port and port != "0" else addr) if addr else "unix"
            proto = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
            _log_access(self.logger, client, environ.get("REQUEST_METHOD", ""),
                        environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
                        environ.get("QUERY_STRING", "").encode("latin-1"),
                        proto[5:] if proto.startswith("HTTP/") else proto, status[0], start)

        try:
            body = self.app(environ, logging_start_response)
        except BaseException:
            done()
            raise
        return _LoggedBody(body, done)

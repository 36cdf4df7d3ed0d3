# SPDX-License-Identifier: MIT
"""WSGI and ASGI over TLS: the environ and scope a framework reads (wsgi.url_scheme,
HTTPS, mod_ssl's SSL_* variables; ASGI scheme and the TLS extension), with client
certificates, driven by Python's ssl client and the websockets client."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import threading
from typing import Any

import pytest

from mgtest_helpers import mg

trustme = pytest.importorskip("trustme")
wsgi = pytest.importorskip("pymongoose.wsgi")
asgi = pytest.importorskip("pymongoose.asgi")

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("client.test", common_name="test client")
    return {"ca": ca, "server": server, "client": client}


def server_opts(pki: dict[str, Any], mtls: bool = False) -> Any:
    leaf = pki["server"]
    return mg.TlsOpts(cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes(),
                      ca=pki["ca"].cert_pem.bytes() if mtls else None)


def client_context(pki: dict[str, Any], with_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    pki["ca"].configure_trust(ctx)
    if with_cert:
        pki["client"].configure_cert(ctx)
    return ctx


def https_get(port: int, ctx: ssl.SSLContext, path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def environ_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    keys = ("wsgi.url_scheme", "HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_TLS_SNI",
            "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_CERT")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({k: environ.get(k) for k in keys}).encode()]


class WsgiOverTls:
    def __init__(self, pki: dict[str, Any], mtls: bool) -> None:
        self.server = wsgi.WSGIServer(environ_app, workers=2)
        self.port = self.server.listen("https://127.0.0.1:0", tls=server_opts(pki, mtls)).local_addr[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.server.manager.poll(10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


def test_wsgi_environ_over_tls(pki: dict[str, Any]) -> None:
    srv = WsgiOverTls(pki, mtls=False)
    try:
        status, body = https_get(srv.port, client_context(pki))
    finally:
        srv.close()
    assert status == 200
    env = json.loads(body)
    assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
    assert env["SSL_PROTOCOL"] in ("TLSv1.3", "TLSv1.2") and env["SSL_CIPHER"]
    assert env["SSL_TLS_SNI"] == "localhost"
    assert env["SSL_CLIENT_VERIFY"] == "NONE" and env["SSL_CLIENT_CERT"] is None


def test_wsgi_client_certificate_reaches_the_app(pki: dict[str, Any]) -> None:
    srv = WsgiOverTls(pki, mtls=True)
    try:
        status, body = https_get(srv.port, client_context(pki, with_cert=True))
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            https_get(srv.port, client_context(pki, with_cert=False))  # mTLS: no certificate, no answer
    finally:
        srv.close()
    assert status == 200
    env = json.loads(body)
    assert env["SSL_CLIENT_VERIFY"] == "SUCCESS"
    assert env["SSL_CLIENT_S_DN"].startswith("CN=test client")
    assert env["SSL_CLIENT_CERT"] == pki["client"].cert_chain_pems[0].bytes().decode()


def test_wsgi_stand_in_connection_without_tls_info_gets_https_only() -> None:
    class Msg:
        method, uri, query, proto, body_bytes = "GET", "/", "", "HTTP/1.1", b""

        def header(self, name: str, default: str | None = None) -> str | None:
            return default

        def headers(self) -> list[tuple[str, str]]:
            return []

    class Conn:
        is_tls = True
        remote_addr = ("127.0.0.1", 1, False)

    env = wsgi._build_environ(Msg(), Conn(), "localhost", 443)
    assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
    assert not any(k.startswith("SSL_") for k in env)


async def scope_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        tls = scope["extensions"]["tls"]
        await send({"type": "websocket.send", "text": json.dumps(
            {"scheme": scope["scheme"], "tls_version": tls["tls_version"]})})
        await send({"type": "websocket.close", "code": 1000})
        return
    await receive()
    body = json.dumps({"scheme": scope["scheme"], "tls": scope.get("extensions", {}).get("tls")}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def test_asgi_scope_has_https_and_the_tls_extension(pki: dict[str, Any]) -> None:
    async def main() -> dict[str, Any]:
        server = asgi.ASGIServer(scope_app)
        listener = await server.start("https://127.0.0.1:0", tls=server_opts(pki, mtls=True))
        port = listener.local_addr[1]
        try:
            status, body = await asyncio.to_thread(https_get, port, client_context(pki, with_cert=True))
        finally:
            await server.stop()
        assert status == 200
        return json.loads(body)

    answer = asyncio.run(main())
    tls = answer["tls"]
    assert answer["scheme"] == "https"
    assert tls["tls_version"] in (0x0303, 0x0304) and tls["cipher_suite"] > 0
    assert tls["server_cert"] == pki["server"].cert_chain_pems[0].bytes().decode()
    assert tls["client_cert_chain"][0] == pki["client"].cert_chain_pems[0].bytes().decode()
    assert "CN=test client" in tls["client_cert_name"]
    assert tls["client_cert_error"] is None


def test_asgi_websocket_over_wss(pki: dict[str, Any]) -> None:
    websockets = pytest.importorskip("websockets.asyncio.client")

    async def main() -> dict[str, Any]:
        server = asgi.ASGIServer(scope_app)
        listener = await server.start("https://127.0.0.1:0", tls=server_opts(pki))
        port = listener.local_addr[1]
        try:
            async with websockets.connect(f"wss://localhost:{port}/ws", ssl=client_context(pki),
                                          open_timeout=10) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 10))
        finally:
            await server.stop()

    answer = asyncio.run(main())
    assert answer["scheme"] == "wss" and answer["tls_version"] in (0x0303, 0x0304)

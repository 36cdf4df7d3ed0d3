"""Applications served by `pymongoose serve` in tests/python/test_serve.py.

Every answer names the worker process and what the server told the application about
the client, so the tests can see which worker answered and what the proxy headers did.
"""

import asyncio
import json
import os
import time


def _info(client, scheme, host, path):
    return {"pid": os.getpid(), "client": list(client) if client else None, "scheme": scheme, "host": host,
            "path": path}


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "http":
        return
    path = scope["path"]
    headers = dict(scope["headers"])
    if path == "/slow":
        await asyncio.sleep(float(scope["query_string"].decode() or "0.02"))
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(5):
            await send({"type": "http.response.body", "body": b"part%d\n" % i, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps(_info(scope.get("client"), scope["scheme"], headers.get(b"host", b"").decode(), path)).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def wsgi_app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or "0.02"))
    info = _info((environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0)), environ["wsgi.url_scheme"],
                 environ.get("HTTP_HOST", ""), environ["PATH_INFO"])
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def asgi_factory():
    return asgi_app


not_an_app = 42

if os.environ.get("SERVE_APPS_CRASH_ON_IMPORT"):
    raise RuntimeError("configuration missing")

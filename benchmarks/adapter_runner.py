"""Runs an app of benchmarks/apps the way a user would, for benchmarks/adapters_bench.py.

    python adapter_runner.py asgi MODULE:APP PORT            # pymongoose.asgi.serve
    python adapter_runner.py wsgi MODULE:APP PORT [WORKERS]  # pymongoose.wsgi.serve
    python adapter_runner.py aiohttp PORT [uvloop]           # servers/aiohttp_server.py's app
    python adapter_runner.py alone-asgi MODULE:APP SECONDS   # the app called in-process, no server
    python adapter_runner.py alone-wsgi MODULE:APP SECONDS

The "alone" modes print one JSON line: requests and seconds of CPU spent calling the app
with a fixed GET / request, so the app's own rate is the ceiling any server can reach.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE / "apps"), str(HERE / "servers")]


def load(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name or "app")


def alone_asgi(app, seconds: float) -> dict:
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")],
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "state": {},
    }
    request = {"type": "http.request", "body": b"", "more_body": False}
    sent: list = []

    async def receive():
        return request

    async def send(message):
        sent.append(message)

    async def main() -> dict:
        n = 0
        cpu0 = time.process_time()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for _ in range(100):
                await app(dict(scope), receive, send)
            n += 100
            sent.clear()
        return {"requests": n, "cpu_s": time.process_time() - cpu0}

    return asyncio.run(main())


def alone_wsgi(app, seconds: float) -> dict:
    base = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1", "HTTP_USER_AGENT": "wrk",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }

    def start_response(status, headers, exc_info=None):
        return None

    n = 0
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            environ = dict(base)
            environ["wsgi.input"] = io.BytesIO(b"")
            result = app(environ, start_response)
            b"".join(result)
            close = getattr(result, "close", None)
            if close is not None:
                close()
        n += 100
    return {"requests": n, "cpu_s": time.process_time() - cpu0}


def main() -> None:
    mode = sys.argv[1]
    if mode == "asgi":
        from pymongoose import asgi

        asgi.serve(load(sys.argv[2]), f"http://127.0.0.1:{int(sys.argv[3])}")
    elif mode == "wsgi":
        from pymongoose import wsgi

        workers = int(sys.argv[4]) if len(sys.argv) > 4 else 4
        server = wsgi.WSGIServer(load(sys.argv[2]), workers=workers)
        server.listen(f"http://127.0.0.1:{int(sys.argv[3])}")
        server.run()
    elif mode == "aiohttp":
        if len(sys.argv) > 3 and sys.argv[3] == "uvloop":
            import uvloop

            uvloop.install()
        from aiohttp import web

        import aiohttp_server

        web.run_app(aiohttp_server.make_app(), host="127.0.0.1", port=int(sys.argv[2]),
                    access_log=None, print=None, handle_signals=True)
    elif mode == "alone-asgi":
        print(json.dumps(alone_asgi(load(sys.argv[2]), float(sys.argv[3]))), flush=True)
    elif mode == "alone-wsgi":
        print(json.dumps(alone_wsgi(load(sys.argv[2]), float(sys.argv[3]))), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()

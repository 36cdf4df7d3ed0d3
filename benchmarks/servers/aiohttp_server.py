"""Hello-world JSON server on aiohttp (one process, default event loop).

    python aiohttp_server.py PORT

Access logging is off, as it is for every server in the comparison.
aiohttp's run_app() handles SIGINT/SIGTERM and shuts down gracefully.
"""

import sys

from aiohttp import web

BODY = b'{"message":"Hello, World!"}'


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    return app


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    print(f"aiohttp listening on http://127.0.0.1:{port}", flush=True)
    web.run_app(make_app(), host="127.0.0.1", port=port,
                access_log=None, print=None, handle_signals=True)


if __name__ == "__main__":
    main()

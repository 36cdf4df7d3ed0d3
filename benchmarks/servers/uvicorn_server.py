"""Hello-world JSON server: FastAPI on uvicorn (uvloop + httptools, 1 worker).

    python uvicorn_server.py PORT [CERT_PEM KEY_PEM]

With a certificate and key (benchmarks/tls_bench.py passes them) it serves HTTPS through
uvicorn's own options (ssl_certfile/ssl_keyfile, --ssl-certfile/--ssl-keyfile on its
command line), otherwise plain HTTP.

The route returns a Response carrying the prebuilt body, so the bytes on the
wire are exactly those of every other server (no JSON re-serialisation).
Access logging is off.  uvicorn handles SIGINT/SIGTERM itself (graceful
shutdown); afterwards it re-raises the signal it caught, which the handlers
installed here turn into a normal exit with status 0.
"""

import signal
import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

BODY = b'{"message":"Hello, World!"}'

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
async def hello(path: str = "") -> Response:
    return Response(content=BODY, media_type="application/json")


def _exit_after_shutdown(signum, frame):
    raise SystemExit(0)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    signal.signal(signal.SIGINT, _exit_after_shutdown)
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    tls = {}
    if len(sys.argv) > 3:
        tls = {"ssl_certfile": sys.argv[2], "ssl_keyfile": sys.argv[3]}
    scheme = "https" if tls else "http"
    print(f"uvicorn (FastAPI) listening on {scheme}://127.0.0.1:{port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1,
                loop="uvloop", http="httptools",
                access_log=False, log_level="warning", **tls)


if __name__ == "__main__":
    main()

"""Hello-world JSON server: a bare RSGI application on granian (1 worker).

    python granian_server.py PORT [CERT_PEM KEY_PEM]

With a certificate and key (benchmarks/tls_bench.py passes them) it serves HTTPS through
granian's own TLS options (--ssl-certificate/--ssl-keyfile on its command line; TLS 1.3
minimum by default), otherwise plain HTTP.

RSGI is granian's native (fastest) interface, so this is the strongest pure
Python-facing peer in the comparison.  Granian runs a supervisor process and
one worker process; the benchmark runner charges the CPU time of both.
HTTP/1 only (the only protocol the benchmark speaks), access log off (granian's
default), and granian's HTTP/1 pipeline-flush option on, which aggregates the
responses to pipelined requests into fewer writes (about 1.35x more requests/s
in the pipelined scenario here); set GRANIAN_PIPELINE_FLUSH=0 to run granian's
plain defaults instead.  Granian's supervisor handles SIGINT/SIGTERM and stops the worker.
"""

import sys
from pathlib import Path

BODY = b'{"message":"Hello, World!"}'
HEADERS = [("content-type", "application/json")]


async def app(scope, proto):
    proto.response_bytes(200, HEADERS, BODY)


def main() -> None:
    import os

    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    tls = {}
    if len(sys.argv) > 3:
        tls = {"ssl_cert": Path(sys.argv[2]).resolve(), "ssl_key": Path(sys.argv[3]).resolve()}
    scheme = "https" if tls else "http"
    print(f"granian (RSGI) listening on {scheme}://127.0.0.1:{port}", flush=True)
    Server(
        "granian_server:app",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.RSGI,
        workers=1,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            pipeline_flush=os.environ.get("GRANIAN_PIPELINE_FLUSH", "1") != "0"),
        log_level=LogLevels.warning,
        working_dir=Path(__file__).resolve().parent,
        **tls,
    ).serve()


if __name__ == "__main__":
    main()

"""Static files: serve a directory over HTTP.

Conn.serve_dir() does the work: MIME types from the file extension, index.html for
directories (a listing when there is none), HEAD, single byte ranges (206/416),
ETag/Last-Modified revalidation (304), and no way out of the root directory.

Run:
    python examples/static_server.py [DIRECTORY] [PORT_OR_URL]
    python examples/static_server.py . 8000      # the current directory (default)
    python examples/static_server.py /tmp 0      # any free port (printed at start)

Try:
    open http://127.0.0.1:8000/ in a browser (directory listing or index.html)
    curl -i http://127.0.0.1:8000/README.md
    curl -i -H "Range: bytes=0-99" http://127.0.0.1:8000/README.md    # 206 Partial Content
    curl -i -H 'If-None-Match: "<etag from above>"' http://127.0.0.1:8000/README.md   # 304
    curl -i --path-as-is http://127.0.0.1:8000/../../etc/passwd      # refused

Ctrl+C or SIGTERM stops it.
"""
import os
import sys

import pymongoose as mg


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    url = sys.argv[2] if len(sys.argv) > 2 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            # extra_headers are raw header lines, each ending in CRLF
            conn.serve_dir(data, root, extra_headers="Cache-Control: no-cache\r\n")

    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"serving {root} on http://{host}:{port}/", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

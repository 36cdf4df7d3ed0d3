"""Hello world: the smallest pymongoose HTTP server.

Every request, whatever its method or path, gets the same JSON greeting.

Run:
    python examples/hello_server.py            # http://127.0.0.1:8000/
    python examples/hello_server.py 0          # any free port (printed at start)
    python examples/hello_server.py http://0.0.0.0:8080

Try:
    curl -i http://127.0.0.1:8000/
    curl -i -X POST http://127.0.0.1:8000/anything

Ctrl+C (SIGINT) or SIGTERM stops it: Manager.run() catches both, returns, and the
manager closes every connection.
"""
import sys

import pymongoose as mg

BODY = '{"message":"Hello, World!"}'


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, BODY, headers={"Content-Type": "application/json"})


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():  # a bare port number
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/", flush=True)
    manager.run()  # returns on SIGINT/SIGTERM, then closes the manager


if __name__ == "__main__":
    main()

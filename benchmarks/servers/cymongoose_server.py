"""Hello-world JSON server on cymongoose (PyPI): the same program as
pymongoose_server.py with only the import changed.

    python cymongoose_server.py PORT

A plain Manager with a Python handler that answers every request with
conn.reply(), driven by a poll(100) loop.  Stops cleanly on SIGINT/SIGTERM.
"""

import signal
import sys

from cymongoose import MG_EV_HTTP_MSG, Manager

BODY = b'{"message":"Hello, World!"}'


def handler(conn, ev, data):
    if ev == MG_EV_HTTP_MSG:
        conn.reply(200, BODY, headers={"Content-Type": "application/json"})


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    running = True

    def stop(signum, frame):
        nonlocal running
        running = False

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    manager = Manager(handler)
    manager.listen(f"http://127.0.0.1:{port}", http=True)
    print(f"cymongoose listening on http://127.0.0.1:{port}", flush=True)
    try:
        while running:
            manager.poll(100)
    finally:
        manager.close()


if __name__ == "__main__":
    main()

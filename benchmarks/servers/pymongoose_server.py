"""Hello-world JSON server on pymongoose: the program a user would write.

    python pymongoose_server.py PORT

A plain Manager with a Python handler that answers every request with
conn.reply(), driven by a poll(100) loop.  Stops cleanly on SIGINT/SIGTERM.
PYMONGOOSE_POLL_EVENTS=0 in the environment creates it with poll_events=False
(benchmarks/idle_bench.py compares both).
"""

import os
import signal
import sys

from pymongoose import MG_EV_HTTP_MSG, Manager

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

    options = {"poll_events": False} if os.environ.get("PYMONGOOSE_POLL_EVENTS") == "0" else {}
    manager = Manager(handler, **options)
    manager.listen(f"http://127.0.0.1:{port}", http=True)
    print(f"pymongoose listening on http://127.0.0.1:{port}", flush=True)
    try:
        while running:
            manager.poll(100)
    finally:
        manager.close()


if __name__ == "__main__":
    main()

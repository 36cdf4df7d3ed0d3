"""WebSocket echo server on pymongoose: the program a user would write.

    python ws_pymongoose_server.py PORT

Every HTTP request is upgraded with ws_upgrade(); every message is sent back with the
same opcode. A plain poll(100) loop; stops cleanly on SIGINT/SIGTERM.
"""

import signal
import sys

from pymongoose import MG_EV_HTTP_MSG, MG_EV_WS_MSG, Manager


def handler(conn, ev, data):
    if ev == MG_EV_WS_MSG:
        conn.ws_send(data.data, data.flags & 0x0F)
    elif ev == MG_EV_HTTP_MSG:
        conn.ws_upgrade(data)


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
    print(f"pymongoose WebSocket echo on ws://127.0.0.1:{port}/", flush=True)
    try:
        while running:
            manager.poll(100)
    finally:
        manager.close()


if __name__ == "__main__":
    main()

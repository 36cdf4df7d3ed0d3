# SPDX-License-Identifier: MIT
"""WebSocket echo server for Autobahn|Testsuite's fuzzing client (scripts/autobahn.py and
tests/python/test_autobahn.py): every message is sent back with its opcode, permessage-deflate
accepted (RFC 7692), max_ws_message raised to 64 MiB for the 9.* cases. Prints its port, then
serves until killed. Usage: python autobahn_echo_server.py [port]"""

import sys

import pymongoose as mg


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.ws_upgrade(data, compression=True)
    elif ev == mg.MG_EV_WS_MSG:
        conn.ws_send(data.data, data.opcode)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    mgr = mg.Manager(handler, limits={"max_ws_message": 64 << 20}, poll_events=False)
    listener = mgr.listen(f"http://127.0.0.1:{port}")
    print(listener.local_addr[1], flush=True)
    mgr.run()


if __name__ == "__main__":
    main()

"""Hello-world JSON server on pymongoose over HTTPS: the program a user would write.

    python tls_pymongoose_server.py PORT CERT_PEM KEY_PEM

The hello server of pymongoose_server.py on an https:// listener: `listener.tls_init()`
with the certificate and key makes them the TLS defaults of every accepted connection.
The Manager is created with poll_events=False (no MG_EV_POLL to every connection on each
iteration); PYMONGOOSE_POLL_EVENTS=1 in the environment gives the compat default instead.
Stops cleanly on SIGINT/SIGTERM.
"""

import os
import signal
import sys
from pathlib import Path

from pymongoose import MG_EV_HTTP_MSG, Manager, TlsOpts

BODY = b'{"message":"Hello, World!"}'


def handler(conn, ev, data):
    if ev == MG_EV_HTTP_MSG:
        conn.reply(200, BODY, headers={"Content-Type": "application/json"})


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit("usage: tls_pymongoose_server.py PORT CERT_PEM KEY_PEM")
    port = int(sys.argv[1])
    cert = Path(sys.argv[2]).read_bytes()
    key = Path(sys.argv[3]).read_bytes()
    running = True

    def stop(signum, frame):
        nonlocal running
        running = False

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    poll_events = os.environ.get("PYMONGOOSE_POLL_EVENTS") == "1"
    manager = Manager(handler, poll_events=poll_events)
    listener = manager.listen(f"https://127.0.0.1:{port}", http=True)
    listener.tls_init(TlsOpts(cert=cert, key=key))
    print(f"pymongoose listening on https://127.0.0.1:{port}", flush=True)
    try:
        while running:
            manager.poll(100)
    finally:
        manager.close()


if __name__ == "__main__":
    main()

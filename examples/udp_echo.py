"""UDP echo server: every datagram goes back to its sender.

A `udp://` listener is one datagram socket: each datagram arrives as MG_EV_READ on the
listener itself, `remote_addr` is its sender, and `send()` transmits one datagram back to
that sender at once (MG_EV_WRITE is delivered inside the call). The receive buffer keeps
what the program did not consume, so the handler takes each datagram with recv_consume().

Run:
    python examples/udp_echo.py                 # udp://127.0.0.1:9000
    python examples/udp_echo.py 0               # any free port (printed at start)
    python examples/udp_echo.py udp://0.0.0.0:9000

Try:
    echo -n hello | nc -u -w1 127.0.0.1 9000
    python -c "import socket; s=socket.socket(2,2); s.sendto(b'hi',('127.0.0.1',9000)); print(s.recv(99))"

Ctrl+C or SIGTERM stops it.
"""
import sys

import pymongoose as mg


def handler(conn, ev, data):
    if ev == mg.MG_EV_READ and conn.is_udp:
        datagram = conn.recv_consume()
        conn.send(datagram)  # to conn.remote_addr, the sender of this datagram


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "9000"
    if url.isdigit():
        url = f"udp://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.listen(url)
    host, port, _ = listener.local_addr
    print(f"listening on udp://{host}:{port}/", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

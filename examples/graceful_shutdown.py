"""Graceful shutdown: finish the requests in flight, then exit.

Manager.run() stops at the first SIGINT/SIGTERM and closes everything at once,
which drops unsent responses. This program drives the loop itself instead:

1. SIGINT/SIGTERM only set a flag (the signal wakes a blocked poll() at once).
2. The listener is closed: no new connections.
3. Requests already received keep being served; their responses (and any new
   request on a kept-alive connection, answered 503) carry "Connection: close".
4. When nothing is in flight and all output is flushed - or after a grace period
   of --grace seconds - the manager is closed and the program exits 0.
   A second signal skips the wait.

    GET /slow?ms=3000   answers after ms milliseconds (deferred with a timer)
    GET /               answers at once

Run:
    python examples/graceful_shutdown.py [PORT_OR_URL] [--grace SECONDS]

Try:
    curl -s "http://127.0.0.1:8000/slow?ms=5000" &  sleep 1; kill -TERM <pid>
    # the server says it is draining, curl still gets its answer, then the server exits

"""
import argparse
import signal
import time

import pymongoose as mg

in_flight = {}  # connection id -> Connection with a response still to send
stopping = False
signals = 0


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        close = {"Connection": "close"} if stopping else {}
        if stopping:
            conn.reply(503, "shutting down\n", {**close, "Retry-After": "5"})
        elif data.uri == "/slow":
            value = data.query_var("ms") or "3000"
            ms = min(int(value), 60_000) if value.isdigit() else 3000
            in_flight[conn.id] = conn
            print(f"request {conn.id} started: /slow?ms={ms}", flush=True)
            manager.timer_add(ms, lambda: finish(conn, ms))
        else:
            conn.reply(200, "fast answer\n", close)
    elif ev == mg.MG_EV_CLOSE:
        in_flight.pop(conn.id, None)


def finish(conn, ms):
    if in_flight.pop(conn.id, None) is None:  # the client left meanwhile
        return
    headers = {"Connection": "close"} if stopping else {}
    conn.reply(200, f"slow answer after {ms} ms\n", headers)
    print(f"request {conn.id} answered", flush=True)


def on_signal(signum, frame):
    global stopping, signals
    stopping = True
    signals += 1


def main():
    global manager
    parser = argparse.ArgumentParser(description="graceful shutdown")
    parser.add_argument("listen", nargs="?", default="8000", help="port or URL (default 8000)")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to wait at most")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.listen}" if args.listen.isdigit() else args.listen

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/", flush=True)
    try:
        while not stopping:
            manager.poll(1000)  # a signal interrupts the wait at once

        listener.close()
        print(f"draining: {len(in_flight)} request(s) in flight", flush=True)
        deadline = time.monotonic() + args.grace
        while time.monotonic() < deadline and signals < 2:
            pending_output = any(c.send_len for c in manager.connections)
            if not in_flight and not pending_output:
                break
            manager.poll(50)
        if in_flight:
            print(f"giving up on {len(in_flight)} request(s)", flush=True)
    finally:
        manager.close()
        for sig, old in previous.items():
            signal.signal(sig, old)
    print("bye", flush=True)


if __name__ == "__main__":
    main()

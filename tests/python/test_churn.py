"""Connection churn, close inside handlers and wakeups from many threads (spec §8.8).
scripts/test.sh runs this file a second time against the ASan+UBSan build of the
extension, where any use-after-free or overflow aborts the run."""
from __future__ import annotations

import random
import socket
import threading
import time

from mgtest_helpers import HOST, HttpReader, connect, mg, req


def test_churn_close_in_handler_and_wakeups_from_threads(server):
    rng = random.Random(1234)
    live_ids: list[int] = []
    ids_lock = threading.Lock()

    def handler(conn, ev, data):
        if ev == mg.MG_EV_ACCEPT:
            with ids_lock:
                live_ids.append(conn.id)
        elif ev == mg.MG_EV_HTTP_MSG:
            if data.uri == "/close-now":
                conn.close()  # closes the connection being dispatched
                conn.close()  # no-op the second time
            elif data.uri == "/error":
                conn.error("handler gave up")
            elif data.uri == "/drain":
                conn.reply(200, "bye")
                conn.drain()
            else:
                conn.reply(200, data.uri)
        elif ev == mg.MG_EV_WAKEUP:
            if conn.is_listening:
                return
            conn.send(b"")  # touching a connection that may be about to close
        elif ev == mg.MG_EV_CLOSE:
            with ids_lock:
                if conn.id in live_ids:
                    live_ids.remove(conn.id)

    srv = server(handler, enable_wakeup=True, expect_errors=True)
    stop = threading.Event()

    def waker(seed):
        r = random.Random(seed)
        while not stop.is_set():
            with ids_lock:
                target = r.choice(live_ids) if live_ids and r.random() < 0.8 else r.randint(1, 10_000)
            srv.mgr.wakeup(target, b"x" * r.randint(0, 64))

    wakers = [threading.Thread(target=waker, args=(i,), daemon=True) for i in range(4)]
    for t in wakers:
        t.start()
    try:
        deadline = time.monotonic() + 3.0
        done = 0
        while done < 300 and time.monotonic() < deadline:
            kind = rng.choice(["ok", "close-now", "error", "drain", "abort", "half"])
            with connect(srv.port) as s:
                if kind == "abort":
                    continue  # connect and close without data
                if kind == "half":
                    s.sendall(b"GET /half HTTP/1.1\r\nHo")  # hang up mid-head
                    continue
                s.sendall(req("/" + kind))
                if kind in ("ok", "drain"):
                    assert HttpReader(s).read_response().status == 200
            done += 1
        assert done >= 50, "the churn made no progress"
    finally:
        stop.set()
        for t in wakers:
            t.join(timeout=5)
    # Still healthy afterwards: a new connection is answered (spec §8.5).
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(req("/final"))
        r = HttpReader(s).read_response()
        assert (r.status, r.body) == (200, b"/final")

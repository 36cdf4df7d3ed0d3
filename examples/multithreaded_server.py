"""Multithreaded server: slow work on a thread pool, replies from the event loop.

The handler never blocks: for GET /work it gives only the connection id (never the
Connection or the HttpMessage, which are only valid inside the handler) to a
concurrent.futures.ThreadPoolExecutor. The worker does the slow part (here a
simulated 200 ms database call plus some hashing), then returns the finished body to
the loop with Manager.wakeup(conn_id, body); the MG_EV_WAKEUP handler of that
connection sends the reply. Several requests are therefore served at the same
time, while the loop keeps answering /health instantly. If the client disconnected
meanwhile, the wakeup for its id is silently dropped.

    GET /work?text=abc&ms=200   result computed on a worker thread (JSON)
    GET /health                 answered on the loop thread at once

Run:
    python examples/multithreaded_server.py [PORT_OR_URL] [--workers N]
    (default port 8000; 0 = any free port; 4 workers)

Try:
    curl -s "http://127.0.0.1:8000/work?text=hello"
    for i in 1 2 3 4; do curl -s "http://127.0.0.1:8000/work?text=$i" & done; wait
    # four answers after about 200 ms, not 800

Ctrl+C or SIGTERM stops the loop; queued jobs are cancelled, running ones finish.
"""
import argparse
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pymongoose as mg


def slow_job(manager, conn_id, text, ms):
    time.sleep(ms / 1000)  # a blocking call: database, remote API, disk ...
    digest = text.encode()
    for _ in range(10_000):
        digest = hashlib.sha256(digest).digest()
    body = json.dumps({"text": text, "sha256x10000": digest.hex(), "slept_ms": ms,
                       "worker": threading.current_thread().name})
    try:
        manager.wakeup(conn_id, body.encode())
    except RuntimeError:  # the manager closed while we worked
        pass


def main():
    parser = argparse.ArgumentParser(description="thread pool behind an event loop")
    parser.add_argument("listen", nargs="?", default="8000", help="port or URL (default 8000)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.listen}" if args.listen.isdigit() else args.listen
    pool = ThreadPoolExecutor(max_workers=args.workers, thread_name_prefix="worker")

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            if data.uri == "/work":
                text = data.query_var("text") or "pymongoose"
                ms = data.query_var("ms") or "200"
                ms = min(int(ms), 10_000) if ms.isdigit() else 200
                pool.submit(slow_job, manager, conn.id, text, ms)
            elif data.uri == "/health":
                conn.reply_json({"ok": True, "threads": threading.active_count()})
            else:
                conn.reply(404, "try /work or /health\n")
        elif ev == mg.MG_EV_WAKEUP:  # a worker finished this connection's job
            conn.reply(200, data, {"Content-Type": "application/json"})

    manager = mg.Manager(handler, enable_wakeup=True)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/ with {args.workers} worker threads", flush=True)
    try:
        manager.run()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


if __name__ == "__main__":
    main()

"""A view used from another thread after its handler returned (test_engine_defects.py,
section 6). Run in its own process because the engine before the fix crashed here
(use after free). Exit status 0 = pass; failures are reported on stderr.

Usage: defects_stale_view.py <serve_file|serve_dir|ws_upgrade> <directory>
(the implementation comes from PYMONGOOSE_TEST_IMPL, as for the test suite)

The MG_EV_HTTP_MSG handler starts a thread that calls conn.<method>(msg, ...) with the
handler's HttpMessage, waits until that thread is about to call, and keeps the poll thread
(and the engine lock) 0.2 s longer, so the call waits for the lock while the view is still
valid. When the handler returns, the view is invalid: the thread's call must raise
ValueError("HttpMessage is not valid for this event") whichever side wins the race. The
request is then still outstanding: a reply() from the poll thread reaches the client.
"""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mgtest_helpers import SOCK_TIMEOUT, HttpReader, Server, connect, mg, req  # noqa: E402

STALE = "HttpMessage is not valid for this event"
WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


def main() -> int:
    signal.alarm(20)  # never outlive the test
    method, root = sys.argv[1], sys.argv[2]
    path = os.path.join(root, "file.txt")
    with open(path, "wb") as f:
        f.write(b"file contents\n")
    out: dict = {}
    calling = threading.Event()

    def worker(conn, msg):
        calling.set()
        try:
            if method == "serve_file":
                conn.serve_file(msg, path)
            elif method == "serve_dir":
                conn.serve_dir(msg, root)
            else:
                conn.ws_upgrade(msg)
            out["result"] = "returned normally"
        except BaseException as e:  # noqa: BLE001 - reported below
            out["result"] = e

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG and "conn" not in out:
            out["conn"] = conn
            out["thread"] = threading.Thread(target=worker, args=(conn, data), daemon=True)
            out["thread"].start()
            calling.wait(SOCK_TIMEOUT)
            time.sleep(0.2)  # widen the race window only; the outcome must not depend on it

    problems = []
    srv = Server(handler).start()
    try:
        with connect(srv.port) as s:
            s.sendall(req("/file.txt", headers=WS_HEADERS if method == "ws_upgrade" else {}))
            if not calling.wait(SOCK_TIMEOUT):
                problems.append("the handler never ran")
            else:
                out["thread"].join(SOCK_TIMEOUT)
                res = out.get("result", "the call never returned")
                if not (isinstance(res, ValueError) and str(res) == STALE):
                    problems.append(f"{method} from the thread: {res!r}, "
                                    f"expected ValueError({STALE!r})")
                srv.call(lambda: out["conn"].reply(200, "after"))
                r = HttpReader(s).read_response()
                if (r.status, r.body) != (200, b"after"):
                    problems.append(f"client got {r.status} {r.body[:200]!r}, expected 200 'after'")
    finally:
        problems += srv.shutdown()
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

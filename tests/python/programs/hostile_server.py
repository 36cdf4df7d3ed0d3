"""Server for the hostile-client tests (test_hostile.py, scripts/hostile_full.py) and the
soak (scripts/soak.py).

Usage: hostile_server.py <module> '<json options>'

Options (all optional): "limits" (Manager limits), "nofile" (RLIMIT_NOFILE soft limit to
set first; 0 raises it to the hard limit), "fault" ("raise": the handler raises on every
request to /fault; "block": /block sleeps "block_s" seconds in the handler; "close":
another thread calls Connection.close() 100 ms after /defer arrived (no reply), 100 ms into
an upload to /upload (at MG_EV_HTTP_HDRS), 20 ms into a 4 MiB reply to /bigclose).

Listens on http://127.0.0.1:0 and prints the port on the first line of stdout. Routes:
``GET /`` "hello"; ``GET /big?n=<bytes>`` that many bytes (default 4 MiB); ``POST /``
the body length; ``GET /ws`` WebSocket echo; ``GET /stats`` JSON with the number of open
connections and of errors seen. Runs until killed (an alarm ends it after "alarm_s",
default 900 s, if nobody does).
"""
import importlib
import json
import resource
import signal
import sys
import threading
import time

opts = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
signal.alarm(int(opts.get("alarm_s", 900)))
mg = importlib.import_module(sys.argv[1])

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if "nofile" in opts:
    want = opts["nofile"] or hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

stats = {"requests": 0, "errors": 0, "ws_messages": 0}
BIG = {}


def big(n: int) -> bytes:
    if n not in BIG:
        BIG[n] = bytes(range(256)) * (n // 256) + b"x" * (n % 256)
    return BIG[n]


def close_later(conn, seconds: float) -> None:
    threading.Timer(seconds, conn.close).start()  # Connection.close() from another thread


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_HDRS and opts.get("fault") == "close" and data.uri == "/upload":
        if not getattr(conn, "userdata", None):
            conn.userdata = "closing"
            close_later(conn, 0.1)
    elif ev == mg.MG_EV_HTTP_MSG:
        stats["requests"] += 1
        uri = data.uri
        if uri == "/ws":
            conn.ws_upgrade(data)
        elif uri == "/big":
            n = int(data.query_var("n") or 4 * 1024 * 1024)
            conn.reply(200, big(n), {"Content-Type": "application/octet-stream"})
        elif uri == "/stats":
            body = dict(stats, open=len(mgr.connections))
            conn.reply(200, json.dumps(body), {"Content-Type": "application/json"})
        elif uri == "/fault" and opts.get("fault") == "raise":
            raise RuntimeError("handler fault (expected by the test)")
        elif uri == "/defer" and opts.get("fault") == "close":
            close_later(conn, 0.1)
        elif uri == "/bigclose" and opts.get("fault") == "close":
            conn.reply(200, big(4 * 1024 * 1024))
            close_later(conn, 0.02)
        elif uri == "/block" and opts.get("fault") == "block":
            time.sleep(float(opts.get("block_s", 3)))
            conn.reply(200, "blocked")
        elif data.method == "POST":
            conn.reply(200, str(len(data.body_bytes)))
        else:
            conn.reply(200, "hello")
    elif ev == mg.MG_EV_WS_MSG:
        stats["ws_messages"] += 1
        conn.ws_send(data.data, data.opcode)
    elif ev == mg.MG_EV_ERROR:
        stats["errors"] += 1


def on_exception(exc):
    stats["errors"] += 1


# poll_events=False: no MG_EV_POLL per connection per iteration (thousands of idle ones).
mgr = mg.Manager(handler, error_handler=on_exception, limits=opts.get("limits", {}), poll_events=False)
listener = mgr.listen("http://127.0.0.1:0")
print(listener.local_addr[1], flush=True)
while True:
    mgr.poll(100)

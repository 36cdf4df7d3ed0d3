"""Keep-alive server for the idle-connection memory test (test_engine_defects.py, section 3).

Usage: defects_idle_server.py <module> <poll_events: default|false>

Raises its RLIMIT_NOFILE soft limit to the hard limit, listens on http://127.0.0.1:0 and
prints the bound port on the first line of stdout. Every request is answered (so the
handler touches the connection and its Python wrapper exists); ``GET /stats`` answers
``{"seen": <requests other than /stats>, "open": <len(mgr.connections)>}``.
Runs until killed (a 120 s alarm ends it if the test never does).
"""
import importlib
import json
import resource
import signal
import sys

signal.alarm(120)
mg = importlib.import_module(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

seen = 0


def handler(conn, ev, data):
    global seen
    if ev == mg.MG_EV_HTTP_MSG:
        if data.uri == "/stats":
            conn.reply(200, json.dumps({"seen": seen, "open": len(mgr.connections)}),
                       {"Content-Type": "application/json"})
        else:
            seen += 1
            conn.reply(200, "ok")


kwargs = {} if sys.argv[2] == "default" else {"poll_events": False}
mgr = mg.Manager(handler, **kwargs)
listener = mgr.listen("http://127.0.0.1:0")
print(listener.local_addr[1], flush=True)
while True:
    mgr.poll(100)

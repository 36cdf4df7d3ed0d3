"""A small web app written against cymongoose's public API, the way its users write
them. The compatibility test runs it unchanged on cymongoose and, with only the import
renamed, on pymongoose, and compares what clients see.

Usage: cymongoose_style_app.py <module> <static_dir> <port_file>
"""
import importlib
import json
import signal
import sys

mg = importlib.import_module(sys.argv[1])
Manager = mg.Manager
MG_EV_HTTP_MSG = mg.MG_EV_HTTP_MSG
MG_EV_CLOSE = mg.MG_EV_CLOSE

STATIC_DIR = sys.argv[2]
visits = {}


def handler(conn, ev, data):
    if ev == MG_EV_HTTP_MSG:
        uri = data.uri
        if uri == "/":
            conn.reply(200, '{"message":"Hello, World!"}', headers={"Content-Type": "application/json"})
        elif uri == "/json":
            conn.reply_json({"ok": True, "items": [1, 2, 3]})
        elif uri == "/echo":
            body = data.body_bytes
            conn.reply(200, body, headers={"Content-Type": "application/octet-stream",
                                           "X-Method": data.method})
        elif uri == "/hello":
            name = data.query_var("name") or "stranger"
            conn.reply(200, "hello " + name + "\n")
        elif uri == "/headers":
            agent = data.header("X-Test") or "-"
            conn.reply(200, json.dumps({"x-test": agent, "proto": data.proto}),
                       headers={"Content-Type": "application/json"})
        elif uri == "/count":
            visits[conn.id] = visits.get(conn.id, 0) + 1
            conn.reply(200, str(visits[conn.id]))
        elif uri.startswith("/static/"):
            conn.serve_dir(data, "/static/=" + STATIC_DIR)
        elif uri == "/created":
            conn.reply(201, "made", headers={"Location": "/thing/1"})
        else:
            conn.reply(404, "Not Found\n")
    elif ev == MG_EV_CLOSE:
        visits.pop(conn.id, None)


running = True


def stop(signum, frame):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
manager = Manager(handler)
listener = manager.listen("http://127.0.0.1:0", http=True)
with open(sys.argv[3], "w") as f:
    f.write(str(listener.local_addr[1]))
while running:
    manager.poll(100)
manager.close()

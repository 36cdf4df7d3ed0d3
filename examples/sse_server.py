"""Server-Sent Events: push a stream of events to browsers (EventSource) and curl.

GET / is a page whose JavaScript opens an EventSource on /events and lists what
arrives. GET /events answers with a text/event-stream chunked response that stays
open: a "hello" event at once, then one "tick" event per second to every
subscriber, all sent by a single repeating timer with Connection.http_sse().
Subscribers are forgotten on MG_EV_CLOSE (browser tab closed, curl stopped).

Run:
    python examples/sse_server.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    open http://127.0.0.1:8000/ in a browser
    curl -N http://127.0.0.1:8000/events

Ctrl+C or SIGTERM stops it (open streams are closed).
"""
import json
import sys
import time

import pymongoose as mg

HEAD = ("HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n\r\n")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pymongoose SSE</title></head>
<body>
<h1>Server-Sent Events</h1>
<ul id="log"></ul>
<script>
  const log = document.getElementById("log");
  const source = new EventSource("/events");
  function show(kind, text) {
    const li = document.createElement("li");
    li.textContent = kind + ": " + text;
    log.prepend(li);
  }
  source.addEventListener("hello", e => show("hello", e.data));
  source.addEventListener("tick", e => show("tick", e.data));
  source.onerror = () => show("error", "connection lost (the browser retries)");
</script>
</body></html>
"""

subscribers = {}  # connection id -> Connection
ticks = 0


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        if data.uri == "/events":
            conn.send(HEAD)
            conn.http_sse("hello", json.dumps({"subscribers": len(subscribers) + 1}))
            subscribers[conn.id] = conn
        elif data.uri == "/":
            conn.reply(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
        else:
            conn.reply(404, "not found\n")
    elif ev == mg.MG_EV_CLOSE:
        subscribers.pop(conn.id, None)


def tick():
    global ticks
    ticks += 1
    event = json.dumps({"tick": ticks, "time": time.strftime("%H:%M:%S")})
    for conn in list(subscribers.values()):
        if not conn.is_full:  # a subscriber that does not read misses ticks
            conn.http_sse("tick", event)


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    manager.timer_add(1000, tick, repeat=True)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/ (events at /events)", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

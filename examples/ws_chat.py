"""WebSocket chat: every message is broadcast to everybody, with a browser page.

GET / is a small chat client (HTML + JavaScript); GET /ws joins the chat room.
The server keeps the open WebSocket connections in a dict keyed by connection id,
announces arrivals and departures, and relays each text message, as JSON
{"from": ..., "text": ...}, to every member with Connection.ws_send(). A member
whose send buffer is full (a client that stopped reading) is skipped instead of
letting its backlog grow.

Run:
    python examples/ws_chat.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    open http://127.0.0.1:8000/ in two browser windows and chat
    python -m websockets ws://127.0.0.1:8000/ws?name=terminal   (pip install websockets)

Ctrl+C or SIGTERM stops it.
"""
import json
import sys

import pymongoose as mg

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pymongoose chat</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto} #log{height:20em;
overflow:auto;border:1px solid #ccc;padding:.5em} .sys{color:#888}</style></head>
<body>
<h1>Chat</h1>
<div id="log"></div>
<form id="f"><input id="msg" autocomplete="off" size="50" placeholder="message">
<button>Send</button></form>
<script>
  const log = document.getElementById("log");
  const name = prompt("Your name?") || "anonymous";
  const url = location.origin.replace(/^http/, "ws") + "/ws?name=" + encodeURIComponent(name);
  const ws = new WebSocket(url);
  function line(text, cls) {
    const p = document.createElement("div");
    p.textContent = text;
    if (cls) p.className = cls;
    log.append(p);
    log.scrollTop = log.scrollHeight;
  }
  ws.onmessage = e => {
    const m = JSON.parse(e.data);
    if (m.from) line(m.from + ": " + m.text); else line(m.text, "sys");
  };
  ws.onclose = () => line("disconnected", "sys");
  document.getElementById("f").onsubmit = e => {
    e.preventDefault();
    const input = document.getElementById("msg");
    if (input.value) ws.send(input.value);
    input.value = "";
  };
</script>
</body></html>
"""

members = {}  # connection id -> (Connection, name)


def broadcast(message):
    text = json.dumps(message)
    for conn, _ in list(members.values()):
        if not conn.is_full:
            try:
                conn.ws_send(text)
            except RuntimeError:  # closed while the manager shuts down
                pass


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        if data.uri == "/ws":
            conn.userdata = (data.query_var("name") or f"guest{conn.id}")[:32]
            conn.ws_upgrade(data)
        elif data.uri == "/":
            conn.reply(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
        else:
            conn.reply(404, "not found\n")
    elif ev == mg.MG_EV_WS_OPEN:
        members[conn.id] = (conn, conn.userdata)
        broadcast({"text": f"{conn.userdata} joined ({len(members)} here)"})
    elif ev == mg.MG_EV_WS_MSG:
        if data.opcode == mg.WEBSOCKET_OP_TEXT:
            broadcast({"from": conn.userdata, "text": data.text})
    elif ev == mg.MG_EV_CLOSE:
        if members.pop(conn.id, None) is not None:
            broadcast({"text": f"{conn.userdata} left"})


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"chat on http://{host}:{port}/ (WebSocket at ws://{host}:{port}/ws)", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

"""WebSocket echo server, with a test page for the browser.

GET / returns a page that opens a WebSocket to /ws and shows what comes back;
GET /ws is upgraded with Connection.ws_upgrade() and every text or binary message
is sent back unchanged with Connection.ws_send(), keeping its opcode. Pings are
answered by the engine; the close handshake is handled for you.

Run:
    python examples/ws_echo.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    open http://127.0.0.1:8000/ in a browser and type a message
    python -m websockets ws://127.0.0.1:8000/ws          # interactive client (pip install websockets)
    curl -i -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" \\
         -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" http://127.0.0.1:8000/ws   # the 101

Ctrl+C or SIGTERM stops it.
"""
import sys

import pymongoose as mg

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pymongoose WebSocket echo</title></head>
<body>
<h1>WebSocket echo</h1>
<form id="f"><input id="msg" autocomplete="off" placeholder="say something">
<button>Send</button></form>
<pre id="log"></pre>
<script>
  const log = document.getElementById("log");
  const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws");
  ws.onopen = () => log.textContent += "connected\\n";
  ws.onmessage = e => log.textContent += "echo: " + e.data + "\\n";
  ws.onclose = e => log.textContent += "closed (" + e.code + ")\\n";
  document.getElementById("f").onsubmit = e => {
    e.preventDefault();
    const input = document.getElementById("msg");
    ws.send(input.value);
    input.value = "";
  };
</script>
</body></html>
"""


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        if data.uri == "/ws":
            conn.ws_upgrade(data)  # 101 Switching Protocols, then MG_EV_WS_OPEN
        elif data.uri == "/":
            conn.reply(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
        else:
            conn.reply(404, "not found\n")
    elif ev == mg.MG_EV_WS_MSG:
        conn.ws_send(data.data, data.opcode)


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/ (WebSocket at ws://{host}:{port}/ws)", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

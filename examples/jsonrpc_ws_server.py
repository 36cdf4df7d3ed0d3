"""JSON-RPC over WebSocket (and over HTTP POST), with pymongoose.Rpc.

One Rpc registry serves both transports: every WebSocket text message on /ws and
every POST body on /rpc is passed to Rpc.process(), and the response text it
returns is sent back (a notification, a request without "id", gets no answer).
The handlers show the parts of the API:

    sum         params [1, 2, 3.5] -> 6.5; bad params -> an explicit err()
    echo        the params, sent back verbatim with ok()
    divide      [a, b] -> a / b; b = 0 raises, which becomes error -32603
    str.*       one handler for a glob pattern: str.upper, str.lower, str.reverse
    rpc.list    the registered patterns (Rpc.methods)

An unknown method gives -32601 "<method> not found"; text that is not a request
gives -32700.

Run:
    python examples/jsonrpc_ws_server.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    open http://127.0.0.1:8000/ in a browser: a small page that makes calls over /ws
    python -m websockets ws://127.0.0.1:8000/ws    (pip install websockets), then type
        {"id":1,"method":"sum","params":[1,2,3.5]}
    curl -d '{"id":1,"method":"str.upper","params":["hello"]}' http://127.0.0.1:8000/rpc
    curl -d '{"id":2,"method":"divide","params":[1,0]}' http://127.0.0.1:8000/rpc
    curl -d '{"id":3,"method":"nope"}' http://127.0.0.1:8000/rpc

Ctrl+C or SIGTERM stops it.
"""
import json
import sys

import pymongoose as mg

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pymongoose JSON-RPC</title></head>
<body>
<h1>JSON-RPC over WebSocket</h1>
<form id="f"><input id="req" size="60" autocomplete="off"
 value='{"id":1,"method":"sum","params":[1,2,3.5]}'> <button>Call</button></form>
<pre id="log"></pre>
<script>
  const log = document.getElementById("log");
  const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws");
  ws.onopen = () => log.textContent += "connected\\n";
  ws.onmessage = e => log.textContent += "<- " + e.data + "\\n";
  ws.onclose = e => log.textContent += "closed (" + e.code + ")\\n";
  document.getElementById("f").onsubmit = e => {
    e.preventDefault();
    const text = document.getElementById("req").value;
    log.textContent += "-> " + text + "\\n";
    ws.send(text);
  };
</script>
</body></html>
"""

rpc = mg.Rpc()


def params(req):
    """The request's params as Python objects ([] when absent)."""
    raw = mg.json_get(req.frame, "$.params")
    return json.loads(raw) if raw is not None else []


def rpc_sum(req):
    values = params(req)
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        req.err(-32602, "params must be a list of numbers")
        return
    req.ok(json.dumps(sum(values)))


def rpc_echo(req):
    req.ok(mg.json_get(req.frame, "$.params") or "null")  # raw JSON, inserted verbatim


def rpc_divide(req):
    a, b = params(req)
    req.ok(json.dumps(a / b))  # ZeroDivisionError -> {"error":{"code":-32603,...}}


STRING_OPS = {"upper": str.upper, "lower": str.lower, "reverse": lambda s: s[::-1]}


def rpc_string(req):
    method = mg.json_get_str(req.frame, "$.method")
    op = STRING_OPS.get(method.removeprefix("str."))
    if op is None:
        req.err(-32601, f"{method} not found")
        return
    [text] = params(req)
    req.ok(json.dumps(op(text), ensure_ascii=False))


def rpc_list(req):
    req.ok(json.dumps(rpc.methods, separators=(",", ":")))


rpc.add("sum", rpc_sum)
rpc.add("echo", rpc_echo)
rpc.add("divide", rpc_divide)
rpc.add("str.*", rpc_string)
rpc.add("rpc.list", rpc_list)


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        if data.uri == "/ws":
            conn.ws_upgrade(data)
        elif data.uri == "/rpc" and data.method == "POST":
            answer = rpc.process(data.body_bytes)
            if answer:
                conn.reply(200, answer, {"Content-Type": "application/json"})
            else:
                conn.reply(204)  # a notification
        elif data.uri == "/":
            conn.reply(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
        else:
            conn.reply(404, "not found\n")
    elif ev == mg.MG_EV_WS_MSG:
        answer = rpc.process(data.data)
        if answer:
            conn.ws_send(answer)


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/ (JSON-RPC at ws://{host}:{port}/ws "
          f"and POST http://{host}:{port}/rpc)", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

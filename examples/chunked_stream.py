"""Chunked streaming: responses of unknown length sent piece by piece.

Two endpoints, two ways to produce the pieces:

- GET /stream?count=5&delay=500 sends one line every <delay> ms, driven by a
  repeating timer per response, and ends with the empty chunk after <count> lines.
- GET /download?size=10000000 streams <size> bytes of generated data as fast as the
  client reads them. The producer tops the send buffer up to 256 KiB on every
  MG_EV_WRITE/MG_EV_POLL, so memory stays bounded however slow the client is.

The program writes the status line and headers itself (Transfer-Encoding: chunked),
then calls Connection.http_chunk(); http_chunk(b"") finishes the response, after
which the connection can carry the next request (keep-alive).

Run:
    python examples/chunked_stream.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    curl -N "http://127.0.0.1:8000/stream?count=5&delay=500"
    curl -s "http://127.0.0.1:8000/download?size=100000000" | wc -c
    curl --limit-rate 100k -s "http://127.0.0.1:8000/download?size=2000000" | wc -c

Ctrl+C or SIGTERM stops it.
"""
import sys

import pymongoose as mg

HEAD = "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\n\r\n"
BUFFER_TARGET = 256 * 1024
BLOCK = (b"0123456789abcdef" * 4096)  # 64 KiB of sample data

manager = None
streams = {}  # connection id -> per-response state


def int_arg(message, name, default, low, high):
    value = message.query_var(name)
    if value is None or not value.isdigit():
        return default
    return max(low, min(high, int(value)))


def start_lines(conn, count, delay_ms):
    state = {"sent": 0}

    def next_line():
        if conn.id not in streams:  # closed meanwhile
            return
        state["sent"] += 1
        conn.http_chunk(f"line {state['sent']} of {count}\n")
        if state["sent"] == count:
            finish(conn)

    conn.send(HEAD.format("text/plain; charset=utf-8"))
    state["timer"] = manager.timer_add(delay_ms, next_line, repeat=True, run_now=True)
    streams[conn.id] = state


def start_download(conn, size):
    conn.send(HEAD.format("application/octet-stream"))
    streams[conn.id] = {"left": size}
    pump(conn)


def pump(conn):
    """Top the send buffer up, a block at a time, while the client keeps reading."""
    state = streams.get(conn.id)
    if state is None or "left" not in state:
        return
    while state["left"] > 0 and conn.send_len < BUFFER_TARGET:
        piece = BLOCK[:state["left"]]
        conn.http_chunk(piece)
        state["left"] -= len(piece)
    if state["left"] == 0:
        finish(conn)


def finish(conn):
    state = streams.pop(conn.id, None)
    if state and "timer" in state:
        state["timer"].cancel()
    conn.http_chunk(b"")  # the last chunk: the response is complete


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        if data.uri == "/stream":
            start_lines(conn, int_arg(data, "count", 5, 1, 1000),
                        int_arg(data, "delay", 500, 1, 60000))
        elif data.uri == "/download":
            start_download(conn, int_arg(data, "size", 10_000_000, 0, 1 << 40))
        else:
            conn.reply(404, "try /stream or /download\n")
    elif ev in (mg.MG_EV_WRITE, mg.MG_EV_POLL):
        if conn.id in streams:
            pump(conn)
    elif ev == mg.MG_EV_CLOSE:
        state = streams.pop(conn.id, None)
        if state and "timer" in state:
            state["timer"].cancel()


def main():
    global manager
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/ (try /stream and /download)", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

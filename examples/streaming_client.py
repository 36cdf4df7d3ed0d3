"""Streaming HTTP client: print a response body while it is still arriving.

Manager.connect(url, http=False) gives a raw TCP connection: every MG_EV_READ takes
the newly received bytes with Connection.recv_consume(), so nothing accumulates in
memory however long the stream runs. The program parses the response head itself,
then decodes the body as it comes (chunked, Content-Length or read-until-close) and
writes each piece to stdout at once. Useful for endless streams: Server-Sent Events,
log tails, chunked feeds.

Run:
    python examples/streaming_client.py URL

Try (with examples/chunked_stream.py or examples/sse_server.py running):
    python examples/streaming_client.py "http://127.0.0.1:8000/stream?count=10&delay=300"
    python examples/streaming_client.py http://127.0.0.1:8000/events     # until Ctrl+C

Exits 0 when the body is complete (or on Ctrl+C/SIGTERM), 1 on a connection error or a
malformed response. A summary goes to stderr.
"""
import signal
import sys
from urllib.parse import urlsplit

import pymongoose as mg


class BodyStream:
    """Incremental decoder: feed() bytes, get body pieces written to ``out``."""

    def __init__(self, out):
        self.out = out
        self.head = b""
        self.status = None
        self.mode = None  # "chunked" | "length" | "close"
        self.left = 0  # bytes left of the body (length) or of the current chunk
        self.pending = b""  # undecoded chunked framing
        self.chunk_state = "size"  # "size" | "data" | "crlf" | "done"
        self.received = 0
        self.pieces = 0
        self.complete = False

    def feed(self, data):
        if self.mode is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > 65536:
                    raise ValueError("response head too large")
                return
            data = self.head[end + 4:]
            self.parse_head(self.head[:end].decode("latin-1"))
        if self.mode == "chunked":
            self.feed_chunked(data)
        elif data:
            if self.mode == "length":
                data = data[:self.left]
                self.left -= len(data)
                self.complete = self.left == 0
            self.emit(data)

    def parse_head(self, text):
        lines = text.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP response: {lines[0]!r}")
        self.status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        print(f"status {self.status}, {headers.get('content-type', 'no content type')}",
              file=sys.stderr)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.mode = "chunked"
        elif "content-length" in headers:
            self.mode = "length"
            self.left = int(headers["content-length"])
            self.complete = self.left == 0
        else:
            self.mode = "close"

    def feed_chunked(self, data):
        buf = self.pending + data
        while buf and self.chunk_state != "done":
            if self.chunk_state == "size":
                eol = buf.find(b"\r\n")
                if eol < 0:
                    break
                self.left = int(buf[:eol].split(b";")[0], 16)
                buf = buf[eol + 2:]
                self.chunk_state = "data" if self.left else "done"
            elif self.chunk_state == "data":
                piece, buf = buf[:self.left], buf[self.left:]
                self.left -= len(piece)
                self.emit(piece)
                if self.left == 0:
                    self.chunk_state = "crlf"
            elif self.chunk_state == "crlf":
                if len(buf) < 2:
                    break
                if buf[:2] != b"\r\n":
                    raise ValueError("bad chunk framing")
                buf = buf[2:]
                self.chunk_state = "size"
        self.pending = buf
        self.complete = self.chunk_state == "done"

    def emit(self, piece):
        if piece:
            self.received += len(piece)
            self.pieces += 1
            self.out.write(piece)
            self.out.flush()


def main():
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    url = sys.argv[1]
    host = urlsplit(url).netloc.rpartition("@")[2]
    request = (f"GET {mg.url_uri(url)} HTTP/1.1\r\nHost: {host}\r\n"
               "User-Agent: pymongoose-example\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    stream = BodyStream(sys.stdout.buffer)
    state = {"done": False, "status": 1}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_CONNECT:
            conn.send(request)
        elif ev == mg.MG_EV_READ:
            try:
                stream.feed(conn.recv_consume())
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                conn.close()
                return
            if stream.complete:
                state["status"] = 0
                conn.close()
        elif ev == mg.MG_EV_ERROR:
            print(f"error: {data}", file=sys.stderr)
        elif ev == mg.MG_EV_CLOSE:
            if stream.mode == "close":  # the body ends where the connection does
                state["status"] = 0
            state["done"] = True

    def on_signal(signum, frame):
        state.update(done=True, status=0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with mg.Manager(handler) as manager:
        manager.connect(url, http=False)
        while not state["done"]:
            manager.poll(100)
    print(f"received {stream.received} bytes in {stream.pieces} pieces", file=sys.stderr)
    return state["status"]


if __name__ == "__main__":
    sys.exit(main())

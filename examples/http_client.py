"""HTTP client: fetch one URL with Manager.connect() and print the response.

The connection is opened without blocking; the request is written on MG_EV_CONNECT
and the parsed response arrives as one MG_EV_HTTP_MSG (Content-Length, chunked and
read-until-close bodies are all handled by the engine). Failures (refused port,
unknown host, timeout) arrive as MG_EV_ERROR followed by MG_EV_CLOSE. Credentials in
the URL (http://user:pass@host/) are sent with Connection.http_basic_auth().

Run:
    python examples/http_client.py URL [--data TEXT] [--header "Name: value"]...

Try (start examples/hello_server.py or examples/rest_api.py first):
    python examples/http_client.py http://127.0.0.1:8000/
    python examples/http_client.py http://127.0.0.1:8000/api/notes --data '{"text": "hi"}'
    python examples/http_client.py http://127.0.0.1:1/        # refused: exit status 1

Prints the status line, the headers and the body; exits 0 when a response arrived,
1 on an error. Ctrl+C or SIGTERM abandons the request and exits 0.
"""
import argparse
import signal
import sys
from urllib.parse import urlsplit

import pymongoose as mg


def main():
    parser = argparse.ArgumentParser(description="fetch one URL")
    parser.add_argument("url")
    parser.add_argument("--data", help="send this body with POST")
    parser.add_argument("--header", action="append", default=[], help='extra "Name: value" header')
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    args = parser.parse_args()

    body = (args.data or "").encode()
    host = urlsplit(args.url).netloc.rpartition("@")[2]  # Host header: no credentials
    head = [f"{'POST' if args.data is not None else 'GET'} {mg.url_uri(args.url)} HTTP/1.1",
            f"Host: {host}", "User-Agent: pymongoose-example", "Accept: */*",
            "Connection: close", *args.header]
    if args.data is not None:
        head += ["Content-Type: application/json" if body[:1] in (b"{", b"[")
                 else "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}"]

    result = {"done": False, "status": 1}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_CONNECT:
            conn.send("\r\n".join(head) + "\r\n")
            if mg.url_user(args.url):
                conn.http_basic_auth(mg.url_user(args.url), mg.url_pass(args.url))
            conn.send(b"\r\n" + body)
        elif ev == mg.MG_EV_HTTP_MSG:
            print(f"HTTP {data.status()} {data.proto}")
            for name, value in data.headers():
                print(f"{name}: {value}")
            print()
            sys.stdout.write(data.body_text)
            sys.stdout.flush()
            result["status"] = 0
            conn.close()
        elif ev == mg.MG_EV_ERROR:
            print(f"error: {data}", file=sys.stderr)
        elif ev == mg.MG_EV_CLOSE:
            result["done"] = True

    def on_signal(signum, frame):
        result.update(done=True, status=0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with mg.Manager(handler, limits={"connect_timeout": args.timeout}) as manager:
        manager.connect(args.url, http=True)
        deadline = mg.millis() + int(args.timeout * 1000)
        while not result["done"]:
            if mg.millis() > deadline:
                print("error: no response in time", file=sys.stderr)
                break
            manager.poll(100)
    return result["status"]


if __name__ == "__main__":
    sys.exit(main())

"""Flask on pymongoose: a WSGI application served by pymongoose.wsgi.WSGIServer.

The engine parses HTTP on its event loop; each request runs the Flask app on a
thread pool (4 workers by default), and the response goes back to the loop. Small
bodies are sent in one piece, big ones (1 MiB and up) are streamed chunked.

    GET  /                 a greeting (text)
    GET  /hello/<name>     JSON
    POST /echo             JSON body echoed back
    GET  /numbers?n=100000 a large streamed body (a generator)

Needs Flask:  pip install flask

Run:
    python examples/flask_app.py [PORT_OR_URL] [--workers N]   # default 8000; 0 = any free port

Try:
    curl -s http://127.0.0.1:8000/hello/flask
    curl -s -X POST -H "Content-Type: application/json" -d '{"a": 1}' http://127.0.0.1:8000/echo
    curl -s "http://127.0.0.1:8000/numbers?n=300000" | tail -n 1

Ctrl+C or SIGTERM stops it. (pymongoose.wsgi.serve(app, url) does the same in one
call; this program spells it out to print the real port.)
"""
import argparse
import sys

try:
    from flask import Flask, Response, jsonify, request
except ImportError:
    sys.exit("this example needs Flask: pip install flask")

from pymongoose.wsgi import WSGIServer

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask on pymongoose!\n"


@app.get("/hello/<name>")
def hello(name):
    return jsonify(hello=name, user_agent=request.headers.get("User-Agent", ""))


@app.post("/echo")
def echo():
    return jsonify(received=request.get_json(silent=True))


@app.get("/numbers")
def numbers():
    n = min(request.args.get("n", 1000, type=int), 10_000_000)
    return Response((f"{i}\n" for i in range(n)), mimetype="text/plain")


def main():
    parser = argparse.ArgumentParser(description="Flask app on pymongoose")
    parser.add_argument("listen", nargs="?", default="8000", help="port or URL (default 8000)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.listen}" if args.listen.isdigit() else args.listen
    server = WSGIServer(app, workers=args.workers)
    listener = server.listen(url)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/ ({args.workers} workers)", flush=True)
    server.run()  # until SIGINT/SIGTERM, then closes the pool and the manager


if __name__ == "__main__":
    main()

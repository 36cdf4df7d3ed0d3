"""Hello-world JSON server on Flask's threaded development server.

    python flask_server.py PORT

This is how many users run Flask (app.run(threaded=True)); it is in the
comparison as the familiar baseline, not as a production deployment.
Per-request logging of the werkzeug logger is turned off, as access logs are
for every server in the comparison.  SIGTERM is turned into the same clean
exit as Ctrl-C.
"""

import logging
import signal
import sys

from flask import Flask, Response

BODY = b'{"message":"Hello, World!"}'

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
@app.route("/<path:path>", methods=["GET", "HEAD", "POST", "PUT", "DELETE"])
def hello(path: str) -> Response:
    return Response(BODY, status=200, content_type="application/json")


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _terminate)
    print(f"flask listening on http://127.0.0.1:{port}", flush=True)
    try:
        app.run(host="127.0.0.1", port=port, threaded=True, debug=False,
                use_reloader=False)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

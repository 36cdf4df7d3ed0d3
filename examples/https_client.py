"""HTTPS client: fetch one https:// URL with certificate verification.

An https:// connection starts TLS by itself after MG_EV_CONNECT, verifying the server
against the system trust store and the URL's host name; calling conn.tls_init() in
MG_EV_CONNECT instead chooses the trust anchors (--ca), the expected name (--name), a
client certificate (--cert/--key) or no verification at all (--insecure, development
only). The request is queued at CONNECT and goes out once the handshake is done
(MG_EV_TLS_HS). A failed verification arrives as MG_EV_ERROR("TLS handshake failed: ...").

Run:
    python examples/https_client.py URL [--ca FILE] [--name HOST] [--insecure]

Try (start examples/https_server.py first and use the certificate path it prints):
    python examples/https_client.py https://localhost:8443/ --ca /tmp/.../cert.pem
    python examples/https_client.py https://127.0.0.1:8443/ --insecure

Prints the TLS version, the status line and the body; exits 0 when a response arrived,
1 on an error.
"""
import argparse
import pathlib
import sys
from urllib.parse import urlsplit

import pymongoose as mg


def main():
    parser = argparse.ArgumentParser(description="fetch one https:// URL")
    parser.add_argument("url")
    parser.add_argument("--ca", help="trust anchors (PEM); default: the system trust store")
    parser.add_argument("--name", help="expected server name (default: the URL host)")
    parser.add_argument("--cert", help="client certificate (PEM)")
    parser.add_argument("--key", help="client private key (PEM)")
    parser.add_argument("--insecure", action="store_true", help="skip verification (development only)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    args = parser.parse_args()

    read = lambda p: pathlib.Path(p).read_bytes() if p else None  # noqa: E731
    opts = mg.TlsOpts(ca=read(args.ca), cert=read(args.cert), key=read(args.key),
                      name=args.name, skip_verification=args.insecure)
    host = urlsplit(args.url).netloc
    request = (f"GET {mg.url_uri(args.url)} HTTP/1.1\r\nHost: {host}\r\n"
               "User-Agent: pymongoose-example\r\nConnection: close\r\n\r\n")
    result = {"done": False, "status": 1}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_CONNECT:
            conn.tls_init(opts)
            conn.send(request)  # sent once the handshake completes
        elif ev == mg.MG_EV_TLS_HS:
            info = conn.tls_info()
            print(f"TLS {info['version']} {info['cipher']} alpn={info['alpn'] or '-'}")
        elif ev == mg.MG_EV_HTTP_MSG:
            print(f"HTTP {data.status()} {data.proto}")
            print()
            sys.stdout.write(data.body_text)
            sys.stdout.flush()
            result["status"] = 0
            conn.close()
        elif ev == mg.MG_EV_ERROR:
            print(f"error: {data}", file=sys.stderr)
        elif ev == mg.MG_EV_CLOSE:
            result["done"] = True

    manager = mg.Manager(handler)
    manager.connect(args.url, http=True)
    deadline = mg.millis() + int(args.timeout * 1000)
    try:
        while not result["done"] and mg.millis() < deadline:
            manager.poll(100)
    except KeyboardInterrupt:
        result["status"] = 0
    finally:
        manager.close()
    if not result["done"]:
        print("error: timeout", file=sys.stderr)
    sys.exit(result["status"])


if __name__ == "__main__":
    main()

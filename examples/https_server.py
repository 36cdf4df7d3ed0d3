"""HTTPS server: TLS on a listener, with optional client certificates (mTLS).

TlsOpts given to the listener's tls_init() become the defaults of every accepted
connection, so the handlers are the same as for plain HTTP; MG_EV_TLS_HS marks each
completed handshake and conn.tls_info() tells the protocol, cipher and the client's
certificate. Without --cert/--key the server makes a self-signed certificate for
localhost and 127.0.0.1 at start (with the `openssl` command) and prints its path.

Run:
    python examples/https_server.py                       # https://127.0.0.1:8443/
    python examples/https_server.py 0 --cert cert.pem --key key.pem
    python examples/https_server.py https://0.0.0.0:8443 --cert cert.pem --key key.pem --ca clients-ca.pem

Try:
    curl --cacert /path/printed/at/start/cert.pem https://localhost:8443/
    curl --cacert cert.pem --cert client.pem --key client-key.pem https://localhost:8443/whoami
    openssl s_client -connect 127.0.0.1:8443 -alpn http/1.1 </dev/null

GET / answers with the TLS facts as JSON; GET /whoami with the client certificate's
subject (403 without one). Ctrl+C or SIGTERM stops it.
"""
import argparse
import pathlib
import subprocess
import tempfile

import pymongoose as mg


def self_signed(directory: str) -> tuple[bytes, bytes, str]:
    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return pathlib.Path(cert).read_bytes(), pathlib.Path(key).read_bytes(), cert


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        info = conn.tls_info() or {}
        peer = info.get("peer_cert")
        if data.uri == "/whoami":
            if peer is None:
                conn.reply(403, "a client certificate is required\n")
            else:
                conn.reply_json({"subject": peer["subject"], "san": peer["san"]})
            return
        conn.reply_json({"tls": conn.is_tls, "version": info.get("version"),
                         "cipher": info.get("cipher"), "alpn": info.get("alpn"),
                         "sni": info.get("server_name"),
                         "client_cert": peer["subject"] if peer else None})


def main():
    parser = argparse.ArgumentParser(description="HTTPS server")
    parser.add_argument("url", nargs="?", default="8443", help="port or https:// URL")
    parser.add_argument("--cert", help="PEM certificate (chain allowed)")
    parser.add_argument("--key", help="PEM private key")
    parser.add_argument("--ca", help="require client certificates issued by this CA (PEM)")
    args = parser.parse_args()
    url = f"https://127.0.0.1:{args.url}" if args.url.isdigit() else args.url

    with tempfile.TemporaryDirectory() as tmp:
        if args.cert and args.key:
            cert, key = pathlib.Path(args.cert).read_bytes(), pathlib.Path(args.key).read_bytes()
        else:
            cert, key, path = self_signed(tmp)
            print(f"self-signed certificate: {path}", flush=True)
        ca = pathlib.Path(args.ca).read_bytes() if args.ca else None
        manager = mg.Manager(handler)
        listener = manager.listen(url, http=True)
        listener.tls_init(mg.TlsOpts(cert=cert, key=key, ca=ca))
        host, port, ipv6 = listener.local_addr
        host = f"[{host}]" if ipv6 else host
        print(f"listening on https://{host}:{port}/", flush=True)
        manager.run()  # returns on SIGINT/SIGTERM, then closes the manager


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""TLS plumbing for the TLS tests (spec §3.6, §8.7): certificates made at test time and
client-side helpers, independent of pymongoose.

Nothing secret is committed: ``make_certs()`` builds a throw-away PKI once per test process
with ``trustme`` (CA, intermediate CA, leaf and client certificates) and with the
``openssl`` command (keys in the three PEM formats the spec names: SEC1 ``EC PRIVATE KEY``,
PKCS#1 ``RSA PRIVATE KEY`` and PKCS#8 ``PRIVATE KEY``).
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from mgtest_helpers import HOST, SOCK_TIMEOUT, HttpReader, Response, mg

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


@dataclass(frozen=True)
class Pair:
    """A certificate (PEM, chain allowed, leaf first) and its private key (PEM)."""

    cert: bytes
    key: bytes

    def opts(self, **kw) -> "mg.TlsOpts":
        return mg.TlsOpts(cert=self.cert, key=self.key, **kw)


@dataclass(frozen=True)
class Certs:
    ca: bytes             # root CA certificate (PEM): what clients trust
    ca_key: bytes
    server: Pair          # localhost + 127.0.0.1, EC key (trustme)
    server_pkcs8: Pair    # same certificate, key re-encoded as PKCS#8 "PRIVATE KEY"
    ec_sec1: Pair         # openssl-made P-256 key, "EC PRIVATE KEY"
    rsa_pkcs1: Pair       # openssl-made RSA-2048 key, "RSA PRIVATE KEY"
    chained: Pair         # leaf issued by an intermediate CA: cert = leaf + intermediate
    client: Pair          # client certificate for mTLS (DNS:client.test, CN=test client)
    alpha: Pair           # DNS:alpha.test only (SNI)
    beta: Pair            # DNS:beta.test only (SNI)
    name_only: Pair       # DNS:localhost only, no IP SAN
    untrusted: Pair       # localhost + 127.0.0.1 from another CA nobody trusts
    untrusted_ca: bytes
    dir: str              # a directory holding ca.pem (for curl/openssl -CAfile)

    @property
    def ca_file(self) -> str:
        return os.path.join(self.dir, "ca.pem")

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    p = subprocess.run([OPENSSL, *args], input=stdin, capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {p.stderr.decode(errors='replace')}")
    return p.stdout


def _openssl_leaf(tmp: str, tag: str, keygen: list[str], ca_cert: bytes, ca_key: bytes,
                  cn: str, san: str) -> Pair:
    """A key from ``openssl genpkey`` written in the traditional format (SEC1 / PKCS#1),
    and a certificate for it signed by the CA with ``openssl req`` + ``openssl x509``."""
    p = lambda n: os.path.join(tmp, f"{tag}.{n}")  # noqa: E731
    with open(p("ca.pem"), "wb") as f:
        f.write(ca_cert)
    with open(p("cakey.pem"), "wb") as f:
        f.write(ca_key)
    pkcs8 = _openssl("genpkey", *keygen)
    key = _openssl("pkey", "-traditional", stdin=pkcs8)
    with open(p("key.pem"), "wb") as f:
        f.write(key)
    with open(p("ext.cnf"), "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("req", "-new", "-key", p("key.pem"), "-subj", f"/CN={cn}", "-out", p("csr.pem"))
    cert = _openssl("x509", "-req", "-in", p("csr.pem"), "-CA", p("ca.pem"), "-CAkey",
                    p("cakey.pem"), "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
                    "-days", "2", "-sha256", "-extfile", p("ext.cnf"))
    return Pair(cert, key)


def _pair(leaf) -> Pair:
    return Pair(b"".join(b.bytes() for b in leaf.cert_chain_pems), leaf.private_key_pem.bytes())


@functools.lru_cache(maxsize=1)
def make_certs() -> Certs:
    import trustme

    ca = trustme.CA()
    ca_pem = ca.cert_pem.bytes()
    ca_key = ca.private_key_pem.bytes()
    server = _pair(ca.issue_cert("localhost", "127.0.0.1", common_name="localhost"))
    tmp = tempfile.mkdtemp(prefix="mgtls-")
    ec = _openssl_leaf(tmp, "ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                       ca_pem, ca_key, "ec sec1", "DNS:localhost,IP:127.0.0.1")
    rsa = _openssl_leaf(tmp, "rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                        ca_pem, ca_key, "rsa pkcs1", "DNS:localhost,IP:127.0.0.1")
    pkcs8_key = _openssl("pkey", stdin=server.key)  # OpenSSL 3 writes PKCS#8 by default
    inter = ca.create_child_ca()
    chained = _pair(inter.issue_cert("localhost", "127.0.0.1", common_name="chained leaf"))
    other = trustme.CA()
    certs = Certs(
        ca=ca_pem, ca_key=ca_key, server=server,
        server_pkcs8=Pair(server.cert, pkcs8_key), ec_sec1=ec, rsa_pkcs1=rsa,
        chained=chained,
        client=_pair(ca.issue_cert("client.test", common_name="test client")),
        alpha=_pair(ca.issue_cert("alpha.test", common_name="alpha.test")),
        beta=_pair(ca.issue_cert("beta.test", common_name="beta.test")),
        name_only=_pair(ca.issue_cert("localhost", common_name="name only")),
        untrusted=_pair(other.issue_cert("localhost", "127.0.0.1", common_name="untrusted")),
        untrusted_ca=other.cert_pem.bytes(), dir=tmp,
    )
    # The formats this fixture promises (a trustme or openssl upgrade must not silently
    # turn a test of one key format into a test of another).
    assert certs.ec_sec1.key.startswith(b"-----BEGIN EC PRIVATE KEY-----"), certs.ec_sec1.key[:40]
    assert certs.rsa_pkcs1.key.startswith(b"-----BEGIN RSA PRIVATE KEY-----"), certs.rsa_pkcs1.key[:40]
    assert certs.server_pkcs8.key.startswith(b"-----BEGIN PRIVATE KEY-----"), pkcs8_key[:40]
    assert certs.chained.cert.count(b"BEGIN CERTIFICATE") == 2
    certs.write("ca.pem", ca_pem)
    return certs


def cleanup_certs() -> None:
    if make_certs.cache_info().currsize:
        shutil.rmtree(make_certs().dir, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Python ssl clients
# --------------------------------------------------------------------------------------


def load_pair(ctx: ssl.SSLContext, pair: Pair, certs_dir: str | None = None) -> None:
    """``ctx.load_cert_chain`` from PEM bytes (ssl only reads files: written to a temporary
    directory, removed again unless ``certs_dir`` was given)."""
    with tempfile.TemporaryDirectory(prefix="mgtls-") as tmp:
        d = certs_dir or tmp
        tag = f"{os.getpid()}-{threading.get_ident()}-{id(pair)}"
        cf, kf = os.path.join(d, f"pair-{tag}.crt"), os.path.join(d, f"pair-{tag}.key")
        with open(cf, "wb") as f:
            f.write(pair.cert)
        with open(kf, "wb") as f:
            f.write(pair.key)
        ctx.load_cert_chain(cf, kf)


def client_context(ca: bytes | None, *, cert: Pair | None = None, certs_dir: str | None = None,
                   minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None,
                   alpn: list[str] | None = None) -> ssl.SSLContext:
    """A verifying client context trusting ``ca`` (no verification when ``ca`` is None)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=ca.decode())
    if cert is not None:
        load_pair(ctx, cert, certs_dir)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port: int, ctx: ssl.SSLContext, server_hostname: str | None = "localhost",
                timeout: float = SOCK_TIMEOUT, ragged_ok: bool = True,
                rcvbuf: int | None = None) -> ssl.SSLSocket:
    """TCP connect to 127.0.0.1:port, then a complete TLS handshake (with a timeout).
    ``rcvbuf`` sets SO_RCVBUF before connecting (a small receive window from the start;
    shrinking it on a connected socket makes the kernel crawl, whatever the server does)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    try:
        raw.connect((HOST, port))
    except BaseException:
        raw.close()
        raise
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname,
                               suppress_ragged_eofs=ragged_ok)
    except BaseException:
        raw.close()
        raise


def tls_get(port: int, ctx: ssl.SSLContext, raw: bytes, method: str = "GET",
            server_hostname: str | None = "localhost") -> Response:
    with tls_connect(port, ctx, server_hostname) as s:
        s.sendall(raw)
        return HttpReader(s).read_response(method)


def wait_listening(port: int, proc: subprocess.Popen | None = None, timeout: float = 10.0,
                   host: str = HOST) -> None:
    """Wait until something accepts TCP connections on host:port (peer servers that print
    nothing when ready: nginx). Fails early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"peer server exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class ThreadedTlsServer:
    """``http.server.ThreadingHTTPServer`` wrapped in an ``ssl.SSLContext`` on a thread.

    ``routes`` maps a path to (status, headers, body). The request log (method, path,
    headers, body) is kept in ``self.requests``.
    """

    def __init__(self, pair: Pair, routes: dict, *, ca_for_clients: bytes | None = None,
                 certs_dir: str | None = None):
        import http.server

        outer = self
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self.client_certs: list[dict | None] = []

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                outer.client_certs.append(self.connection.getpeercert())
                status, headers, payload = routes.get(self.path, (404, {}, b"no route"))
                if callable(payload):
                    payload = payload(self.command, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = do_PUT = _answer

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        load_pair(ctx, pair, certs_dir)
        if ca_for_clients is not None:
            ctx.load_verify_locations(cadata=ca_for_clients.decode())
            ctx.verify_mode = ssl.CERT_REQUIRED
        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), H)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
        assert not self.thread.is_alive(), "TLS http.server thread hung"


def openssl_s_client(port: int, *args: str, stdin: bytes = b"", timeout: float = 10.0,
                     ca_file: str | None = None) -> subprocess.CompletedProcess:
    """Run ``openssl s_client`` against 127.0.0.1:port with ``stdin`` as its input (closed
    afterwards); returns the completed process (stdout/stderr as text)."""
    cmd = [OPENSSL, "s_client", "-connect", f"{HOST}:{port}", *args]
    if ca_file:
        cmd += ["-CAfile", ca_file]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode("latin-1"),
                                       p.stderr.decode("latin-1"))


def error_texts(rec) -> list[str]:
    return [e.data for e in rec.of(mg.MG_EV_ERROR)]

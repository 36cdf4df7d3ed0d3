#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes fuzz/corpus/tls/: seeds for fuzz_tls (byte 0 flags, then ca, cert, key, name and
the bytes a peer sends, separated by NUL).

The certificate and EC key in the seeds are a throwaway test fixture made by this script
with `openssl req` (self-signed, CN=localhost); they protect nothing. Client hellos come
from Python's ssl module over memory BIOs (TLS 1.3, TLS 1.2 only, with SNI and ALPN).
"""

import pathlib
import ssl
import subprocess
import tempfile

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "tls"


def fixture_cert() -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{d}/k.pem", "-out", f"{d}/c.pem", "-days", "3650", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
        return pathlib.Path(f"{d}/c.pem").read_bytes(), pathlib.Path(f"{d}/k.pem").read_bytes()


def client_hello(max_version: ssl.TLSVersion, sni: str | None, alpn: list[str] | None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def seed(flags: int, ca: bytes, cert: bytes, key: bytes, name: bytes, wire: bytes) -> bytes:
    return bytes([flags]) + b"\0".join([ca, cert, key, name, wire])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cert, key = fixture_cert()
    hello13 = client_hello(ssl.TLSVersion.TLSv1_3, "localhost", ["http/1.1"])
    hello12 = client_hello(ssl.TLSVersion.TLSv1_2, None, None)
    hello_h2 = client_hello(ssl.TLSVersion.TLSv1_3, "other.example", ["h2"])
    seeds = {
        "empty_options": seed(0, b"", b"", b"", b"", b""),
        "garbage_pem": seed(1, b"ca?", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b"k", b"", b""),
        "valid_no_wire": seed(0, b"", cert, key, b"", b""),
        "valid_hello13_alpn": seed(2, b"", cert, key, b"localhost", hello13),
        "valid_hello12": seed(0x40, b"", cert, key, b"", hello12),
        "valid_hello_h2_only": seed(2, b"", cert, key, b"", hello_h2),
        "valid_mtls": seed(0, cert, cert, key, b"", hello13),
        "plaintext_http": seed(2, b"", cert, key, b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "truncated_hello": seed(0x10, b"", cert, key, b"", hello13[: len(hello13) // 2]),
        "bad_context_hello": seed(0, b"", b"junk", b"junk", b"", hello13),
        "record_len_overflow": seed(0, b"", cert, key, b"", b"\x16\x03\x01\xff\xff" + b"\x01" * 64),
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()

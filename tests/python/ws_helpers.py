# SPDX-License-Identifier: MIT
"""Raw-socket WebSocket plumbing for the tests (RFC 6455), independent of pymongoose.

Frames are built byte by byte so tests can produce exactly the protocol violations
they want (unmasked frames, RSV bits, bogus lengths, unknown opcodes); the reader
reports every field of what the peer sent, including whether it was masked.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
from dataclasses import dataclass

from mgtest_helpers import HOST, SOCK_TIMEOUT, HttpReader, PeerClosed, Response, connect

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def frame(op: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True, rsv: int = 0,
          declared_len: int | None = None, mask_key: bytes | None = None) -> bytes:
    """One frame. ``declared_len`` overrides the length field (payload sent as given)."""
    n = len(payload) if declared_len is None else declared_len
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (op & 0x0F)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return head + key + payload
    return head + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@dataclass
class Frame:
    fin: bool
    rsv: int
    op: int
    masked: bool
    mask_key: bytes
    payload: bytes  # unmasked
    raw_len_field: int  # 7-bit length code (126/127 = extended)

    @property
    def close_code(self) -> int | None:
        if self.op != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]


def read_frame(reader: HttpReader) -> Frame:
    b0, b1 = reader.read_exact(2)
    n = b1 & 0x7F
    code = n
    if n == 126:
        n = struct.unpack("!H", reader.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.read_exact(8))[0]
    masked = bool(b1 & 0x80)
    key = reader.read_exact(4) if masked else b""
    payload = reader.read_exact(n)
    if masked:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, key, payload, code)


def upgrade_request(path: str = "/ws", key: str = "dGhlIHNhbXBsZSBub25jZQ==",
                    extra: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: test", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in (extra or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawWs:
    """A WebSocket client over a plain socket; ``handshake()`` returns the 101 response."""

    def __init__(self, port: int, host: str = HOST, timeout: float = SOCK_TIMEOUT):
        self.sock = connect(port, host, timeout)
        self.reader = HttpReader(self.sock)
        self.response: Response | None = None

    def handshake(self, path: str = "/ws", key: str = "dGhlIHNhbXBsZSBub25jZQ==",
                  extra: list[tuple[str, str]] | None = None) -> Response:
        self.sock.sendall(upgrade_request(path, key, extra))
        self.response = self.reader.read_response()
        assert self.response.status == 101, (self.response.status, self.response.body)
        return self.response

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, op: int, payload: bytes = b"", **kw) -> None:
        self.sock.sendall(frame(op, payload, **kw))

    def recv(self) -> Frame:
        return read_frame(self.reader)

    def recv_non_control(self) -> Frame:
        while True:
            f = self.recv()
            if f.op not in (OP_PING, OP_PONG):
                return f

    def expect_close(self, timeout: float = 3.0) -> Frame:
        """Read frames until a close frame; then require the TCP connection to end."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        while True:
            f = self.recv()
            if f.op == OP_CLOSE:
                break
            assert time.monotonic() < deadline, "no close frame"
        assert self.reader.wait_closed(max(0.1, deadline - time.monotonic())), \
            "server did not close the TCP connection after its close frame"
        return f

    def closed_within(self, timeout: float = 3.0) -> bytes:
        """Wait for the TCP connection to end; return whatever arrived before."""
        assert self.reader.wait_closed(timeout), "connection still open"
        return self.reader.buf

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawWs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def recv_available(reader: HttpReader, timeout: float) -> bytes:
    """Everything that arrives within ``timeout`` (stops early on close)."""
    reader.wait_closed(timeout)
    out, reader.buf = reader.buf, b""
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def poll_until(mgr, pred, timeout: float = 3.0, step_ms: int = 10, what: str = "condition"):
    """Poll a Manager on the calling thread until ``pred()`` is true (deadline bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        mgr.poll(step_ms)


__all__ = [n for n in dir() if not n.startswith("_")] + ["PeerClosed"]

# SPDX-License-Identifier: MIT
"""A real browser as the peer: headless Chromium (Debian package ``chromium``, installed by
scripts/setup.sh) loads a page served by pymongoose whose script talks to the same server
over WebSocket (and EventSource for SSE) and writes what it got into the DOM; the test
reads the DOM back with ``--dump-dom``.
"""

from __future__ import annotations

import os
import re

import pytest

from mgtest_helpers import CHROMIUM, mg, run_chromium

pytestmark = pytest.mark.timeout(30)

if CHROMIUM is None:
    pytest.skip("chromium is not installed (Debian: apt-get install -y chromium; "
                "scripts/setup.sh installs it)", allow_module_level=True)


def dump_dom(url: str, tmp_path, budget_ms: int = 5000, timeout: float = 20.0) -> str:
    """Run headless Chromium on ``url`` and return the serialized DOM."""
    out = run_chromium([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], tmp_path, timeout)
    return out.decode("utf-8", "replace")


def result_of(dom: str) -> str:
    m = re.search(r'<div id="out">(.*?)</div>', dom, re.S)
    assert m, dom[-2000:]
    return m.group(1)


# The page writes its result into the DOM *before* it asks the server to close; the server
# holds back the response to /gate.gif (an <img>, so the load event waits for it) until that
# request arrives. --dump-dom serializes the DOM after the load event, so the dump always
# contains the final result, however slow the round trips were (no timing assumption).
GATE_IMG = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00" \
    b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"

WS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pymongoose ws</title></head>
<body><div id="out">pending</div>
<script>
const out = document.getElementById("out");
const log = [];
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/ws", ["chat", "other"]);
ws.binaryType = "arraybuffer";
let step = 0;
ws.onopen = () => {
  log.push("open:" + ws.protocol + (ws.extensions ? ";" + ws.extensions : ""));
  ws.send("hello");
};
ws.onmessage = (e) => {
  if (typeof e.data === "string") {
    log.push(e.data.length > 40 ? "text" + e.data.length : e.data);
  } else {
    log.push("bin:" + Array.from(new Uint8Array(e.data)).join("."));
  }
  out.textContent = "PARTIAL " + log.join("|");
  step += 1;
  if (step === 1) ws.send("héllo ✓");
  else if (step === 2) ws.send(new Uint8Array([1, 2, 250]));
  else if (step === 3) ws.send("x".repeat(100000));
  else if (step === 4) { out.textContent = "RESULT " + log.join("|"); ws.send("close please"); }
};
ws.onerror = () => { log.push("error"); out.textContent = "ERROR " + log.join("|"); };
</script>
<img src="/gate.gif" alt="">
</body></html>
"""


class GatedPage:
    """Serves ``page``; holds /gate.gif until ``release()``."""

    def __init__(self, page: str):
        self.page = page
        self.gate = None
        self.released = False

    def http(self, conn, data) -> bool:
        if data.uri == "/gate.gif":
            if self.released:
                self._answer(conn)
            else:
                self.gate = conn
            return True
        if data.uri == "/":
            conn.reply(200, self.page, {"Content-Type": "text/html; charset=utf-8"})
            return True
        return False

    def _answer(self, conn):
        conn.reply(200, GATE_IMG, {"Content-Type": "image/gif", "Cache-Control": "no-store"})

    def release(self):
        self.released = True
        if self.gate is not None and self.gate.local_addr is not None:
            self._answer(self.gate)


def test_browser_websocket_roundtrip(server, tmp_path):
    browser_websocket_roundtrip(server, tmp_path, tls=False)


def test_browser_websocket_permessage_deflate(server, tmp_path):
    """Chromium offers permessage-deflate (RFC 7692); with compression on, the page sees
    the extension in ``ws.extensions`` and every message, 100 kB text included, goes
    through both compressors."""
    browser_websocket_roundtrip(server, tmp_path, tls=False, compression=True)


def test_browser_wss_roundtrip_with_a_test_ca(server, tmp_path):
    """The page over https:// and the WebSocket over wss://, with a certificate from a CA
    made at test time that Chromium is told to trust by its public key hash."""
    browser_websocket_roundtrip(server, tmp_path, tls=True)


def spki_hash(cert_pem: bytes) -> str:
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def browser_websocket_roundtrip(server, tmp_path, tls: bool, compression=None):
    events = []
    offers = []
    tls_seen = []
    gp = GatedPage(WS_PAGE)

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            if data.uri == "/ws":
                offers.append(data.header("Sec-WebSocket-Extensions"))
                conn.ws_upgrade(data, compression=compression)
            elif not gp.http(conn, data):
                conn.reply(404, "")
        elif ev == mg.MG_EV_WS_OPEN:
            events.append(("open", data.header("Sec-WebSocket-Protocol")))
            tls_seen.append(conn.tls_info() is not None)
        elif ev == mg.MG_EV_WS_MSG:
            events.append(("msg", data.flags, len(data.data)))
            if data.text == "close please":
                conn.ws_send(b"\x0f\xa0bye", 8)  # close 4000 "bye"
                gp.release()
            elif data.opcode == mg.WEBSOCKET_OP_BINARY:
                conn.ws_send(bytes(data.data) + b"\x07", mg.WEBSOCKET_OP_BINARY)
            else:
                conn.ws_send("echo:" + data.text if len(data.data) < 100 else data.data)
        elif ev == mg.MG_EV_WS_CTL:
            events.append(("ctl",))
        elif ev == mg.MG_EV_ERROR:
            events.append(("error", data))
    if not tls:
        srv = server(h)
        dom = dump_dom(srv.url("/"), tmp_path)
    else:
        trustme = pytest.importorskip("trustme")
        leaf = trustme.CA().issue_cert("localhost", "127.0.0.1")
        cert_pem = leaf.cert_chain_pems[0].bytes()
        srv = server(h, url="https://127.0.0.1:0")
        srv.listener.tls_init(mg.TlsOpts(cert=cert_pem, key=leaf.private_key_pem.bytes()))
        out = run_chromium(["--virtual-time-budget=5000", "--dump-dom",
                            f"--ignore-certificate-errors-spki-list={spki_hash(cert_pem)}",
                            f"https://localhost:{srv.port}/"], tmp_path, 20.0)
        dom = out.decode("utf-8", "replace")
    ext = ";permessage-deflate" if compression else ""
    assert result_of(dom) == (f"RESULT open:chat{ext}|echo:hello|echo:héllo ✓|bin:1.2.250.7|"
                              "text100000")
    assert offers and offers[0].startswith("permessage-deflate")
    assert events[0] == ("open", "chat, other")
    assert tls_seen == [tls]
    msgs = [e for e in events if e[0] == "msg"]
    assert [e[1] for e in msgs] == [129, 129, 130, 129, 129]
    assert not [e for e in events if e[0] == "error"], events


SSE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body><div id="out">pending</div>
<script>
const out = document.getElementById("out");
const got = [];
const es = new EventSource("/events");
function done() {
  es.close();
  out.textContent = "RESULT " + got.join("|");
  fetch("/release");
}
es.addEventListener("tick", (e) => { got.push("tick=" + e.data); });
es.addEventListener("multi", (e) => { got.push("multi=" + e.data.split("\\n").join("/")); });
es.addEventListener("end", (e) => { got.push("end=" + e.data); done(); });
es.onerror = () => { got.push("error"); done(); };
</script>
<img src="/gate.gif" alt="">
</body></html>
"""


def test_browser_eventsource_reads_http_sse(server, tmp_path):
    gp = GatedPage(SSE_PAGE)

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            if data.uri == "/release":
                conn.reply(204, "")
                gp.release()
            elif gp.http(conn, data):
                pass
            elif data.uri == "/events":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
                for i in range(3):
                    conn.http_sse("tick", str(i))
                conn.http_sse("multi", "line one\nline two\nline three")
                conn.http_sse("end", "bye")
            else:
                conn.reply(404, "")
    srv = server(h)
    dom = dump_dom(srv.url("/"), tmp_path)
    assert result_of(dom) == ("RESULT tick=0|tick=1|tick=2|"
                              "multi=line one/line two/line three|end=bye")

# SPDX-License-Identifier: MIT
"""Correctness of the WebSocket echo benchmark (benchmarks/ws_bench.py, ws_load.c,
servers/ws_*_server.py) — not speed.

- every WebSocket echo server passes the validator and stops cleanly on SIGTERM;
- the validator refuses a server that echoes wrong or does not answer pings;
- ws_load counts exactly what it gets echoed, detects a wrong echo and a wrong
  Sec-WebSocket-Accept, and keeps one message in flight per connection;
- ws_bench.py writes ws_results.json and its RESULTS.md section between the markers, and
  replaces that section on the next run.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path

import pytest

from mgtest_helpers import HOST, HttpReader, mg
from ws_helpers import accept_for, frame

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import ws_bench  # noqa: E402

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def load_bin():
    if ws_bench.check_load_generator() is not None:
        pytest.skip("no C compiler to build benchmarks/ws_load.c (apt-get install -y gcc)")
    return ws_bench.build_load()


@pytest.mark.parametrize("name", ws_bench.WS_ORDER)
def test_ws_server_validates_and_stops_cleanly(name):
    m = ws_bench.check_ws_servers([name])[name]
    if m is not None:
        pytest.skip(f"{name} not available: {m.reason} (install with: {m.install})")
    srv = ws_bench.start_ws_server(name, ready_timeout=20)
    try:
        v = ws_bench.validate_ws_server(srv.port, timeout=5)
        assert v == {"ok": True, "problems": []}, v
    finally:
        srv.stop(timeout=10)
    assert srv.clean_exit and srv.exit_code == 0, (srv.exit_code, srv.log_tail())


# A pymongoose echo server inside the test, with knobs to misbehave.
class EchoServer:
    def __init__(self, server, mutate=None, answer_ping=True):
        self.count = 0
        self.lock = threading.Lock()
        self.mutate = mutate

        def h(conn, ev, data):
            if ev == mg.MG_EV_HTTP_MSG:
                conn.ws_upgrade(data)
            elif ev == mg.MG_EV_WS_MSG:
                with self.lock:
                    self.count += 1
                payload = data.data if mutate is None else mutate(data.data)
                conn.ws_send(payload, data.opcode)
        self.srv = server(h)
        self.port = self.srv.port


def test_ws_load_counts_what_it_receives(server, load_bin):
    es = EchoServer(server)
    parsed, out = ws_bench.run_load(es.port, connections=10, duration=0.5, size=64, warmup=0,
                                    cpus=None)
    assert parsed is not None, out
    assert parsed["errors"] == 0 and parsed["bad_echo"] == 0, parsed
    assert parsed["connections"] == 10 and parsed["messages"] > 100
    # one message in flight per connection: the server saw at most one more per connection
    # than the client counted (the ones in flight when the window closed)
    assert parsed["messages"] <= es.count <= parsed["messages"] + 10, (parsed, es.count)
    assert 0 < parsed["lat_p50_us"] <= parsed["lat_p99_us"] <= parsed["lat_max_us"] + 1
    assert abs(parsed["msgs_per_s"] - parsed["messages"] / 0.5) < 0.05 * parsed["msgs_per_s"] + 1


def test_ws_load_message_sizes(server, load_bin):
    es = EchoServer(server)
    for size in (0, 125, 126, 4000):
        parsed, out = ws_bench.run_load(es.port, 2, 0.2, size, 0, None)
        assert parsed and parsed["errors"] == 0 and parsed["bad_echo"] == 0, (size, out)
        assert parsed["messages"] > 0


def test_ws_load_detects_a_wrong_echo(server, load_bin):
    es = EchoServer(server, mutate=lambda b: b[:-1] + b"!")
    parsed, out = ws_bench.run_load(es.port, 3, 0.3, 64, 0, None)
    assert parsed is not None, out
    assert parsed["bad_echo"] == 3 and parsed["messages"] == 0


def test_ws_load_detects_a_wrong_accept(load_bin):
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(4)
    ls.settimeout(5)

    def serve():
        s, _ = ls.accept()
        with s:
            head = HttpReader(s).read_until(b"\r\n\r\n")
            assert b"Sec-WebSocket-Key" in head
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong=\r\n\r\n")
            HttpReader(s).wait_closed(3)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    parsed, out = ws_bench.run_load(ls.getsockname()[1], 1, 0.2, 64, 0, None)
    t.join(5)
    ls.close()
    assert parsed is not None and parsed["errors"] == 1, out
    assert "Sec-WebSocket-Accept" in parsed["last_error"]


def _raw_ws_server(script):
    """A one-connection server doing the handshake, then ``script(sock, reader)``."""
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(4)
    ls.settimeout(5)

    def run():
        try:
            s, _ = ls.accept()
        except OSError:
            return
        with s:
            s.settimeout(5)
            r = HttpReader(s)
            head = r.read_until(b"\r\n\r\n").decode()
            key = [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
                   if ln.lower().startswith("sec-websocket-key")][0]
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      + accept_for(key).encode() + b"\r\n\r\n")
            try:
                script(s, r)
            except OSError:
                pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return ls, t


def test_validator_refuses_wrong_echo_and_missing_pong():
    from ws_helpers import read_frame

    def wrong(s, r):
        f = read_frame(r)
        s.sendall(frame(f.op, f.payload.upper(), mask=False))  # wrong echo
        for _ in range(10):
            f = read_frame(r)
            if f.op == 9:
                s.sendall(frame(1, b"not a pong", mask=False))
            elif f.op == 8:
                s.sendall(frame(8, f.payload, mask=False))
                return
            else:
                s.sendall(frame(f.op, f.payload, mask=False))

    ls, t = _raw_ws_server(wrong)
    v = ws_bench.validate_ws_server(ls.getsockname()[1], timeout=5)
    t.join(5)
    ls.close()
    assert not v["ok"]
    text = " ".join(v["problems"])
    assert "64-byte text echo" in text and "expected pong" in text, v


def test_validator_refuses_a_non_websocket_server(server):
    srv = server(lambda c, ev, d: ev == mg.MG_EV_HTTP_MSG and c.reply(200, "plain http"))
    v = ws_bench.validate_ws_server(srv.port, timeout=5)
    assert not v["ok"] and "expected a 101" in v["problems"][0]


def test_ws_bench_writes_results_and_section(tmp_path, load_bin):
    (tmp_path / "RESULTS.md").write_text("# results\n\n## Server validation\n\nx\n")
    argv = ["--servers", "pymongoose", "--duration", "0.5", "--repetitions", "1",
            "--warmup", "0.2", "--connections", "10", "--output-dir", str(tmp_path)]
    assert ws_bench.main(argv) == 0
    data = json.loads((tmp_path / "ws_results.json").read_text())
    assert data["servers"] == ["pymongoose"]
    assert data["validation"]["pymongoose"]["ok"]
    assert data["validation"]["pymongoose"]["after"]["ok"]
    s = data["summary"]["pymongoose"]
    assert s["n"] == 1 and s["msgs_per_s_median"] > 0
    assert data["runs"][0]["bad_echo"] == 0 and data["runs"][0]["errors"] == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.count(ws_bench.MARK_BEGIN) == 1 and text.count(ws_bench.MARK_END) == 1
    assert text.index("## WebSocket echo") < text.index("## Server validation")
    assert "| **pymongoose** |" in text
    # a second run replaces the section instead of adding one
    ws_bench.update_results_md(tmp_path / "RESULTS.md", "replaced")
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.count("## WebSocket echo") == 1
    assert f"{ws_bench.MARK_BEGIN}\nreplaced\n{ws_bench.MARK_END}" in text
    assert "| **pymongoose** |" not in text


def test_render_without_results_points_to_the_command():
    md = ws_bench.render_markdown(None)
    assert "ws_bench.py" in md and "--ws" in md


def test_run_benchmark_knows_ws_option():
    import subprocess

    p = subprocess.run([sys.executable, str(BENCH / "run_benchmark.py"), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--ws" in p.stdout
    tmpl = (BENCH / "RESULTS.template.md").read_text()
    assert "{{WS}}" in tmpl and ws_bench.MARK_BEGIN in tmpl

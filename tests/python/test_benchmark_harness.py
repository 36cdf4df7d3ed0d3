"""Correctness of the benchmark harness in benchmarks/ (not speed).

- every peer server that can run here answers GET with the identical response
  (status 200, Content-Type application/json, the exact body), keeps the
  connection alive where it should, and exits cleanly on SIGTERM;
- the validator refuses a server that answers wrong;
- run_benchmark.py names a missing prerequisite instead of running;
- run_benchmark.py --quick on a couple of servers writes a complete RESULTS.md,
  results.json and chart.

Servers start on free ports; readiness is awaited by polling connect() with a
deadline, never by sleeping.  A server whose package is not installed is
skipped with the install command in the reason (the README's test command
installs benchmarks/requirements.txt, so normally nothing is skipped).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402

SERVER_NAMES = list(harness.DEFAULT_ORDER)
_missing_cache: dict[str, harness.Missing | None] = {}


def missing(name: str) -> harness.Missing | None:
    if not _missing_cache:
        _missing_cache.update(harness.check_servers(SERVER_NAMES))
    return _missing_cache[name]


def require(name: str) -> None:
    m = missing(name)
    if m is not None:
        pytest.skip(f"{name} not available: {m.reason} (install with: {m.install})")


def raw_get(port: int, path: str = "/") -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        import time

        status, headers, body, _ = harness._read_response(s, bytearray(), time.monotonic() + 10)
    return status, headers, body


# ---------------------------------------------------------------------------
# Peer servers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", SERVER_NAMES)
def test_server_answers_identically_and_stops_cleanly(name):
    require(name)
    srv = harness.start_server(name, ready_timeout=45)
    try:
        v = harness.validate_server(srv.port)
        assert v.ok, v.problems
        assert (v.status, v.content_type, v.body) == (200, "application/json",
                                                      b'{"message":"Hello, World!"}')
        if name != "flask":  # werkzeug's dev server closes every connection
            assert v.keepalive and v.pipelining, v.as_dict()
        for path in ("/", "/some/other/path?q=1"):
            status, headers, body = raw_get(srv.port, path)
            assert status == 200
            assert headers["content-type"] == "application/json"
            assert headers["content-length"].strip() == "27"
            assert body == b'{"message":"Hello, World!"}'
    finally:
        srv.stop(timeout=20)
    assert srv.clean_exit, f"{name} did not stop within the SIGTERM grace period"
    assert srv.exit_code == 0, f"{name} exit code after SIGTERM: {srv.exit_code}"


def test_nginx_template_has_no_privileged_paths():
    text = (BENCH / "servers" / "nginx.conf").read_text()
    assert "@PORT@" in text and "@TMPDIR@" in text
    assert "worker_processes 1;" in text and "access_log off;" in text
    assert "daemon off;" in text
    assert "return 200 '{\"message\":\"Hello, World!\"}'" in text
    assert "default_type application/json;" in text


# ---------------------------------------------------------------------------
# Validator
# ---------------------------------------------------------------------------

class _WrongHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b'{"message": "Hello, World!"}'  # one space too many
    ctype = "application/json"

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", self.ctype)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("body,ctype,expect", [
    (b'{"message": "Hello, World!"}', "application/json", "body"),
    (b'{"message":"Hello, World!"}', "text/plain", "Content-Type"),
    (b'{"message":"Hello, World!"}', "application/json; charset=utf-8", "Content-Type"),
])
def test_validator_refuses_a_wrong_answer(body, ctype, expect):
    handler = type("H", (_WrongHandler,), {"body": body, "ctype": ctype})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        v = harness.validate_server(server.server_address[1], timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert not v.ok
    assert any(expect in p for p in v.problems), v.problems


def test_tree_cpu_accounting_counts_children():
    code = ("import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-c', "
            "'import time\\nt=time.process_time()\\nwhile time.process_time()-t<0.3: pass\\n"
            "time.sleep(5)'])\n"
            "time.sleep(5)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        import time

        deadline = time.monotonic() + 10
        ticks = 0
        while time.monotonic() < deadline:
            ticks = harness.tree_cpu_ticks(proc.pid)
            if ticks >= 0.3 * harness.CLK_TCK:
                break
            time.sleep(0.05)
        assert ticks >= 0.3 * harness.CLK_TCK, ticks
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------

def run_runner(args: list[str], env: dict | None = None, timeout: float = 150):
    return subprocess.run([sys.executable, str(BENCH / "run_benchmark.py"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_runner_names_a_missing_prerequisite(tmp_path):
    # No wrk on this PATH: the runner must stop, name it and say how to install it.
    p = run_runner(["--quick", "--servers", "cymongoose", "--output-dir", str(tmp_path)],
                   env={"PATH": str(tmp_path)}, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "wrk" in p.stdout and "apt-get install -y wrk" in p.stdout
    assert "Nothing was installed" in p.stdout
    assert not (tmp_path / "RESULTS.md").exists()


def test_runner_rejects_an_unknown_server(tmp_path):
    p = run_runner(["--quick", "--servers", "nosuchserver", "--output-dir", str(tmp_path)],
                   timeout=60)
    assert p.returncode != 0
    assert "unknown server" in (p.stdout + p.stderr)


def _pick_two() -> list[str]:
    order = ["pymongoose", "cymongoose", "nginx", "aiohttp", "granian"]
    usable = [n for n in order if missing(n) is None]
    return usable[:2]


def test_quick_run_writes_complete_results(tmp_path):
    if not harness.find_binary("wrk"):
        pytest.skip("wrk not installed (apt-get install -y wrk)")
    if harness.probe_imports(["matplotlib"]).get("matplotlib"):
        pytest.skip("matplotlib not installed (pip install -r benchmarks/requirements.txt)")
    servers = _pick_two()
    if len(servers) < 2:
        pytest.skip("fewer than two benchmark servers can run here")
    p = run_runner(["--quick", "--servers", ",".join(servers), "--output-dir", str(tmp_path)])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]

    results = (tmp_path / "RESULTS.md").read_text()
    assert "{{" not in results and "}}" not in results
    for heading in ("## Summary", "## Machine", "## How this was measured",
                    "## Scenario (a)", "## Scenario (b)", "## Scenario (c)",
                    "## Instructions per request (callgrind)", "## Server validation"):
        assert heading in results, heading
    assert "Smoke run" in results
    assert "![requests per second by scenario](results.png)" in results
    assert "wrk -t1 -c50" in results and "pipeline.lua" in results and "-- 16" in results
    assert "<!-- callgrind:begin -->" in results and "<!-- callgrind:end -->" in results
    # every scenario table has a measured row for every server
    for sc in ("a", "b", "c"):
        section = results.split(f"## Scenario ({sc})")[1].split("\n## ")[0]
        for name in servers:
            label = harness.SERVERS[name].label
            rows = [r for r in section.splitlines() if r.startswith(f"| {label} |")
                    or r.startswith(f"| **{label}** |")]
            assert rows, (sc, name, section)
            cells = [c.strip() for c in rows[0].strip("|").split("|")]
            assert cells[1].replace(",", "").isdigit(), rows[0]
    if "pymongoose" not in servers:
        assert "pymongoose was not part of this run" in results

    png = (tmp_path / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["quick"] is True
    assert data["machine"]["cpu_model"] and data["machine"]["kernel"]
    for name in servers:
        assert data["validation"][name]["ok"]
        assert data["servers"][name]["clean_exit"] is True
        for sc in ("a", "b", "c"):
            s = data["summary"][sc][name]
            assert s["n"] == 1 and s["rps_median"] > 0
            assert s["server_cpu_us_per_req"] is not None
    assert len(data["runs"]) == 3 * len(servers)
    assert all(r["non_2xx"] == 0 for r in data["runs"])

# SPDX-License-Identifier: MIT
"""Correctness of the HTTPS benchmark (benchmarks/tls_bench.py, wrk_noresume.c,
servers/tls_pymongoose_server.py, servers/nginx_tls.conf) — not speed.

- the run's certificate is an EC P-256 self-signed one for localhost/127.0.0.1, made in a
  temporary directory;
- the nginx TLS configuration is rendered completely (TLS 1.3 only, the pinned suite, the
  same hello answer);
- every TLS server validates with that certificate and stops cleanly on SIGTERM;
- the validator refuses a plain-HTTP server, another certificate, TLS 1.2, a wrong body and a
  server that keeps the connection open after `Connection: close`;
- wrk with the session shim does only full handshakes, and without it resumes (which is why
  the shim exists);
- wrk's error counts, the aggregation, the targets and the report section come out right.

No benchmark runs: the only wrk runs are the two 1-second handshake checks.
"""

from __future__ import annotations

import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
import tls_bench  # noqa: E402

pytestmark = pytest.mark.timeout(60)

needs_openssl = pytest.mark.skipif(harness.find_binary("openssl") is None,
                                   reason="the openssl command is not installed "
                                          "(apt-get install -y openssl)")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if harness.find_binary("openssl") is None:
        pytest.skip("the openssl command is not installed (apt-get install -y openssl)")
    a = tmp_path_factory.mktemp("cert-a")
    b = tmp_path_factory.mktemp("cert-b")
    return tls_bench.make_cert(a), tls_bench.make_cert(b)


@pytest.fixture(scope="module")
def cert(certs):
    return certs[0]


# ---------------------------------------------------------------------------
# Certificate and nginx configuration
# ---------------------------------------------------------------------------

@needs_openssl
def test_certificate_is_ec_p256_for_localhost(cert):
    crt, key = cert
    text = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "id-ecPublicKey" in text and ("prime256v1" in text or "P-256" in text), text
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8 (granian)
    assert (key.stat().st_mode & 0o777) == 0o600
    assert not str(key).startswith(str(BENCH.parent))  # never inside the repository


def test_no_private_key_in_benchmarks():
    for path in BENCH.rglob("*"):
        if path.is_file() and path.suffix in (".pem", ".key", ".conf", ".py", ".md"):
            assert "PRIVATE KEY-----" not in path.read_text(errors="replace"), path


def test_nginx_tls_config_is_complete(tmp_path):
    conf = tls_bench.render_nginx_conf(8443, tmp_path, "/c/cert.pem", "/c/key.pem")
    text = conf.read_text()
    assert "@" not in text  # every placeholder filled
    for line in ("listen 127.0.0.1:8443 ssl;", "ssl_certificate     /c/cert.pem;",
                 "ssl_certificate_key /c/key.pem;", "ssl_protocols TLSv1.3;",
                 "ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;",
                 "worker_processes 1;", "access_log off;", "daemon off;",
                 "ssl_session_cache none;", "ssl_session_tickets on;",
                 "default_type application/json;",
                 "return 200 '{\"message\":\"Hello, World!\"}';", f"pid {tmp_path}/nginx.pid;"):
        assert line in text, line
    plain = (BENCH / "servers" / "nginx.conf").read_text()
    assert "keepalive_requests 100000000;" in plain and "keepalive_requests 100000000;" in text


def test_server_list_parsing():
    assert tls_bench.parse_servers("all") == tls_bench.TLS_ORDER
    assert tls_bench.parse_servers("nginx,pymongoose,nginx") == ["nginx", "pymongoose"]
    with pytest.raises(SystemExit, match="unknown TLS server"):
        tls_bench.parse_servers("pymongoose,flask")


def test_wrk_commands():
    ka, hs = tls_bench.make_scenarios(50)
    cmd = tls_bench.wrk_command("wrk", ka, "https://127.0.0.1:1/", 10, 1, 2)
    assert cmd[:3] == ["wrk", "-t1", "-c50"] and "Connection: close" not in cmd
    assert cmd[-1] == "https://127.0.0.1:1/"
    cmd = tls_bench.wrk_command("wrk", hs, "https://127.0.0.1:1/", 10, 1, 2)
    assert cmd[cmd.index("-H") + 1] == "Connection: close"
    shim = Path("/x/wrk_noresume.so")
    assert tls_bench.wrk_env(hs, shim) == {"LD_PRELOAD": str(shim)}
    assert tls_bench.wrk_env(ka, shim) == {}
    shown = tls_bench.display_wrk(hs, 10, 1, 2, {1})
    assert shown.startswith("LD_PRELOAD=build/bench/wrk_noresume.so taskset -c 1 wrk -t1 -c50")


# ---------------------------------------------------------------------------
# Servers and validation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", tls_bench.TLS_ORDER)
def test_tls_server_validates_and_stops_cleanly(name, cert):
    m = tls_bench.check_tls_servers([name])[name]
    if m is not None:
        pytest.skip(f"{name} not available: {m.reason} (install with: {m.install})")
    crt, key = cert
    srv = tls_bench.start_tls_server(name, crt, key, ready_timeout=30)
    try:
        v = tls_bench.validate_tls_server(srv.port, crt, timeout=10)
        assert v["ok"], v
        assert (v["version"], v["cipher"], v["same_cert"], v["keepalive"], v["closes"]) == (
            "TLSv1.3", "TLS_AES_256_GCM_SHA384", True, True, True), v
    finally:
        srv.stop(timeout=15)
    assert srv.clean_exit and srv.exit_code == 0, (srv.exit_code, srv.log_tail())


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b'{"message":"Hello, World!"}'
    ignore_close = False

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)
        if self.ignore_close:
            self.close_connection = False

    def log_message(self, *args):
        pass


class _PyServer:
    """A threaded Python HTTP(S) server with knobs to misbehave."""

    def __init__(self, cert=None, max_version=None, **attrs):
        handler = type("H", (_Hello,), attrs)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
            if max_version is not None:
                ctx.maximum_version = max_version
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _validate(server: _PyServer, cafile: Path, timeout: float = 3) -> dict:
    try:
        return tls_bench.validate_tls_server(server.port, cafile, timeout=timeout)
    finally:
        server.close()


def test_validator_accepts_a_correct_python_server(cert):
    v = _validate(_PyServer(cert), cert[0])
    assert v["ok"], v
    assert v["announces_close"] is False  # http.server closes without saying so


def test_validator_refuses_plain_http(cert):
    v = _validate(_PyServer(None), cert[0])
    assert not v["ok"] and "TLS handshake failed" in v["problems"][0], v


def test_validator_refuses_another_certificate(certs):
    v = _validate(_PyServer(certs[1]), certs[0][0])
    assert not v["ok"] and "TLS handshake failed" in v["problems"][0], v
    assert "certificate verify failed" in v["problems"][0]


def test_validator_refuses_tls12(cert):
    v = _validate(_PyServer(cert, max_version=ssl.TLSVersion.TLSv1_2), cert[0])
    assert not v["ok"] and v["version"] == "TLSv1.2", v
    assert any("expected TLSv1.3" in p for p in v["problems"]), v


def test_validator_refuses_a_wrong_body(cert):
    v = _validate(_PyServer(cert, body=b'{"message": "Hello, World!"}'), cert[0])
    assert not v["ok"] and any("body" in p for p in v["problems"]), v


def test_validator_refuses_a_server_that_ignores_connection_close(cert):
    v = _validate(_PyServer(cert, ignore_close=True), cert[0], timeout=1.0)
    assert not v["ok"] and not v["closes"], v
    assert any("stayed open" in p for p in v["problems"]), v


# ---------------------------------------------------------------------------
# wrk and full handshakes
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wrk_and_shim():
    wrk = harness.find_binary("wrk")
    if wrk is None:
        pytest.skip("wrk not installed (apt-get install -y wrk)")
    if [m for m in tls_bench.check_tools() if m.what == "C compiler"]:
        pytest.skip("no C compiler to build benchmarks/wrk_noresume.c")
    return wrk, tls_bench.build_shim()


def test_wrk_with_the_shim_does_only_full_handshakes(cert, wrk_and_shim):
    wrk, shim = wrk_and_shim
    r = tls_bench.check_full_handshakes(wrk, cert[0], cert[1], shim)
    assert r["ok"] and r["resumed"] == 0 and r["handshakes"] >= 10, r


def test_wrk_without_the_shim_resumes(cert, wrk_and_shim):
    wrk, _ = wrk_and_shim
    r = tls_bench.check_full_handshakes(wrk, cert[0], cert[1], None)
    assert not r["ok"] and r["resumed"] > 0, r


# ---------------------------------------------------------------------------
# Accounting and report
# ---------------------------------------------------------------------------

def _bench_json(requests=1000, read=0, connect=0, write=0, timeout=0, status=0):
    return {"duration_us": 1_000_000, "requests": requests, "bytes": 1, "errors_connect": connect,
            "errors_read": read, "errors_write": write, "errors_status": status,
            "errors_timeout": timeout, "latency_samples": requests, "latency_mean_us": 900.0,
            "latency_max_us": 9000, "latency_p50_us": 800, "latency_p90_us": 1500,
            "latency_p99_us": 3000, "latency_p999_us": 5000}


def test_read_errors_are_eof_reconnects_only_in_the_handshake_scenario():
    ka, hs = tls_bench.make_scenarios(50)
    kw = {"server_cpu": 0.5, "wrk_cpu": 1.0, "wall": 1.0, "other_ticks": 0}
    r = tls_bench.summarize_wrk(_bench_json(read=1000, connect=2), hs, **kw)
    assert (r["socket_errors"], r["eof_reconnects"]) == (2, 1000)
    r = tls_bench.summarize_wrk(_bench_json(read=7, connect=2, timeout=1), ka, **kw)
    assert (r["socket_errors"], r["eof_reconnects"]) == (10, 0)
    assert r["rps"] == 1000 and r["server_cpu_us_per_req"] == pytest.approx(500.0)
    assert r["server_cpu_util"] == pytest.approx(0.5)


def _result(rates: dict, cpu: dict, refused: dict | None = None) -> dict:
    """A synthetic tls_results dict: rates[scenario][server] req/s; cpu µs per request."""
    scs = tls_bench.make_scenarios(50)
    runs = []
    for sc in scs:
        for n, rps in rates[sc.key].items():
            runs.append({"server": n, "scenario": sc.key, "rps": rps, "requests": rps,
                         "latency_mean_us": 1000.0, "latency_p99_us": 3000,
                         "server_cpu_us_per_req": cpu[sc.key][n],
                         "server_cpu_util": 0.7 if sc.close else 0.95,
                         "wrk_cpu_util": 0.98 if sc.close else 0.8, "other_cpu_util": 0.0,
                         "socket_errors": 0, "eof_reconnects": rps if n == "pymongoose" else 0,
                         "non_2xx": 0})
    names = list(tls_bench.TLS_ORDER)
    summary = tls_bench.aggregate(runs, names, scs)
    ok = {"ok": True, "problems": [], "version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
          "same_cert": True, "keepalive": True, "closes": True, "announces_close": True,
          "key_exchange": "X25519", "after": {"ok": True, "problems": []}}
    validation = {n: dict(ok) for n in names}
    validation.update(refused or {})
    return {"generated": "2026-01-01T00:00:00+00:00",
            "settings": {"connections": 50, "duration_s": 10, "repetitions": 3, "warmup_s": 3,
                         "threads": 1, "wrk_timeout_s": 2, "server_cpus": [0],
                         "client_cpus": [1], "certificate": "EC P-256",
                         "protocol": "TLSv1.3, TLS_AES_256_GCM_SHA384"},
            "scenarios": [sc.__dict__ for sc in scs],
            "measured_scenarios": [sc.key for sc in scs], "servers": names,
            "resumption_check": {"ok": True, "handshakes": 800, "resumed": 0},
            "validation": validation, "info": {n: {"clean_exit": True} for n in names},
            "runs": runs, "summary": summary, "targets": tls_bench.evaluate_targets(summary),
            "versions": {"granian": "2.8.9"}}


def test_targets_and_report_section():
    rates = {"keepalive": {"pymongoose": 50000, "nginx": 45000, "granian": 29000,
                           "uvicorn": 4000},
             "handshake": {"pymongoose": 980, "nginx": 1020, "granian": 930}}
    cpu = {"keepalive": {"pymongoose": 18.0, "nginx": 20.0, "granian": 33.0, "uvicorn": 240.0},
           "handshake": {"pymongoose": 700.0, "nginx": 690.0, "granian": 480.0}}
    res = _result(rates, cpu, refused={"uvicorn": {
        "ok": True, "problems": [], "version": "TLSv1.3"}})
    t = {x["target"]: x for x in res["targets"]}
    assert t["keep-alive: pymongoose ≥ 0.9× nginx"]["met"] is True
    assert t["keep-alive: pymongoose ≥ 0.9× nginx"]["ratio"] == pytest.approx(50000 / 45000)
    assert t["handshakes: pymongoose ≥ 0.9× nginx"]["met"] is True
    assert t["handshakes: pymongoose ≥ 0.9× nginx"]["client_bound"] is True
    assert t["keep-alive: pymongoose ≥ 2× FastAPI/uvicorn"]["met"] is True
    assert t["handshakes: pymongoose ≥ 2× FastAPI/uvicorn"]["ratio"] is None  # not measured
    md = tls_bench.render_markdown(res, quick=True)
    assert "Smoke run" in md and "{{" not in md
    assert md.count("| **pymongoose** |") == 2
    assert "| 50,000 |" in md and "| 980 |" in md
    assert "**not met**" not in md and "not measured" in md and "client-bound" in md
    assert "handshakes/s median" in md and "EOF reconnects" in md
    assert "0 resumed" in md and "wrk_noresume" in md
    assert "LD_PRELOAD=build/bench/wrk_noresume.so" in md
    assert "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes" in md
    assert "| FastAPI/uvicorn | not run |" in md  # no handshake row measured for it
    assert tls_bench.all_measured(res) is False
    # a target that fails is marked
    rates["handshake"]["uvicorn"] = 700
    cpu["handshake"]["uvicorn"] = 1260.0
    res = _result(rates, cpu)
    md = tls_bench.render_markdown(res)
    row = "| handshakes: pymongoose ≥ 2× FastAPI/uvicorn | 1.40× | **not met** | 1.80× |"
    assert row in md
    assert "Smoke run" not in md and tls_bench.all_measured(res) is True


def test_report_shows_a_refused_server():
    rates = {"keepalive": {"pymongoose": 50000, "nginx": 45000, "granian": 29000},
             "handshake": {"pymongoose": 980, "nginx": 1020, "granian": 930}}
    cpu = {k: {n: 10.0 for n in v} for k, v in rates.items()}
    bad = {"ok": False, "problems": ["negotiated TLSv1.2, expected TLSv1.3"],
           "version": "TLSv1.2", "cipher": "ECDHE-ECDSA-AES256-GCM-SHA384", "same_cert": True}
    md = tls_bench.render_markdown(_result(rates, cpu, refused={"uvicorn": bad}))
    assert "| FastAPI/uvicorn | negotiated TLSv1.2, expected TLSv1.3 |" in md
    assert "**REFUSED**: negotiated TLSv1.2, expected TLSv1.3" in md


def test_results_section_is_inserted_and_replaced(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# r\n\n## WebSocket echo\n\nx\n\n## Idle keep-alive connections\n\ny\n")
    tls_bench.update_results_md(path, "first")
    text = path.read_text()
    assert text.index("## WebSocket echo") < text.index(tls_bench.SECTION_TITLE) \
        < text.index("## Idle keep-alive connections")
    tls_bench.update_results_md(path, "second")
    text = path.read_text()
    assert text.count(tls_bench.SECTION_TITLE) == 1 and "first" not in text
    assert f"{tls_bench.MARK_BEGIN}\nsecond\n{tls_bench.MARK_END}" in text


def test_render_without_results_points_to_the_command():
    md = tls_bench.render_markdown(None)
    assert "tls_bench.py" in md and "--tls" in md


def test_run_benchmark_knows_tls_option():
    p = subprocess.run([sys.executable, str(BENCH / "run_benchmark.py"), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--tls" in p.stdout and "--tls-servers" in p.stdout
    tmpl = (BENCH / "RESULTS.template.md").read_text()
    assert "{{TLS}}" in tmpl and tls_bench.MARK_BEGIN in tmpl and tls_bench.MARK_END in tmpl
    assert tmpl.index("{{WS}}") < tmpl.index("{{TLS}}") < tmpl.index("{{IDLE}}")


def test_results_json_round_trip(tmp_path):
    rates = {"keepalive": {"pymongoose": 5.0}, "handshake": {"pymongoose": 1.0}}
    cpu = {"keepalive": {"pymongoose": 1.0}, "handshake": {"pymongoose": 2.0}}
    res = _result(rates, cpu)
    (tmp_path / tls_bench.JSON_NAME).write_text(json.dumps(res))
    assert tls_bench.load_results(tmp_path)["summary"] == json.loads(json.dumps(res["summary"]))
    assert tls_bench.load_results(tmp_path / "nowhere") is None
    assert os.path.basename(tls_bench.SHIM_LIB) == "wrk_noresume.so"

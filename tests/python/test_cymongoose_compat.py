"""A program written for cymongoose runs unchanged on pymongoose (only the import is
renamed) and clients observe the same responses. cymongoose from PyPI is the oracle
(uvloop-style): both run the same program side by side and every request is compared.

Known, documented differences are normalised: cymongoose pads Content-Length with
trailing spaces (§7 D4); our 404 from serve_dir carries Content-Type: text/plain (§6.6)."""
import http.client
import importlib.util
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

PROGRAM = pathlib.Path(__file__).parent / "programs" / "cymongoose_style_app.py"

# Headers the spec deliberately makes different on these paths.
SPEC_DIFFERENCES = {"/static/missing.txt": {"content-type"}}

REQUESTS = [
    ("GET", "/", None, {}),
    ("GET", "/json", None, {}),
    ("POST", "/echo", b"binary\x01\x02payload", {"Content-Type": "application/octet-stream"}),
    ("GET", "/hello?name=Ada%20L", None, {}),
    ("GET", "/hello", None, {}),
    ("GET", "/headers", None, {"X-Test": "compat-42"}),
    ("GET", "/count", None, {}),
    ("GET", "/count", None, {}),
    ("GET", "/static/page.txt", None, {}),
    ("GET", "/static/missing.txt", None, {}),
    ("GET", "/created", None, {}),
    ("GET", "/nowhere", None, {}),
]


def start(module: str, static_dir: pathlib.Path, tmp: pathlib.Path):
    port_file = tmp / f"{module}.port"
    proc = subprocess.Popen([sys.executable, str(PROGRAM), module, str(static_dir), str(port_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not (port_file.exists() and port_file.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=5)
            raise AssertionError(f"{module} app did not start: {err.decode()[-2000:]}")
        time.sleep(0.02)  # polling a file the child writes once it listens (readiness, not a delay)
    return proc, int(port_file.read_text())


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()


def observe(port: int):
    """Every request on one keep-alive connection: (status, reason, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    seen = []
    for method, path, body, headers in REQUESTS:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        skip = {"etag", "last-modified"} | SPEC_DIFFERENCES.get(path, set())
        hdrs = sorted((k.lower(), v.strip()) for k, v in r.getheaders() if k.lower() not in skip)
        seen.append((path, r.status, r.reason, hdrs, data))
    conn.close()
    return seen


@pytest.fixture
def static_dir(tmp_path):
    d = tmp_path / "static"
    d.mkdir()
    (d / "page.txt").write_text("static page\n")
    return d


def test_program_runs_unchanged_on_pymongoose(static_dir, tmp_path):
    proc, port = start("pymongoose", static_dir, tmp_path)
    try:
        seen = observe(port)
    finally:
        assert stop(proc) == 0
    by_path = {s[0]: s for s in seen}
    assert by_path["/"][1:3] == (200, "OK") and by_path["/"][4] == b'{"message":"Hello, World!"}'
    assert by_path["/echo"][4] == b"binary\x01\x02payload"
    assert by_path["/hello?name=Ada%20L"][4] == b"hello Ada L\n"
    assert [s[4] for s in seen if s[0] == "/count"] == [b"1", b"2"]
    assert by_path["/static/page.txt"][4] == b"static page\n"
    assert by_path["/static/missing.txt"][1] == 404
    assert by_path["/created"][1:3] == (201, "Created")


@pytest.mark.skipif(importlib.util.find_spec("cymongoose") is None,
                    reason="cymongoose (the oracle) is installed by scripts/setup.sh --all")
def test_same_responses_as_cymongoose(static_dir, tmp_path):
    results = {}
    for module in ("cymongoose", "pymongoose"):
        proc, port = start(module, static_dir, tmp_path)
        try:
            results[module] = observe(port)
        finally:
            stop(proc)
    for ours, ref in zip(results["pymongoose"], results["cymongoose"]):
        assert ours == ref, f"{ours[0]}: pymongoose {ours[1:]} != cymongoose {ref[1:]}"

# SPDX-License-Identifier: MIT
"""benchmarks/adapters_bench.py: the app-alone runner measures, and the report shows ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import adapters_bench  # noqa: E402


def test_every_config_has_a_command_and_label() -> None:
    cfgs = adapters_bench.configs()
    assert {c["app"] for c in cfgs} == {"fastapi", "raw", "flask", "aiohttp"}
    for c in cfgs:
        cmd = c["cmd"](12345)
        assert isinstance(cmd, list) and all(isinstance(x, str) for x in cmd)
        assert c["label"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind,target", [("asgi", "raw_asgi_app:app"), ("wsgi", "flask_app:app")])
def test_app_alone_runner_counts_requests(kind: str, target: str) -> None:
    if kind == "wsgi":
        pytest.importorskip("flask")
    res = adapters_bench.app_alone(kind, target, 0.2, None)
    assert res["requests"] >= 100 and res["cpu_s"] > 0
    assert res["rps"] == pytest.approx(res["requests"] / res["cpu_s"])


def test_report_shows_ratios_against_app_alone_and_each_server() -> None:
    def row(app: str, server: str, rps: float) -> dict:
        return {"app": app, "server": server, "label": server, "rps": rps, "cpu_us_per_req": 1e6 / rps,
                "errors": 0, "rounds": []}

    res = {
        "settings": {"duration_s": 5, "repetitions": 3, "warmup_s": 1, "connections": 50,
                     "server_cpus": [0], "client_cpus": [1]},
        "app_alone": {"fastapi": {"rps": 10000.0, "cpu_us_per_req": 100.0, "rounds": []}},
        "summary": {"fastapi/pymongoose": row("fastapi", "pymongoose", 8000.0),
                    "fastapi/uvicorn": row("fastapi", "uvicorn", 4000.0)},
        "not_measured": {"flask/gunicorn-sync": "missing"},
        "versions": {"fastapi": "1"},
    }
    md = adapters_bench.render_markdown(res)
    assert "| app alone (in-process) | 10,000 | 100.0 | 1.00 | 0.80 |" in md
    assert "| uvicorn | 4,000 | 250.0 | 0.40 | 2.00 | 0 |" in md
    assert "Not measured: flask/gunicorn-sync (missing)" in md
    assert "Not run yet" in adapters_bench.render_markdown(None)

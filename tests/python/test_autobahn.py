# SPDX-License-Identifier: MIT
"""Autobahn|Testsuite (``wstest`` from autobahntestsuite 25.10.1, Python 2.7, installed by
scripts/setup.sh into .venv-autobahn) against our WebSocket echo server and our client,
on a fast subset of the cases: every case of sections 1-7 and 10 on the server side,
samples of 9 (large messages, max_ws_message raised), 12 and 13 (permessage-deflate) on
both sides. Each case must be OK, NON-STRICT or INFORMATIONAL and close OK or
INFORMATIONAL. The full run is ``scripts/autobahn.py`` (docs/conformance.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("autobahn_driver", ROOT / "scripts" / "autobahn.py")
autobahn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(autobahn)

WSTEST = autobahn.find_wstest()
if WSTEST is None:
    pytest.skip("wstest not installed (scripts/setup.sh makes .venv-autobahn when python2.7 exists)",
                allow_module_level=True)
if "asan" in __import__("mgtest_helpers").IMPL:
    pytest.skip("the programs run the installed pymongoose, not the sanitizer build", allow_module_level=True)

SERVER_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*",
                "9.1.1", "9.1.6", "9.2.6", "9.7.1", "9.8.1",
                "12.1.1", "12.1.5", "12.2.10", "12.5.18", "13.1.1", "13.2.5", "13.3.3", "13.4.1",
                "13.5.2", "13.6.10", "13.7.4"]
CLIENT_CASES = ["1.1.*", "2.*", "3.*", "5.*", "6.4.*", "7.1.*", "7.5.1", "7.9.*", "9.1.1", "9.2.6",
                "12.1.1", "12.2.10", "13.1.1", "13.3.3", "13.6.10", "13.7.4"]


def check(result: dict, expected_sections: set[str]) -> None:
    assert result["cases"] > 0
    assert set(result["by_section"]) == expected_sections, result["by_section"]
    assert result["failed"] == {}, result["failed"]


@pytest.mark.timeout(240)
def test_autobahn_fuzzing_client_against_our_echo_server(tmp_path):
    r = autobahn.run_server_side(WSTEST, SERVER_CASES, tmp_path, sys.executable, timeout=200)
    check(r, {"1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"})
    assert r["cases"] > 240
    assert r["server_alive_after"]


@pytest.mark.timeout(240)
def test_our_client_against_autobahn_fuzzing_server(tmp_path):
    r = autobahn.run_client_side(WSTEST, CLIENT_CASES, tmp_path, sys.executable, timeout=200)
    check(r, {"1", "2", "3", "5", "6", "7", "9", "12", "13"})
    assert r["client_exit"] == 0

# SPDX-License-Identifier: MIT
"""60-second soak (issue 13, item 5): hello, a 64 KiB reply, 256 KiB uploads, WebSocket
echo and connection churn against one server in a child process, its RSS sampled every
second (scripts/soak.py; the 10-minute run is documented in docs/conformance.md). After a
20 s warm-up the server's memory grows by less than 5 %, and nothing fails."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mgtest_helpers import IMPL, IS_REFERENCE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import soak  # noqa: E402

pytestmark = [pytest.mark.timeout(150),
              pytest.mark.skipif(IS_REFERENCE, reason="soak of our engine")]


def test_soak_60_seconds_mixed_load_memory_flat_and_no_errors():
    res = soak.run(seconds=60, warmup=20, impl=IMPL)
    summary = {k: v for k, v in res.items() if k != "rss_samples"}
    print(f"\n{summary}")
    assert res["client_errors"] == 0, res["first_errors"]
    assert res["server_errors"] == 0
    assert all(n > 0 for n in res["requests"].values()), res["requests"]
    assert res["growth_pct"] < 5, summary

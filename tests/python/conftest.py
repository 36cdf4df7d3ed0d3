# SPDX-License-Identifier: MIT
"""Fixtures for the pymongoose HTTP server / Manager test suite.

The helpers (and the import of the implementation under test) live in
``mgtest_helpers``; they are imported lazily here so that test modules owned by
others in this directory are collected even when the extension is not built.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The sanitizer run of scripts/test.sh preloads ASan/UBSan into this interpreter only;
# child processes (curl, peer servers) must not inherit the preload.
# Tests that start another interpreter on the implementation pass it on explicitly.
if os.environ.get("PYMONGOOSE_TEST_IMPL", "").endswith("_asan") and "LD_PRELOAD" in os.environ:
    os.environ["PYMONGOOSE_ASAN_PRELOAD"] = os.environ.pop("LD_PRELOAD")


@pytest.fixture
def server():
    """Factory: ``server(handler, **opts) -> Server`` (see mgtest_helpers.Server).

    Each server listens on http://127.0.0.1:0, is polled with poll(10) on a daemon
    thread, and is stopped (bounded join) and closed at teardown. Exceptions raised by
    handlers are collected and fail the test unless ``expect_errors=True``."""
    from mgtest_helpers import Server

    servers = []

    def factory(handler=None, **kw):
        s = Server(handler, **kw)
        servers.append(s)
        return s.start()

    yield factory
    problems = []
    for s in servers:
        problems += s.shutdown()
    if problems:
        pytest.fail("server teardown: " + "; ".join(problems), pytrace=False)

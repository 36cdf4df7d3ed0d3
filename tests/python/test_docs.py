# SPDX-License-Identifier: MIT
"""Docstrings and the documentation site.

- Every public object of the Python API has a docstring, and the native module's
  docstrings (passed to nanobind from src/bindings/docstrings.hpp) are exactly those of
  the stub src/pymongoose/_mongoose.pyi, from which scripts/gen_docstrings.py generates
  that header.
- `mkdocs build --strict` (MkDocs + Material + mkdocstrings, mkdocs.yml) builds the site
  into build/site without a warning, and headless Chromium renders its pages: the DOM
  holds the expected headings and text, and a screenshot of the start page is written
  to build/site-screenshot.png.
"""

from __future__ import annotations

import ast
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

import pymongoose
import pymongoose.aio
import pymongoose.asgi
import pymongoose.wsgi
from pymongoose import _mongoose

from mgtest_helpers import CHROMIUM, run_chromium

ROOT = pathlib.Path(__file__).resolve().parents[2]
STUB = ROOT / "src" / "pymongoose" / "_mongoose.pyi"
SITE = ROOT / "build" / "site"
SCREENSHOT = ROOT / "build" / "site-screenshot.png"

NATIVE_CLASSES = ("Manager", "Connection", "HttpMessage", "WsMessage", "Timer", "TlsOpts", "MqttMessage",
                  "Rpc", "RpcReq")
DOCUMENTED_DUNDERS = ("__bool__", "__enter__", "__exit__")
NB_FUNCTION_TYPES = ("nb_func", "nb_method", "nb_bound_method")


def runtime_doc(obj: object) -> str:
    """The docstring text of ``obj`` as written (nanobind puts the signature first)."""
    if isinstance(obj, property):
        return obj.__doc__ or ""
    doc = obj.__doc__ or ""
    if type(obj).__name__ in NB_FUNCTION_TYPES:
        # nanobind: one signature line per overload, a blank line, then the docstring.
        return doc.split("\n\n", 1)[1] if "\n\n" in doc else ""
    return inspect.cleandoc(doc)


def public_members(cls: type) -> list[str]:
    return [name for name in vars(cls)
            if not name.startswith("_") or name in DOCUMENTED_DUNDERS]


def public_objects():
    """(qualified name, object) for everything the docs promise a docstring for."""
    yield "pymongoose", pymongoose
    for name in pymongoose.__all__:
        obj = getattr(pymongoose, name)
        if isinstance(obj, int):  # constants: documented in the stub and the reference
            continue
        yield f"pymongoose.{name}", obj
    classes = [getattr(pymongoose, n) for n in NATIVE_CLASSES] + [pymongoose.AsyncManager]
    for module in (pymongoose.aio, pymongoose.wsgi, pymongoose.asgi):
        yield module.__name__, module
        for name in module.__all__:
            obj = getattr(module, name)
            yield f"{module.__name__}.{name}", obj
            if isinstance(obj, type) and obj not in classes:
                classes.append(obj)
    for cls in classes:
        for name in public_members(cls):
            yield f"{cls.__module__}.{cls.__qualname__}.{name}", vars(cls)[name]


def test_public_api_has_docstrings():
    missing = [name for name, obj in public_objects() if not runtime_doc(obj).strip()]
    assert not missing, f"no docstring: {missing}"


def test_docstring_header_is_generated_from_the_stub():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docstrings.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def stub_docstrings() -> dict[str, str]:
    """Qualified name (as in the runtime module) -> docstring, read from the stub with ast."""
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    docs = {"": ast.get_docstring(tree)}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            docs[node.name] = ast.get_docstring(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            docs[node.name] = ast.get_docstring(node)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and ast.get_docstring(item) is not None:
                    docs[f"{node.name}.{item.name}"] = ast.get_docstring(item)
    return docs


def test_stub_docstrings_match_runtime():
    docs = stub_docstrings()
    assert docs[""] == _mongoose.__doc__
    public = set(_mongoose.__all__)
    for name, text in docs.items():
        if not name:
            continue
        owner, _, member = name.rpartition(".")
        assert (owner or member) in public, name
        obj = vars(getattr(_mongoose, owner))[member] if owner else getattr(_mongoose, member)
        assert text, f"{name}: empty docstring in the stub"
        assert runtime_doc(obj) == text, f"{name}: runtime docstring differs from the stub"
    # ... and nothing public in the native module lacks one in the stub.
    for cls in NATIVE_CLASSES:
        for member in public_members(getattr(_mongoose, cls)):
            assert f"{cls}.{member}" in docs, f"{cls}.{member} has no docstring in the stub"
    for name in _mongoose.__all__:
        if not isinstance(getattr(_mongoose, name), int):
            assert name in docs, f"{name} has no docstring in the stub"


# ---------------------------------------------------------------------------- the site


# page -> texts its rendered DOM must contain (headings, embedded and generated parts)
PAGES = {
    "index.html": ["<h1", "pymongoose", "Where to go next", "drop-in"],
    "getting-started.html": ["Getting started", "The event model", "MG_EV_WAKEUP", "WsMessage"],
    "guides/security.html": ["Limits and security", "max_request_line", "send_timeout"],
    "reference/core.html": ["Core classes", "Manager", "Run one iteration of the loop",
                            "Queue a complete HTTP/1.1 response"],
    "reference/functions.html": ["Functions and constants", "json_get_long", "MG_EV_HTTP_MSG"],
    "cymongoose.html": ["Coming from cymongoose", "D1", "D32"],
    "benchmarks.html": ["Benchmarks", "Summary", "results.png"],
    "design.html": ["pymongoose design notes", "Documentation site and docstrings"],
}


@pytest.fixture(scope="module")
def site():
    pytest.importorskip("mkdocs", reason="mkdocs is installed by scripts/setup.sh")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is installed by scripts/setup.sh")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # no end-of-life banner in the log
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                        "--site-dir", str(SITE)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-6000:]
    warnings = [line for line in log.splitlines() if re.match(r"\s*(WARNING|ERROR)\b", line)]
    assert not warnings, "\n".join(warnings)
    return SITE


@pytest.mark.timeout(400)  # the first user of the fixture pays for the build
def test_site_builds_without_warnings(site):
    for page in PAGES:
        assert (site / page).is_file(), page
    assert (site / "results.png").stat().st_size > 1000  # the chart RESULTS.md embeds


def chromium(args: list[str], tmp_path: pathlib.Path, timeout: float = 60.0) -> bytes:
    return run_chromium(args, tmp_path, timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by scripts/setup.sh")
@pytest.mark.timeout(400)
@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_in_chromium(site, page, tmp_path):
    dom = chromium(["--virtual-time-budget=2000", "--dump-dom", (site / page).as_uri()],
                   tmp_path).decode("utf-8", "replace")
    for text in PAGES[page]:
        assert text in dom, f"{page}: {text!r} not in the rendered DOM"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by scripts/setup.sh")
@pytest.mark.timeout(400)
def test_start_page_screenshot(site, tmp_path):
    SCREENSHOT.unlink(missing_ok=True)
    chromium(["--hide-scrollbars", "--window-size=1280,900", "--virtual-time-budget=2000",
              f"--screenshot={SCREENSHOT}", (site / "index.html").as_uri()], tmp_path)
    data = SCREENSHOT.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000, len(data)  # a rendered page, not a blank image

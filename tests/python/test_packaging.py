# SPDX-License-Identifier: MIT
"""Packaging: the sdist builds from scratch, its wheel installs into a fresh venv and works.

One build per test session (compiling takes a minute or two): ``python -m build`` makes
the sdist from the source tree and then the wheel *from that sdist*, in a temporary
directory; the wheel is installed into a new virtual environment, which then runs a
hello server from a directory outside the source tree and answers one request.

The build is isolated (build requirements fetched from the package index) and falls back
to ``--no-isolation`` only when the index cannot be reached.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from mgtest_helpers import HOST, IMPL

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text()
INIT = (ROOT / "src" / "pymongoose" / "__init__.py").read_text()

pytestmark = pytest.mark.skipif(IMPL != "pymongoose", reason="packaging concerns pymongoose itself")

BUILD_TIMEOUT = 1200  # seconds, sdist + a full compile of the wheel on 2 cores
INDEX_FAILURES = ("No matching distribution", "Could not find a version", "Failed to establish",
                  "Temporary failure in name resolution", "Network is unreachable",
                  "ProxyError", "Read timed out")


def project_field(name: str) -> str:
    section = PYPROJECT.split("[project]", 1)[1].split("\n[", 1)[0]
    m = re.search(rf'^{name}\s*=\s*"([^"]+)"', section, re.M)
    assert m, f"[project] {name} not found"
    return m.group(1)


DIST = project_field("name")
VERSION = re.search(r'^__version__\s*=\s*"([^"]+)"', INIT, re.M).group(1)  # type: ignore[union-attr]
NORMALIZED = re.sub(r"[-_.]+", "_", DIST).lower()  # file names (PEP 625, PEP 427)


@dataclass
class Built:
    sdist: Path
    wheel: Path
    python: Path  # interpreter of the fresh venv holding the installed wheel
    isolated: bool
    seconds: float


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "PYMONGOOSE_TEST_IMPL"):
        env.pop(var, None)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed in the test environment (pip install build)")
    work = tmp_path_factory.mktemp("packaging")
    out = work / "dist"
    start = time.monotonic()
    cmd = [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)]
    p = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    isolated = True
    if p.returncode != 0 and any(s in p.stdout + p.stderr for s in INDEX_FAILURES):
        # The index is unreachable: build with the tools already in this environment.
        shutil.rmtree(out, ignore_errors=True)
        isolated = False
        warnings.warn("package index unreachable: the packaging test builds with --no-isolation")
        p = subprocess.run(cmd + ["--no-isolation"], cwd=work, env=_env(), capture_output=True,
                           text=True, timeout=BUILD_TIMEOUT)
    assert p.returncode == 0, f"python -m build failed:\n{p.stdout[-6000:]}\n{p.stderr[-6000:]}"
    sdists = list(out.glob("*.tar.gz"))
    wheels = list(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(out.iterdir())
    # build's own log says the wheel came from the sdist it had just made
    log = p.stdout + p.stderr
    assert "Building wheel from sdist" in log, log[-3000:]

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, env=_env())
    python = venv / "bin" / "python"
    p = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        str(wheels[0])], cwd=work, env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return Built(sdists[0], wheels[0], python, isolated, time.monotonic() - start)


# ======================================================================================
# Metadata, version, README: no build needed
# ======================================================================================


def test_distribution_name_and_single_version_source():
    assert DIST != "pymongoose"  # taken on PyPI by an unrelated project
    section = PYPROJECT.split("[project]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^dynamic\s*=\s*\["version"\]', section, re.M), "version must be dynamic"
    assert not re.search(r"^version\s*=", section, re.M), "a second version in pyproject.toml"
    assert 'input = "src/pymongoose/__init__.py"' in PYPROJECT
    import pymongoose

    assert pymongoose.__version__ == VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", VERSION)


def test_installed_metadata_matches_the_source_version():
    try:
        installed = importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{DIST} is not installed in this environment (pip install -e .)")
    assert installed == VERSION


def test_readme_and_changelog_name_the_distribution():
    readme = (ROOT / "README.md").read_text()
    assert f"pip install {DIST}" in readme
    assert "pip install ." in readme
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{VERSION}]" in changelog and "## [Unreleased]" in changelog


# ======================================================================================
# Built artefacts
# ======================================================================================


@pytest.mark.timeout(BUILD_TIMEOUT + 600)
def test_sdist_contents(built: Built):
    assert built.sdist.name == f"{NORMALIZED}-{VERSION}.tar.gz"
    with tarfile.open(built.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for needed in ("pyproject.toml", "CMakeLists.txt", "README.md", "LICENSE", "CHANGELOG.md",
                   "PKG-INFO", "src/pymongoose/__init__.py", "src/pymongoose/_mongoose.pyi",
                   "src/pymongoose/py.typed", "examples/hello_server.py"):
        assert needed in names, f"{needed} missing from the sdist"
    assert any(n.startswith("src/core/") and n.endswith(".cpp") for n in names)
    assert any(n.startswith("src/bindings/") and n.endswith(".cpp") for n in names)
    for unwanted in ("build/", ".venv/", "benchmarks/", "fuzz/", ".git/", ".mypy_cache/"):
        assert not any(n.startswith(unwanted) for n in names), f"{unwanted} in the sdist"


@pytest.mark.timeout(BUILD_TIMEOUT + 600)
def test_wheel_contents(built: Built):
    assert built.wheel.name.startswith(f"{NORMALIZED}-{VERSION}-")
    with zipfile.ZipFile(built.wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(f"{NORMALIZED}-{VERSION}.dist-info/METADATA").decode()
    for needed in ("__init__.py", "aio.py", "wsgi.py", "asgi.py", "_mongoose.pyi", "py.typed"):
        assert f"pymongoose/{needed}" in names
    assert any(re.fullmatch(r"pymongoose/_mongoose\..*\.so", n) for n in names), sorted(names)
    assert f"\nName: {DIST}\n" in meta and f"\nVersion: {VERSION}\n" in meta
    runtime = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:") and "extra ==" not in ln]
    assert runtime == []  # no runtime dependencies (only the "test" extra)


@pytest.mark.timeout(BUILD_TIMEOUT + 600)
def test_wheel_in_a_fresh_venv_serves_a_request(built: Built, tmp_path):
    # Outside the source tree, isolated mode (-I: no PYTHONPATH, no user site, no cwd).
    code = ("import importlib.metadata as m, pymongoose; "
            f"print(pymongoose.__file__); print(pymongoose.__version__); print(m.version({DIST!r}))")
    p = subprocess.run([str(built.python), "-I", "-c", code], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    where, version, meta_version = p.stdout.split()
    venv = built.python.parent.parent
    assert Path(where).resolve().is_relative_to(venv.resolve()), where
    assert version == meta_version == VERSION

    script = tmp_path / "hello_server.py"
    shutil.copy(ROOT / "examples" / "hello_server.py", script)
    proc = subprocess.Popen([str(built.python), "-I", str(script), "0"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # the example prints its URL first, flushed
        m = re.search(r"http://[0-9.]+:(\d+)/", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = f"http://{HOST}:{m.group(1)}/"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
            assert resp.read() == b'{"message":"Hello, World!"}'
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)

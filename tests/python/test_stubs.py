"""The shipped stubs match the built extension (stubtest) and are clean under mypy --strict."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "pymongoose"

pytest.importorskip("mypy", reason="mypy is installed by scripts/setup.sh")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=240, cwd=ROOT)


def test_stubtest_matches_runtime():
    r = run("mypy.stubtest", "pymongoose._mongoose", "--allowlist", str(PKG / "stubtest-allowlist.txt"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_stub_is_clean_under_mypy_strict():
    r = run("mypy", "--strict", str(PKG / "_mongoose.pyi"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_py_typed_marker_present():
    assert (PKG / "py.typed").exists()

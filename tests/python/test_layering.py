# SPDX-License-Identifier: MIT
"""The engine's layering rule, stated for readers and checked on every run.

src/core is split into layers, bottom to top:

    util -> codec -> net -> transport -> loop -> proto

Each layer is its own CMake library that sees only its own public headers
(src/core/<layer>/include/mg/) and those of the layers below, so an upward
include already fails to build.  This test states the same rule from the
sources: every ``#include "mg/<name>.hpp"`` in a file of a layer must name a
header of that layer or a lower one, and no engine file includes Python or a
binding header.  Private headers live beside their sources and are included
with a relative path from the same folder only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "core"
LAYERS = ["util", "codec", "net", "transport", "loop", "proto"]
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)


def _public_headers() -> dict[str, str]:
    owner = {}
    for layer in LAYERS:
        for h in (CORE / layer / "include" / "mg").glob("*.hpp"):
            assert h.name not in owner, f"{h.name} is public in two layers"
            owner[h.name] = layer
    return owner


def _sources(layer: str):
    d = CORE / layer
    return sorted(p for p in d.rglob("*") if p.suffix in (".cpp", ".hpp"))


def test_every_engine_folder_is_a_layer():
    folders = sorted(p.name for p in CORE.iterdir() if p.is_dir())
    assert folders == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_includes_point_down_only(layer):
    owner = _public_headers()
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    for src in _sources(layer):
        for inc in INCLUDE.findall(src.read_text()):
            if inc.startswith("mg/"):
                target = owner.get(inc[3:])
                if target is None:
                    wrong.append(f"{src.relative_to(ROOT)}: {inc} is no public engine header")
                elif rank[target] > rank[layer]:
                    wrong.append(f"{src.relative_to(ROOT)}: {inc} belongs to {target}, above {layer}")
            elif inc.endswith((".hpp", ".h")) and "/" in inc and not inc.startswith(("sys/", "netinet/", "arpa/", "openssl/", "linux/")):
                wrong.append(f"{src.relative_to(ROOT)}: {inc} reaches into another folder")
            elif "Python" in inc or "nanobind" in inc:
                wrong.append(f"{src.relative_to(ROOT)}: {inc}: the engine knows no Python")
    assert not wrong, "\n".join(wrong)


def test_private_headers_exist_beside_their_users():
    for layer in LAYERS:
        for src in _sources(layer):
            for inc in INCLUDE.findall(src.read_text()):
                if inc.endswith(".hpp") and not inc.startswith("mg/") and "/" not in inc:
                    assert (src.parent / inc).exists() or (CORE / layer / inc).exists(), (
                        f"{src.relative_to(ROOT)} includes {inc}, which is not in its layer"
                    )


def test_cmake_builds_one_library_per_layer_in_order():
    text = (ROOT / "CMakeLists.txt").read_text()
    m = re.search(r"set\(MG_LAYERS ([^)]*)\)", text)
    assert m and m.group(1).split() == LAYERS

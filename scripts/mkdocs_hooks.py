# SPDX-License-Identifier: MIT
"""MkDocs hook (mkdocs.yml `hooks:`): publishes the files that benchmarks/RESULTS.md links to.

docs/benchmarks.md embeds benchmarks/RESULTS.md (pymdownx.snippets), so the chart and the
raw-figures file it links to must exist beside that page in the site. They are taken from
benchmarks/ at build time instead of being copied into docs/, so a benchmark run that
regenerates them needs no further step. A link to a file that does not exist stays broken
and fails `mkdocs build --strict`.
"""

from __future__ import annotations

import pathlib
import re

from mkdocs.structure.files import File

_LINK = re.compile(r"\]\(([^)#\s]+)\)")


def on_files(files, config):  # noqa: ANN001, ANN201 (MkDocs hook signature)
    bench = pathlib.Path(config.config_file_path).parent / "benchmarks"
    results = bench / "RESULTS.md"
    if not results.exists():
        return files
    for target in sorted(set(_LINK.findall(results.read_text(encoding="utf-8")))):
        if "://" in target or target.startswith("/") or target.endswith(".md"):
            continue
        if (bench / target).is_file() and files.get_file_from_path(target) is None:
            files.append(File(target, src_dir=str(bench), dest_dir=config.site_dir,
                              use_directory_urls=config.use_directory_urls))
    return files

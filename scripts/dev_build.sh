#!/usr/bin/env bash
# Incremental rebuild of the extension in the editable install's build folder, then the
# .so copied next to the package in .venv (what `pip install -e .` would do, in seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(ls -d build/cp3*-*/ | head -n 1)
cmake --build "$build" -j "$(nproc)"
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
cp "$build"/_mongoose*.so "$site/pymongoose/"

#!/usr/bin/env bash
# Incremental rebuild of the extension in the editable install's build folder, then the
# .so copied next to the package in .venv (what `pip install -e .` would do, in seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
# Several people (or agents) may share one checkout: one build of the extension at a time.
exec 9>"${TMPDIR:-/tmp}/pymongoose-dev-build.lock"
flock 9
build=$(ls -d build/cp3*-*/ | head -n 1)
cmake --build "$build" -j "${BUILD_JOBS:-$(nproc)}"
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
# Copy then rename: a process that has the old file mapped keeps its inode (overwriting it
# in place can crash a running test).
for so in "$build"/_mongoose*.so; do
  cp "$so" "$site/pymongoose/.$(basename "$so").tmp"
  mv -f "$site/pymongoose/.$(basename "$so").tmp" "$site/pymongoose/$(basename "$so")"
done

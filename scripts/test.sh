#!/usr/bin/env bash
# Runs every test: engine tests (GoogleTest/CTest), the same under ASan+UBSan, a short
# fuzzing smoke run over the seed corpora, and the Python suite (pytest, real peers; it also
# builds the documentation site with `mkdocs build --strict`, tests/python/test_docs.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --all

JOBS=$(nproc)
echo "== engine tests (GoogleTest)"
cmake -S . -B build/tests -G Ninja -DMG_BUILD_PYTHON=OFF -DMG_BUILD_TESTS=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/tests -j "$JOBS"
ctest --test-dir build/tests --output-on-failure -j "$JOBS" --timeout 300 | tail -n 5

echo "== engine tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/asan -G Ninja -DMG_BUILD_PYTHON=OFF -DMG_BUILD_TESTS=ON -DMG_SANITIZE=ON \
      -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j "$JOBS" --timeout 600 | tail -n 5

echo "== fuzz targets: build and replay the seed corpora, then 20 s of fuzzing each"
cmake -S . -B build/fuzz -G Ninja -DMG_BUILD_PYTHON=OFF -DMG_BUILD_FUZZERS=ON \
      -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/fuzz -j "$JOBS"
for src in fuzz/*.cpp; do
  name=$(basename "$src" .cpp)
  corpus=fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [[ -d "$corpus" ]] && cp -r "$corpus"/. "$work"/
  "build/fuzz/$name" -max_total_time=20 -timeout=5 -print_final_stats=0 "$work" 2>&1 | tail -n 1
  rm -rf "$work"
done

echo "== Python tests (pytest)"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/python "$@"

echo "== Python tests against the extension built with ASan + UBSan (churn, close in handlers, wakeups, fork, stale views, TLS)"
cmake -S . -B build/asan-py -G Ninja -DPython_EXECUTABLE="$PWD/.venv/bin/python" -DMG_SANITIZE=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/asan-py -j "$JOBS" --target _mongoose
pkg=build/asan-py/pkg/pymongoose_asan
rm -rf "$pkg" && mkdir -p "$pkg"
cp src/pymongoose/*.py build/asan-py/_mongoose*.so "$pkg"/
# The interpreter is not instrumented, so the sanitizer runtimes are preloaded; leaks are
# not checked (CPython keeps objects alive at exit by design).
(cd tests/python &&
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  PYTHONPATH="$PWD/../../build/asan-py/pkg" PYMONGOOSE_TEST_IMPL=pymongoose_asan \
  ../../.venv/bin/python -m pytest -q -p no:cacheprovider \
    test_churn.py test_manager.py test_http_server.py test_http_errors.py test_static.py \
    test_engine_defects.py test_tls.py test_tls_peers.py test_mqtt.py test_http_stream_body.py \
    -k "not idle_keepalive")  # RSS per connection is ASan's, not ours

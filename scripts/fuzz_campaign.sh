#!/usr/bin/env bash
# Fuzz campaign (issue 13): every libFuzzer target under ASan + UBSan for at least
# 10,000,000 executions each, growing the corpora kept in fuzz/corpus/<target>/.
#
#   scripts/fuzz_campaign.sh                         # every target, 10M executions each
#   scripts/fuzz_campaign.sh --runs 1000000 fuzz_http_request fuzz_chunked
#   scripts/fuzz_campaign.sh --time 60               # a smoke: 60 s per target instead of a count
#
# Options: --runs N (executions per target, default 10000000), --time S (seconds per target
# instead), --no-merge (add every new input instead of only those that add coverage).
# Environment: BUILD_DIR (default build/fuzz-campaign), BUILD_JOBS (default nproc).
#
# The fuzzer writes new inputs to a scratch folder, reading fuzz/corpus/<target>/ as seeds;
# afterwards libFuzzer's -merge=1 adds to fuzz/corpus/<target>/ only the new inputs that
# bring coverage the corpus lacks. Existing inputs (the documented seeds of
# fuzz/gen_corpus.py among them) are never removed; commit what was added. A crash, leak,
# timeout or sanitizer report leaves its input in $BUILD_DIR/artifacts/ and makes the
# script exit 1 once every target has run. A summary (executions, corpus size, result per
# target) goes to $BUILD_DIR/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=10000000
TIME=""
MERGE=1
TARGETS=()
while (($#)); do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --time) TIME=$2; shift 2 ;;
    --no-merge) MERGE=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
BUILD_DIR=${BUILD_DIR:-build/fuzz-campaign}
BUILD_JOBS=${BUILD_JOBS:-$(nproc)}

command -v clang++ >/dev/null || { echo "fuzz_campaign: clang++ is needed (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
cmake -S . -B "$BUILD_DIR" -G Ninja -DMG_BUILD_PYTHON=OFF -DMG_BUILD_FUZZERS=ON \
      -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if ((${#TARGETS[@]} == 0)); then
  for src in fuzz/fuzz_*.cpp; do TARGETS+=("$(basename "$src" .cpp)"); done
fi
cmake --build "$BUILD_DIR" -j "$BUILD_JOBS" --target "${TARGETS[@]}"

mkdir -p "$BUILD_DIR/artifacts" "$BUILD_DIR/logs"
summary="$BUILD_DIR/summary.txt"
: >"$summary"
failed=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for name in "${TARGETS[@]}"; do
  corpus=fuzz/corpus/${name#fuzz_}
  mkdir -p "$corpus"
  log="$BUILD_DIR/logs/$name.log"
  if [[ -n "$TIME" ]]; then limit=(-max_total_time="$TIME"); what="$TIME s"; else limit=(-runs="$RUNS"); what="$RUNS executions"; fi
  echo "== $name: $what, corpus $corpus ($(ls "$corpus" | wc -l) inputs)"
  start=$(date +%s)
  scratch="$BUILD_DIR/new/$name"
  rm -rf "$scratch" && mkdir -p "$scratch"
  before=$(ls "$corpus" | wc -l)
  if "$BUILD_DIR/$name" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$BUILD_DIR/artifacts/$name-" "$scratch" "$corpus" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and $BUILD_DIR/artifacts/)"
    failed=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
  if [[ $MERGE == 1 ]]; then
    "$BUILD_DIR/$name" -merge=1 -timeout=10 -rss_limit_mb=2048 "$corpus" "$scratch" >>"$log" 2>&1 ||
      echo "$name: merge failed (see $log)" >&2
  else
    cp -n "$scratch"/* "$corpus"/ 2>/dev/null || true
  fi
  rm -rf "$scratch"
  line="$name: ${execs:-?} executions in $(( $(date +%s) - start )) s, corpus $before -> $(ls "$corpus" | wc -l) inputs, $result"
  echo "$line" | tee -a "$summary"
done
echo "summary: $summary"
exit $failed

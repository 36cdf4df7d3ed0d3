#!/usr/bin/env bash
# The main job: the benchmark comparison of pymongoose against the Python web stacks
# and nginx. Installs what it needs, then runs benchmarks/run_benchmark.py (arguments
# are passed through, e.g. --quick) and writes benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --bench
# The WebSocket echo, HTTPS, MQTT client, ASGI/WSGI app and multi-worker scenarios are part
# of the comparison.
exec .venv/bin/python benchmarks/run_benchmark.py --ws --tls --mqtt --adapters --workers "$@"

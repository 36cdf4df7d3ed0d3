#!/usr/bin/env bash
# Installs what the tests and the benchmark need on a fresh Debian machine:
# Debian packages (when missing and we are root), a venv in .venv, the Python
# dependencies and pymongoose itself (editable, with the compiled extension).
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(g++ make cmake ninja-build pkg-config libgtest-dev clang libclang-rt-14-dev
              curl wrk nginx-light valgrind libssl-dev zlib1g-dev openssl python3-venv procps chromium mosquitto)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx-light is optional when some other nginx is installed.
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v nginx >/dev/null 2>&1; then
  missing=("${missing[@]/nginx-light}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (run as root or install them): sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# mkdocs-material + mkdocstrings-python: the documentation site (mkdocs.yml, tests/python/test_docs.py);
# build: wheels and source distributions; trustme: throw-away certificates for the TLS tests;
# paho-mqtt: the MQTT client peer of tests/python/test_mqtt.py; watchfiles: `pymongoose serve --reload`;
# django, quart, python-multipart (FastAPI forms), httpx and gunicorn (the reference WSGI server):
# tests/python/test_frameworks.py (Flask, FastAPI, Starlette, uvicorn, aiohttp come from benchmarks/requirements.txt).
# hypothesis and httptools (llhttp): tests/python/test_http_differential.py.
.venv/bin/python -m pip install -q nanobind scikit-build-core pytest pytest-timeout mypy typing_extensions trustme paho-mqtt \
  mkdocs-material mkdocstrings-python build watchfiles django quart python-multipart httpx gunicorn hypothesis httptools
if [[ "${1:-}" == "--bench" || "${1:-}" == "--all" ]]; then
  .venv/bin/python -m pip install -q -r benchmarks/requirements.txt
fi
# Autobahn|Testsuite's wstest (tests/python/test_autobahn.py, scripts/autobahn.py) runs on
# Python 2.7 only: it goes into .venv-autobahn when a python2.7 exists (pyenv's, for
# example); without one the Autobahn test skips.
if [[ ! -x .venv-autobahn/bin/wstest ]]; then
  PY27=$(ls "$HOME"/.pyenv/versions/2.7*/bin/python2.7 2>/dev/null | head -n 1 || true)
  [[ -z "$PY27" ]] && PY27=$(command -v python2.7 || true)
  if [[ -n "$PY27" ]] && "$PY27" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
    { "$PY27" -m virtualenv --version >/dev/null 2>&1 || "$PY27" -m pip install -q virtualenv >/dev/null 2>&1; } &&
      "$PY27" -m virtualenv -q .venv-autobahn >/dev/null 2>&1 &&
      .venv-autobahn/bin/pip install -q autobahntestsuite==25.10.1 >/dev/null 2>&1 ||
      echo "setup: could not install autobahntestsuite into .venv-autobahn (its test will skip)" >&2
  fi
fi
# Editable install; the CMake build directory under build/ makes rebuilds incremental.
# The distribution was renamed to pymongoose-cpp: an old editable "pymongoose" dist in this
# venv would shadow it.
if .venv/bin/python -m pip show -q pymongoose >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall -q -y pymongoose
fi
.venv/bin/python -m pip install -q --no-build-isolation -e .

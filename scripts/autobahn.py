#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Autobahn|Testsuite against pymongoose's WebSocket server and client.

Server side: `wstest -m fuzzingclient` drives tests/python/programs/autobahn_echo_server.py.
Client side: `wstest -m fuzzingserver` is driven by tests/python/programs/autobahn_client.py
(Manager.ws_connect). Both offer/accept permessage-deflate, with max_ws_message raised to
64 MiB (the 9.* cases send up to 16 MiB).

wstest (autobahntestsuite 25.10.1) needs Python 2.7: scripts/setup.sh puts it in
.venv-autobahn when a python2.7 is found (pyenv's, for example); or pass --wstest.

    .venv/bin/python scripts/autobahn.py                  # every case, both sides (~25 min on 2 cores)
    .venv/bin/python scripts/autobahn.py --side server --cases '1.*' '12.1.*'
    .venv/bin/python scripts/autobahn.py --json build/autobahn/summary.json

Exit status 0 when every case is OK, NON-STRICT or INFORMATIONAL (and closed OK or
INFORMATIONAL); reports are in build/autobahn/{servers,clients}/index.html.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "python" / "programs"
AGENT = "pymongoose"
PASS = {"OK", "NON-STRICT", "INFORMATIONAL"}
PASS_CLOSE = {"OK", "INFORMATIONAL"}


def find_wstest(explicit: str | None = None) -> str | None:
    for cand in (explicit, os.environ.get("WSTEST"), str(ROOT / ".venv-autobahn" / "bin" / "wstest")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def summarize(index: Path) -> dict:
    """Counts of behaviours and the cases that fail, from a wstest index.json."""
    data = json.loads(index.read_text())
    cases = data.get(AGENT, {})
    failed = {k: [v["behavior"], v["behaviorClose"]] for k, v in cases.items()
              if v["behavior"] not in PASS or v["behaviorClose"] not in PASS_CLOSE}
    key = lambda s: [int(x) for x in s.split(".")]  # noqa: E731
    return {
        "cases": len(cases),
        "behavior": dict(collections.Counter(v["behavior"] for v in cases.values())),
        "behaviorClose": dict(collections.Counter(v["behaviorClose"] for v in cases.values())),
        "failed": {k: failed[k] for k in sorted(failed, key=key)},
        "by_section": {s: n for s, n in sorted(collections.Counter(k.split(".")[0] for k in cases).items(),
                                               key=lambda kv: int(kv[0]))},
    }


def run_server_side(wstest: str, cases: list[str], outdir: Path, python: str, timeout: float) -> dict:
    """wstest's fuzzing client against our echo server."""
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    srv = subprocess.Popen([python, str(PROGRAMS / "autobahn_echo_server.py")], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        spec = {"outdir": str(outdir / "servers"), "servers": [{"agent": AGENT, "url": f"ws://127.0.0.1:{port}"}],
                "cases": cases, "exclude-cases": [], "exclude-agent-cases": {}}
        (outdir / "fuzzingclient.json").write_text(json.dumps(spec, indent=1))
        with open(outdir / "fuzzingclient.log", "w") as log:
            subprocess.run([wstest, "-m", "fuzzingclient", "-s", str(outdir / "fuzzingclient.json")],
                           cwd=outdir, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=True)
        alive = srv.poll() is None
    finally:
        srv.kill()
        srv.wait(10)
    result = summarize(outdir / "servers" / "index.json")
    result["server_alive_after"] = alive
    return result


def run_client_side(wstest: str, cases: list[str], outdir: Path, python: str, timeout: float) -> dict:
    """Our client against wstest's fuzzing server."""
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    spec = {"url": f"ws://127.0.0.1:{port}", "outdir": str(outdir / "clients"),
            "cases": cases, "exclude-cases": [], "exclude-agent-cases": {}}
    (outdir / "fuzzingserver.json").write_text(json.dumps(spec, indent=1))
    with open(outdir / "fuzzingserver.log", "w") as log:
        fs = subprocess.Popen([wstest, "-m", "fuzzingserver", "-s", str(outdir / "fuzzingserver.json")],
                              cwd=outdir, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(port, fs)
            with open(outdir / "client.log", "w") as clog:
                rc = subprocess.run([python, str(PROGRAMS / "autobahn_client.py"), f"ws://127.0.0.1:{port}"],
                                    stdout=clog, stderr=subprocess.STDOUT, timeout=timeout).returncode
        finally:
            fs.kill()
            fs.wait(10)
    result = summarize(outdir / "clients" / "index.json")
    result["client_exit"] = rc
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", choices=["server", "client", "both"], default="both")
    ap.add_argument("--cases", nargs="+", default=["*"], help="wstest case patterns (default: all)")
    ap.add_argument("--outdir", default=str(ROOT / "build" / "autobahn"))
    ap.add_argument("--wstest", help="path of wstest (default: .venv-autobahn/bin/wstest)")
    ap.add_argument("--python", default=sys.executable, help="interpreter with pymongoose (default: this one)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per side")
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args()
    wstest = find_wstest(args.wstest)
    if not wstest:
        print("wstest not found: run scripts/setup.sh (needs a python2.7) or pass --wstest", file=sys.stderr)
        return 2
    out = Path(args.outdir)
    summary: dict = {"cases": args.cases}
    start = time.monotonic()
    if args.side in ("server", "both"):
        summary["server"] = run_server_side(wstest, args.cases, out, args.python, args.timeout)
    if args.side in ("client", "both"):
        summary["client"] = run_client_side(wstest, args.cases, out, args.python, args.timeout)
    summary["seconds"] = round(time.monotonic() - start, 1)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    ok = all(not summary[s]["failed"] for s in ("server", "client") if s in summary)
    ok = ok and summary.get("server", {}).get("server_alive_after", True) and summary.get("client", {}).get("client_exit", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

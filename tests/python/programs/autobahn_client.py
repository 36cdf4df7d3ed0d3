# SPDX-License-Identifier: MIT
"""Our WebSocket client (Manager.ws_connect, permessage-deflate offered) against Autobahn|Testsuite's
fuzzing server (`wstest -m fuzzingserver`): asks for the case count, runs each case as an echo
client, then asks the server to write its reports. Usage:
    python autobahn_client.py ws://127.0.0.1:9001 [first_case last_case]
Prints one line per case; exits non-zero when a case did not end within its deadline."""

import sys
import time

import pymongoose as mg

AGENT = "pymongoose"


def run(mgr: mg.Manager, url: str, deadline_s: float, on_text=None) -> bool:
    """One connection to `url`: echo every message, return once it closed (False: timed out)."""
    state = {"closed": False}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_WS_MSG:
            if on_text is not None:
                on_text(data.text)
            else:
                conn.ws_send(data.data, data.opcode)
        elif ev == mg.MG_EV_CLOSE:
            state["closed"] = True

    mgr.ws_connect(url, handler, compression=True)
    end = time.monotonic() + deadline_s
    while not state["closed"] and time.monotonic() < end:
        mgr.poll(50)
    return state["closed"]


def main() -> int:
    base = sys.argv[1].rstrip("/")
    mgr = mg.Manager(None, limits={"max_ws_message": 64 << 20}, poll_events=False)
    count = []
    if not run(mgr, f"{base}/getCaseCount", 10, on_text=lambda t: count.append(int(t))) or not count:
        print("no case count from the fuzzing server", flush=True)
        return 2
    first, last = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (1, count[0])
    stuck = 0
    for case in range(first, min(last, count[0]) + 1):
        ok = run(mgr, f"{base}/runCase?case={case}&agent={AGENT}", 120)
        print(f"case {case}: {'done' if ok else 'TIMEOUT'}", flush=True)
        stuck += not ok
    run(mgr, f"{base}/updateReports?agent={AGENT}", 60)
    mgr.close()
    return 1 if stuck else 0


if __name__ == "__main__":
    sys.exit(main())

"""Timers: repeating, one-shot, run-now and cancelled timers on the event loop.

- A repeating timer (run_now=True, so it fires on the first poll) counts ticks
  every second and prints a line every 10 ticks.
- A one-shot timer fires once, 3 s after start.
- A repeating "countdown" timer cancels itself with Timer.cancel() after 5 runs.
- GET /delay?ms=N answers after N milliseconds: the handler returns at once and a
  one-shot timer sends the reply later (a deferred response, no thread needed).
- GET / shows the state of all of them as JSON.

Timer callbacks take no arguments and run on the thread that polls the manager,
between two I/O passes, so they may use connections freely.

Run:
    python examples/timers.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    curl -s http://127.0.0.1:8000/
    time curl -s "http://127.0.0.1:8000/delay?ms=1500"

Ctrl+C or SIGTERM stops it (pending timers are dropped with the manager).
"""
import sys

import pymongoose as mg

state = {"ticks": 0, "one_shot_fired": False, "countdown": 5, "delayed_replies": 0}
manager = None
started = mg.millis()


def tick():
    state["ticks"] += 1
    if state["ticks"] % 10 == 0:
        print(f"{state['ticks']} ticks", flush=True)


def one_shot():
    state["one_shot_fired"] = True
    print("one-shot timer fired", flush=True)


def countdown():
    state["countdown"] -= 1
    if state["countdown"] == 0:
        countdown_timer.cancel()  # safe from inside its own callback


def handler(conn, ev, data):
    if ev != mg.MG_EV_HTTP_MSG:
        return
    if data.uri == "/delay":
        value = data.query_var("ms") or "1000"
        ms = min(int(value), 60_000) if value.isdigit() else 1000
        asked = mg.millis()

        def answer():
            if conn.is_closing:  # the client went away meanwhile (True once closed)
                return
            state["delayed_replies"] += 1
            conn.reply_json({"asked_ms": ms, "waited_ms": mg.millis() - asked})

        manager.timer_add(ms, answer)
    elif data.uri == "/":
        conn.reply_json({**state, "countdown_active": countdown_timer.active,
                         "uptime_ms": mg.millis() - started})
    else:
        conn.reply(404, "try / or /delay?ms=500\n")


def main():
    global manager, countdown_timer
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    manager.timer_add(1000, tick, repeat=True, run_now=True)
    manager.timer_add(3000, one_shot)
    countdown_timer = manager.timer_add(200, countdown, repeat=True)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/", flush=True)
    manager.run()


if __name__ == "__main__":
    main()

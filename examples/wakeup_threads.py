"""Wakeup from threads: a background thread feeds data into the event loop.

A "sensor" thread produces a reading every 500 ms (here: random numbers; in real
life a blocking read from a device, a queue or a database). It must not touch the
connections itself, so it hands each reading to the loop with
Manager.wakeup(listener.id, payload): the payload arrives as MG_EV_WAKEUP (data is
the bytes given) on the listener, on the polling thread, where the handler keeps
the latest reading and answers every client waiting for the next one.

    GET /latest   the most recent reading at once (204 before the first one)
    GET /next     long poll: waits for the next reading, then answers

Manager(enable_wakeup=True) turns the wakeup channel on. wakeup() is thread-safe
and interrupts a blocked poll() within a millisecond.

Run:
    python examples/wakeup_threads.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    curl -s http://127.0.0.1:8000/latest
    curl -s http://127.0.0.1:8000/next      # returns when the thread has a new value

Ctrl+C or SIGTERM stops the loop, then the thread.
"""
import json
import random
import sys
import threading

import pymongoose as mg

latest = None
waiting = {}  # connection id -> Connection: clients in /next


def sensor(manager, listener_id, stop):
    seq = 0
    while not stop.wait(0.5):  # "blocking work" in the thread
        seq += 1
        reading = {"seq": seq, "value": round(random.uniform(18.0, 24.0), 2),
                   "thread": threading.current_thread().name}
        try:
            manager.wakeup(listener_id, json.dumps(reading).encode())
        except RuntimeError:  # the manager is closed: we are shutting down
            return


def handler(conn, ev, data):
    global latest
    if ev == mg.MG_EV_WAKEUP:  # on the listener: a new reading
        latest = data.decode()
        for client in list(waiting.values()):
            client.reply(200, latest, {"Content-Type": "application/json"})
        waiting.clear()
    elif ev == mg.MG_EV_HTTP_MSG:
        if data.uri == "/latest":
            if latest is None:
                conn.reply(204)
            else:
                conn.reply(200, latest, {"Content-Type": "application/json"})
        elif data.uri == "/next":
            waiting[conn.id] = conn  # answered from the next MG_EV_WAKEUP
        else:
            conn.reply(404, "try /latest or /next\n")
    elif ev == mg.MG_EV_CLOSE:
        waiting.pop(conn.id, None)


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler, enable_wakeup=True)
    listener = manager.listen(url, http=True)
    stop = threading.Event()
    thread = threading.Thread(target=sensor, args=(manager, listener.id, stop), name="sensor")
    thread.start()
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/ (try /latest and /next)", flush=True)
    try:
        manager.run()
    finally:
        stop.set()
        thread.join()


if __name__ == "__main__":
    main()

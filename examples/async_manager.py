"""AsyncManager: pymongoose next to asyncio.

AsyncManager runs a Manager on its own poll thread while your asyncio code runs
on the event loop. Here every request is handled by a coroutine:

1. the handler (poll thread) copies what it needs from the request and hands a
   coroutine to the asyncio loop with AsyncManager.schedule();
2. the coroutine awaits (asyncio.sleep() stands in for an async database or HTTP
   call, and a shared asyncio.Lock guards a counter);
3. it returns the result to the poll thread with AsyncManager.wakeup(conn_id, body),
   and the MG_EV_WAKEUP handler sends the reply.

Listeners and timers are created from the asyncio side with am.listen() and
am.timer_add(); the signal handlers belong to the asyncio loop.

Run:
    python examples/async_manager.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    curl -s "http://127.0.0.1:8000/hello?name=asyncio"
    curl -s "http://127.0.0.1:8000/hello?name=slow&delay=1000"

Ctrl+C or SIGTERM stops it: the asyncio loop leaves the "async with" block, which
stops the poll thread and closes the manager.
"""
import asyncio
import json
import signal
import sys

import pymongoose as mg
from pymongoose import AsyncManager


async def main(url):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    counter_lock = asyncio.Lock()
    served = 0

    async def respond(conn_id, name, delay_ms):
        nonlocal served
        await asyncio.sleep(delay_ms / 1000)  # any awaitable work
        async with counter_lock:
            served += 1
            number = served
        body = json.dumps({"hello": name, "request": number, "delay_ms": delay_ms})
        am.wakeup(conn_id, body.encode())

    def handler(conn, ev, data):  # runs on the poll thread
        if ev == mg.MG_EV_HTTP_MSG:
            if data.uri == "/hello":
                delay = data.query_var("delay") or "10"
                delay_ms = min(int(delay), 10_000) if delay.isdigit() else 10
                am.schedule(respond(conn.id, data.query_var("name") or "world", delay_ms))
            else:
                conn.reply(404, "try /hello?name=you\n")
        elif ev == mg.MG_EV_WAKEUP:
            conn.reply(200, data, {"Content-Type": "application/json"})

    async with AsyncManager(handler) as am:
        listener = am.listen(url, http=True)
        am.timer_add(60_000, lambda: print(f"{served} requests so far", flush=True), repeat=True)
        host, port, ipv6 = listener.local_addr
        host = f"[{host}]" if ipv6 else host
        print(f"listening on http://{host}:{port}/hello", flush=True)
        await stop.wait()
    print("stopped", flush=True)


if __name__ == "__main__":
    address = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if address.isdigit():
        address = f"http://127.0.0.1:{address}"
    asyncio.run(main(address))

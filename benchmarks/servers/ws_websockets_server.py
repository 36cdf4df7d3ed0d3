"""WebSocket echo server on the `websockets` package (asyncio implementation).

    python ws_websockets_server.py PORT

Every message is sent back as it came (str stays text, bytes stay binary); pings are
answered by the library. No compression. Stops cleanly on SIGINT/SIGTERM.
"""

import asyncio
import signal
import sys

from websockets.asyncio.server import serve


async def echo(ws) -> None:
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with serve(echo, "127.0.0.1", port, compression=None, max_size=None,
                     ping_interval=None):
        print(f"websockets echo on ws://127.0.0.1:{port}/", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))

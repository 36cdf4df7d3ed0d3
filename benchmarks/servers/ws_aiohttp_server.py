"""WebSocket echo server on aiohttp (one process, default asyncio loop).

    python ws_aiohttp_server.py PORT

Text and binary messages are sent back as they came; aiohttp answers pings itself.
No compression (the load generator does not offer permessage-deflate). run_app()
handles SIGINT/SIGTERM.
"""

import sys

from aiohttp import WSMsgType, web


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    print(f"aiohttp WebSocket echo on ws://127.0.0.1:{port}/", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None,
                handle_signals=True)


if __name__ == "__main__":
    main()

"""ASGI flow-control test server (tests/python/test_asgi_flow.py).

    python asgi_flow_server.py stream TOTAL   # GET / streams TOTAL bytes in 64 KiB pieces
    python asgi_flow_server.py ws-slow        # WebSocket: waits for "go" on stdin, then counts messages

Prints "port N" once listening; the app's progress lines go to stdout too. Stops on stdin EOF.
"""

import asyncio
import sys

from pymongoose.asgi import ASGIServer

PIECE = 64 * 1024


async def main() -> None:
    mode = sys.argv[1]
    loop = asyncio.get_running_loop()
    go = asyncio.Event()
    stop = asyncio.Event()

    async def stream_app(scope, receive, send):
        total = int(sys.argv[2])
        chunk = b"x" * PIECE
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % total)]})
        sent = 0
        while sent < total:
            n = min(PIECE, total - sent)
            await send({"type": "http.response.body", "body": chunk[:n], "more_body": True})
            sent += n
        await send({"type": "http.response.body", "body": b""})
        print("stream done", flush=True)

    async def ws_app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        print("accepted", flush=True)
        await go.wait()  # the app is busy: messages must not pile up in memory
        count = nbytes = 0
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            count += 1
            nbytes += len(message.get("bytes") or b"")
            if count == int(sys.argv[2]):
                print(f"received {count} {nbytes}", flush=True)
                await send({"type": "websocket.close", "code": 1000})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await (stream_app if mode == "stream" else ws_app)(scope, receive, send)

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line:
            stop.set()
        elif line.strip() == "go":
            go.set()

    server = ASGIServer(app)
    listener = await server.start("http://127.0.0.1:0")
    loop.add_reader(sys.stdin.fileno(), on_stdin)
    print(f"port {listener.local_addr[1]}", flush=True)
    await stop.wait()
    await server.stop(timeout=1)


asyncio.run(main())

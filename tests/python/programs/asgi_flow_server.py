"""ASGI flow-control test server (tests/python/test_asgi_flow.py).

    python asgi_flow_server.py stream TOTAL   # GET / streams TOTAL bytes in 64 KiB pieces
    python asgi_flow_server.py ws-slow        # WebSocket: waits for "go" on stdin, then counts messages
    python asgi_flow_server.py upload MAXBODY # POST: reads one body message, waits for "go", then
                                              # reads the rest and answers its SHA-256

Prints "port N" once listening; the app's progress lines go to stdout too. Stops on stdin EOF.
"""

import asyncio
import hashlib
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

    async def upload_app(scope, receive, send):
        digest = hashlib.sha256()
        messages = total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                print("upload disconnected", flush=True)
                return
            messages += 1
            total += len(message["body"])
            digest.update(message["body"])
            if messages == 1:
                print(f"first {len(message['body'])} {message['more_body']}", flush=True)
                await go.wait()  # a slow app: the rest of the body must wait in the kernel
            if not message["more_body"]:
                break
        print(f"upload done {total} {messages}", flush=True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": f"{digest.hexdigest()} {total} {messages}".encode()})

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await {"stream": stream_app, "upload": upload_app}.get(mode, ws_app)(scope, receive, send)

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line:
            stop.set()
        elif line.strip() == "go":
            go.set()

    limits = {"max_body": int(sys.argv[2])} if mode == "upload" else None
    server = ASGIServer(app, limits=limits)
    listener = await server.start("http://127.0.0.1:0")
    loop.add_reader(sys.stdin.fileno(), on_stdin)
    print(f"port {listener.local_addr[1]}", flush=True)
    await stop.wait()
    await server.stop(timeout=1)


asyncio.run(main())

"""FastAPI on pymongoose: an ASGI application served by pymongoose.asgi.ASGIServer.

The engine runs its event loop on a thread; the app runs on asyncio. HTTP routes,
a lifespan handler, a streamed response and a WebSocket endpoint all work.

    GET  /items/{id}?q=...   JSON (path and query parameters, pydantic validation)
    POST /items              JSON body validated by a pydantic model
    GET  /stream             a StreamingResponse (chunked)
    WS   /ws                 WebSocket echo

Needs FastAPI:  pip install fastapi

Run:
    python examples/fastapi_app.py [PORT_OR_URL]    # default 8000; 0 = any free port

Try:
    curl -s "http://127.0.0.1:8000/items/42?q=test"
    curl -s -X POST -H "Content-Type: application/json" -d '{"name": "pen", "price": 1.5}' \\
         http://127.0.0.1:8000/items
    curl -N http://127.0.0.1:8000/stream
    open http://127.0.0.1:8000/docs in a browser (FastAPI's interactive documentation)

Ctrl+C or SIGTERM stops it: the app's lifespan shutdown runs, then the server closes.
(pymongoose.asgi.serve(app, url) does the same in one call; this program spells it
out to print the real port.)
"""
import asyncio
import signal
import sys
from contextlib import asynccontextmanager

try:
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect
    from fastapi.responses import StreamingResponse
    from pydantic import BaseModel
except ImportError:
    sys.exit("this example needs FastAPI: pip install fastapi")

from pymongoose.asgi import ASGIServer


@asynccontextmanager
async def lifespan(app):
    app.state.created = 0
    print("lifespan: startup", flush=True)
    yield
    print(f"lifespan: shutdown ({app.state.created} items created)", flush=True)


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item):
    app.state.created += 1
    return {"created": item.model_dump(), "total": app.state.created}


@app.get("/stream")
async def stream():
    async def lines():
        for i in range(5):
            yield f"line {i}\n"
            await asyncio.sleep(0.2)
    return StreamingResponse(lines(), media_type="text/plain")


@app.websocket("/ws")
async def ws_echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


async def main(url):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = ASGIServer(app)
    try:
        listener = await server.start(url)
        host, port, ipv6 = listener.local_addr
        host = f"[{host}]" if ipv6 else host
        print(f"listening on http://{host}:{port}/ (docs at /docs)", flush=True)
        await stop.wait()
    finally:
        await server.stop()


if __name__ == "__main__":
    address = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if address.isdigit():
        address = f"http://127.0.0.1:{address}"
    asyncio.run(main(address))

"""Hello JSON on FastAPI: the same app file for every ASGI server of the adapter benchmark."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}

"""Hello JSON on Flask: the same app file for every WSGI server of the adapter benchmark."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}

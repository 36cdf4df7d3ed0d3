# SPDX-License-Identifier: MIT
"""Small applications written with each framework's own API, for test_frameworks.py.

Importable on its own (``gunicorn framework_apps:flask_app`` runs the same objects the tests
serve on pymongoose). Each ``make_*`` function imports its framework lazily, so a missing
framework only skips the tests that need it.

Every app has the same routes, as far as its framework allows:

- ``/`` plain text; ``/items/<id>?q=`` JSON echo of the id, the query, the ``X-Token``
  header and the ``session`` cookie; ``/json`` (POST) echoes a JSON body with a total;
  ``/form`` (POST) fields and uploaded files (name, size, SHA-256; ``/form-digest``, in
  FastAPI and Flask, reads the files in pieces); ``/redirect`` to
  ``/items/1?q=r``; ``/cookies`` sets two cookies; ``/only-post`` accepts POST only;
  ``/boom`` raises; ``/stream`` a body in ``STREAM_PARTS`` pieces without a length;
  ``/ws`` (ASGI) WebSocket echo: text and bytes back, ``close:<code>`` closes with
  that code, the ``chat`` subprotocol accepted when offered.
"""


import hashlib
import json
import time
from contextlib import asynccontextmanager
from typing import Any

STREAM_PARTS = [b"part-%d;" % i for i in range(20)]
STREAM_BODY = b"".join(STREAM_PARTS)
BIG_TEXT = "0123456789abcdef" * (2 << 16)  # 2 MiB: ``/big`` answers {"data": BIG_TEXT}
# Lifespan events of the ASGI apps, in order: ("fastapi", "startup"), ...
EVENTS: list[tuple[str, str]] = []


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Validated:
    """A WSGI app wrapped in ``wsgiref.validate.validator``.

    The validator raises ``AssertionError`` (and warns ``WSGIWarning``) inside the server
    when the server or the app breaks PEP 3333; a server may turn that into a 500 or a cut
    connection, so each one is also recorded here, and ``check()`` fails on any of them and
    on a response iterator the server never closed (the validator itself can only complain
    from ``__del__``).

    The validator predates the ``wsgi.input_terminated`` extension (ours, gunicorn's): it
    forbids ``wsgi.input.read()`` without a size, which the extension allows and Werkzeug
    then does. When the environ has the extension, such a read is turned into sized reads
    of the validator's input wrapper (``_TerminatedInput``), which still checks each one.
    """

    def __init__(self, app: Any) -> None:
        from wsgiref.validate import WSGIWarning, validator

        def with_extension(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("wsgi.input_terminated"):
                environ["wsgi.input"] = _TerminatedInput(environ["wsgi.input"])
            return app(environ, start_response)

        self.app = app
        self.lint = validator(with_extension)
        self.kinds = (AssertionError, WSGIWarning)
        self.iterators: list[Any] = []
        self.errors: list[BaseException] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            it = self.lint(environ, start_response)
        except self.kinds as exc:
            self.errors.append(exc)
            raise
        self.iterators.append(it)
        return _Watched(it, self)

    def check(self, timeout: float = 3.0) -> None:
        """Fail on a validator complaint or an unclosed iterator (waiting up to ``timeout``
        for the server's threads to close them)."""
        deadline = time.monotonic() + timeout
        while any(not it.closed for it in self.iterators) and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.errors:
            raise AssertionError(f"wsgiref.validate: {self.errors[0]!r}") from self.errors[0]
        unclosed = sum(not it.closed for it in self.iterators)
        if unclosed:
            raise AssertionError(f"{unclosed} response iterator(s) never closed")


class _TerminatedInput:
    """``wsgi.input`` under ``wsgi.input_terminated``: ``read()`` reads to the end."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return self.inner.read(size)
        out = bytearray()
        while chunk := self.inner.read(65536):
            out += chunk
        return bytes(out)

    def readline(self, *args: Any) -> bytes:
        return self.inner.readline(*args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self.inner.readlines(*args)

    def __iter__(self) -> Any:
        return iter(self.inner)


class _Watched:
    """The validator's response iterator, its complaints recorded (see ``Validated``)."""

    def __init__(self, it: Any, owner: Validated) -> None:
        self.it = it
        self.owner = owner

    def __iter__(self) -> "_Watched":
        return self

    def __next__(self) -> bytes:
        try:
            return next(self.it)
        except self.owner.kinds as exc:
            self.owner.errors.append(exc)
            raise

    def close(self) -> None:
        try:
            self.it.close()
        except self.owner.kinds as exc:
            self.owner.errors.append(exc)
            raise


# ---------------------------------------------------------------------- Flask


def make_flask() -> Any:
    import flask

    app = flask.Flask("framework_apps_flask")

    @app.get("/")
    def index() -> Any:
        return "Hello from Flask"

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        return flask.jsonify(
            item_id=item_id,
            q=flask.request.args.get("q"),
            token=flask.request.headers.get("X-Token"),
            session=flask.request.cookies.get("session"),
        )

    @app.post("/json")
    def echo_json() -> Any:
        data = flask.request.get_json()
        return flask.jsonify(got=data, total=sum(data.get("values", [])))

    @app.post("/form")
    def form() -> Any:
        files = {
            k: [f.filename, len(body := f.read()), _digest(body)] for k, f in flask.request.files.items()
        }
        return flask.jsonify(fields=dict(flask.request.form), files=files)

    @app.post("/form-digest")
    def form_digest() -> Any:
        # As /form, but each file is read in 64 KiB pieces (big uploads).
        files = {}
        for k, f in flask.request.files.items():
            digest, size = hashlib.sha256(), 0
            while piece := f.stream.read(65536):
                digest.update(piece)
                size += len(piece)
            files[k] = [f.filename, size, digest.hexdigest()]
        return flask.jsonify(fields=dict(flask.request.form), files=files)

    @app.get("/redirect")
    def redirect() -> Any:
        return flask.redirect("/items/1?q=r")

    @app.get("/cookies")
    def cookies() -> Any:
        resp = flask.make_response("cookies set")
        resp.set_cookie("session", "abc123", httponly=True)
        resp.set_cookie("theme", "dark")
        return resp

    @app.post("/only-post")
    def only_post() -> Any:
        return "posted"

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("flask boom")

    @app.get("/stream")
    def stream() -> Any:
        def gen() -> Any:
            yield from STREAM_PARTS

        return flask.Response(gen(), mimetype="text/plain")

    @app.get("/big")
    def big() -> Any:
        return flask.jsonify(data=BIG_TEXT)

    return app


# --------------------------------------------------------------------- Django


def _django_setup() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="framework-apps-test-key",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
            DEFAULT_CHARSET="utf-8",
            LOGGING_CONFIG=None,
        )
        django.setup()


def _django_urlpatterns() -> list[Any]:
    from django.http import (
        HttpResponse,
        HttpResponseRedirect,
        JsonResponse,
        StreamingHttpResponse,
    )
    from django.urls import path
    from django.views.decorators.http import require_GET, require_POST, require_safe

    @require_safe
    def index(request: Any) -> Any:
        return HttpResponse("Hello from Django", content_type="text/plain")

    @require_GET
    def item(request: Any, item_id: int) -> Any:
        return JsonResponse(
            {
                "item_id": item_id,
                "q": request.GET.get("q"),
                "token": request.headers.get("X-Token"),
                "session": request.COOKIES.get("session"),
            }
        )

    @require_POST
    def echo_json(request: Any) -> Any:
        data = json.loads(request.body)
        return JsonResponse({"got": data, "total": sum(data.get("values", []))})

    @require_POST
    def form(request: Any) -> Any:
        files = {}
        for k, f in request.FILES.items():
            body = f.read()
            files[k] = [f.name, len(body), _digest(body)]
        return JsonResponse({"fields": request.POST.dict(), "files": files})

    def redirect(request: Any) -> Any:
        return HttpResponseRedirect("/items/1?q=r")

    def cookies(request: Any) -> Any:
        resp = HttpResponse("cookies set", content_type="text/plain")
        resp.set_cookie("session", "abc123", httponly=True)
        resp.set_cookie("theme", "dark")
        return resp

    @require_POST
    def only_post(request: Any) -> Any:
        return HttpResponse("posted", content_type="text/plain")

    def boom(request: Any) -> Any:
        raise RuntimeError("django boom")

    def stream(request: Any) -> Any:
        async def agen() -> Any:
            for part in STREAM_PARTS:
                yield part

        def gen() -> Any:
            yield from STREAM_PARTS

        # Each handler gets the iterator kind it serves without buffering.
        is_async = request.META.get("wsgi.version") is None
        return StreamingHttpResponse(agen() if is_async else gen(), content_type="text/plain")

    def big(request: Any) -> Any:
        return JsonResponse({"data": BIG_TEXT})

    async def async_view(request: Any) -> Any:
        return JsonResponse({"async": True, "method": request.method})

    return [
        path("", index),
        path("items/<int:item_id>", item),
        path("json", echo_json),
        path("form", form),
        path("redirect", redirect),
        path("cookies", cookies),
        path("only-post", only_post),
        path("boom", boom),
        path("stream", stream),
        path("async", async_view),
        path("big", big),
    ]


def __getattr__(name: str) -> Any:
    # Django's URL resolver imports ROOT_URLCONF (this module) and reads urlpatterns.
    if name == "urlpatterns":
        patterns = _django_urlpatterns()
        globals()["urlpatterns"] = patterns
        return patterns
    if name == "flask_app":
        return make_flask()
    if name == "django_wsgi":
        return make_django_wsgi()
    raise AttributeError(name)


def make_django_wsgi() -> Any:
    _django_setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def make_django_asgi() -> Any:
    _django_setup()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


# -------------------------------------------------------------------- FastAPI


def make_fastapi() -> Any:
    import fastapi
    from fastapi import FastAPI, File, Form, Request, UploadFile, WebSocket
    from fastapi.responses import PlainTextResponse, RedirectResponse, StreamingResponse
    from pydantic import BaseModel

    class Payload(BaseModel):
        name: str
        values: list[int] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        EVENTS.append(("fastapi", "startup"))
        yield {"greeting": "hello from lifespan", "counter": [0]}
        EVENTS.append(("fastapi", "shutdown"))

    app = FastAPI(lifespan=lifespan)

    @app.api_route("/", methods=["GET", "HEAD"], response_class=PlainTextResponse)
    async def index() -> str:
        return "Hello from FastAPI"

    @app.get("/items/{item_id}")
    async def item(item_id: int, request: Request, q: str | None = None) -> Any:
        return {
            "item_id": item_id,
            "q": q,
            "token": request.headers.get("x-token"),
            "session": request.cookies.get("session"),
        }

    @app.post("/json")
    async def echo_json(payload: Payload) -> Any:
        return {"got": payload.model_dump(), "total": sum(payload.values)}

    @app.post("/form")
    async def form(note: str = Form(...), upload: UploadFile = File(...)) -> Any:
        body = await upload.read()
        return {"fields": {"note": note}, "files": {"upload": [upload.filename, len(body), _digest(body)]}}

    @app.post("/form-digest")
    async def form_digest(note: str = Form(...), upload: UploadFile = File(...)) -> Any:
        # As /form, but the file is read in 64 KiB pieces (big uploads).
        digest, size = hashlib.sha256(), 0
        while piece := await upload.read(65536):
            digest.update(piece)
            size += len(piece)
        return {"fields": {"note": note}, "files": {"upload": [upload.filename, size, digest.hexdigest()]}}

    @app.get("/state")
    async def state(request: Request) -> Any:
        request.state.counter[0] += 1
        return {"greeting": request.state.greeting, "counter": request.state.counter[0]}

    @app.get("/redirect")
    async def redirect() -> Any:
        return RedirectResponse("/items/1?q=r")

    @app.get("/cookies", response_class=PlainTextResponse)
    async def cookies(response: fastapi.Response) -> str:
        response.set_cookie("session", "abc123", httponly=True)
        response.set_cookie("theme", "dark")
        return "cookies set"

    @app.post("/only-post")
    async def only_post() -> Any:
        return "posted"

    @app.get("/boom")
    async def boom() -> Any:
        raise RuntimeError("fastapi boom")

    @app.get("/stream")
    async def stream() -> Any:
        async def gen() -> Any:
            for part in STREAM_PARTS:
                yield part

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/big")
    async def big() -> Any:
        return {"data": BIG_TEXT}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol="chat" if "chat" in offered else None)
        await websocket.send_text("greeting:" + websocket.state.greeting)
        while True:
            msg = await websocket.receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("text") is not None:
                text = msg["text"]
                if text.startswith("close:"):
                    await websocket.close(code=int(text[6:]), reason="bye")
                    return
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(msg["bytes"])

    return app


# ------------------------------------------------------------------ Starlette

STARLETTE_BIG = 4 * 1024 * 1024  # bytes of /big, in 64 KiB pieces


def make_starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        EVENTS.append(("starlette", "startup"))
        yield {"greeting": "hello from starlette"}
        EVENTS.append(("starlette", "shutdown"))

    async def index(request: Request) -> Any:
        return PlainTextResponse("Hello from Starlette")

    async def stream(request: Request) -> Any:
        import asyncio

        async def gen() -> Any:
            for part in STREAM_PARTS:
                await asyncio.sleep(0)
                yield part

        return StreamingResponse(gen(), media_type="text/plain")

    async def big(request: Request) -> Any:
        async def gen() -> Any:
            piece = 64 * 1024
            for i in range(STARLETTE_BIG // piece):
                yield bytes([i % 251]) * piece

        return StreamingResponse(gen(), media_type="application/octet-stream")

    async def state(request: Request) -> Any:
        return JSONResponse({"greeting": request.state.greeting})

    async def echo(request: Request) -> Any:
        body = await request.body()
        return JSONResponse({"len": len(body), "sha": _digest(body), "query": dict(request.query_params)})

    async def ws(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol="chat" if "chat" in offered else None)
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                if msg.get("text") is not None:
                    if msg["text"].startswith("close:"):
                        await websocket.close(code=int(msg["text"][6:]))
                        return
                    await websocket.send_text(msg["text"])
                else:
                    await websocket.send_bytes(msg["bytes"])
        except WebSocketDisconnect:
            return

    return Starlette(
        routes=[
            Route("/", index),
            Route("/stream", stream),
            Route("/big", big),
            Route("/state", state),
            Route("/echo", echo, methods=["POST", "PUT"]),
            WebSocketRoute("/ws", ws),
        ],
        lifespan=lifespan,
    )


# ---------------------------------------------------------------------- Quart


def make_quart() -> Any:
    import quart

    app = quart.Quart("framework_apps_quart")

    @app.before_serving
    async def startup() -> None:
        EVENTS.append(("quart", "startup"))

    @app.after_serving
    async def shutdown() -> None:
        EVENTS.append(("quart", "shutdown"))

    @app.get("/")
    async def index() -> Any:
        return "Hello from Quart"

    @app.get("/items/<int:item_id>")
    async def item(item_id: int) -> Any:
        return {
            "item_id": item_id,
            "q": quart.request.args.get("q"),
            "token": quart.request.headers.get("X-Token"),
            "session": quart.request.cookies.get("session"),
        }

    @app.post("/json")
    async def echo_json() -> Any:
        data = await quart.request.get_json()
        return {"got": data, "total": sum(data.get("values", []))}

    @app.post("/form")
    async def form() -> Any:
        fields = await quart.request.form
        files = {}
        for k, f in (await quart.request.files).items():
            body = f.read()
            files[k] = [f.filename, len(body), _digest(body)]
        return {"fields": dict(fields), "files": files}

    @app.get("/redirect")
    async def redirect() -> Any:
        return quart.redirect("/items/1?q=r")

    @app.get("/cookies")
    async def cookies() -> Any:
        resp = await quart.make_response("cookies set")
        resp.set_cookie("session", "abc123", httponly=True)
        resp.set_cookie("theme", "dark")
        return resp

    @app.post("/only-post")
    async def only_post() -> Any:
        return "posted"

    @app.get("/boom")
    async def boom() -> Any:
        raise RuntimeError("quart boom")

    @app.get("/stream")
    async def stream() -> Any:
        async def gen() -> Any:
            for part in STREAM_PARTS:
                yield part

        return gen(), 200, {"Content-Type": "text/plain"}

    @app.get("/big")
    async def big() -> Any:
        return {"data": BIG_TEXT}

    @app.websocket("/ws")
    async def ws() -> None:
        websocket = quart.websocket
        offered = websocket.requested_subprotocols
        await websocket.accept(subprotocol="chat" if "chat" in offered else None)
        while True:
            data = await websocket.receive()
            if isinstance(data, str) and data.startswith("close:"):
                await websocket.close(int(data[6:]))
                return
            await websocket.send(data)

    return app

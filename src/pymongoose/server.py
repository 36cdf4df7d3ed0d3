"""Run an ASGI or WSGI application, or a raw handler, in production.

``pymongoose serve module:app`` (``pymongoose.cli``) is a thin layer over this module;
everything it does is available from Python::

    import pymongoose
    pymongoose.serve("myproject.app:app", workers=4, port=8000)   # import string
    pymongoose.serve(app, host="0.0.0.0")                          # an app object
    pymongoose.serve_handler(make_handler, "http://0.0.0.0:8000", workers=2)

One worker runs in the calling process. More workers (or ``reload``) run under a
supervisor: a small parent process that forks the workers, restarts one that dies (with a
bounded back-off), reloads them all gracefully on ``SIGHUP`` (new workers first, then the
old ones drain), and drains them all on ``SIGTERM``/``SIGINT``. TCP workers each listen
with ``SO_REUSEPORT``, so the kernel spreads connections over them; a Unix-domain socket
or an inherited descriptor is one socket shared by every worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import logging
import logging.config
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Config", "AppLoadError", "serve", "serve_handler", "load_app", "detect_interface"]

logger = logging.getLogger("pymongoose.error")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_APP_LOAD = 3  # the application could not be imported or is not an application

# Above this the supervisor waits between restarts of a crashing worker (seconds).
_MAX_RESTART_DELAY = 10.0
_FIRST_RESTART_DELAY = 0.1
# A worker that ran this long before dying restarts at once (its crash is not a loop).
_STABLE_AFTER = 30.0


class AppLoadError(Exception):
    """The application could not be imported, or is not an ASGI/WSGI application."""


@dataclasses.dataclass
class Config:
    """Everything ``pymongoose serve`` accepts; the CLI flags map one to one onto fields.

    ``app`` is an import string (``"package.module:attribute"``) or the application
    itself (several workers and ``reload`` need an import string: workers import it
    after they start, so a reload picks up new code).
    """

    app: Any
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    interface: str = "auto"  # "asgi", "wsgi" or "auto"
    factory: bool = False  # app names a callable returning the application
    app_dir: str | None = "."  # put on sys.path before importing
    workers: int = 1  # 0: one per CPU
    threads: int = 4  # WSGI thread pool per worker
    backlog: int | None = None  # None: SOMAXCONN
    limit_concurrency: int | None = None
    timeout_keep_alive: float | None = None  # None: the engine's keepalive_timeout
    timeout_graceful_shutdown: float | None = 30.0
    root_path: str = ""
    proxy_headers: bool = False
    forwarded_allow_ips: str | None = None  # None: $FORWARDED_ALLOW_IPS or loopback + unix
    access_log: bool = False
    log_level: str | int | None = "info"
    log_config: str | dict[str, Any] | None = None
    reload: bool = False
    reload_dirs: Sequence[str] = ()
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_ca_certs: str | None = None
    server_header: bool = True
    date_header: bool = True
    limits: dict[str, Any] | None = None

    def worker_count(self) -> int:
        n = self.workers
        if n == 0:
            n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return n

    def check(self) -> None:
        """`ValueError` with a one-line reason for inconsistent options."""
        if self.interface not in ("auto", "asgi", "wsgi"):
            raise ValueError(f"interface must be auto, asgi or wsgi, not {self.interface!r}")
        if self.workers < 0:
            raise ValueError("workers must be 0 (one per CPU) or more")
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.backlog is not None and self.backlog < 1:
            raise ValueError("backlog must be at least 1")
        if self.uds is not None and self.fd is not None:
            raise ValueError("give at most one of uds and fd")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, not {self.port}")
        if (self.workers != 1 or self.reload) and not isinstance(self.app, str):
            raise ValueError("workers and reload need the application as an import string ('module:app')")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        if self.ssl_ca_certs and not self.ssl_certfile:
            raise ValueError("ssl_ca_certs needs ssl_certfile and ssl_keyfile")
        for t in (self.timeout_keep_alive, self.timeout_graceful_shutdown):
            if t is not None and t < 0:
                raise ValueError("timeouts cannot be negative")

    # -- what the workers listen on ---------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile else "http"

    def display_url(self, port: int | None = None) -> str:
        if self.uds is not None:
            return f"{self.scheme}+unix://{self.uds}"
        if self.fd is not None:
            return f"{self.scheme}+fd://{self.fd}"
        return f"{self.scheme}://{_url_host(self.host)}:{self.port if port is None else port}"

    def tls_opts(self) -> Any:
        if not self.ssl_certfile:
            return None
        from ._mongoose import TlsOpts

        def read(path: str | None) -> bytes | None:
            if not path:
                return None
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError as e:
                raise ValueError(f"cannot read {path}: {e.strerror}") from None

        return TlsOpts(cert=read(self.ssl_certfile), key=read(self.ssl_keyfile), ca=read(self.ssl_ca_certs))

    def engine_limits(self) -> dict[str, Any] | None:
        limits = dict(self.limits or {})
        if self.timeout_keep_alive is not None:
            limits["keepalive_timeout"] = float(self.timeout_keep_alive)
        return limits or None

    def trusted_peers(self) -> str:
        if self.forwarded_allow_ips is not None:
            return self.forwarded_allow_ips
        return os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1,unix")


def _url_host(host: str) -> str:
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def configure_logging(config: Config) -> None:
    """Logging for the server: ``log_config`` (a dict, or a ``.json``/``.yaml``/``.ini``
    file) if given, otherwise one stderr handler on ``pymongoose`` at ``log_level``."""
    if config.log_config is not None:
        lc = config.log_config
        if isinstance(lc, dict):
            logging.config.dictConfig(lc)
        elif lc.endswith(".json"):
            import json

            with open(lc) as f:
                logging.config.dictConfig(json.load(f))
        elif lc.endswith((".yaml", ".yml")):
            import yaml  # type: ignore[import-untyped]

            with open(lc) as f:
                logging.config.dictConfig(yaml.safe_load(f))
        else:
            logging.config.fileConfig(lc, disable_existing_loggers=False)
    else:
        root = logging.getLogger("pymongoose")
        if not root.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(levelname)s: %(message)s"))
            root.addHandler(handler)
            root.propagate = False
    if config.log_level is not None:
        level = config.log_level
        if isinstance(level, str):
            level = logging.getLevelName(level.upper())
            if not isinstance(level, int):
                raise ValueError(f"unknown log level {config.log_level!r}")
        logging.getLogger("pymongoose").setLevel(level)


# -- loading the application ---------------------------------------------------------


def load_app(config: Config) -> tuple[Any, str]:
    """The application and its interface (``"asgi"`` or ``"wsgi"``); `AppLoadError` with
    a one-line message when it cannot be imported or is not an application."""
    app = config.app
    if isinstance(app, str):
        module_name, sep, attrs = app.partition(":")
        if not sep or not module_name or not attrs:
            raise AppLoadError(f"application must be given as 'module:attribute', not {app!r}")
        if config.app_dir is not None:
            path = os.path.abspath(config.app_dir)
            if path not in sys.path:
                sys.path.insert(0, path)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name) and (module_name == e.name or module_name.startswith(e.name + ".")):
                raise AppLoadError(f"could not import module {module_name!r}: no module named {e.name!r}") from None
            raise AppLoadError(f"error while importing {module_name!r}: {type(e).__name__}: {e}") from None
        except Exception as e:  # the application's own import-time error
            raise AppLoadError(f"error while importing {module_name!r}: {_one_line(e)}") from None
        obj: Any = module
        for part in attrs.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise AppLoadError(f"attribute {attrs!r} not found in module {module_name!r}") from None
        app = obj
    if config.factory:
        if not callable(app):
            raise AppLoadError("--factory: the application factory is not callable")
        try:
            app = app()
        except Exception as e:
            raise AppLoadError(f"the application factory raised {_one_line(e)}") from None
    if not callable(app):
        raise AppLoadError(f"{config.app!r} is not callable, so it is not an ASGI or WSGI application")
    interface = config.interface
    if interface == "auto":
        interface = detect_interface(app)
    return app, interface


def _one_line(e: BaseException) -> str:
    where = ""
    tb = traceback.extract_tb(e.__traceback__)
    if tb:
        last = tb[-1]
        where = f" ({last.filename}, line {last.lineno})"
    if isinstance(e, SyntaxError) and e.filename:
        where = f" ({e.filename}, line {e.lineno})"
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}{where}"


def detect_interface(app: Any) -> str:
    """``"asgi"`` when calling `app` gives a coroutine (an ``async def`` function or
    ``__call__``, or a class whose instances are awaitable), else ``"wsgi"``."""
    if inspect.isclass(app):
        return "asgi" if hasattr(app, "__await__") else "wsgi"
    if inspect.iscoroutinefunction(app):
        return "asgi"
    call = getattr(app, "__call__", None)  # noqa: B004
    if call is not None and inspect.iscoroutinefunction(call):
        return "asgi"
    # functools.partial and other wrappers of coroutine functions
    inner = getattr(app, "func", None)
    if inner is not None and inspect.iscoroutinefunction(inner):
        return "asgi"
    return "wsgi"


def _wrap(app: Any, interface: str, config: Config) -> Any:
    from . import middleware as mw

    if interface == "asgi":
        if config.proxy_headers:
            app = mw.ProxyHeadersMiddleware(app, config.trusted_peers())
        if config.access_log:
            app = mw.AccessLogMiddleware(app)
    else:
        if config.proxy_headers:
            app = mw.WSGIProxyHeadersMiddleware(app, config.trusted_peers())
        if config.access_log:
            app = mw.WSGIAccessLogMiddleware(app)
    return app


def _supported(func: Any, kwargs: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` minus the names `func` does not take (an older adapter); a dropped value
    that differs from its default is reported."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    out = {}
    for k, v in kwargs.items():
        if k in params:
            out[k] = v
        elif v != defaults.get(k):
            logger.warning("this adapter does not support %s; ignored", k)
    return out


# -- one worker ------------------------------------------------------------------------


class _Listen:
    """Where a worker listens: the engine URL and the keyword options of ``listen``."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options


def _direct_listen(config: Config) -> _Listen:
    opts: dict[str, Any] = {}
    if config.backlog is not None:
        opts["backlog"] = config.backlog
    if config.uds is not None:
        return _Listen(f"{config.scheme}+unix://{config.uds}", opts)
    if config.fd is not None:
        return _Listen(f"{config.scheme}+fd://{config.fd}", {})
    return _Listen(f"{config.scheme}://{_url_host(config.host)}:{config.port}", opts)


def _listener_url(config: Config, listener: Any) -> str:
    if config.uds is not None or config.fd is not None or listener is None:
        return config.display_url()
    addr = getattr(listener, "local_addr", None)
    port = addr[1] if addr else config.port
    return config.display_url(port)


def _run_app_worker(config: Config, where: _Listen, ready: Callable[[Any], None]) -> int:
    """Loads the app and serves it until SIGTERM/SIGINT; the exit code."""
    app, interface = load_app(config)
    app = _wrap(app, interface, config)
    tls = config.tls_opts()
    server_header = "pymongoose" if config.server_header else None
    if interface == "asgi":
        return asyncio.run(_asgi_main(config, app, where, tls, server_header, ready))
    from .wsgi import WSGIServer

    kwargs = _supported(
        WSGIServer,
        {"root_path": config.root_path, "server_header": server_header, "date_header": config.date_header,
         "max_queue": config.limit_concurrency, "graceful_timeout": config.timeout_graceful_shutdown,
         "limits": config.engine_limits()},
        {"root_path": "", "server_header": "pymongoose", "date_header": True, "max_queue": None,
         "graceful_timeout": 30.0, "limits": None},
    )
    server = WSGIServer(app, workers=config.threads, **kwargs)
    try:
        listen_kwargs = _supported(server.listen, {"tls": tls, **where.options}, {"tls": None})
        listener = server.listen(where.url, **listen_kwargs)
        ready(listener)
        server.run()
    finally:
        server.close()
    return EXIT_OK


async def _asgi_main(config: Config, app: Any, where: _Listen, tls: Any, server_header: str | None,
                     ready: Callable[[Any], None]) -> int:
    from .asgi import ASGIServer

    kwargs = _supported(
        ASGIServer,
        {"root_path": config.root_path, "server_header": server_header, "date_header": config.date_header,
         "limit_concurrency": config.limit_concurrency, "graceful_timeout": config.timeout_graceful_shutdown,
         "limits": config.engine_limits()},
        {"root_path": "", "server_header": "pymongoose", "date_header": True, "limit_concurrency": None,
         "graceful_timeout": 30.0, "limits": None},
    )
    server = ASGIServer(app, **kwargs)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        listener = await server.start(where.url, **_supported(server.start, {"tls": tls, **where.options}, {"tls": None}))
        ready(listener)
        await stop.wait()
        logger.info("Shutting down: finishing requests in flight")
    finally:
        stop_kwargs = _supported(server.stop, {"timeout": config.timeout_graceful_shutdown}, {"timeout": 30.0})
        await server.stop(**stop_kwargs)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return EXIT_OK


def _run_handler_worker(factory: Callable[[], Any], where: _Listen, http: bool | None, limits: dict[str, Any] | None,
                        graceful_timeout: float | None, tls: Any, ready: Callable[[Any], None]) -> int:
    """A raw-handler worker: a Manager with `factory()`'s handler, polled until
    SIGTERM/SIGINT, then drained (listeners closed, idle HTTP connections closed, the rest
    given `graceful_timeout` seconds to finish)."""
    from ._mongoose import Manager

    handler = factory()
    manager = Manager(handler, limits=limits)
    stopping: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        listener = manager.listen(where.url, http=http, **where.options)
        if tls is not None:
            listener.tls_init(tls)
        ready(listener)
        while not stopping:
            manager.poll(100)
        for c in manager.connections:
            if c.is_listening:
                c.close()
        deadline = None if graceful_timeout is None else time.monotonic() + graceful_timeout
        while True:
            live = [c for c in manager.connections if not c.is_listening]
            if not live or (deadline is not None and time.monotonic() >= deadline):
                break
            for c in live:
                if c.is_http and not c.is_websocket and c.recv_len == 0 and c.send_len == 0:
                    c.close()
            manager.poll(50)
    finally:
        manager.close()
        for s, h in old.items():
            signal.signal(s, h)
    return EXIT_OK


# -- the supervisor ----------------------------------------------------------------------


class _Worker:
    __slots__ = ("pid", "status_fd", "generation", "started", "ready", "retiring", "slot", "buf")

    def __init__(self, pid: int, status_fd: int, generation: int, slot: int) -> None:
        self.pid = pid
        self.status_fd = status_fd
        self.generation = generation
        self.started = time.monotonic()
        self.ready = False
        self.retiring = False
        self.slot = slot
        self.buf = b""


class _Supervisor:
    """Forks `count` workers running ``child(where, ready) -> exit code`` and keeps them
    running (see the module docstring)."""

    def __init__(self, count: int, child: Callable[[_Listen, Callable[[Any], None]], int], config: Config,
                 listen_url: str | None = None, reload_dirs: Sequence[str] | None = None) -> None:
        self.count = count
        self.child = child
        self.config = config
        self.listen_url = listen_url  # serve_handler: the program's URL
        self.reload_dirs = reload_dirs
        self.workers: dict[int, _Worker] = {}
        self.generation = 0
        self.restarts: list[tuple[float, int]] = []  # (due, slot)
        self.crashes: dict[int, int] = {}  # slot -> consecutive quick crashes
        self.stop_signal: int | None = None
        self.reload_requested = False
        self.reload_generation: int | None = None
        self.reload_deadline = 0.0
        self.booted = False
        self.sock: socket.socket | None = None  # TCP port reservation or the shared socket
        self.unlink_path: str | None = None
        self.where: _Listen | None = None
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.watch_stop = threading.Event()

    # ---- sockets

    def prepare(self) -> str:
        """Binds what the workers share; the URL to announce."""
        c = self.config
        if self.listen_url is not None:  # serve_handler
            return self._prepare_url(self.listen_url)
        if c.fd is not None:
            self.where = _Listen(f"{c.scheme}+fd://{c.fd}", {})
            return c.display_url()
        if c.uds is not None:
            self.sock = _bind_unix(c.uds, c.backlog)
            self.unlink_path = c.uds
            self.where = _Listen(f"{c.scheme}+fd://{self.sock.fileno()}", {})
            return c.display_url()
        if c.reload:
            # One socket for the successive workers: a restart never refuses a connection.
            self.sock, port = _reserve_port(c.host, c.port, listen=c.backlog or socket.SOMAXCONN)
            self.where = _Listen(f"{c.scheme}+fd://{self.sock.fileno()}", {})
            return c.display_url(port)
        self.sock, port = _reserve_port(c.host, c.port)
        opts: dict[str, Any] = {"reuse_port": True}
        if c.backlog is not None:
            opts["backlog"] = c.backlog
        self.where = _Listen(f"{c.scheme}://{_url_host(c.host)}:{port}", opts)
        return c.display_url(port)

    def _prepare_url(self, url: str) -> str:
        from urllib.parse import urlsplit

        backlog = self.config.backlog
        scheme, sep, rest = url.partition("://")
        base = scheme.rsplit("+", 1)
        if len(base) == 2 and base[1].lower() == "fd":
            self.where = _Listen(url, {})
            return url
        if len(base) == 2 and base[1].lower() == "unix":
            self.sock = _bind_unix(rest, backlog)
            self.unlink_path = rest
            self.where = _Listen(f"{base[0]}+fd://{self.sock.fileno()}", {})
            return url
        parts = urlsplit(url)
        host = parts.hostname or "0.0.0.0"
        self.sock, port = _reserve_port(host, parts.port or 0)
        opts: dict[str, Any] = {"reuse_port": True}
        if backlog is not None:
            opts["backlog"] = backlog
        self.where = _Listen(f"{scheme}://{_url_host(host)}:{port}", opts)
        return self.where.url

    # ---- processes

    def spawn(self, slot: int, generation: int) -> _Worker:
        assert self.where is not None
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # the worker
            code = EXIT_FAILURE
            try:
                os.close(r)
                os.close(self.wake_r)
                os.close(self.wake_w)
                for other in self.workers.values():
                    os.close(other.status_fd)
                signal.set_wakeup_fd(-1)
                for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                    signal.signal(s, signal.SIG_DFL)
                if self.sock is not None and "+fd://" not in self.where.url:
                    self.sock.close()  # the TCP reservation: the worker binds its own socket

                def ready(listener: Any) -> None:
                    os.write(w, b"R\n")

                try:
                    code = self.child(self.where, ready)
                except AppLoadError as e:
                    code = EXIT_APP_LOAD
                    os.write(w, b"E%d %s\n" % (code, str(e).replace("\n", " ").encode("utf-8", "replace")))
                except (RuntimeError, ValueError, OSError) as e:
                    code = EXIT_FAILURE
                    os.write(w, b"E%d %s\n" % (code, str(e).replace("\n", " ").encode("utf-8", "replace")))
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else EXIT_FAILURE
                except BaseException:
                    traceback.print_exc()
                    code = EXIT_FAILURE
            finally:
                try:
                    logging.shutdown()
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        os.close(w)
        os.set_blocking(r, False)
        worker = _Worker(pid, r, generation, slot)
        self.workers[pid] = worker
        logger.info("Started worker %d", pid)
        return worker

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested = True
        elif signum in (signal.SIGTERM, signal.SIGINT):
            if self.stop_signal is None:
                self.stop_signal = signum

    def _watch(self) -> None:
        try:
            from watchfiles import PythonFilter, watch
        except ImportError:
            logger.error("reload needs watchfiles: pip install watchfiles")
            return
        dirs = list(self.reload_dirs or ()) or [os.getcwd()]
        for changes in watch(*dirs, watch_filter=PythonFilter(), stop_event=self.watch_stop, raise_interrupt=False):
            names = sorted({os.path.relpath(path) for _, path in changes})
            logger.warning("Changes detected in %s: reloading", ", ".join(names))
            self.reload_requested = True
            try:
                os.write(self.wake_w, b"w")
            except OSError:
                pass

    def run(self) -> int:
        url = self.prepare()
        old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        old_chld = signal.signal(signal.SIGCHLD, lambda s, f: None)
        old_wakeup = signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        watcher = None
        try:
            if self.config.reload:
                watcher = threading.Thread(target=self._watch, name="pymongoose-reload", daemon=True)
                watcher.start()
            for slot in range(self.count):
                self.spawn(slot, self.generation)
            code = self._loop(url)
        finally:
            self.watch_stop.set()
            self._shutdown()
            signal.set_wakeup_fd(old_wakeup)
            for s, h in old_handlers.items():
                signal.signal(s, h)
            signal.signal(signal.SIGCHLD, old_chld)
            os.close(self.wake_r)
            os.close(self.wake_w)
        if watcher is not None:
            watcher.join(timeout=2.0)
        return code

    def _loop(self, url: str) -> int:
        while True:
            if self.stop_signal is not None:
                logger.info("Received %s: stopping the workers gracefully", signal.Signals(self.stop_signal).name)
                return EXIT_OK
            now = time.monotonic()
            timeout = 1.0
            if self.restarts:
                timeout = max(0.0, min(timeout, min(d for d, _ in self.restarts) - now))
            fds = [self.wake_r] + [w.status_fd for w in self.workers.values()]
            try:
                readable, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                readable = []
            if self.wake_r in readable:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            for w in list(self.workers.values()):
                if w.status_fd in readable:
                    code = self._read_status(w, url)
                    if code is not None:
                        return code
            code = self._reap(url)
            if code is not None:
                return code
            now = time.monotonic()
            for due, slot in list(self.restarts):
                if due <= now and self.stop_signal is None:
                    self.restarts.remove((due, slot))
                    self.spawn(slot, self.generation)
            if self.reload_requested and self.reload_generation is None and self.stop_signal is None:
                self.reload_requested = False
                self._start_reload()
            if self.reload_generation is not None and time.monotonic() > self.reload_deadline:
                self._reload_failed("new workers did not start in time")

    def _read_status(self, w: _Worker, url: str) -> int | None:
        try:
            data = os.read(w.status_fd, 4096)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        w.buf += data
        while b"\n" in w.buf:
            line, w.buf = w.buf.split(b"\n", 1)
            if line == b"R":
                w.ready = True
                code = self._on_ready(url)
                if code is not None:
                    return code
            elif line.startswith(b"E"):
                code_text, _, msg_bytes = line[1:].partition(b" ")
                msg = msg_bytes.decode("utf-8", "replace")
                if not self.booted and not self.config.reload:
                    logger.error("%s", msg)
                    return int(code_text) if code_text.isdigit() else EXIT_FAILURE
                logger.error("Worker %d failed to start: %s", w.pid, msg)
                if w.generation == self.reload_generation:
                    self._reload_failed(msg)
        return None

    def _on_ready(self, url: str) -> int | None:
        current = [w for w in self.workers.values() if not w.retiring]
        if not self.booted and len([w for w in current if w.ready]) >= self.count:
            self.booted = True
            logger.info("Listening on %s (%d worker%s, pid %d)", url, self.count, "s" if self.count != 1 else "",
                        os.getpid())
        if self.reload_generation is not None:
            new = [w for w in self.workers.values() if w.generation == self.reload_generation]
            if len(new) >= self.count and all(w.ready for w in new):
                for w in self.workers.values():
                    if w.generation != self.reload_generation and not w.retiring:
                        w.retiring = True
                        _kill(w.pid, signal.SIGTERM)
                self.generation = self.reload_generation
                self.reload_generation = None
                self.booted = True
                logger.info("Reloaded: %d new worker%s serving", self.count, "s" if self.count != 1 else "")
        return None

    def _start_reload(self) -> None:
        self.reload_generation = self.generation + 1
        self.reload_deadline = time.monotonic() + 60.0
        self.restarts.clear()
        logger.info("Reloading: starting %d new worker%s", self.count, "s" if self.count != 1 else "")
        for slot in range(self.count):
            self.spawn(slot, self.reload_generation)

    def _reload_failed(self, why: str) -> None:
        gen = self.reload_generation
        self.reload_generation = None
        for w in self.workers.values():
            if w.generation == gen and not w.retiring:
                w.retiring = True
                _kill(w.pid, signal.SIGTERM)
        if any(not w.retiring for w in self.workers.values()):
            logger.error("Reload failed (%s): the running workers keep serving", why)
        else:
            logger.error("Reload failed (%s): waiting for the next change", why)

    def _reap(self, url: str) -> int | None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            w = self.workers.pop(pid, None)
            if w is None:
                continue
            try:
                code = self._read_status(w, url)
            finally:
                os.close(w.status_fd)
            if code is not None:
                return code
            how = _describe_status(status)
            if w.retiring or self.stop_signal is not None:
                logger.info("Worker %d stopped (%s)", pid, how)
                continue
            if w.generation == self.reload_generation:
                self._reload_failed(f"a new worker {how}")
                continue
            if not self.booted and not self.config.reload:
                logger.error("Worker %d %s while starting", pid, how)
                return EXIT_FAILURE
            ran = time.monotonic() - w.started
            n = 0 if ran > _STABLE_AFTER else self.crashes.get(w.slot, 0) + 1
            self.crashes[w.slot] = n
            delay = 0.0 if n == 0 else min(_FIRST_RESTART_DELAY * 2 ** (n - 1), _MAX_RESTART_DELAY)
            logger.warning("Worker %d %s; restarting it in %.1f s", pid, how, delay)
            self.restarts.append((time.monotonic() + delay, w.slot))

    def _shutdown(self) -> None:
        # The shared socket is closed first, so the workers' copies are the last ones:
        # connections queued on it are still accepted until each worker stops accepting.
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        sig = signal.SIGTERM
        for w in self.workers.values():
            _kill(w.pid, sig)
        grace = self.config.timeout_graceful_shutdown
        deadline = time.monotonic() + (grace if grace is not None else 3600.0) + 5.0
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if time.monotonic() > deadline:
                    for w in self.workers.values():
                        logger.warning("Worker %d did not stop in time: killed", w.pid)
                        _kill(w.pid, signal.SIGKILL)
                    deadline = float("inf")
                time.sleep(0.02)
                continue
            w = self.workers.pop(pid, None)
            if w is not None:
                os.close(w.status_fd)
                logger.info("Worker %d stopped (%s)", pid, _describe_status(status))
        if self.unlink_path and not self.unlink_path.startswith("@"):
            try:
                os.unlink(self.unlink_path)
            except OSError:
                pass
        logger.info("Stopped")


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"was killed by {name}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _reserve_port(host: str, port: int, listen: int = 0) -> tuple[socket.socket, int]:
    """A bound, non-listening SO_REUSEPORT socket: it holds the port (and picks one for
    port 0) while the workers bind their own listening sockets to it; a socket that does
    not listen never receives connections. With `listen` (a backlog) it listens: the
    socket the workers share."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ValueError(f"cannot use host {host!r}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        if listen:
            sock.listen(listen)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock, sock.getsockname()[1]


def _open_to_local_users(path: str) -> None:
    """A Unix socket file is made read-write for everyone (like uvicorn), so a proxy running
    as another user (nginx's www-data) can connect; restrict access with the permissions of
    the directory holding it."""
    if not path.startswith("@"):
        os.chmod(path, 0o666)


def _bind_unix(path: str, backlog: int | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = "\0" + path[1:] if path.startswith("@") else path
    try:
        if not path.startswith("@") and os.path.exists(path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                os.unlink(path)  # left by a server that is gone
            except OSError:
                pass
            finally:
                probe.close()
        sock.bind(name)
        _open_to_local_users(path)
        sock.listen(backlog or socket.SOMAXCONN)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {path}: {e.strerror}") from None
    return sock


# -- entry points ------------------------------------------------------------------------


def run(config: Config) -> int:
    """Serves `config` until SIGTERM/SIGINT; returns the exit code (0 after a graceful
    stop, 1 for a failure to start, 3 when the application cannot be loaded). Errors are
    logged on ``pymongoose.error`` as one line."""
    try:
        config.check()
        configure_logging(config)
    except (ValueError, OSError, ImportError) as e:
        logging.getLogger("pymongoose.error").error("%s", e)
        return EXIT_FAILURE
    count = config.worker_count()
    if count == 1 and not config.reload:
        return _run_single(config)
    sup = _Supervisor(count, lambda where, ready: _run_app_worker(config, where, ready), config,
                      reload_dirs=config.reload_dirs)
    try:
        return sup.run()
    except (OSError, ValueError) as e:
        logger.error("%s", e)
        return EXIT_FAILURE


def _run_single(config: Config) -> int:
    def ready(listener: Any) -> None:
        if config.uds is not None:
            _open_to_local_users(config.uds)
        logger.info("Listening on %s (pid %d)", _listener_url(config, listener), os.getpid())

    hup = None
    if threading.current_thread() is threading.main_thread():
        hup = signal.signal(signal.SIGHUP, lambda s, f: logger.warning("SIGHUP ignored: reloading needs --workers 2 or more"))
    try:
        return _run_app_worker(config, _direct_listen(config), ready)
    except AppLoadError as e:
        logger.error("%s", e)
        return EXIT_APP_LOAD
    except (RuntimeError, ValueError, OSError) as e:
        logger.error("%s", e)
        return EXIT_FAILURE
    finally:
        if hup is not None:
            signal.signal(signal.SIGHUP, hup)
        if config.uds is not None and not config.uds.startswith("@"):
            try:
                os.unlink(config.uds)
            except OSError:
                pass


def serve(app: Any = None, *, config: Config | None = None, **options: Any) -> int:
    """Serve an ASGI or WSGI application (an import string or the object) until SIGTERM
    or SIGINT, then drain gracefully; returns the exit code (see `run`).

    Keyword options are the fields of `Config` (``host``, ``port``, ``workers``,
    ``uds``, ``fd``, ``proxy_headers``, ``access_log``, ...), or pass ``config=``.
    """
    if config is None:
        if app is None:
            raise TypeError("serve() needs an application or config=")
        config = Config(app=app, **options)
    elif app is not None or options:
        raise TypeError("give either config= or the application and options, not both")
    return run(config)


def serve_handler(
    factory: Callable[[], Any],
    url: str = "http://127.0.0.1:8000",
    *,
    workers: int = 1,
    http: bool | None = None,
    limits: dict[str, Any] | None = None,
    backlog: int | None = None,
    tls: Any = None,
    graceful_timeout: float | None = 30.0,
    log_level: str | int | None = "info",
) -> int:
    """Serve the raw handler API on `workers` processes.

    Each worker calls ``factory()`` for its handler (so no state is shared between
    processes), creates a `Manager` with it, listens on `url` (TCP: ``SO_REUSEPORT`` per
    worker; ``http+unix://`` or ``http+fd://``: one socket shared by all) and polls until
    SIGTERM/SIGINT. Then it closes its listener, closes idle HTTP connections and gives
    the others `graceful_timeout` seconds. Several workers run under the supervisor of
    `serve` (restarts with back-off, SIGHUP graceful reload). Returns the exit code.
    """
    config = Config(app=factory, workers=workers, backlog=backlog, timeout_graceful_shutdown=graceful_timeout,
                    log_level=log_level)
    configure_logging(config)
    count = config.worker_count()

    def child(where: _Listen, ready: Callable[[Any], None]) -> int:
        return _run_handler_worker(factory, where, http, limits, graceful_timeout, tls, ready)

    if count == 1:
        opts: dict[str, Any] = {} if backlog is None else {"backlog": backlog}

        def ready(listener: Any) -> None:
            addr = listener.local_addr
            logger.info("Listening on %s (pid %d)", url if not addr or not addr[1] else _with_port(url, addr[1]),
                        os.getpid())

        try:
            return child(_Listen(url, opts), ready)
        except (RuntimeError, OSError) as e:
            logger.error("%s", e)
            return EXIT_FAILURE
    sup = _Supervisor(count, child, config, listen_url=url)
    try:
        return sup.run()
    except (OSError, ValueError) as e:
        logger.error("%s", e)
        return EXIT_FAILURE


def _with_port(url: str, port: int) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "0.0.0.0"
    return f"{parts.scheme}://{_url_host(host)}:{port}"


"""The ``pymongoose`` command: ``pymongoose serve module:app [options]``.

Every flag maps onto a field of `pymongoose.server.Config`; ``pymongoose serve --help``
lists them. Mistakes in the arguments or in importing the application are reported as
one line on stderr with a non-zero exit status (2 for arguments, 3 for the application,
1 for anything else that stops the server from starting).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .server import Config, run

__all__ = ["main", "build_parser", "config_from_args"]


def _workers(text: str) -> int:
    if text.lower() == "auto":
        return 0
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', not {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per CPU) or more")
    return n


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError("must be 0-65535 (0: any free port)")
    return n


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if v < 0 or v != v:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return v


def _fd(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a file descriptor number, not {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def _file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return text


class _Parser(argparse.ArgumentParser):
    """Argument errors are one line, not the whole usage text."""

    def error(self, message: str) -> "NoReturn":
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pymongoose", description="pymongoose command-line tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    p = sub.add_parser(
        "serve",
        help="run an ASGI or WSGI application",
        description="Serve an ASGI (FastAPI, Starlette, Django ASGI...) or WSGI (Flask, Django...) application "
        "on the pymongoose engine. SIGTERM or SIGINT stops it gracefully: requests in flight are answered, "
        "idle connections closed, then the process exits 0. With several workers, SIGHUP reloads them all "
        "without refusing connections.",
        epilog="Example: pymongoose serve myproject.asgi:app --host 0.0.0.0 --port 8000 --workers 4",
    )
    p.add_argument("app", metavar="APP", help="the application as 'module:attribute' (e.g. main:app)")
    g = p.add_argument_group("application")
    g.add_argument("--interface", choices=("auto", "asgi", "wsgi"), default="auto",
                   help="the application's interface; auto: ASGI when calling it gives a coroutine (default: auto)")
    g.add_argument("--factory", action="store_true",
                   help="APP is a callable taking no arguments that returns the application")
    g.add_argument("--app-dir", default=".", metavar="DIR",
                   help="directory put first on sys.path before importing APP (default: the current directory)")
    g.add_argument("--root-path", default="", metavar="PATH",
                   help="the path prefix the application is mounted under behind a proxy (ASGI root_path, WSGI SCRIPT_NAME)")

    g = p.add_argument_group("where to listen (one of: --host/--port, --uds, --fd)")
    g.add_argument("--host", default="127.0.0.1",
                   help="IP address to listen on: 0.0.0.0 for every IPv4 interface, :: for IPv6 (default: 127.0.0.1)")
    g.add_argument("--port", type=_port, default=8000, help="TCP port; 0 picks a free one (default: 8000)")
    g.add_argument("--uds", metavar="PATH",
                   help="listen on this Unix-domain socket instead (a stale socket file is replaced; @name is abstract)")
    g.add_argument("--fd", type=_fd, metavar="N",
                   help="serve the already listening socket inherited as descriptor N (systemd socket activation: 3)")
    g.add_argument("--backlog", type=_positive_int, metavar="N",
                   help="length of the kernel's queue of connections not yet accepted (default: SOMAXCONN)")

    g = p.add_argument_group("processes")
    g.add_argument("--workers", type=_workers, default=1, metavar="N",
                   help="worker processes sharing the port (SO_REUSEPORT); 0 or 'auto': one per CPU (default: 1). "
                   "More than one runs a supervisor that restarts workers that die and reloads them on SIGHUP")
    g.add_argument("--threads", type=_positive_int, default=4, metavar="N",
                   help="WSGI only: threads running the application in each worker (default: 4)")
    g.add_argument("--reload", action="store_true",
                   help="development: restart the worker when a .py file changes (needs watchfiles); "
                   "an application that fails to import is reported and retried on the next change")
    g.add_argument("--reload-dir", action="append", default=[], metavar="DIR", dest="reload_dirs",
                   help="directory to watch with --reload (repeatable; default: the current directory)")

    g = p.add_argument_group("limits and timeouts")
    g.add_argument("--limit-concurrency", type=_positive_int, metavar="N",
                   help="at most N requests in flight per worker; more get 503 Service Unavailable")
    g.add_argument("--timeout-keep-alive", type=_seconds, metavar="SECONDS",
                   help="close a keep-alive connection idle this long (default: 60, the engine's keepalive_timeout)")
    g.add_argument("--timeout-graceful-shutdown", type=_seconds, default=30.0, metavar="SECONDS",
                   help="on SIGTERM/SIGINT, wait at most this long for requests in flight (default: 30)")

    g = p.add_argument_group("proxies and headers")
    g.add_argument("--proxy-headers", action="store_true",
                   help="take the client address, scheme and host from Forwarded (RFC 7239) or "
                   "X-Forwarded-For/-Proto/-Host, when the peer is trusted (--forwarded-allow-ips)")
    g.add_argument("--forwarded-allow-ips", metavar="LIST",
                   help="comma-separated IPs or networks (CIDR) of trusted proxies, 'unix' for Unix-socket peers, "
                   "'*' for all (default: $FORWARDED_ALLOW_IPS or 127.0.0.1,::1,unix)")
    g.add_argument("--no-server-header", dest="server_header", action="store_false",
                   help="do not send 'Server: pymongoose'")
    g.add_argument("--no-date-header", dest="date_header", action="store_false",
                   help="do not send a Date header")

    g = p.add_argument_group("logging")
    g.add_argument("--access-log", action="store_true",
                   help="log every response (logger pymongoose.access, INFO): client - \"METHOD path HTTP/1.1\" status")
    g.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   type=str.lower, help="level of the pymongoose loggers (default: info)")
    g.add_argument("--log-config", type=_file, metavar="FILE",
                   help="logging configuration: a .json or .yaml dictConfig, or an .ini fileConfig")

    g = p.add_argument_group("TLS (HTTPS)")
    g.add_argument("--ssl-certfile", type=_file, metavar="FILE", help="PEM certificate chain, leaf first")
    g.add_argument("--ssl-keyfile", type=_file, metavar="FILE", help="PEM private key (unencrypted)")
    g.add_argument("--ssl-ca-certs", type=_file, metavar="FILE",
                   help="PEM CA bundle: clients must present a certificate issued by one of them (mutual TLS)")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    return Config(
        app=args.app,
        host=args.host,
        port=args.port,
        uds=args.uds,
        fd=args.fd,
        interface=args.interface,
        factory=args.factory,
        app_dir=args.app_dir,
        workers=args.workers,
        threads=args.threads,
        backlog=args.backlog,
        limit_concurrency=args.limit_concurrency,
        timeout_keep_alive=args.timeout_keep_alive,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        root_path=args.root_path,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        access_log=args.access_log,
        log_level=args.log_level,
        log_config=args.log_config,
        reload=args.reload,
        reload_dirs=args.reload_dirs,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        ssl_ca_certs=args.ssl_ca_certs,
        server_header=args.server_header,
        date_header=args.date_header,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = config_from_args(args)
    if config.uds is not None and config.fd is not None:
        parser.error("give at most one of --uds and --fd")
    if config.workers != 1 and config.reload:
        parser.error("--reload runs one worker: drop --workers")
    if bool(config.ssl_certfile) != bool(config.ssl_keyfile):
        parser.error("--ssl-certfile and --ssl-keyfile go together")
    if config.ssl_ca_certs and not config.ssl_certfile:
        parser.error("--ssl-ca-certs needs --ssl-certfile and --ssl-keyfile")
    if config.reload:
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            parser.error("--reload needs watchfiles: pip install watchfiles")
    return run(config)


if __name__ == "__main__":
    sys.exit(main())

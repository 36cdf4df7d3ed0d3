"""pymongoose: event-driven networking on a native C++20 engine.

The API follows cymongoose: a program written for it runs unchanged after
renaming the import.
"""

from typing import TYPE_CHECKING, Any

from . import _mongoose
from ._mongoose import *  # noqa: F401,F403
from ._mongoose import __all__ as _native_all

if TYPE_CHECKING:
    from .aio import AsyncManager
    from .server import serve, serve_handler

__version__ = "0.1.0"

__all__ = sorted([*_native_all, "AsyncManager"])


def __getattr__(name: str) -> Any:
    # AsyncManager pulls in asyncio (about 25 ms); programs that never use it skip that.
    if name == "AsyncManager":
        from .aio import AsyncManager

        globals()["AsyncManager"] = AsyncManager
        return AsyncManager
    # [ext] pymongoose.serve(app, ...) and serve_handler(factory, url, workers=N): the
    # production server of pymongoose.server (the `pymongoose serve` command), loaded on use.
    if name in ("serve", "serve_handler"):
        from . import server

        value = getattr(server, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pymongoose' has no attribute {name!r}")

"""pymongoose: event-driven networking on a native C++20 engine.

The API follows cymongoose: a program written for it runs unchanged after
renaming the import.
"""

from . import _mongoose
from ._mongoose import *  # noqa: F401,F403
from ._mongoose import __all__ as _native_all
from .aio import AsyncManager

__version__ = "0.1.0"

__all__ = sorted([*_native_all, "AsyncManager"])

# SPDX-License-Identifier: MIT
"""asyncio integration: run a ``Manager`` next to an asyncio loop.

``AsyncManager`` owns a ``Manager`` and a daemon thread that polls it.  Handlers and
timer callbacks run on that thread; code on the asyncio loop (or any other thread)
creates listeners, connections and timers through the delegating methods, and
handlers hand results back to the loop with ``AsyncManager.schedule``.

Locking
-------
The poll thread calls ``poll()`` while holding an internal ``threading.RLock``.  A
delegated call from another thread must not wait for a whole poll timeout, and the
poll thread must not burn time sleeping "just in case" somebody wants the lock.  So:

* a caller announces itself (``_requested += 1``), interrupts ``poll()`` with
  ``wakeup(wakeup_id)`` and then blocks on the RLock; once it owns the lock it
  reports that (``_granted += 1``);
* between two polls, the poll thread waits on a condition until every caller that
  announced itself before that moment has obtained the lock, and only then takes
  the lock again.  When nobody announced itself it goes straight back to ``poll()``.

Callers that arrive later do not hold the poll thread back indefinitely: they are
served after the next poll.  A wakeup that arrives while the thread is between two
polls is queued by the engine and makes the next ``poll()`` return at once, so no
interrupt is lost.  Calls made by handlers on the poll thread (which already owns the
lock) re-enter it directly without any of this.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import warnings
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._mongoose import Connection, Manager, Timer

if TYPE_CHECKING:
    from typing_extensions import Buffer, Self

__all__ = ["AsyncManager"]

Handler = Callable[[Connection, int, Any], Any]
ErrorHandler = Callable[[Exception], Any]

_T = TypeVar("_T")

_NOT_STARTED = "AsyncManager is not started"
_MAX_POLL_MS = 200  # upper bound of one poll() so the stop flag is seen promptly
_MAX_JOIN_SLICE = 5.0  # seconds; __aexit__ joins the thread in slices of at most this


class _Session:
    """State of one ``async with`` run: the manager, its poll thread and the locking.

    Kept apart from the ``AsyncManager`` so a thread abandoned by ``__aexit__`` never
    shares a lock or a counter with a later run of the same instance."""

    def __init__(self, manager: Manager, loop: asyncio.AbstractEventLoop) -> None:
        self.manager = manager
        self.loop = loop
        self.stop = threading.Event()
        self.lock = threading.RLock()
        # Owner bookkeeping for the RLock: written only by the thread that holds it.
        self.owner: int | None = None
        self.depth = 0
        # Fairness between the poll thread and delegated callers (module docstring).
        self.turn = threading.Condition(threading.Lock())
        self.requested = 0
        self.granted = 0
        self.thread: threading.Thread | None = None

    def interrupt(self) -> None:
        try:
            self.manager.wakeup(self.manager.wakeup_id)
        except RuntimeError:  # closed meanwhile: nothing left to interrupt
            pass

    def request_stop(self) -> None:
        self.stop.set()
        with self.turn:
            self.turn.notify_all()
        self.interrupt()

    def poll_loop(self, timeout_ms: int) -> None:
        manager = self.manager
        stop = self.stop
        lock = self.lock
        turn = self.turn
        me = threading.get_ident()
        while not stop.is_set():
            # Let every caller that has announced itself take the lock first.
            with turn:
                target = self.requested
                while self.granted < target and not stop.is_set():
                    turn.wait()
            with lock:
                self.owner = me
                self.depth = 1
                try:
                    if stop.is_set():
                        break
                    manager.poll(timeout_ms)
                finally:
                    self.depth = 0
                    self.owner = None

    def call(self, fn: Callable[[Manager], _T]) -> _T:
        """Run ``fn(manager)`` holding the RLock, interrupting ``poll()`` to get it."""
        me = threading.get_ident()
        lock = self.lock
        if self.owner == me:  # re-entrant: a handler on the poll thread, or nested
            with lock:
                self.depth += 1
                try:
                    return fn(self.manager)
                finally:
                    self.depth -= 1
        turn = self.turn
        with turn:
            self.requested += 1
        try:
            self.interrupt()
            lock.acquire()
        finally:
            with turn:
                self.granted += 1
                turn.notify_all()
        try:
            self.owner = me
            self.depth = 1
            try:
                return fn(self.manager)
            finally:
                self.depth = 0
                self.owner = None
        finally:
            lock.release()

    def close_manager(self) -> None:
        # Serialized with delegated calls still in flight on other threads.
        with self.lock:
            self.owner = threading.get_ident()
            self.depth = 1
            try:
                self.manager.close()
            finally:
                self.depth = 0
                self.owner = None


class AsyncManager:
    """A ``Manager`` polled on a daemon thread, for use from asyncio code.

    ``async with AsyncManager(handler) as am:`` creates the manager (with wakeup
    support) and starts the poll thread; leaving the block stops the thread and closes
    the manager.  ``poll_interval`` is the poll timeout in milliseconds (capped at
    200); ``shutdown_timeout`` bounds, in seconds, how long ``__aexit__`` waits for the
    poll thread before abandoning it (the manager is then left open in ``_manager``).
    """

    def __init__(
        self,
        handler: Handler | None = None,
        poll_interval: int = 100,
        error_handler: ErrorHandler | None = None,
        shutdown_timeout: float = 30,
    ) -> None:
        self._handler = handler
        self._poll_interval = poll_interval
        self._error_handler = error_handler
        self._shutdown_timeout = shutdown_timeout
        self._manager: Manager | None = None
        self._session: _Session | None = None  # set between __aenter__ and __aexit__
        self._last: _Session | None = None  # the latest run, for ``running``

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("AsyncManager is already started")
        loop = asyncio.get_running_loop()
        manager = Manager(self._handler, enable_wakeup=True, error_handler=self._error_handler)
        session = _Session(manager, loop)
        thread = threading.Thread(
            target=session.poll_loop,
            args=(min(self._poll_interval, _MAX_POLL_MS),),
            name=f"pymongoose-aio-{id(self):x}",
            daemon=True,
        )
        session.thread = thread
        try:
            thread.start()
        except BaseException:
            manager.close()
            raise
        self._manager = manager
        self._session = session
        self._last = session
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        session = self._require()
        thread = session.thread
        assert thread is not None
        session.request_stop()

        loop = asyncio.get_running_loop()
        timeout = max(0.0, float(self._shutdown_timeout))
        # Half the budget per slice (5 s at most), so a stuck thread is reported
        # before it is given up on.
        join_slice = min(_MAX_JOIN_SLICE, timeout / 2)
        start = time.monotonic()
        deadline = start + timeout
        while thread.is_alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await loop.run_in_executor(None, thread.join, max(min(join_slice, remaining), 0.001))
            if thread.is_alive() and deadline - time.monotonic() > 0:
                warnings.warn(
                    f"AsyncManager poll thread has not stopped after "
                    f"{time.monotonic() - start:.1f} s (is a handler blocking?); "
                    f"retrying wakeup",
                    RuntimeWarning,
                    stacklevel=2,
                )
                session.interrupt()

        if thread.is_alive():
            self._session = None
            warnings.warn(
                f"AsyncManager poll thread did not stop within {timeout:g} s; "
                f"abandoning thread (the Manager is left open)",
                RuntimeWarning,
                stacklevel=2,
            )
            return False
        try:
            # Handlers receive their final events inside close(); they may still use
            # this AsyncManager (schedule() in particular) while it runs.
            await loop.run_in_executor(None, session.close_manager)
        finally:
            self._session = None
        self._manager = None
        return False

    # ------------------------------------------------------------------ helpers

    def _require(self) -> _Session:
        session = self._session
        if session is None:
            raise RuntimeError(_NOT_STARTED)
        return session

    def _delegate(self, name: str, *args: Any, **kwargs: Any) -> Any:
        # By name, so methods the Manager gains later are delegated unchanged.
        return self._require().call(lambda m: getattr(m, name)(*args, **kwargs))

    # ------------------------------------------------------------------ delegation

    def listen(
        self, url: str, handler: Handler | None = None, *, http: bool | None = None, **options: Any
    ) -> Connection:
        """``Manager.listen`` from any thread."""
        return cast(Connection, self._delegate("listen", url, handler, http=http, **options))

    def connect(self, url: str, handler: Handler | None = None, *, http: bool | None = None) -> Connection:
        """``Manager.connect`` from any thread."""
        return cast(Connection, self._delegate("connect", url, handler, http=http))

    def ws_connect(self, url: str, handler: Handler | None = None, **options: Any) -> Connection:
        """``Manager.ws_connect`` from any thread."""
        return cast(Connection, self._delegate("ws_connect", url, handler, **options))

    def mqtt_connect(self, url: str, handler: Handler | None = None, **kwargs: Any) -> Connection:
        """``Manager.mqtt_connect`` from any thread (keyword arguments passed through)."""
        return cast(Connection, self._delegate("mqtt_connect", url, handler, **kwargs))

    def mqtt_listen(self, url: str, handler: Handler | None = None) -> Connection:
        """``Manager.mqtt_listen`` from any thread."""
        return cast(Connection, self._delegate("mqtt_listen", url, handler))

    def sntp_connect(self, url: str, handler: Handler | None = None) -> Connection:
        """``Manager.sntp_connect`` from any thread."""
        return cast(Connection, self._delegate("sntp_connect", url, handler))

    def timer_add(
        self,
        milliseconds: int,
        callback: Callable[[], Any],
        *,
        repeat: bool = False,
        run_now: bool = False,
    ) -> Timer:
        """``Manager.timer_add`` from any thread; the callback runs on the poll thread."""
        return cast(
            Timer,
            self._delegate("timer_add", milliseconds, callback, repeat=repeat, run_now=run_now),
        )

    def wakeup(self, connection_id: int, data: Buffer = b"") -> bool:
        """``Manager.wakeup`` (thread-safe on its own; the RLock is not taken)."""
        return self._require().manager.wakeup(connection_id, data)

    def schedule(self, coro_or_callback: Coroutine[Any, Any, Any] | Callable[[], Any]) -> None:
        """Hand a coroutine or a no-argument callable to the asyncio loop, from any thread.

        Coroutines go through ``asyncio.run_coroutine_threadsafe``; an exception they
        raise is reported to the loop's exception handler.  Callables go through
        ``loop.call_soon_threadsafe``.
        """
        session = self._session
        if session is None:
            if asyncio.iscoroutine(coro_or_callback):
                coro_or_callback.close()  # never awaited: spare the user a second warning
            raise RuntimeError(_NOT_STARTED)
        loop = session.loop
        if asyncio.iscoroutine(coro_or_callback):
            future = asyncio.run_coroutine_threadsafe(coro_or_callback, loop)
            future.add_done_callback(lambda f: _report_failure(loop, f))
        elif callable(coro_or_callback):
            loop.call_soon_threadsafe(coro_or_callback)
        else:
            raise TypeError(
                f"schedule() expects a coroutine or a callable, not {type(coro_or_callback).__name__}"
            )

    # ------------------------------------------------------------------ properties

    @property
    def manager(self) -> Manager:
        """The underlying ``Manager`` (`RuntimeError` when not started)."""
        return self._require().manager

    @property
    def running(self) -> bool:
        """``True`` while the poll thread exists, is alive and no stop was requested."""
        session = self._last
        if session is None or session.thread is None:
            return False
        return session.thread.is_alive() and not session.stop.is_set()


def _report_failure(loop: asyncio.AbstractEventLoop, future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is None:
        return
    context = {
        "message": "Exception in coroutine scheduled by AsyncManager.schedule()",
        "exception": exc,
    }
    try:
        loop.call_soon_threadsafe(loop.call_exception_handler, context)
    except RuntimeError:  # loop closed
        pass

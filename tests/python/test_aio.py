# SPDX-License-Identifier: MIT
"""AsyncManager (pymongoose.aio, spec §3.9): a Manager polled on a daemon thread next
to an asyncio loop.

Every test runs its own ``asyncio.run`` under ``asyncio.wait_for`` with a deadline
below 5 s.  Readiness is awaited on futures, events and sockets, never with sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
import warnings
from typing import Any, Awaitable, Callable

import pytest

import pymongoose as mg
from pymongoose import aio
from pymongoose.aio import AsyncManager

DEADLINE = 4.5  # seconds, per test


def run(coro_fn: Callable[[], Awaitable[Any]], deadline: float = DEADLINE) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), deadline)

    return asyncio.run(bounded())


def port_of(conn: mg.Connection) -> int:
    addr = conn.local_addr
    assert addr is not None
    return addr[1]


def ok_handler(conn: mg.Connection, ev: int, data: Any) -> None:
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, "uri=" + data.uri)


def urlopen(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=3) as r:
        return r.status, r.read()


# --------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------


def test_exported_from_package():
    assert mg.AsyncManager is AsyncManager
    assert "AsyncManager" in mg.__all__
    assert "AsyncManager" not in mg._mongoose.__all__


def test_start_and_stop():
    am = AsyncManager(ok_handler)
    assert am.running is False

    async def main() -> mg.Manager:
        async with am as entered:
            assert entered is am
            assert am.running is True
            m = am.manager
            assert isinstance(m, mg.Manager)
            assert m.wakeup_id == 1
            assert am._manager is m
            return m

    m = run(main)
    assert am.running is False
    assert am._manager is None
    assert am._last is not None and am._last.thread is not None
    assert not am._last.thread.is_alive()
    assert am._last.thread.daemon
    with pytest.raises(RuntimeError, match="Manager has been freed"):
        m.poll(0)


def test_aexit_returns_false_and_exceptions_propagate():
    async def main() -> None:
        am = AsyncManager()
        async with am:
            assert await am.__aexit__(None, None, None) is False  # direct call
        raise AssertionError("not reached")  # pragma: no cover

    # __aexit__ ran once explicitly, so the context's own __aexit__ finds it stopped.
    with pytest.raises(RuntimeError, match="AsyncManager is not started"):
        run(main)

    am2 = AsyncManager()

    async def raising() -> None:
        async with am2:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run(raising)
    assert am2._manager is None and not am2.running


def test_enter_twice_is_refused_and_instance_is_reusable():
    am = AsyncManager(ok_handler)

    async def main() -> None:
        async with am:
            with pytest.raises(RuntimeError, match="already started"):
                await am.__aenter__()
        async with am:  # the same instance, one run after another
            lst = am.listen("http://127.0.0.1:0")
            status, body = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{port_of(lst)}/again")
            assert (status, body) == (200, b"uri=/again")

    run(main)


def test_handler_type_error_leaves_it_not_started():
    am = AsyncManager(handler=42)  # type: ignore[arg-type]

    async def main() -> None:
        with pytest.raises(TypeError):
            await am.__aenter__()

    run(main)
    assert am.running is False
    with pytest.raises(RuntimeError, match="AsyncManager is not started"):
        am.manager


NOT_STARTED_CALLS: dict[str, Callable[[AsyncManager], Any]] = {
    "listen": lambda am: am.listen("http://127.0.0.1:0"),
    "connect": lambda am: am.connect("http://127.0.0.1:1"),
    "ws_connect": lambda am: am.ws_connect("ws://127.0.0.1:1"),
    "mqtt_connect": lambda am: am.mqtt_connect("mqtt://127.0.0.1:1"),
    "mqtt_listen": lambda am: am.mqtt_listen("mqtt://127.0.0.1:0"),
    "sntp_connect": lambda am: am.sntp_connect("udp://127.0.0.1:123"),
    "timer_add": lambda am: am.timer_add(10, lambda: None),
    "wakeup": lambda am: am.wakeup(1, b"x"),
    "schedule_callable": lambda am: am.schedule(lambda: None),
    "manager": lambda am: am.manager,
    "aexit": lambda am: asyncio.run(am.__aexit__(None, None, None)),
}


@pytest.mark.parametrize("name", list(NOT_STARTED_CALLS))
def test_not_started_before_enter_and_after_exit(name):
    am = AsyncManager()
    with pytest.raises(RuntimeError, match="^AsyncManager is not started$"):
        NOT_STARTED_CALLS[name](am)

    async def cycle() -> None:
        async with am:
            pass

    run(cycle)
    with pytest.raises(RuntimeError, match="^AsyncManager is not started$"):
        NOT_STARTED_CALLS[name](am)
    assert am.running is False  # the one member that never raises


def test_schedule_coroutine_when_not_started_closes_it():
    async def never() -> None:  # pragma: no cover - must not run
        raise AssertionError

    coro = never()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
        with pytest.raises(RuntimeError, match="AsyncManager is not started"):
            AsyncManager().schedule(coro)
    assert coro.cr_frame is None  # closed


# --------------------------------------------------------------------------------------
# Serving HTTP
# --------------------------------------------------------------------------------------


def test_listen_serves_aiohttp_client():
    aiohttp = pytest.importorskip("aiohttp", reason="installed by scripts/setup.sh --bench")
    handler_threads: set[int] = set()

    def handler(conn: mg.Connection, ev: int, data: Any) -> None:
        if ev == mg.MG_EV_HTTP_MSG:
            handler_threads.add(threading.get_ident())
            conn.reply(200, data.body_bytes or b"empty", {"Content-Type": "text/plain"})

    async def main() -> None:
        async with AsyncManager(handler) as am:
            lst = am.listen("http://127.0.0.1:0")
            base = f"http://127.0.0.1:{port_of(lst)}"
            async with aiohttp.ClientSession() as session:

                async def one(i: int) -> bytes:
                    async with session.post(f"{base}/echo/{i}", data=f"body-{i}".encode()) as r:
                        assert r.status == 200
                        return await r.read()

                bodies = await asyncio.gather(*(one(i) for i in range(20)))
                assert bodies == [f"body-{i}".encode() for i in range(20)]
                async with session.get(base + "/") as r:
                    assert r.status == 200 and await r.read() == b"empty"
            poll_thread = am._last.thread  # type: ignore[union-attr]
            assert handler_threads == {poll_thread.ident}  # type: ignore[union-attr]
            assert threading.get_ident() not in handler_threads

    run(main)


def test_listen_serves_urllib_in_threads():
    async def main() -> None:
        async with AsyncManager(ok_handler) as am:
            lst = am.listen("http://127.0.0.1:0")
            port = port_of(lst)
            results = await asyncio.gather(
                *(asyncio.to_thread(urlopen, f"http://127.0.0.1:{port}/t{i}") for i in range(8))
            )
            assert results == [(200, f"uri=/t{i}".encode()) for i in range(8)]

    run(main)


def test_listen_with_own_handler_and_http_flag():
    seen: list[int] = []

    def raw(conn: mg.Connection, ev: int, data: Any) -> None:
        if ev == mg.MG_EV_READ:
            seen.append(ev)
            conn.send(b"raw:" + conn.recv_data())

    async def main() -> None:
        async with AsyncManager() as am:
            lst = am.listen("http://127.0.0.1:0", raw, http=False)
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(lst))
            writer.write(b"hello")
            await writer.drain()
            assert await reader.readexactly(9) == b"raw:hello"
            writer.close()
            await writer.wait_closed()

    run(main)
    assert seen


# --------------------------------------------------------------------------------------
# schedule(), wakeup(), timer_add()
# --------------------------------------------------------------------------------------


def test_schedule_coroutines_and_callables_from_handlers():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        got_coro: asyncio.Future[tuple[str, int]] = loop.create_future()
        got_call: asyncio.Future[tuple[str, int]] = loop.create_future()

        async def on_request(uri: str) -> None:
            await asyncio.sleep(0)  # a real coroutine, suspended once on the loop
            got_coro.set_result((uri, threading.get_ident()))

        def handler(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_HTTP_MSG:
                uri = data.uri
                am.schedule(on_request(uri))
                am.schedule(lambda: got_call.set_result((uri, threading.get_ident())))
                conn.reply(200, "scheduled")

        am = AsyncManager(handler)
        async with am:
            lst = am.listen("http://127.0.0.1:0")
            status, body = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{port_of(lst)}/x")
            assert (status, body) == (200, b"scheduled")
            assert await got_coro == ("/x", loop_thread)
            assert await got_call == ("/x", loop_thread)

    run(main)


def test_schedule_from_a_foreign_thread_and_type_error():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        async with AsyncManager() as am:
            t = threading.Thread(target=lambda: am.schedule(lambda: fut.set_result(7)))
            t.start()
            assert await fut == 7
            t.join(2)
            with pytest.raises(TypeError, match="coroutine or a callable"):
                am.schedule(42)  # type: ignore[arg-type]

    run(main)


def test_failing_scheduled_coroutine_reaches_loop_exception_handler():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: asyncio.Future[dict[str, Any]] = loop.create_future()
        loop.set_exception_handler(lambda _loop, ctx: reported.done() or reported.set_result(ctx))

        async def fails() -> None:
            raise KeyError("scheduled failure")

        async with AsyncManager() as am:
            am.timer_add(0, lambda: am.schedule(fails()))
            ctx = await reported
            assert isinstance(ctx["exception"], KeyError)
            assert "AsyncManager.schedule" in ctx["message"]

    run(main)


def test_wakeup_from_asyncio_delivers_mg_ev_wakeup():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        got: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()

        def handler(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_WAKEUP:
                item = (conn.id, bytes(data))
                loop.call_soon_threadsafe(got.put_nowait, item)

        async with AsyncManager(handler) as am:
            lst = am.listen("tcp://127.0.0.1:0")
            assert am.wakeup(lst.id, b"hello") is True
            assert am.wakeup(lst.id, bytearray(b"\x00bin\xff")) is True
            assert await got.get() == (lst.id, b"hello")
            assert await got.get() == (lst.id, b"\x00bin\xff")
            # waking the internal channel only interrupts poll()
            assert am.wakeup(am.manager.wakeup_id) is True
            with pytest.raises(TypeError):
                am.wakeup(lst.id, "text")  # type: ignore[arg-type]

    run(main)


def test_wakeup_does_not_take_the_lock():
    async def main() -> None:
        async with AsyncManager() as am:
            session = am._session
            assert session is not None
            acquired = threading.Event()
            release = threading.Event()

            def hold() -> None:
                with session.lock:
                    acquired.set()
                    release.wait(3)

            holder = threading.Thread(target=hold)
            holder.start()
            try:
                assert await asyncio.to_thread(acquired.wait, 3)
                assert am.wakeup(am.manager.wakeup_id) is True  # would block if it locked
            finally:
                release.set()
                holder.join(3)

    run(main)


def test_timer_add_from_a_handler_defers_the_reply():
    async def main() -> None:
        timer_threads: list[int] = []

        def handler(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_HTTP_MSG:
                uri = data.uri

                def later() -> None:
                    timer_threads.append(threading.get_ident())
                    conn.reply(200, "deferred " + uri)

                t = am.timer_add(20, later)  # re-enters the RLock held by the poll thread
                assert isinstance(t, mg.Timer) and t.active

        am = AsyncManager(handler)
        async with am:
            lst = am.listen("http://127.0.0.1:0")
            status, body = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{port_of(lst)}/d")
            assert (status, body) == (200, b"deferred /d")
            assert timer_threads == [am._last.thread.ident]  # type: ignore[union-attr]

    run(main)


def test_timer_add_from_asyncio_repeat_and_cancel():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ticks: asyncio.Queue[int] = asyncio.Queue()
        count = 0

        def tick() -> None:
            nonlocal count
            count += 1
            loop.call_soon_threadsafe(ticks.put_nowait, count)

        async with AsyncManager(poll_interval=200) as am:
            timer = am.timer_add(5, tick, repeat=True, run_now=True)
            for expected in (1, 2, 3):
                assert await ticks.get() == expected
            timer.cancel()
            assert not timer.active
            with pytest.raises(TypeError):
                am.timer_add(5, 42)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                am.timer_add(-1, tick)

    run(main)


def test_listen_from_a_handler_is_reentrant():
    async def main() -> None:
        def handler(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_HTTP_MSG and data.uri == "/spawn":
                child = am.listen("http://127.0.0.1:0", ok_handler)
                conn.reply(200, str(port_of(child)))

        am = AsyncManager(handler)
        async with am:
            lst = am.listen("http://127.0.0.1:0")
            _, body = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{port_of(lst)}/spawn")
            status, body2 = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{int(body)}/child")
            assert (status, body2) == (200, b"uri=/child")

    run(main)


def test_error_handler_is_passed_to_the_manager():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors: asyncio.Future[BaseException] = loop.create_future()

        def handler(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_HTTP_MSG:
                conn.reply(200, "before raising")
                raise LookupError("from handler")

        def on_error(exc: BaseException) -> None:
            loop.call_soon_threadsafe(lambda: errors.done() or errors.set_result(exc))

        async with AsyncManager(handler, error_handler=on_error) as am:
            lst = am.listen("http://127.0.0.1:0")
            status, _ = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{port_of(lst)}/")
            assert status == 200
            exc = await errors
            assert isinstance(exc, LookupError) and str(exc) == "from handler"

    run(main)


def test_close_events_run_during_exit_and_may_schedule():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[int] = loop.create_future()

        def handler(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_CLOSE and conn.is_listening:
                cid = conn.id
                am.schedule(lambda: closed.set_result(cid))

        am = AsyncManager(handler)
        async with am:
            lst = am.listen("tcp://127.0.0.1:0")
        assert await closed == lst.id

    run(main)


# --------------------------------------------------------------------------------------
# Delegation by name
# --------------------------------------------------------------------------------------


class RecordingManager(mg.Manager):
    """Stands in for the Manager: records delegated calls and whether they held the lock."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any], bool]] = []
    owner: Callable[[], bool] = staticmethod(lambda: False)

    def _record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        RecordingManager.calls.append((name, args, kwargs, RecordingManager.owner()))
        return name

    def connect(self, *a: Any, **k: Any) -> Any:
        return self._record("connect", a, k)

    def ws_connect(self, *a: Any, **k: Any) -> Any:
        return self._record("ws_connect", a, k)

    def mqtt_connect(self, *a: Any, **k: Any) -> Any:
        return self._record("mqtt_connect", a, k)

    def mqtt_listen(self, *a: Any, **k: Any) -> Any:
        return self._record("mqtt_listen", a, k)

    def sntp_connect(self, *a: Any, **k: Any) -> Any:
        return self._record("sntp_connect", a, k)


def test_methods_are_delegated_by_name_under_the_lock(monkeypatch):
    monkeypatch.setattr(aio, "Manager", RecordingManager)
    RecordingManager.calls = []

    def h(conn: mg.Connection, ev: int, data: Any) -> None:
        pass

    async def main() -> None:
        am = AsyncManager()
        async with am:
            session = am._session
            assert session is not None
            monkeypatch.setattr(
                RecordingManager, "owner", staticmethod(lambda: session.owner == threading.get_ident())
            )
            assert am.connect("http://h:1", h, http=True) == "connect"
            assert am.ws_connect("ws://h:2", h) == "ws_connect"
            assert am.mqtt_connect("mqtt://h:3", h, client_id="c", version=5) == "mqtt_connect"
            assert am.mqtt_connect("mqtt://h:4", keepalive=9) == "mqtt_connect"
            assert am.mqtt_listen("mqtt://0.0.0.0:5", h) == "mqtt_listen"
            assert am.sntp_connect("udp://h:6") == "sntp_connect"
            # and from a foreign thread too
            await asyncio.to_thread(am.ws_connect, "ws://h:7")

    run(main)
    assert RecordingManager.calls == [
        ("connect", ("http://h:1", h), {"http": True}, True),
        ("ws_connect", ("ws://h:2", h), {}, True),
        ("mqtt_connect", ("mqtt://h:3", h), {"client_id": "c", "version": 5}, True),
        ("mqtt_connect", ("mqtt://h:4", None), {"keepalive": 9}, True),
        ("mqtt_listen", ("mqtt://0.0.0.0:5", h), {}, True),
        ("sntp_connect", ("udp://h:6", None), {}, True),
        ("ws_connect", ("ws://h:7", None), {}, True),
    ]


@pytest.mark.skipif(not hasattr(mg.Manager, "connect"), reason="Manager.connect not implemented yet")
def test_http_client_connect_through_async_manager():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[tuple[int | None, str]] = loop.create_future()

        def client(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_CONNECT:
                conn.send(b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            elif ev == mg.MG_EV_HTTP_MSG:
                result = (data.status(), data.body_text)
                am.schedule(lambda: reply.done() or reply.set_result(result))

        am = AsyncManager(ok_handler)
        async with am:
            lst = am.listen("http://127.0.0.1:0")
            am.connect(f"http://127.0.0.1:{port_of(lst)}", client)
            assert await reply == (200, "uri=/c")

    run(main)


# --------------------------------------------------------------------------------------
# Several instances
# --------------------------------------------------------------------------------------


def test_several_instances_side_by_side():
    async def main() -> None:
        def make(tag: str) -> Callable[[mg.Connection, int, Any], None]:
            def handler(conn: mg.Connection, ev: int, data: Any) -> None:
                if ev == mg.MG_EV_HTTP_MSG:
                    conn.reply(200, tag)

            return handler

        async with AsyncManager(make("a")) as a, AsyncManager(make("b")) as b, AsyncManager(make("c")) as c:
            ports = [port_of(x.listen("http://127.0.0.1:0")) for x in (a, b, c)]
            threads = {x._last.thread.ident for x in (a, b, c)}  # type: ignore[union-attr]
            assert len(threads) == 3
            results = await asyncio.gather(
                *(asyncio.to_thread(urlopen, f"http://127.0.0.1:{p}/") for p in ports * 2)
            )
            assert [body for _, body in results] == [b"a", b"b", b"c"] * 2
            assert all(x.running for x in (a, b, c))
        assert not any(x.running for x in (a, b, c))

    run(main)


def test_instances_one_after_another():
    def cycle(i: int) -> None:
        async def main() -> None:
            async with AsyncManager(ok_handler) as am:
                lst = am.listen("http://127.0.0.1:0")
                status, body = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{port_of(lst)}/{i}")
                assert (status, body) == (200, f"uri=/{i}".encode())

        run(main, deadline=1.5)

    for i in range(3):
        cycle(i)


# --------------------------------------------------------------------------------------
# Fairness: callers are not starved, the poll thread is not starved
# --------------------------------------------------------------------------------------


def test_delegated_calls_do_not_wait_for_the_poll_timeout():
    # poll(200) while idle: a caller that waited for the poll timeout would need
    # ~200 ms per call; interrupting poll() makes each call near-instant.
    async def main() -> None:
        async with AsyncManager(poll_interval=10_000) as am:
            am.timer_add(60_000, lambda: None)  # let the poll thread settle into poll()
            t0 = time.monotonic()
            for _ in range(25):
                am.timer_add(60_000, lambda: None).cancel()
            loop_elapsed = time.monotonic() - t0

            def from_thread() -> None:
                for _ in range(25):
                    am.timer_add(60_000, lambda: None).cancel()

            t0 = time.monotonic()
            await asyncio.gather(*(asyncio.to_thread(from_thread) for _ in range(4)))
            threads_elapsed = time.monotonic() - t0
            assert loop_elapsed < 1.5, loop_elapsed  # 25 x 200 ms would be 5 s
            assert threads_elapsed < 1.5, threads_elapsed

    run(main)


def test_poll_thread_keeps_serving_while_callers_hammer_the_lock():
    async def main() -> None:
        stop = threading.Event()
        calls = 0

        def hammer() -> None:
            nonlocal calls
            while not stop.is_set():
                am.timer_add(60_000, lambda: None).cancel()
                calls += 1

        am = AsyncManager(ok_handler, poll_interval=200)
        async with am:
            lst = am.listen("http://127.0.0.1:0")
            port = port_of(lst)
            hammers = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
            for t in hammers:
                t.start()
            try:
                for i in range(10):
                    status, body = await asyncio.to_thread(urlopen, f"http://127.0.0.1:{port}/h{i}")
                    assert (status, body) == (200, f"uri=/h{i}".encode())
            finally:
                stop.set()
                for t in hammers:
                    t.join(2)
            assert calls > 0

    run(main)


# --------------------------------------------------------------------------------------
# Shutdown with a blocked poll thread
# --------------------------------------------------------------------------------------


def _blocking_timer(am: AsyncManager, entered: threading.Event, release: threading.Event) -> None:
    def block() -> None:
        entered.set()
        release.wait(4)  # bounded: released by the test

    am.timer_add(0, block)


def test_shutdown_timeout_abandons_a_blocked_thread():
    entered = threading.Event()
    release = threading.Event()
    am = AsyncManager(shutdown_timeout=0.4)

    async def main() -> None:
        async with am:
            _blocking_timer(am, entered, release)
            assert await asyncio.to_thread(entered.wait, 3)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.monotonic()
            run(main)
            elapsed = time.monotonic() - t0
        texts = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert any("has not stopped after" in t for t in texts), texts
        assert any("did not stop within" in t and "abandoning thread" in t for t in texts), texts
        assert "did not stop within" in texts[-1]
        assert elapsed < 2.0, elapsed
        # the manager is left open and kept; the instance counts as stopped
        assert am._manager is not None
        assert am.running is False
        with pytest.raises(RuntimeError, match="AsyncManager is not started"):
            am.manager
    finally:
        release.set()
    thread = am._last.thread  # type: ignore[union-attr]
    thread.join(3)  # type: ignore[union-attr]
    assert not thread.is_alive()  # type: ignore[union-attr]
    am._manager.close()  # type: ignore[union-attr]


def test_shutdown_retries_and_closes_when_the_thread_stops_in_time():
    entered = threading.Event()
    release = threading.Event()
    am = AsyncManager(shutdown_timeout=1)
    texts: list[str] = []

    def showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        texts.append(str(message))
        if "has not stopped after" in str(message):
            release.set()  # the blocked handler returns once the first warning is out

    async def main() -> None:
        async with am:
            _blocking_timer(am, entered, release)
            assert await asyncio.to_thread(entered.wait, 3)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = showwarning
            run(main)
    finally:
        release.set()
    assert len(texts) == 1 and "has not stopped after" in texts[0], texts
    assert am._manager is None  # closed normally after all
    assert not am._last.thread.is_alive()  # type: ignore[union-attr]


def test_zero_shutdown_timeout_with_idle_thread_still_abandons_only_if_alive():
    entered = threading.Event()
    release = threading.Event()
    am = AsyncManager(shutdown_timeout=0)

    async def main() -> None:
        async with am:
            _blocking_timer(am, entered, release)
            assert await asyncio.to_thread(entered.wait, 3)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run(main)
        texts = [str(w.message) for w in caught]
        assert len(texts) == 1 and "did not stop within 0 s" in texts[0], texts
    finally:
        release.set()
    am._last.thread.join(3)  # type: ignore[union-attr]
    am._manager.close()  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------
# MQTT and SNTP members (issue 9): the same calls as Manager, from the asyncio thread
# --------------------------------------------------------------------------------------


def test_mqtt_listen_and_connect_through_async_manager():
    got: list[tuple[int, bytes]] = []

    def broker(conn: mg.Connection, ev: int, data: Any) -> None:
        if ev == mg.MG_EV_MQTT_CMD and data.cmd == 1:
            conn.send(b"\x20\x02\x00\x00")  # CONNACK
        elif ev == mg.MG_EV_MQTT_MSG:
            got.append((data.qos, data.data))

    async def main() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        opened: list[int] = []

        def client(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_MQTT_OPEN:
                opened.append(data)
                conn.mqtt_pub("t", b"via aio", qos=1)
            elif ev == mg.MG_EV_MQTT_CMD and data.cmd == 4:  # PUBACK from the child
                loop.call_soon_threadsafe(done.set)

        async with AsyncManager(broker) as am:
            listener = am.mqtt_listen("mqtt://127.0.0.1:0")
            am.mqtt_connect(f"mqtt://127.0.0.1:{port_of(listener)}", client, client_id="aio", keepalive=5)
            await done.wait()
        assert opened == [0]

    run(main)
    assert got == [(1, b"via aio")]


def test_sntp_connect_through_async_manager():
    import socket
    import struct

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)

    def answer() -> None:
        _, addr = sock.recvfrom(64)
        reply = bytearray(48)
        reply[0], reply[1] = 0x24, 1
        reply[40:44] = struct.pack("!I", 1_800_000_000 + 2208988800)
        sock.sendto(bytes(reply), addr)

    t = threading.Thread(target=answer, daemon=True)
    t.start()

    async def main() -> int:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()

        def h(conn: mg.Connection, ev: int, data: Any) -> None:
            if ev == mg.MG_EV_SNTP_TIME:
                loop.call_soon_threadsafe(fut.set_result, data)

        async with AsyncManager() as am:
            am.sntp_connect(f"udp://127.0.0.1:{sock.getsockname()[1]}", h)
            return await fut

    try:
        ms = run(main)
    finally:
        t.join(3)
        sock.close()
    assert 1_800_000_000_000 <= ms < 1_800_000_001_000

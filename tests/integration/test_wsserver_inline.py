"""gateway.wsserver: requests over the in-process broker are handled inline, without
a task of their own, until they have to wait; then a task takes them over (issue 15).

The front door runs in this process on a real socket (``FrontProtocol`` over
``build_app``'s state), so the tests see which requests ran in a task
(``asyncio.current_task()`` inside the handler) as well as the replies on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from broker.backends.memory import MemoryBackend
from broker.core import Broker
from gateway import wsserver
from gateway.app import build_app
from gateway.settings import GatewaySettings
from gateway.state import STATE, GatewayState
from gateway.wsserver import YIELD_EVERY, FrontProtocol, WebsocketProtocol
from tests.support.ws import _upgrade_request, masked_text_frame, read_frame

# Upper bound for one awaited event (tests wait for the event itself, never a time).
WAIT = 10.0


@contextlib.asynccontextmanager
async def front_door(in_process: bool = True) -> AsyncIterator[tuple[GatewayState, int]]:
    """The gateway's websocket front door on 127.0.0.1, over a MemoryBackend;
    ``in_process=False`` makes it take the task path RESP backends take."""
    backend = MemoryBackend(Broker())
    state = build_app(backend, GatewaySettings())[STATE]
    assert state.in_process
    state.in_process = in_process
    await backend.start()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FrontProtocol(state, asyncio.Protocol), "127.0.0.1", 0)
    try:
        yield state, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await backend.close()


async def open_ws(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_upgrade_request(port))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def replies(reader: asyncio.StreamReader, count: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        opcode, payload = await asyncio.wait_for(read_frame(reader), WAIT)
        assert opcode == 1
        out.append(orjson.loads(payload))
    return out


class Handled:
    """One request as the handler saw it: whether it ran inline, within the read's
    ``_handle_inline`` call (on Python 3.11 outside any task, from 3.12 on in a task
    started eagerly there), and the task it ran in (None: none)."""

    def __init__(self, inline: bool, task: asyncio.Task[Any] | None) -> None:
        self.inline, self.task = inline, task

    def __repr__(self) -> str:
        return f"Handled(inline={self.inline}, task={self.task!r})"


def record_tasks(monkeypatch: pytest.MonkeyPatch,
                 before: Callable[[], Awaitable[None]] | None = None) -> list[Handled]:
    """Record, for each request handled, how it ran (``Handled``); ``before`` is
    awaited at the start of each request's handling (then recorded again)."""
    tasks: list[Handled] = []
    inline = [0]
    handle = wsserver.handle_request
    handle_inline = WebsocketProtocol._handle_inline

    def marked(self: WebsocketProtocol) -> None:
        inline[0] += 1
        try:
            handle_inline(self)
        finally:
            inline[0] -= 1

    async def recording(state: GatewayState, connection: Any, request: Any) -> None:
        tasks.append(Handled(bool(inline[0]), asyncio.current_task()))
        if before is not None:
            await before()
            tasks.append(Handled(bool(inline[0]), asyncio.current_task()))
        await handle(state, connection, request)

    monkeypatch.setattr(WebsocketProtocol, "_handle_inline", marked)
    monkeypatch.setattr(wsserver, "handle_request", recording)
    return tasks


def ran_inline(handled: Handled) -> bool:
    """Inline as each Python does it: no task on 3.11, an eager one from 3.12 on."""
    return handled.inline and (handled.task is None) == (sys.version_info < (3, 12))


async def test_a_subscribe_over_the_in_process_broker_runs_inline(monkeypatch):
    tasks = record_tasks(monkeypatch)
    async with front_door() as (state, port):
        reader, writer = await open_ws(port)
        writer.write(masked_text_frame(b'{"op":"subscribe","channel":"x","id":1}'))
        assert await replies(reader, 1) == [{"id": 1, "ok": True, "channel": "x"}]
        assert len(tasks) == 1 and ran_inline(tasks[0]), tasks
        (connection,) = state.connections
        assert b"x" in connection.channels and not connection.ws.busy  # type: ignore[attr-defined]
        writer.close()


async def test_the_task_path_stays_for_backends_that_are_not_in_process(monkeypatch):
    tasks = record_tasks(monkeypatch)
    async with front_door(in_process=False) as (_, port):
        reader, writer = await open_ws(port)
        writer.write(masked_text_frame(b'{"op":"subscribe","channel":"x","id":1}'))
        assert await replies(reader, 1) == [{"id": 1, "ok": True, "channel": "x"}]
        assert len(tasks) == 1 and not tasks[0].inline and isinstance(tasks[0].task, asyncio.Task)
        writer.close()


async def test_a_burst_yields_after_yield_every_requests_and_a_task_takes_over(monkeypatch):
    tasks = record_tasks(monkeypatch)
    count = 3 * YIELD_EVERY + 5
    async with front_door() as (_, port):
        reader, writer = await open_ws(port)
        writer.write(b"".join(masked_text_frame(b'{"op":"ping","id":%d}' % n) for n in range(count)))
        got = await replies(reader, count)
        assert [reply["id"] for reply in got] == list(range(count))  # every reply, in order
        # Inline until a run's yield (the burst may come in more than one read, each
        # read's requests starting inline), then a task for the rest.
        assert all(ran_inline(handled) for handled in tasks[:YIELD_EVERY]), tasks[:YIELD_EVERY]
        taken_over = [handled for handled in tasks if not handled.inline]
        assert taken_over and all(isinstance(handled.task, asyncio.Task) for handled in taken_over)
        # Handled and done: the next request starts inline again.
        writer.write(masked_text_frame(b'{"op":"ping","id":"next"}'))
        assert (await replies(reader, 1))[0]["id"] == "next"
        assert ran_inline(tasks[-1])
        writer.close()


async def test_a_request_that_waits_is_finished_by_a_task(monkeypatch):
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait_for_gate() -> None:
        await gate

    tasks = record_tasks(monkeypatch, wait_for_gate)
    async with front_door() as (_, port):
        reader, writer = await open_ws(port)
        writer.write(masked_text_frame(b'{"op":"ping","id":1}') + masked_text_frame(b'{"op":"ping","id":2}'))
        while not tasks:
            await asyncio.sleep(0)
        assert len(tasks) == 1 and ran_inline(tasks[0]), tasks  # started inline, now waiting on the gate
        gate.set_result(None)
        assert [reply["id"] for reply in await replies(reader, 2)] == [1, 2]
        first_task = tasks[1].task
        assert isinstance(first_task, asyncio.Task)
        # The rest of the backlog in that task (on 3.12 the eager task itself goes on).
        assert [(handled.inline, handled.task) for handled in tasks[1:]] == [(False, first_task)] * 3
        assert sys.version_info < (3, 12) or tasks[0].task is first_task
        writer.close()


async def test_a_failure_and_a_cancellation_reach_the_coroutine_taken_over():
    loop = asyncio.get_running_loop()
    seen: list[str] = []

    async def body(first: asyncio.Future[int], second: asyncio.Future[int]) -> None:
        try:
            await first
        except ValueError as exc:
            seen.append(f"failed: {exc}")
        try:
            await second
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("finally")

    first, second = loop.create_future(), loop.create_future()
    coroutine = body(first, second)
    task = loop.create_task(wsserver._resumed(coroutine, coroutine.send(None)))
    first.set_exception(ValueError("no"))
    while not seen:  # the task's turns until it is waiting on ``second``
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["failed: no", "cancelled", "finally"]


async def test_a_result_is_passed_back_in():
    loop = asyncio.get_running_loop()
    results: list[int] = []

    async def body(future: asyncio.Future[int]) -> None:
        results.append(await future)
        await asyncio.sleep(0)  # a bare yield: the task steps it again
        results.append(await future)

    future = loop.create_future()
    coroutine = body(future)
    task = loop.create_task(wsserver._resumed(coroutine, coroutine.send(None)))
    future.set_result(7)
    await asyncio.wait_for(task, WAIT)
    assert results == [7, 7]


"""Event streams wake on new events instead of polling the store, and keep an idle stream alive."""

from __future__ import annotations

import asyncio
import doctest
import threading
import time
from pathlib import Path

from fastapi.sse import ServerSentEvent

import agent.server.metrics
import agent.server.sse
import agent.server.wakeups
from agent.server.models import TASK_FINISHED
from agent.server.sse import HEARTBEAT, RETRY_MS, task_events
from agent.server.tasks import TaskStore


def test_an_event_from_a_worker_thread_reaches_the_stream_at_once_despite_a_long_poll(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "server.sqlite")
    store.create("t1", "blur the faces", [], [])

    def worker() -> None:
        time.sleep(0.2)
        store.add_event("t1", "execute", "action_started", {"tool": "detect_faces"})
        time.sleep(0.2)
        store.add_event("t1", "server", TASK_FINISHED, {})

    async def read() -> tuple[list[ServerSentEvent], float]:
        received, start = [], time.monotonic()
        async for message in task_events(store, "t1", after=1, poll_s=5.0, heartbeat_s=30.0):
            received.append(message)
        return received, time.monotonic() - start

    thread = threading.Thread(target=worker)
    thread.start()
    messages, seconds = asyncio.run(read())
    thread.join()
    assert _kinds(messages) == ["action_started", TASK_FINISHED]
    assert seconds < 2.0  # a 5 s poll would have taken at least 5 s
    assert store.wakeups.subscribers() == 0  # the finished stream left nothing behind
    store.close()


def test_a_stream_closed_by_the_client_unsubscribes(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "server.sqlite")
    store.create("t2", "caption it", [], [])

    async def read_one_then_leave() -> None:
        stream = task_events(store, "t2", after=0, poll_s=5.0, heartbeat_s=30.0)
        assert (await stream.__anext__()).retry == RETRY_MS
        await stream.__anext__()  # task_queued
        waiting = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.05)
        assert store.wakeups.subscribers() == 1
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await stream.aclose()

    asyncio.run(read_one_then_leave())
    assert store.wakeups.subscribers() == 0
    store.close()


def test_docstring_examples_run() -> None:
    for module in (agent.server.wakeups, agent.server.sse, agent.server.metrics):
        assert doctest.testmod(module).failed == 0, module.__name__


def _kinds(messages: list[ServerSentEvent]) -> list[str]:
    return [m.event for m in messages if m.event is not None]


async def _read_all(store: TaskStore, task_id: str, after: int, poll_s: float) -> list[ServerSentEvent]:
    return [m async for m in task_events(store, task_id, after=after, poll_s=poll_s, heartbeat_s=30.0)]


def test_the_stream_waits_for_task_finished_recorded_just_after_the_final_status(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "server.sqlite")
    store.create("t3", "count", [], [])
    assert store.transition("t3", ("queued",), "succeeded")

    def finish_late() -> None:
        time.sleep(0.2)
        store.add_event("t3", "server", TASK_FINISHED, {"status": "succeeded"})

    thread = threading.Thread(target=finish_late)
    thread.start()
    kinds = _kinds(asyncio.run(_read_all(store, "t3", after=1, poll_s=5.0)))
    thread.join()
    assert kinds == [TASK_FINISHED]
    store.close()


def test_a_finished_task_without_task_finished_ends_the_stream_after_one_quiet_wait(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "server.sqlite")
    store.create("t4", "count", [], [])
    store.transition("t4", ("queued",), "failed")  # as if the process stopped before recording the event
    start = time.monotonic()
    assert _kinds(asyncio.run(_read_all(store, "t4", after=0, poll_s=0.3))) == ["task_queued"]
    assert 0.25 < time.monotonic() - start < 3
    store.close()


def test_an_idle_stream_sends_a_heartbeat_and_then_the_next_event(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "server.sqlite")
    store.create("t5", "count", [], [])

    async def read() -> tuple[list[ServerSentEvent], float]:
        stream = task_events(store, "t5", after=0, poll_s=5.0, heartbeat_s=0.3)
        first = [await stream.__anext__(), await stream.__anext__()]  # retry, task_queued
        start = time.monotonic()
        heartbeat = await stream.__anext__()  # nothing happens for a while
        quiet = time.monotonic() - start
        store.add_event("t5", "server", TASK_FINISHED, {"status": "succeeded"})
        return [*first, heartbeat] + [m async for m in stream], quiet

    messages, quiet = asyncio.run(read())
    assert messages[0] == ServerSentEvent(retry=RETRY_MS)
    assert messages[2] == HEARTBEAT and 0.2 < quiet < 3
    assert _kinds(messages) == ["task_queued", TASK_FINISHED] and len(messages) == 4  # one heartbeat only
    assert [m.id for m in messages if m.event] == ["1", "2"]
    assert store.wakeups.subscribers() == 0
    store.close()

"""Event streams wake on new events instead of polling the store."""

from __future__ import annotations

import asyncio
import doctest
import threading
import time
from pathlib import Path

import agent.server.wakeups
from agent.server.models import TASK_FINISHED
from agent.server.sse import task_events
from agent.server.tasks import TaskStore


def test_an_event_from_a_worker_thread_reaches_the_stream_at_once_despite_a_long_poll(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "server.sqlite")
    store.create("t1", "blur the faces", [], [])

    def worker() -> None:
        time.sleep(0.2)
        store.add_event("t1", "execute", "action_started", {"tool": "detect_faces"})
        time.sleep(0.2)
        store.add_event("t1", "server", TASK_FINISHED, {})

    async def read() -> tuple[list[str], float]:
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
        await stream.__anext__()  # retry line
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
    assert doctest.testmod(agent.server.wakeups).failed == 0


def _kinds(messages: list[str]) -> list[str]:
    return [line.split(": ", 1)[1] for m in messages for line in m.splitlines() if line.startswith("event: ")]


async def _read_all(store: TaskStore, task_id: str, after: int, poll_s: float) -> list[str]:
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

"""Server-sent events of a task, replayed from the task store: ``id`` is the event's per-task seq, so a
client that reconnects with ``Last-Event-ID: N`` (or ``?after=N``) gets exactly the events after N.

The stream reads the store (it does not listen to the workers), so it works the same for a task that
is running, one that finished before the client connected, and one recorded by an earlier server
process. It ends after the task's ``task_finished`` event.

    >>> from agent.server.models import TaskEvent
    >>> print(format_event(TaskEvent(task_id="t", seq=3, stage="server", kind="task_started", time=1.0)), end="")
    id: 3
    event: task_started
    data: {"task_id":"t","seq":3,"stage":"server","kind":"task_started","time":1.0,"data":{}}
    <BLANKLINE>
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from agent.server.models import FINAL_STATUSES, TASK_FINISHED, TaskEvent
from agent.server.tasks import TaskStore

MEDIA_TYPE = "text/event-stream"
#: The client's reconnection delay, sent once at the start of a stream (milliseconds).
RETRY_MS = 1000


def format_event(event: TaskEvent) -> str:
    """One SSE message (the JSON has no newlines, so one ``data`` line)."""
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {event.model_dump_json()}\n\n"


async def task_events(store: TaskStore, task_id: str, after: int, *, poll_s: float,
                      heartbeat_s: float) -> AsyncIterator[str]:
    """The task's events after seq ``after`` as SSE text, live until ``task_finished``."""
    yield f"retry: {RETRY_MS}\n\n"
    last_sent = time.monotonic()
    while True:
        events = store.events(task_id, after=after, limit=500)
        for event in events:
            yield format_event(event)
            after = event.seq
            if event.kind == TASK_FINISHED:
                return
        if events:
            last_sent = time.monotonic()
            continue
        if store.get(task_id).status in FINAL_STATUSES and not store.events(task_id, after=after, limit=1):
            return  # finished, and the client has seen everything (it resumed after the last event)
        if time.monotonic() - last_sent >= heartbeat_s:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(poll_s)

"""A task's server-sent events, replayed from the task store; FastAPI's ``EventSourceResponse`` writes the wire format.

What is ours is which events to send and when: ``id`` is the event's per-task seq, so a client that reconnects
with ``Last-Event-ID: N`` (or ``?after=N``) gets exactly the events after N. The stream reads the store (the
workers only wake it, through the store's :class:`~agent.server.wakeups.EventWakeups`), so it works the same for a
task that is running, one that finished before the client connected, and one recorded by an earlier server
process. It ends after the task's ``task_finished`` event.

It also ends early, with one last message that has no ``id``, when the server is shutting down
(``server_stopping``) or its store failed (``stream_error``); the data is ``{code, message}``. A client then
reconnects with the last id it got, to this server once it is back (an open stream must never hold up a
shutdown: the server waits for its open responses before it stops).

    >>> from agent.server.models import TaskEvent
    >>> message = event_message(TaskEvent(task_id="t", seq=3, stage="server", kind="task_started", time=1.0))
    >>> message.id, message.event, message.data.seq
    ('3', 'task_started', 3)
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi.sse import ServerSentEvent

from agent.server.errors import StorageError
from agent.server.models import FINAL_STATUSES, SERVER_STOPPING, STREAM_ERROR, TASK_FINISHED, ErrorInfo, TaskEvent
from agent.server.tasks import TaskStore

#: The client's reconnection delay, sent once at the start of a stream (milliseconds).
RETRY_MS = 1000
#: The comment sent on a stream idle for ``heartbeat_s``, so proxies keep it open (FastAPI adds its own
#: ``: ping`` after 15 s of silence whatever the setting; both are comments, which clients ignore).
HEARTBEAT = ServerSentEvent(comment="keep-alive")


def event_message(event: TaskEvent) -> ServerSentEvent:
    """The SSE message of one event: its kind names it, its seq is the id, the event itself (JSON) the data."""
    return ServerSentEvent(data=event, event=event.kind, id=str(event.seq))


async def task_events(
    store: TaskStore, task_id: str, after: int, *, poll_s: float, heartbeat_s: float
) -> AsyncIterator[ServerSentEvent]:
    """The task's events after seq ``after``, live until ``task_finished``; first the ``retry`` delay.

    Between reads it sleeps until this process records an event for the task (no polling), or at
    most ``poll_s`` (events written by another server process) or until a keep-alive is due.
    """
    yield ServerSentEvent(retry=RETRY_MS)
    try:
        async with aclosing(_follow(store, task_id, after, poll_s=poll_s, heartbeat_s=heartbeat_s)) as messages:
            async for message in messages:
                yield message
    except StorageError as exc:
        yield ServerSentEvent(data=ErrorInfo(code=exc.code, message=exc.message), event=STREAM_ERROR)


async def _follow(
    store: TaskStore, task_id: str, after: int, *, poll_s: float, heartbeat_s: float
) -> AsyncGenerator[ServerSentEvent, None]:
    last_sent = time.monotonic()
    quiet_after_final = False
    while True:
        woken = store.wakeups.subscribe(task_id)  # before reading: an event written meanwhile still wakes us
        try:
            events = store.events(task_id, after=after, limit=500)
            for event in events:
                yield event_message(event)
                after = event.seq
                if event.kind == TASK_FINISHED:
                    return
            if store.wakeups.closed:
                yield ServerSentEvent(data=_STOPPING, event=SERVER_STOPPING)
                return
            if events:
                last_sent = time.monotonic()
                continue
            final = store.get(task_id).status in FINAL_STATUSES
            if final and (quiet_after_final or _finished_at(store, task_id, after)):
                return  # the client has seen everything (it resumed after task_finished), or the task
                # ended without one (an earlier process stopped) and a whole wait brought nothing
            if time.monotonic() - last_sent >= heartbeat_s:
                yield HEARTBEAT
                last_sent = time.monotonic()
            woke = await store.wakeups.wait(woken, min(poll_s, max(0.0, heartbeat_s - (time.monotonic() - last_sent))))
            # the status is set a moment before task_finished is recorded: wait for it once
            quiet_after_final = final and not woke
        finally:
            store.wakeups.unsubscribe(task_id, woken)


_STOPPING = ErrorInfo(
    code=SERVER_STOPPING,
    message="the server is shutting down; reconnect with Last-Event-ID to follow the task on the restarted server",
)


def _finished_at(store: TaskStore, task_id: str, seq: int) -> bool:
    """Whether event ``seq`` of the task is its ``task_finished``."""
    if seq < 1:
        return False
    events = store.events(task_id, after=seq - 1, limit=1)
    return bool(events) and events[0].seq == seq and events[0].kind == TASK_FINISHED

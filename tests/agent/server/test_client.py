"""ToGClient's event stream over a scripted transport: it reconnects after a dropped connection and resumes
with Last-Event-ID, and error bodies become APIError."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi.sse import format_sse_event

from agent.client import APIError, ToGClient
from agent.server.models import TaskEvent
from agent.server.sse import RETRY_MS


def sse(*events: tuple[int, str]) -> bytes:
    """The stream the server would send, framed by FastAPI's SSE encoder."""
    messages = [TaskEvent(task_id="t", seq=seq, stage="s", kind=kind, time=0.0) for seq, kind in events]
    return format_sse_event(retry=RETRY_MS) + b"".join(
        format_sse_event(data_str=m.model_dump_json(), event=m.kind, id=str(m.seq)) for m in messages
    )


class Script:
    """Answers each events request in turn; records the Last-Event-ID it was sent."""

    def __init__(self) -> None:
        self.resumed_from: list[str | None] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.resumed_from.append(request.headers.get("last-event-id"))
        call = len(self.resumed_from)
        if call == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if call == 2:  # the connection closes early, without task_finished
            return httpx.Response(
                200, content=sse((1, "task_queued"), (2, "task_started")), headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(
            200, content=sse((3, "stage_started"), (4, "task_finished")), headers={"content-type": "text/event-stream"}
        )

    async def aanswer(self, request: httpx.Request) -> httpx.Response:
        return self.answer(request)


def test_events_reconnect_and_resume_where_they_left_off() -> None:
    script = Script()
    client = ToGClient("http://tog", transport=httpx.MockTransport(script.answer))
    assert [e.seq for e in client.events("t")] == [1, 2, 3, 4]
    assert script.resumed_from == [None, None, "2"]


def test_async_events_reconnect_too() -> None:
    script = Script()

    async def go() -> list[int]:
        async with ToGClient("http://tog", async_transport=httpx.MockTransport(script.aanswer)) as client:
            return [e.seq async for e in client.aevents("t")]

    assert asyncio.run(go()) == [1, 2, 3, 4] and script.resumed_from == [None, None, "2"]


def test_too_many_failures_raise_and_error_bodies_become_api_errors() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    with pytest.raises(httpx.ConnectError):
        list(ToGClient("http://tog", transport=httpx.MockTransport(down), reconnects=1).events("t"))

    def full(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"code": "queue_full", "message": "busy", "details": {"n": 1}}})

    with pytest.raises(APIError) as info:
        ToGClient("http://tog", transport=httpx.MockTransport(full)).submit("x")
    assert (info.value.status, info.value.code, info.value.message, info.value.details) == (
        429,
        "queue_full",
        "busy",
        {"n": 1},
    )

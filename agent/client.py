"""A small typed client for the ToG REST API (``tog serve``), sync and async, with event streaming.

    client = ToGClient("http://127.0.0.1:8000", api_key=None)
    task = client.submit("make the photo grey", files=["photo.png"])
    for event in client.events(task.id):      # SSE; reconnects and resumes with Last-Event-ID
        print(event.kind)
    view = client.task(task.id)
    grey = client.artifact(view.artifacts[0].id)
    [photo] = client.upload(["photo.png"]).artifacts   # stored for workflows and later tasks, by id

Every method has an ``a``-prefixed coroutine twin (``asubmit``, ``atask``, ``aevents``, ...; waiting is
``wait`` / ``await_task``). An error response raises :class:`APIError` with the server's code, message and
details.

Riding out faults: a submission (``submit``, ``upload``) carries a fresh ``Idempotency-Key`` and is sent again
with the same key after a timeout, a dropped connection or a 503 (the server restarting or its storage
failing), so it creates its task once however often it is sent. Reads are retried the same way, and
``events`` reconnects and resumes after the last event it got. Each does so with backoff (0.1 s doubling to
2 s, or the server's Retry-After) until ``retry_budget_s`` (60 s) has passed without progress; then the last
error is raised.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from agent.decompose.base import Resource
from agent.server.models import (
    FINAL_STATUSES,
    STREAM_ENDS,
    TASK_FINISHED,
    CancelResult,
    ErrorInfo,
    Health,
    PlanResult,
    TaskCreated,
    TaskEvent,
    TaskPage,
    TaskView,
    ToolList,
    UploadedArtifacts,
)
from graph.errors import ToGError

M = TypeVar("M", bound=BaseModel)
#: A file to send: a path, or (name, content).
FileArg = str | Path | tuple[str, bytes]
IDEMPOTENCY_KEY = "Idempotency-Key"
#: Failures worth another try: the request may not have arrived, or its answer got lost.
TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class APIError(ToGError):
    """An error response; ``status`` is the HTTP status, ``code`` the server's error code, ``retry_after`` its
    Retry-After in seconds (if it sent one)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, **(details or {}))
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later: the server is starting, stopping or its storage failed
        (503), or a request with the same Idempotency-Key is still being handled (409)."""
        return self.status == 503 or (self.status == 409 and self.code == "idempotency_key_in_progress")

    @classmethod
    def from_response(cls, response: httpx.Response) -> APIError:
        retry_after = _seconds(response.headers.get("retry-after"))
        try:
            error = response.json()["error"]
            return cls(
                response.status_code,
                str(error["code"]),
                str(error["message"]),
                error.get("details") or {},
                retry_after,
            )
        except (ValueError, KeyError, TypeError):
            return cls(
                response.status_code,
                "http_error",
                f"HTTP {response.status_code}: {response.text[:200]}",
                None,
                retry_after,
            )


class SSEParser:
    """Turns event-stream lines into :class:`TaskEvent` objects (the ``data`` of each message).

    A message that ends the stream early (``server_stopping``, ``stream_error``) is no task event: it is
    kept in :attr:`cut` instead, and the stream is to be resumed later."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        #: Why the server ended the stream before the task finished, once it said so.
        self.cut: ErrorInfo | None = None

    def feed(self, line: str) -> TaskEvent | None:
        if line == "":
            data, self._data = "\n".join(self._data), []
            event, self._event = self._event, ""
            if data and event in STREAM_ENDS:
                self.cut = ErrorInfo.model_validate_json(data)
                return None
            return TaskEvent.model_validate_json(data) if data else None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


class Backoff:
    """Delays between tries: 0.1 s doubling to 2 s (with jitter), at least the server's Retry-After, until
    ``budget_s`` has passed since the first failure of a run (progress starts a new run); then None."""

    first_s, max_s = 0.1, 2.0

    def __init__(self, budget_s: float, tries: int | None = None) -> None:
        self.budget_s = budget_s
        self.tries = tries
        self.failures = 0
        self._since: float | None = None

    def reset(self) -> None:
        self.failures, self._since = 0, None

    def delay(self, retry_after: float | None = None) -> float | None:
        """Count a failure; the wait before the next try, or None when the budget (or ``tries``) is spent."""
        now = time.monotonic()
        self._since = self._since if self._since is not None else now
        self.failures += 1
        left = self.budget_s - (now - self._since)
        if left <= 0 or (self.tries is not None and self.failures > self.tries):
            return None
        step = min(self.max_s, self.first_s * 2.0 ** (self.failures - 1)) * random.uniform(0.5, 1.0)
        return min(max(step, retry_after or 0.0), left)


class _Follow:
    """Where an event stream stands across reconnections: the last seq seen, the backoff of failed tries."""

    timeout = httpx.Timeout(30.0, read=None)

    def __init__(self, task_id: str, after: int, backoff: Backoff) -> None:
        self.path = f"/v1/tasks/{task_id}/events"
        self.after = after
        self.backoff = backoff
        self.done = False
        self._got: bool | None = None  # None before the first connection
        self._parser = SSEParser()

    def connect(self) -> bool:
        """Whether to (re)connect: not after a clean stream that had nothing new (the task is over)."""
        if self.done or self._got is False:
            return False
        self._got, self._parser = False, SSEParser()
        return True

    def headers(self) -> dict[str, str]:
        return {"Last-Event-ID": str(self.after)} if self.after else {}

    def feed(self, line: str) -> TaskEvent | None:
        event = self._parser.feed(line)
        if event is not None:
            self._got, self.after = True, event.seq
            self.done = event.kind == TASK_FINISHED
            self.backoff.reset()
        return event

    def ended(self) -> float | None:
        """The stream closed: the wait before reconnecting if the server cut it short (None: it is over)."""
        cut = self._parser.cut
        if cut is None:
            return None
        return self.failed(APIError(503, cut.code, cut.message))

    def failed(self, exc: Exception) -> float:
        """Count a failed or cut connection; the delay before the next try (raises ``exc`` past the budget)."""
        wait = self.backoff.delay(exc.retry_after if isinstance(exc, APIError) else None)
        if wait is None:
            raise exc
        self._got = None
        return wait


class ToGClient:
    """Talks to one server; use it as a context manager (``with`` / ``async with``) or call ``close``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        retry_budget_s: float = 60.0,
        reconnects: int | None = None,
    ) -> None:
        """``retry_budget_s``: how long to go on retrying (and reconnecting event streams) without progress;
        ``reconnects``: at most this many tries in a row on top of that (None: the budget alone decides)."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.retry_budget_s = retry_budget_s
        self.reconnects = reconnects
        self._sync = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport)
        self._async_args: dict[str, Any] = dict(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=async_transport
        )
        self._async: httpx.AsyncClient | None = None

    # --- plumbing ----------------------------------------------------------------------------------------

    @property
    def _aclient(self) -> httpx.AsyncClient:
        if self._async is None:
            self._async = httpx.AsyncClient(**self._async_args)
        return self._async

    def _backoff(self) -> Backoff:
        return Backoff(self.retry_budget_s, self.reconnects)

    def _call(self, model: type[M], method: str, path: str, *, retry: bool = False, **kwargs: Any) -> M:
        """One API call; with ``retry``, sent again (unchanged) after a transient failure, within the budget."""
        backoff = self._backoff()
        while True:
            try:
                return _parse(model, self._sync.request(method, path, **kwargs))
            except (*TRANSIENT, APIError) as exc:
                wait = _retry_wait(exc, backoff) if retry else None
                if wait is None:
                    raise
                time.sleep(wait)

    async def _acall(self, model: type[M], method: str, path: str, *, retry: bool = False, **kwargs: Any) -> M:
        backoff = self._backoff()
        while True:
            try:
                return _parse(model, await self._aclient.request(method, path, **kwargs))
            except (*TRANSIENT, APIError) as exc:
                wait = _retry_wait(exc, backoff) if retry else None
                if wait is None:
                    raise
                await asyncio.sleep(wait)

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        self._sync.close()
        if self._async is not None:
            await self._async.aclose()

    def __enter__(self) -> ToGClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> ToGClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- sync --------------------------------------------------------------------------------------------

    def submit(self, request: str, files: Sequence[FileArg] = (), resources: Sequence[Resource] = ()) -> TaskCreated:
        """Submit a task (multipart with the files); it runs on the server, follow it with :meth:`events`.

        Sent with a fresh Idempotency-Key and retried with it, so a lost answer never makes a second task."""
        return self._call(TaskCreated, "POST", "/v1/tasks", retry=True, **_keyed(_task_body(request, files, resources)))

    def plan(self, request: str, files: Sequence[FileArg] = (), resources: Sequence[Resource] = ()) -> PlanResult:
        return self._call(PlanResult, "POST", "/v1/plan", **_task_body(request, files, resources))

    def task(self, task_id: str) -> TaskView:
        return self._call(TaskView, "GET", f"/v1/tasks/{task_id}", retry=True)

    def tasks(self, limit: int = 20, cursor: str | None = None, status: str | None = None) -> TaskPage:
        return self._call(TaskPage, "GET", "/v1/tasks", retry=True, params=_page(limit, cursor, status))

    def cancel(self, task_id: str) -> CancelResult:
        return self._call(CancelResult, "DELETE", f"/v1/tasks/{task_id}")

    def tools(self) -> ToolList:
        return self._call(ToolList, "GET", "/v1/tools", retry=True)

    def health(self) -> Health:
        return self._call(Health, "GET", "/healthz")

    def artifact(self, artifact_id: str) -> bytes:
        response = self._sync.get(f"/v1/artifacts/{artifact_id}")
        _check(response)
        return response.content

    def upload(self, files: Sequence[FileArg]) -> UploadedArtifacts:
        """Store files on the server; their ids serve as workflow inputs and as tasks' file resources."""
        return self._call(
            UploadedArtifacts, "POST", "/v1/artifacts", retry=True, **_keyed({"files": _file_parts(files)})
        )

    def wait(self, task_id: str, timeout_s: float = 300.0, poll_s: float = 0.2) -> TaskView:
        """Poll until the task has finished; its final view. Besides succeeded/partial/failed/cancelled/interrupted,
        a task ends ``unsupported`` (refused before any tool ran: ``view.error`` names what is missing, the
        nearest tools and how to enable an unavailable one) or ``empty`` (it ran, but found nothing)."""
        deadline = time.monotonic() + timeout_s
        while (view := self.task(task_id)).status not in FINAL_STATUSES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {view.status} after {timeout_s} s")
            time.sleep(poll_s)
        return view

    def events(self, task_id: str, after: int = 0) -> Iterator[TaskEvent]:
        """The task's events after seq ``after``, live, until ``task_finished``; reconnects where it left off,
        through a server restart too (within ``retry_budget_s`` of the last event)."""
        follow = _Follow(task_id, after, self._backoff())
        while follow.connect():
            try:
                with self._sync.stream(
                    "GET", follow.path, headers=follow.headers(), timeout=follow.timeout
                ) as response:
                    _check(response)
                    for line in response.iter_lines():
                        if (event := follow.feed(line)) is not None:
                            yield event
                            if follow.done:
                                return
            except (*TRANSIENT, APIError) as exc:
                if isinstance(exc, APIError) and not exc.transient:
                    raise
                time.sleep(follow.failed(exc))
                continue
            if (wait := follow.ended()) is not None:
                time.sleep(wait)

    # --- async -------------------------------------------------------------------------------------------

    async def asubmit(
        self, request: str, files: Sequence[FileArg] = (), resources: Sequence[Resource] = ()
    ) -> TaskCreated:
        return await self._acall(
            TaskCreated, "POST", "/v1/tasks", retry=True, **_keyed(_task_body(request, files, resources))
        )

    async def aplan(
        self, request: str, files: Sequence[FileArg] = (), resources: Sequence[Resource] = ()
    ) -> PlanResult:
        return await self._acall(PlanResult, "POST", "/v1/plan", **_task_body(request, files, resources))

    async def atask(self, task_id: str) -> TaskView:
        return await self._acall(TaskView, "GET", f"/v1/tasks/{task_id}", retry=True)

    async def atasks(self, limit: int = 20, cursor: str | None = None, status: str | None = None) -> TaskPage:
        return await self._acall(TaskPage, "GET", "/v1/tasks", retry=True, params=_page(limit, cursor, status))

    async def acancel(self, task_id: str) -> CancelResult:
        return await self._acall(CancelResult, "DELETE", f"/v1/tasks/{task_id}")

    async def atools(self) -> ToolList:
        return await self._acall(ToolList, "GET", "/v1/tools", retry=True)

    async def ahealth(self) -> Health:
        return await self._acall(Health, "GET", "/healthz")

    async def aartifact(self, artifact_id: str) -> bytes:
        response = await self._aclient.get(f"/v1/artifacts/{artifact_id}")
        _check(response)
        return response.content

    async def aupload(self, files: Sequence[FileArg]) -> UploadedArtifacts:
        return await self._acall(
            UploadedArtifacts, "POST", "/v1/artifacts", retry=True, **_keyed({"files": _file_parts(files)})
        )

    async def await_task(self, task_id: str, timeout_s: float = 300.0, poll_s: float = 0.2) -> TaskView:
        deadline = time.monotonic() + timeout_s
        while (view := await self.atask(task_id)).status not in FINAL_STATUSES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {view.status} after {timeout_s} s")
            await asyncio.sleep(poll_s)
        return view

    async def aevents(self, task_id: str, after: int = 0) -> AsyncIterator[TaskEvent]:
        follow = _Follow(task_id, after, self._backoff())
        while follow.connect():
            try:
                async with self._aclient.stream(
                    "GET", follow.path, headers=follow.headers(), timeout=follow.timeout
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                    _check(response)
                    async for line in response.aiter_lines():
                        if (event := follow.feed(line)) is not None:
                            yield event
                            if follow.done:
                                return
            except (*TRANSIENT, APIError) as exc:
                if isinstance(exc, APIError) and not exc.transient:
                    raise
                await asyncio.sleep(follow.failed(exc))
                continue
            if (wait := follow.ended()) is not None:
                await asyncio.sleep(wait)


def _keyed(kwargs: dict[str, Any]) -> dict[str, Any]:
    """httpx arguments with a fresh Idempotency-Key: every try of one submission sends the same one."""
    return {**kwargs, "headers": {IDEMPOTENCY_KEY: uuid.uuid4().hex}}


def _retry_wait(exc: Exception, backoff: Backoff) -> float | None:
    """The wait before trying again after ``exc``, or None to give up (not transient, or out of budget)."""
    if isinstance(exc, APIError):
        return backoff.delay(exc.retry_after) if exc.transient else None
    return backoff.delay()


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare; the backoff decides


def _task_body(request: str, files: Sequence[FileArg], resources: Sequence[Resource]) -> dict[str, Any]:
    """httpx arguments of a task body: JSON without files, multipart with them."""
    literals = [{"name": r.name, "type": r.type.value, "value": r.value} for r in resources]
    if not files:
        return {"json": {"request": request, "resources": literals}}
    return {"data": {"request": request, "resources": json.dumps(literals)}, "files": _file_parts(files)}


def _file_parts(files: Sequence[FileArg]) -> list[tuple[str, tuple[str, bytes, str]]]:
    parts = []
    for item in files:
        name, content = item if isinstance(item, tuple) else (Path(item).name, Path(item).read_bytes())
        parts.append(("files", (name, content, "application/octet-stream")))
    return parts


def _page(limit: int, cursor: str | None, status: str | None) -> dict[str, Any]:
    return {k: v for k, v in dict(limit=limit, cursor=cursor, status=status).items() if v is not None}


def _check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        if not response.is_stream_consumed:
            response.read()
        raise APIError.from_response(response)


def _parse(model: type[M], response: httpx.Response) -> M:
    _check(response)
    return model.model_validate_json(response.content)

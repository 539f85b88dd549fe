"""``/v1/tasks``, ``/v1/plan``, ``/v1/artifacts`` and ``/v1/workflows``: submitting, following and cancelling work."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from agent.server import views
from agent.server.bodies import read_task_body, read_uploads
from agent.server.errors import QueueFullError, error_responses
from agent.server.idempotency import IdempotencyKey, fingerprint
from agent.server.models import (
    ARTIFACT_ID_PATTERN,
    CancelResult,
    PlanResult,
    TaskCreated,
    TaskPage,
    TaskStatus,
    TaskView,
    UploadedArtifacts,
    WorkflowRun,
    WorkflowRunResult,
)
from agent.server.sse import task_events
from agent.server.state import ServerState, get_state
from agent.server.views import PREFIX
from graph.artifacts import ArtifactMeta
from graph.errors import ToGError

TASK_ID_PATTERN = r"^[0-9a-f]{32}$"
TaskId = Annotated[str, Path(pattern=TASK_ID_PATTERN, description="a task id as POST /v1/tasks returned it")]
ArtifactId = Annotated[str, Path(pattern=ARTIFACT_ID_PATTERN, max_length=64, description="an opaque artifact id")]
State = Annotated[ServerState, Depends(get_state)]

#: The two shapes of a task body; TaskCreate's schema is added to the components by the app.
TASK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/TaskCreate"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["request"],
                    "properties": {
                        "request": {"type": "string", "minLength": 1, "description": "what you want done"},
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "input files; the extension of each name gives its type",
                        },
                        "resources": {
                            "type": "string",
                            "description": "literal inputs: a JSON array of "
                            "ResourceInput objects ({name, type, value})",
                        },
                    },
                },
            },
        },
    }
}
_BODY_ERRORS = (401, 403, 413, 415, 422, 429)
#: A submission can also meet a key in use (409), a shutdown or a storage failure (503) or a full disk (507).
_SUBMIT_ERRORS = (*_BODY_ERRORS, 409, 503, 507)


def _json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """:func:`error_responses` with the JSON content spelled out: FastAPI files a model under the route's own media
    type, which for an event stream would document the JSON error bodies as ``text/event-stream``."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}  # in the components: every other route refers to it
    return {
        status: {"description": response["description"], "content": {"application/json": {"schema": schema}}}
        for status, response in error_responses(*statuses).items()
    }


def _resume_point(
    task_id: TaskId,
    state: State,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, le=2**53, description="resume after this event")
    ] = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=2**53, description="resume after this event (for clients that cannot set headers)"),
    ] = None,
) -> int:
    """The seq to resume after; a dependency so that an unknown task is a 404 before the stream starts."""
    state.store.get(task_id)
    return max(last_event_id or 0, after or 0)


def task_routes() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["tasks"])

    @router.post(
        "/tasks",
        status_code=202,
        response_model=TaskCreated,
        openapi_extra=TASK_BODY,
        responses=error_responses(*_SUBMIT_ERRORS),
        summary="Submit a task",
    )
    async def create_task(
        request: Request, response: Response, state: State, idempotency_key: IdempotencyKey = None
    ) -> TaskCreated | Response:
        """Store the files, record the task and queue it; it runs on a worker. Follow it at ``links``.

        With an ``Idempotency-Key``, sending the same request again returns this response, not a second task."""
        try:
            return await _create_task(request, response, state, idempotency_key)
        except ToGError as exc:  # every refusal counted by its reason: the queue, a limit, a bad input
            state.metrics.rejected(exc.code)
            raise
        except RequestValidationError:
            state.metrics.rejected("invalid_request")
            raise

    async def _create_task(
        request: Request, response: Response, state: ServerState, idempotency_key: str | None
    ) -> TaskCreated | Response:
        runner = state.runner
        if idempotency_key is None:
            runner.check_capacity()  # before storing uploads (a keyed retry may only replay); submit checks again
        body = await read_task_body(request, state.policy)
        resources = [r.model_dump(mode="json") for r in body.resources]
        inputs = [a.model_dump(mode="json") for a in body.inputs]
        claim = await state.idempotency.begin(
            request,
            "POST /v1/tasks",
            idempotency_key,
            fingerprint({"request": body.request, "resources": resources, "inputs": inputs}),
        )
        if isinstance(claim, Response):
            return claim
        task_id = uuid.uuid4().hex
        created = TaskCreated(id=task_id, status="queued", links=views.links(task_id))
        headers = {"Location": created.links.self}
        completes = claim.completion(202, created, headers) if claim is not None else None
        try:
            await run_in_threadpool(
                runner.submit, lambda: state.store.create(task_id, body.request, resources, inputs, completes)
            )
        except BaseException:
            state.idempotency.release(claim)
            raise
        state.idempotency.done(claim)  # the task and its stored response were one transaction
        response.headers.update(headers)
        return created

    @router.get("/tasks", response_model=TaskPage, responses=error_responses(401, 422), summary="List tasks")
    def list_tasks(
        state: State,
        limit: Annotated[int, Query(ge=1, le=200, description="items per page")] = 20,
        cursor: Annotated[
            str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")
        ] = None,
        status: Annotated[TaskStatus | None, Query(description="only tasks in this status")] = None,
    ) -> TaskPage:
        """Tasks, newest first, a page at a time."""
        records, next_n = state.store.page(limit, int(cursor) if cursor else None, status)
        return TaskPage(
            items=[views.summary(r) for r in records], next_cursor=str(next_n) if next_n is not None else None
        )

    @router.get(
        "/tasks/{task_id}",
        response_model=TaskView,
        responses=error_responses(401, 404, 422),
        summary="A task's status, plan, progress and results",
    )
    def get_task(task_id: TaskId, state: State) -> TaskView:
        record = state.store.get(task_id)
        return views.task_view(record, state.store.events(task_id, limit=100_000))

    @router.get(
        "/tasks/{task_id}/events",
        response_class=EventSourceResponse,
        responses={
            200: {
                "description": "server-sent events; each `data` is a TaskEvent (JSON), `event` its kind, `id` its "
                "seq; the stream ends after `task_finished`",
            },
            **_json_errors(401, 404, 422),
        },
        summary="Follow a task's events (SSE, resumable)",
    )
    async def task_event_stream(
        task_id: TaskId, state: State, start: Annotated[int, Depends(_resume_point)]
    ) -> AsyncIterator[ServerSentEvent]:
        server = state.settings.server
        async for message in task_events(
            state.store, task_id, start, poll_s=server.sse_poll_s, heartbeat_s=server.sse_heartbeat_s
        ):
            yield message

    @router.delete(
        "/tasks/{task_id}",
        status_code=202,
        response_model=CancelResult,
        responses=error_responses(401, 404, 409, 422),
        summary="Cancel a task",
    )
    def cancel_task(task_id: TaskId, state: State) -> CancelResult:
        """A queued task is cancelled at once; a running one is asked to stop and ends ``cancelled``."""
        return state.runner.cancel(task_id)

    @router.post(
        "/plan",
        response_model=PlanResult,
        openapi_extra=TASK_BODY,
        responses=error_responses(*_BODY_ERRORS),
        summary="Decompose and plan only",
    )
    async def plan(request: Request, state: State) -> PlanResult:
        """Decompose the request and search the tool graph for every subtask; nothing is executed."""
        if not state.plans.acquire(blocking=False):
            retry = state.settings.server.retry_after_s
            raise QueueFullError(f"{state.settings.server.workers} plans are being made; retry in {retry} s", retry)
        try:
            body = await read_task_body(request, state.policy)
            result = await run_in_threadpool(
                state.agent.plan, body.request, (), body.resources, run_id=f"plan-{uuid.uuid4().hex}"
            )
        finally:
            state.plans.release()
        return PlanResult(
            id=result.run_id,
            status="planned",
            plan=result.plan,
            solutions={str(k): v for k, v in result.solutions.items()},
            timings=result.timings,
        )

    @router.post(
        "/workflows/run",
        response_model=WorkflowRunResult,
        tags=["workflows"],
        responses=error_responses(401, 409, 422, 429, 503, 507),
        summary="Run a workflow and wait for its outputs",
    )
    async def run_workflow(
        body: WorkflowRun, request: Request, state: State, idempotency_key: IdempotencyKey = None
    ) -> WorkflowRunResult | Response:
        """Validate the workflow against this server's tools, run it on the engine (independent steps in
        parallel) and return its outputs; files are given and returned as artifact ids. With an
        ``Idempotency-Key``, a retry gets the first run's response (or waits for it) instead of running it again."""
        claim = await state.idempotency.begin(
            request, "POST /v1/workflows/run", idempotency_key, fingerprint(body.model_dump(mode="json"))
        )
        if isinstance(claim, Response):
            return claim
        try:
            answer = await _run_workflow(body, state)
        except BaseException:
            state.idempotency.release(claim)
            raise
        await state.idempotency.complete(claim, 200, answer, {})
        return answer

    return router


async def _run_workflow(body: WorkflowRun, state: ServerState) -> WorkflowRunResult:
    from agent.workflows import WorkflowFailedError
    from agent.workflows import run_workflow as run

    if not state.plans.acquire(blocking=False):
        retry = state.settings.server.retry_after_s
        raise QueueFullError(f"{state.settings.server.workers} jobs are running; retry in {retry} s", retry)
    try:
        engine = state.agent.engine
        try:
            result = await run_in_threadpool(
                run, body.workflow, body.inputs, engine=engine, partial=body.partial, allow_paths=False
            )
        except WorkflowFailedError as exc:
            result = exc.result
        artifacts = await run_in_threadpool(result.store_outputs, state.agent.store)
    finally:
        state.plans.release()
    summary = result.summary()
    return WorkflowRunResult(status=str(summary.get("status", "")), result=summary, artifacts=artifacts)


#: The body of ``POST /v1/artifacts``.
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "the files; the extension of each name gives its type",
                        },
                    },
                },
            },
        },
    }
}


def artifact_routes() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["artifacts"])

    @router.post(
        "/artifacts",
        status_code=201,
        response_model=UploadedArtifacts,
        openapi_extra=UPLOAD_BODY,
        responses=error_responses(401, 409, 413, 415, 422, 503, 507),
        summary="Upload files",
    )
    async def upload_artifacts(
        request: Request, state: State, idempotency_key: IdempotencyKey = None
    ) -> UploadedArtifacts | Response:
        """Store files under the same checks as a task's uploads, for workflows and tasks to use by id.

        The same bytes always get the same id, and storing them again repairs a stored copy that was damaged;
        an ``Idempotency-Key`` still guards against reusing a key for different files."""
        stored = await read_uploads(request, state.policy)
        claim = await state.idempotency.begin(
            request, "POST /v1/artifacts", idempotency_key, fingerprint([[a.id, a.name] for a in stored])
        )
        if isinstance(claim, Response):
            return claim
        try:
            metas = [state.policy.store.meta(artifact.id) for artifact in stored]
            answer = UploadedArtifacts(artifacts=metas, urls=[views.artifact_url(meta.id) for meta in metas])
        except BaseException:
            state.idempotency.release(claim)
            raise
        await state.idempotency.complete(claim, 201, answer, {})
        return answer

    @router.get(
        "/artifacts/{artifact_id}",
        response_class=FileResponse,
        responses={
            200: {
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                "description": "the content, with its own Content-Type",
            },
            **error_responses(401, 404, 410, 422, 503),
        },
        summary="Download an artifact",
    )
    def get_artifact(artifact_id: ArtifactId, state: State) -> FileResponse:
        """The content, checked against its checksum first: damaged bytes are a 410, never served."""
        store = state.agent.store
        meta = store.verify(artifact_id)
        name = meta.filename or f"{artifact_id}{store.path(artifact_id).suffix}"
        return FileResponse(
            store.path(artifact_id),
            media_type=meta.mime,
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
                "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
            },
        )

    @router.get(
        "/artifacts/{artifact_id}/meta",
        response_model=ArtifactMeta,
        responses=error_responses(401, 404, 422),
        summary="What the store knows about an artifact",
    )
    def get_artifact_meta(artifact_id: ArtifactId, state: State) -> ArtifactMeta:
        return state.agent.store.meta(artifact_id)

    return router

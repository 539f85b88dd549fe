"""Task records and events as API responses: links to artifacts, and per-action progress folded from events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.server.models import (
    ActionProgress,
    ArtifactLink,
    ErrorInfo,
    Progress,
    TaskCreated,
    TaskEvent,
    TaskLinks,
    TaskSummary,
    TaskView,
)
from agent.server.tasks import TaskRecord

PREFIX = "/v1"
_ACTION_STATUS = {
    "action_queued": "queued",
    "action_started": "started",
    "action_finished": "finished",
    "action_failed": "failed",
    "action_retried": "retried",
    "action_reused": "reused",
    "action_cancelled": "cancelled",
}


def artifact_url(artifact_id: str) -> str:
    return f"{PREFIX}/artifacts/{artifact_id}"


def links(task_id: str) -> TaskLinks:
    return TaskLinks(self=f"{PREFIX}/tasks/{task_id}", events=f"{PREFIX}/tasks/{task_id}/events")


def created(record: TaskRecord) -> TaskCreated:
    return TaskCreated(id=record.id, status=record.status, links=links(record.id))


def summary(record: TaskRecord) -> TaskSummary:
    return TaskSummary(
        id=record.id, status=record.status, request=record.request, created=record.created, finished=record.finished
    )


def link(artifact: dict[str, Any]) -> ArtifactLink:
    fields = {k: artifact.get(k) for k in ("id", "type", "mime", "role", "subtask", "name")}
    return ArtifactLink.model_validate(
        {**fields, "index": artifact.get("index") or 0, "url": artifact_url(artifact["id"])}
    )


def task_view(record: TaskRecord, events: Iterable[TaskEvent]) -> TaskView:
    result = record.result or {}
    outputs = [link(a) for a in result.get("artifacts") or [] if a.get("role") == "output"]
    error = ErrorInfo.model_validate(record.error) if record.error else None
    return TaskView(
        id=record.id,
        status=record.status,
        request=record.request,
        created=record.created,
        started=record.started,
        finished=record.finished,
        message=record.message,
        answer=result.get("answer") or None,
        plan=result.get("plan"),
        solutions={str(k): v for k, v in (result.get("solutions") or {}).items()},
        subtasks=result.get("subtasks") or [],
        inputs=[link(a) for a in record.inputs],
        artifacts=outputs,
        progress=progress(events),
        timings=result.get("timings") or {},
        error=error,
        links=links(record.id),
    )


def progress(events: Iterable[TaskEvent]) -> Progress:
    """Where each tool call stands, from the engine events relayed so far (last event wins)."""
    stage: str | None = None
    actions: dict[tuple[Any, Any, Any], ActionProgress] = {}
    for event in events:
        if event.kind == "stage_started":
            stage = event.stage
        status = _ACTION_STATUS.get(event.kind)
        if status is None:
            continue
        data = event.data
        key = (data.get("subtask"), data.get("solution"), data.get("action") or data.get("node"))
        entry = actions.get(key) or ActionProgress(
            subtask=key[0], solution=key[1], action=key[2], tool=data.get("tool"), status=status
        )
        entry.status = status
        entry.tool = data.get("tool") or entry.tool
        entry.attempts = max(entry.attempts, int(data.get("attempt") or 0))
        entry.started_at = data.get("started_at") or entry.started_at
        entry.ended_at = data.get("ended_at") or entry.ended_at
        entry.error = data.get("error") or entry.error
        actions[key] = entry
    items = list(actions.values())
    return Progress(
        stage=stage,
        actions=items,
        total=len(items),
        finished=sum(a.status in ("finished", "reused") for a in items),
        failed=sum(a.status == "failed" for a in items),
    )

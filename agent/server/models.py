"""The REST API's request and response bodies: one pydantic model per shape, so the OpenAPI schema is complete.

Shared by the server and :mod:`agent.client` (nothing here imports FastAPI). Times are seconds since the
epoch (float), like :class:`~agent.result.AgentEvent`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.result import SubtaskOutcome
from graph.artifacts import ArtifactMeta
from graph.plan import Plan, Solution
from graph.spec import ToolSpec
from graph.types import ResourceType

#: ``unsupported``: refused before any tool ran (the tools here cannot do it); ``empty``: the tools ran but the
#: result asked for is empty (see :mod:`agent.outcomes`).
TaskStatus = Literal[
    "queued", "running", "succeeded", "partial", "failed", "cancelled", "interrupted", "unsupported", "empty"
]
#: Statuses a task never leaves.
FINAL_STATUSES: frozenset[str] = frozenset(
    {"succeeded", "partial", "failed", "cancelled", "interrupted", "unsupported", "empty"}
)
#: The kind of a task's last event; an event stream ends after it.
TASK_FINISHED = "task_finished"
#: The names of the message (not a task event: it has no ``id``) that ends an event stream early, because the
#: server is shutting down or its store failed; its data is an :class:`ErrorInfo`. A client reconnects after it.
SERVER_STOPPING = "server_stopping"
STREAM_ERROR = "stream_error"
STREAM_ENDS: frozenset[str] = frozenset({SERVER_STOPPING, STREAM_ERROR})

#: An artifact id as the store issues it: opaque, never a path.
ARTIFACT_ID_PATTERN = r"^[a-z]+-[0-9a-f]{16}$"
#: A file name without any directory part.
FILE_NAME_PATTERN = r"^[^/\\\x00-\x1f]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------------------


class ErrorInfo(_Body):
    code: str = Field(description="stable machine-readable code, e.g. queue_full, file_too_large")
    message: str = Field(description="what went wrong and what to do, for a person")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(_Body):
    """Every 4xx/5xx response body."""

    error: ErrorInfo


# --- inputs -------------------------------------------------------------------------------------------


class FileInput(_Body):
    """A file of a JSON task body: inline base64 ``data``, or a ``url`` (only where remote URLs are enabled)."""

    name: str = Field(
        min_length=1,
        max_length=255,
        pattern=FILE_NAME_PATTERN,
        description="file name; its extension gives the type unless `type` is set",
    )
    type: ResourceType | None = Field(default=None, description="resource type (image, audio, ...)")
    data: str | None = Field(default=None, description="the content, base64-encoded")
    url: str | None = Field(default=None, max_length=2048, description="http(s) URL for the server to fetch")

    @model_validator(mode="after")
    def _one_source(self) -> FileInput:
        if (self.data is None) == (self.url is None):
            raise ValueError("give exactly one of data (base64) and url")
        return self


class ResourceInput(_Body):
    """A literal input (boxes, a text, a number) or, for a file type, the id of an artifact already stored."""

    name: str = Field(min_length=1, max_length=255)
    type: ResourceType
    value: Any = Field(description="a JSON value of the type's shape (see GET /v1/types); an artifact id for files")


class TaskCreate(_Body):
    """``POST /v1/tasks`` and ``POST /v1/plan`` as JSON. The multipart form has the same fields: ``request``,
    ``files`` (file parts) and ``resources`` (a JSON array)."""

    request: str = Field(min_length=1, max_length=1_000_000, description="what you want done, in words")
    files: list[FileInput] = Field(default_factory=list)
    resources: list[ResourceInput] = Field(default_factory=list)


# --- tasks --------------------------------------------------------------------------------------------


class TaskLinks(_Body):
    self: str
    events: str


class TaskCreated(_Body):
    id: str
    status: TaskStatus
    links: TaskLinks


class ArtifactLink(_Body):
    """A stored value of a task (an input or a subtask's output); fetch it at ``url``."""

    id: str
    type: ResourceType
    mime: str
    role: str = Field(description="input (given by the client) or output (a subtask result)")
    subtask: int | None = None
    index: int = 0
    name: str | None = None
    url: str


class UploadedArtifacts(_Body):
    """Files stored by ``POST /v1/artifacts``, in the order sent. Use an ``id`` as a workflow's file input
    or as the value of a task's file resource; fetch the content at ``url``."""

    artifacts: list[ArtifactMeta]
    urls: list[str]


class ActionProgress(_Body):
    """Where one tool call of the plan stands, folded from the task's engine events."""

    subtask: int | None = None
    solution: int | None = None
    action: str | None = None
    tool: str | None = None
    status: str = Field(description="queued, started, finished, failed, retried, reused or cancelled")
    attempts: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    error: dict[str, Any] | None = None


class Progress(_Body):
    stage: str | None = Field(default=None, description="the pipeline stage running now, or the last one")
    actions: list[ActionProgress] = Field(default_factory=list)
    finished: int = 0
    failed: int = 0
    total: int = 0


class TaskView(_Body):
    """``GET /v1/tasks/{id}``: everything known about a task so far."""

    id: str
    status: TaskStatus
    request: str
    created: float
    started: float | None = None
    finished: float | None = None
    message: str | None = Field(default=None, description="why the task ended as it did, when that needs saying")
    answer: str | None = None
    plan: Plan | None = None
    solutions: dict[str, list[Solution]] = Field(default_factory=dict, description="ranked solutions by subtask id")
    subtasks: list[SubtaskOutcome] = Field(default_factory=list)
    inputs: list[ArtifactLink] = Field(default_factory=list)
    artifacts: list[ArtifactLink] = Field(default_factory=list, description="the outputs of the subtasks")
    progress: Progress = Field(default_factory=Progress)
    timings: dict[str, float] = Field(default_factory=dict)
    error: ErrorInfo | None = None
    links: TaskLinks


class TaskSummary(_Body):
    id: str
    status: TaskStatus
    request: str
    created: float
    finished: float | None = None


class TaskPage(_Body):
    """One page of tasks, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[TaskSummary]
    next_cursor: str | None = None


class TaskEvent(_Body):
    """One progress event of a task, numbered from 1 per task (the SSE ``id``)."""

    task_id: str
    seq: int = Field(ge=1)
    stage: str
    kind: str = Field(
        description="task_queued, task_started, stage_started/finished, execution_started/finished (one pair per "
        "execution), action_*, subtask_*, run_finished (once, the agent's last), cancel_requested, "
        "task_finished (always last)"
    )
    time: float
    data: dict[str, Any] = Field(default_factory=dict)


class CancelResult(_Body):
    id: str
    status: TaskStatus
    cancel_requested: bool = Field(description="true when a running task was asked to stop (it ends as cancelled)")


class PlanResult(_Body):
    """``POST /v1/plan``: the decomposition and the ranked tool chains of every subtask; nothing ran."""

    id: str
    status: Literal["planned"]
    plan: Plan | None = None
    solutions: dict[str, list[Solution]] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)


class WorkflowRun(_Body):
    """``POST /v1/workflows/run``: a workflow (its JSON form, or YAML text) and its inputs."""

    workflow: dict[str, Any] | str = Field(
        description="the workflow: the JSON form of a workflow file, or its YAML text"
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="input name -> value; files as artifact ids of uploads, never paths"
    )
    partial: bool = Field(default=False, description="keep the outputs of steps that succeeded when another fails")


class WorkflowRunResult(_Body):
    """What the workflow run produced: its summary (statuses, timings, JSON outputs) and output artifact ids."""

    status: str
    result: dict[str, Any]
    artifacts: dict[str, str | list[str] | None] = Field(default_factory=dict)


# --- catalogue ----------------------------------------------------------------------------------------


class ToolInfo(ToolSpec):
    """A registered tool's spec and whether it can run here (and if not, why)."""

    available: bool
    reason: str | None = None


class ToolList(_Body):
    tools: list[ToolInfo]
    total: int
    available: int


class GraphEdge(_Body):
    source: str = Field(description="node id: 'type:<name>' or 'tool:<name>'")
    target: str
    relation: Literal["accepts", "produces"]
    arg: str
    required: bool | None = None


class GraphView(_Body):
    """The tool graph the planner searches (available tools only)."""

    tools: list[ToolSpec]
    types: list[ResourceType]
    edges: list[GraphEdge]


# --- service ------------------------------------------------------------------------------------------


class Health(_Body):
    status: Literal["ok"] = "ok"


class Readiness(_Body):
    ready: bool
    workers: int = Field(description="worker threads alive")
    queued: int
    running: int
    queue_size: int
    store: Literal["ok", "unwritable", "corrupt"] = Field(
        default="ok", description="the task store: ok, unwritable (writes fail now; disk full?) or corrupt"
    )
    stopping: bool = Field(default=False, description="the server got SIGTERM and takes no new tasks")
    problem: str | None = Field(default=None, description="why the store cannot be written, while it cannot")

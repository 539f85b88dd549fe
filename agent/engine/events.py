"""Typed progress events of a run, in the order the engine decided them.

``seq`` increases by one per event of a run, so consumers (CLI progress, SSE with ``Last-Event-ID``) can
order and resume them. Times are wall-clock seconds (``time.time()``); ``started_at``/``ended_at`` on a
finished action are measured where the tool ran, so overlap between actions can be read from them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    SUBTASK_STARTED = "subtask_started"
    ACTION_QUEUED = "action_queued"
    ACTION_STARTED = "action_started"
    ACTION_FINISHED = "action_finished"
    ACTION_FAILED = "action_failed"
    ACTION_RETRIED = "action_retried"
    ACTION_REUSED = "action_reused"
    ACTION_CANCELLED = "action_cancelled"
    SUBTASK_FALLBACK = "subtask_fallback"
    SUBTASK_FINISHED = "subtask_finished"
    SUBTASK_FAILED = "subtask_failed"
    SUBTASK_SKIPPED = "subtask_skipped"
    RUN_FINISHED = "run_finished"


class EngineEvent(BaseModel):
    """One thing that happened in a run. Action events name the node and the subtask/solution it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    seq: int
    kind: EventKind
    time: float
    subtask: int | None = None
    solution: int | None = Field(default=None, description="rank of the solution (0 = best) the event is about")
    action: str | None = Field(default=None, description="action id inside the solution")
    node: str | None = Field(default=None, description="engine-wide id of the tool call (shared calls run once)")
    tool: str | None = None
    attempt: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    worker: str | None = Field(default=None, description="where it ran: thread, device or Ray actor")
    error: dict[str, Any] | None = None
    status: str | None = None
    message: str = ""

"""What a run produced: per-subtask outputs and status, per-call records, the event log, timings.

Partial results are first-class: a subtask that succeeded keeps its outputs even when another failed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.engine.errors import ExecutionFailedError
from agent.engine.events import EngineEvent


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SubtaskStatus(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class SubtaskResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: int
    status: SubtaskStatus
    solution: int | None = Field(default=None, description="rank of the solution that produced the outputs")
    tools: list[str] = Field(default_factory=list)
    outputs: list[Any] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    fallbacks: list[dict[str, Any]] = Field(default_factory=list, description="why earlier solutions were left")


class ActionRecord(BaseModel):
    node: str
    tool: str
    subtask: int
    solution: int
    action: str
    status: str
    attempts: int
    started_at: float | None = None
    ended_at: float | None = None
    worker: str | None = None
    error: dict[str, Any] | None = None


class ExecutionResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    status: RunStatus
    subtasks: dict[int, SubtaskResult]
    actions: list[ActionRecord]
    events: list[EngineEvent]
    started_at: float
    ended_at: float

    @property
    def wall_s(self) -> float:
        return self.ended_at - self.started_at

    def outputs(self, subtask: int) -> list[Any]:
        return self.subtasks[subtask].outputs

    def raise_for_status(self) -> ExecutionResult:
        """Return self if every subtask succeeded, else raise :class:`ExecutionFailedError` carrying it."""
        if self.status is RunStatus.SUCCEEDED:
            return self
        bad = {i: s.error for i, s in self.subtasks.items() if s.status is not SubtaskStatus.SUCCEEDED}
        raise ExecutionFailedError(
            f"the run {self.status.value}: subtasks {sorted(bad)} did not succeed", result=self, subtasks=bad
        )

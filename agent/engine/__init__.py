"""Execution engine: runs the ranked solutions of a plan as one DAG of tool calls, locally or on Ray."""

from __future__ import annotations

from agent.engine.config import EngineConfig, RayConfig
from agent.engine.engine import Engine, RunHandle, make_backend
from agent.engine.errors import BackendUnavailableError, EngineError, ExecutionFailedError, ExecutionGraphError
from agent.engine.events import EngineEvent, EventKind
from agent.engine.result import ActionRecord, ExecutionResult, RunStatus, SubtaskResult, SubtaskStatus

__all__ = [
    "ActionRecord",
    "BackendUnavailableError",
    "Engine",
    "EngineConfig",
    "EngineError",
    "EngineEvent",
    "EventKind",
    "ExecutionFailedError",
    "ExecutionGraphError",
    "ExecutionResult",
    "RayConfig",
    "RunHandle",
    "RunStatus",
    "SubtaskResult",
    "SubtaskStatus",
    "make_backend",
]

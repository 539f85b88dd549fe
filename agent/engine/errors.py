"""Typed exceptions of the execution engine.

A malformed execution graph is a user mistake found before anything runs (:class:`ExecutionGraphError`,
listing every problem at once); a run that fails, times out or is cancelled reports it in its result, and
:class:`ExecutionFailedError` is raised only by callers that ask for a complete result.
"""

from __future__ import annotations

from typing import Any

from graph.errors import ProblemsError, ToGError


class EngineError(ToGError):
    """Base of every engine error."""

    code = "engine_error"


class ExecutionGraphError(ProblemsError, EngineError, ValueError):
    """Plan + solutions that cannot be executed: unknown tools, unbound arguments, type mismatches, cycles."""

    code = "invalid_execution_graph"


class ExecutionFailedError(EngineError):
    """A run that did not produce every subtask's outputs; ``result`` holds what did succeed."""

    code = "execution_failed"

    def __init__(self, message: str, result: Any = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.result = result


class BackendUnavailableError(EngineError, RuntimeError):
    """The chosen backend cannot start here (Ray not installed, cluster unreachable)."""

    code = "backend_unavailable"

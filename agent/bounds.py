"""How much work one request may ask for, checked before any tool runs.

A request is bounded three ways, all in :class:`~agent.config.AgentSettings`: its length
(``TOG_AGENT_MAX_REQUEST_CHARS``), the subtasks its decomposition may have (``TOG_AGENT_MAX_SUBTASKS``) and
the tool calls its plan may make (``TOG_AGENT_MAX_TOOL_CALLS``). Without them a long text made thousands of
subtasks and hundreds of megabytes of files; with them the caller gets one typed error instead, and the
same error whether it came through the CLI, Python or REST (where it is a 422).

    >>> check_request_length("x" * 5, 4)
    Traceback (most recent call last):
    ...
    agent.bounds.RequestTooLongError: the request is 5 characters long; the limit is 4 (TOG_AGENT_MAX_REQUEST_CHARS)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graph.errors import ToGError
from graph.plan import Plan, Solution


class WorkLimitError(ToGError, ValueError):
    """A request that asks for more work than the agent is configured to do; nothing was run."""

    code = "work_limit_exceeded"


class RequestTooLongError(WorkLimitError):
    code = "request_too_long"


class TooManySubtasksError(WorkLimitError):
    code = "too_many_subtasks"


class TooManyToolCallsError(WorkLimitError):
    code = "too_many_tool_calls"


def check_request_length(request: str, limit: int) -> None:
    if len(request) > limit:
        raise RequestTooLongError(
            f"the request is {len(request)} characters long; the limit is {limit} (TOG_AGENT_MAX_REQUEST_CHARS)",
            chars=len(request),
            max_chars=limit,
        )


def check_subtasks(plan: Plan, limit: int) -> None:
    count = len(plan.subtasks)
    if count > limit:
        raise TooManySubtasksError(
            f"the request makes {count} subtasks; the limit is {limit} (TOG_AGENT_MAX_SUBTASKS): "
            "split it into smaller requests",
            subtasks=count,
            max_subtasks=limit,
        )


def planned_tool_calls(solutions: Mapping[int, Sequence[Solution]]) -> int:
    """Tool calls the best solution of every subtask makes (fallbacks run only in their place)."""
    return sum(len(ranked[0].actions) for ranked in solutions.values() if ranked)


def check_tool_calls(solutions: Mapping[int, Sequence[Solution]], limit: int) -> None:
    calls = planned_tool_calls(solutions)
    if calls > limit:
        raise TooManyToolCallsError(
            f"the plan needs {calls} tool calls; the limit is {limit} per task (TOG_AGENT_MAX_TOOL_CALLS): "
            "split the request into smaller ones",
            tool_calls=calls,
            max_tool_calls=limit,
        )

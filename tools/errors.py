"""Typed exceptions raised by tools and by the tool machinery.

The split matters to the engine: a :class:`ToolInputError` or :class:`ToolDefinitionError` will fail the
same way on every retry, a :class:`ToolExecutionError` says itself whether a retry may help
(``retryable``), and a :class:`ToolUnavailableError` means "choose another tool", not "try again".
"""

from __future__ import annotations

from typing import Any

from graph.errors import ToGError


class ToolError(ToGError):
    """Base of every tool error; ``tool`` names the tool when known."""

    code = "tool_error"

    def __init__(self, message: str, *, tool: str | None = None, **details: Any) -> None:
        super().__init__(message, tool=tool, **details)
        self.tool = tool


class ToolDefinitionError(ToolError):
    """A tool defined wrongly (bad annotation, docstring mismatch, …), raised when it is defined."""

    code = "tool_definition"


class ToolInputError(ToolError):
    """An argument a tool cannot accept; ``argument`` names it so a caller can fix just that one."""

    code = "tool_input"

    def __init__(self, message: str, *, argument: str | None, tool: str | None = None, **details: Any) -> None:
        super().__init__(message, tool=tool, argument=argument, **details)
        self.argument = argument


class ToolExecutionError(ToolError):
    """A tool that failed while running; ``retryable`` says whether running it again may succeed."""

    code = "tool_execution"

    def __init__(self, message: str, *, retryable: bool = False, tool: str | None = None, **details: Any) -> None:
        super().__init__(message, tool=tool, retryable=retryable, **details)
        self.retryable = retryable


class ToolUnavailableError(ToolError):
    """A tool whose backend is missing (no model configured, a package not installed); ``reason`` says which."""

    code = "tool_unavailable"

    def __init__(self, reason: str, *, tool: str | None = None, **details: Any) -> None:
        message = f"tool {tool!r} is unavailable: {reason}" if tool else reason
        super().__init__(message, tool=tool, reason=reason, **details)
        self.reason = reason

"""Typed errors of workflows, and :class:`Problem`: one mistake with the place in the file it was made.

Everything wrong with a workflow file or its inputs is collected before anything runs and raised at
once, so a user fixes a file in one pass instead of one error per attempt. ``str(problem)`` is the
``file:line:col: message`` form editors and ``tog validate`` print.

    >>> str(Problem(code="unknown_tool", message="unknown tool 'blur'", file="w.yaml", line=4, column=11))
    "w.yaml:4:11: unknown tool 'blur'"
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from graph.errors import ProblemsError, ToGError


class Problem(BaseModel):
    """One thing wrong with a workflow or its inputs. ``path`` is where in the document (``steps.2.args``)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str = ""

    def __str__(self) -> str:
        if self.line is not None:
            place = f"{self.file or '<workflow>'}:{self.line}:{self.column or 1}"
        elif self.file or self.path:
            place = ":".join(p for p in (self.file, self.path) if p)
        else:
            return self.message
        return f"{place}: {self.message}"


class WorkflowError(ToGError):
    """Base of every workflow error."""

    code = "workflow_error"


class _ProblemsError(ProblemsError, WorkflowError, ValueError):
    """A workflow error listing positioned :class:`Problem` s."""


class WorkflowValidationError(_ProblemsError):
    """A workflow that cannot run as written: bad YAML, unknown tools or references, type mismatches, cycles."""

    code = "invalid_workflow"


class WorkflowInputError(_ProblemsError):
    """Inputs that do not fit the workflow: unknown or missing names, wrong types, missing or bad files."""

    code = "invalid_workflow_input"


class WorkflowUnavailableError(_ProblemsError):
    """Steps whose tools cannot run here (no model configured, a package missing); nothing was started."""

    code = "workflow_tools_unavailable"


class WorkflowFailedError(WorkflowError):
    """A run in which a step failed and partial results were not asked for; ``result`` says what happened."""

    code = "workflow_failed"

    def __init__(self, message: str, result: Any = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.result = result


class WorkflowExportError(WorkflowError, ValueError):
    """An agent result that cannot become a workflow (no plan, or a subtask that did not succeed)."""

    code = "workflow_export_error"

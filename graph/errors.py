"""Typed exceptions of the planning layer.

Every user mistake (a bad catalogue, an impossible request, a malformed plan) raises a subclass of
:class:`ToGError` with a message a person can act on; callers (CLI, REST) turn them into clear
messages or 4xx responses instead of tracebacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ToGError(Exception):
    """Base of every error ToG raises on purpose. ``details`` is JSON-able context for REST bodies."""

    code: str = "tog_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": _jsonable(self.details)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class UnknownTypeError(ToGError, ValueError):
    """A resource type name that is neither ours nor a declared alias."""

    code = "unknown_type"


class ProblemsError(ToGError):
    """An error that lists every problem found, not just the first; ``problems`` holds them."""

    def __init__(self, message: str, problems: Iterable[Any] = (), **details: Any) -> None:
        self.problems = list(problems)
        self.summary = message
        full = message if not self.problems else message + ":\n  - " + "\n  - ".join(map(str, self.problems))
        super().__init__(full, problems=[self._jsonable_problem(p) for p in self.problems], **details)

    @staticmethod
    def _jsonable_problem(problem: Any) -> Any:
        return problem.model_dump(exclude_none=True) if hasattr(problem, "model_dump") else problem


class CatalogueError(ProblemsError, ValueError):
    """A tool catalogue that cannot be loaded; ``problems`` lists every bad entry, not just the first."""

    code = "invalid_catalogue"


class UnknownToolError(ToGError, KeyError):
    """A tool name that is not in the registry or graph."""

    code = "unknown_tool"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class DuplicateToolError(ToGError, ValueError):
    """Two tools with the same name in one registry or graph."""

    code = "duplicate_tool"


class PlanValidationError(ProblemsError):
    """A plan that cannot run: cycles, self-dependencies, unknown dependencies, empty requests.

    Deliberately not a ``ValueError``: pydantic would wrap it, and callers want this type.
    """

    code = "invalid_plan"


class EmptyRequestError(PlanValidationError):
    """A request or subtask with no text to act on."""

    code = "empty_request"


class NoSolutionError(ToGError):
    """The planner found no tool chain; the message says why (unreachable target, depth, domain filter)."""

    code = "no_solution"


class ArtifactError(ToGError):
    """A problem with a stored artifact or with bytes offered to the artifact store."""

    code = "artifact_error"


class InvalidArtifactIdError(ArtifactError, ValueError):
    """An artifact id that is not one the store could have issued (e.g. one with path characters)."""

    code = "invalid_artifact_id"


class ArtifactNotFoundError(ArtifactError, KeyError):
    """A well-formed artifact id that the store does not hold."""

    code = "artifact_not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class InvalidArtifactError(ArtifactError, ValueError):
    """Content that does not match its declared type: an undecodable image, a JSON type that is not JSON."""

    code = "invalid_artifact"


class ArtifactTooLargeError(InvalidArtifactError):
    """An image with more pixels than the store accepts (a decompression bomb or a mistake)."""

    code = "artifact_too_large"

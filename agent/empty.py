"""Empty results: which values say nothing, and how to tell the user so (issue 17, "empty is not an answer").

A tool that ran and found nothing succeeded, but an empty text or an empty list is no answer to "read
the text" or "find the faces": the run's status is ``empty`` (:data:`agent.outcomes.EMPTY`) when a
result the user asked for — the output of a final subtask, one no other subtask uses — is empty, and
the answer says what was not found, where, and which tool returned nothing. A count of 0 or a "no" is
an answer, never empty.

    >>> is_empty("  "), is_empty([]), is_empty(0), is_empty(False), is_empty(None)
    (True, True, False, False, False)
    >>> empty_reason("text", ["read_text"], "image")
    'no text was found in the image (read_text returned nothing)'
    >>> empty_reason("text", ["speech_to_text"], "recording")
    'no speech was heard in the recording (speech_to_text returned nothing)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graph.plan import Plan

#: What was not found, by result type.
_NOTHING = {
    "text": "no text was found",
    "title": "no title was found",
    "bboxes": "nothing was detected",
    "labels": "no labels were found",
    "tags": "no tags were found",
    "points": "no points were found",
    "polygons": "no regions were found",
    "table": "no rows were found",
    "transcript": "no speech was heard",
    "subtitles": "no speech was heard",
}
#: What was not found in a recording, by result type (text from audio is speech).
_NOTHING_HEARD = {"text": "no speech was heard"}


def is_empty(value: Any) -> bool:
    """Whether a loaded result value says nothing: blank text, an empty list or mapping.

    ``None`` is a file result that was not loaded (never empty here); numbers and booleans always answer.
    """
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def empty_reason(rtype: str, tools: Sequence[str], source: str | None = None) -> str:
    """ "no text was found in the image (read_text returned nothing)": what, where, and which tool."""
    heard = _NOTHING_HEARD if source in ("audio", "recording") else {}
    said = heard.get(rtype) or _NOTHING.get(rtype, "nothing was found")
    where = f" in the {source}" if source else ""
    tool = f" ({tools[-1]} returned nothing)" if tools else ""
    return f"{said}{where}{tool}"


def asked_for(plan: Plan) -> set[int]:
    """The subtasks whose results the user asked for: those no other subtask depends on."""
    used = {d for sub in plan.subtasks for d in sub.deps}
    return {sub.id for sub in plan.subtasks if sub.id not in used}


def empty_outputs(values: Mapping[int, Sequence[Any]], subtasks: set[int]) -> list[int]:
    """The subtasks among ``subtasks`` with an empty result value, in id order."""
    return sorted(s for s in subtasks if any(is_empty(v) for v in values.get(s, ())))

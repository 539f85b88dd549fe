"""Responders compose the final answer from the results.

The template responder needs no model: it says, per subtask, what was done and what came out, in
words a person can read (numbers and texts inline, boxes summarised, files named as artifacts).

    >>> from agent.result import Artifact, SubtaskOutcome
    >>> count = Artifact(id="a" * 32, type="number", mime="application/json", subtask=0)
    >>> TemplateResponder().respond("count", [SubtaskOutcome(id=0, description="count the cats",
    ...     status="succeeded", tools=["count_boxes"], outputs=[count])], {0: [3]})
    '1. count the cats (count_boxes): 3'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from agent.result import SubtaskOutcome


class Responder(ABC):
    @abstractmethod
    def respond(self, request: str, subtasks: Sequence[SubtaskOutcome], values: Mapping[int, list[Any]]) -> str:
        """The answer text. ``values`` holds the JSON-able outputs (numbers, texts, boxes) by subtask."""


class TemplateResponder(Responder):
    """One numbered line per subtask: description, tools used, and the result or the reason it failed."""

    def respond(self, request: str, subtasks: Sequence[SubtaskOutcome], values: Mapping[int, list[Any]]) -> str:
        lines = []
        for n, sub in enumerate(subtasks, 1):
            head = f"{n}. {sub.description}" + (f" ({' -> '.join(sub.tools)})" if sub.tools else "")
            if sub.status != "succeeded":
                reason = (sub.error or {}).get("message", sub.status)
                lines.append(f"{head}: not done: {reason}")
                continue
            shown = [describe(value, artifact.type.value)
                     for artifact, value in zip(sub.outputs, values.get(sub.id, [None] * len(sub.outputs)))]
            lines.append(f"{head}: " + "; ".join(shown))
        return "\n".join(lines)


def describe(value: Any, rtype: str = "") -> str:
    """A short human rendering of one result value."""
    if value is None:
        return f"{rtype or 'result'} saved as an artifact"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value if len(value) <= 500 else value[:497] + "..."
    if isinstance(value, list) and value and isinstance(value[0], dict) and {"x1", "y1", "x2", "y2"} <= set(value[0]):
        parts = [f"{b.get('label') or 'box'}" + (f" {b['score']:.2f}" if b.get("score") is not None else "")
                 + f" at ({b['x1']:.0f},{b['y1']:.0f})-({b['x2']:.0f},{b['y2']:.0f})" for b in value[:10]]
        more = f" and {len(value) - 10} more" if len(value) > 10 else ""
        return f"{len(value)} box{'es' if len(value) != 1 else ''}: " + ", ".join(parts) + more
    if isinstance(value, list) and value and isinstance(value[0], dict) and "text" in value[0]:
        return " / ".join(str(item["text"]) for item in value[:20])
    if isinstance(value, list):
        return ", ".join(describe(v) for v in value[:20]) if value else "nothing found"
    return str(value)[:500]

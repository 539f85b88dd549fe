"""Responders compose the final answer from the results.

The template responder needs no model: it says, per subtask, what was done and what came out, in
words a person can read (numbers and texts inline, boxes summarised, files named as artifacts). A result
that is empty is said to be so, with where it was looked for and which tool returned nothing
(:mod:`agent.empty`) — never an empty line.

    >>> from agent.result import Artifact, SubtaskOutcome
    >>> count = Artifact(id="a" * 32, type="number", mime="application/json", subtask=0)
    >>> TemplateResponder().respond("count", [SubtaskOutcome(id=0, description="count the cats",
    ...     status="succeeded", tools=["count_boxes"], outputs=[count])], {0: [3]})
    '1. count the cats (count_boxes): 3'
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from agent.empty import empty_reason, is_empty
from agent.result import SubtaskOutcome
from graph.types import FILE_TYPES, ResourceType
from tools.registry import ToolRegistry

logger = logging.getLogger(__name__)


class Responder(ABC):
    @abstractmethod
    def respond(self, request: str, subtasks: Sequence[SubtaskOutcome], values: Mapping[int, list[Any]]) -> str:
        """The answer text. ``values`` holds the JSON-able outputs (numbers, texts, boxes) by subtask."""


class TemplateResponder(Responder):
    """One numbered line per subtask: description, tools used, and the result or the reason it failed.

    With the ``registry``, an empty result also says where it was looked for ("in the image": the kind
    of file the tool that returned nothing works on).
    """

    def __init__(self, registry: ToolRegistry | None = None) -> None:
        self.registry = registry

    def respond(self, request: str, subtasks: Sequence[SubtaskOutcome], values: Mapping[int, list[Any]]) -> str:
        lines = []
        for n, sub in enumerate(subtasks, 1):
            head = f"{n}. {sub.description}" + (f" ({' -> '.join(sub.tools)})" if sub.tools else "")
            if sub.status != "succeeded":
                reason = (sub.error or {}).get("message", sub.status)
                lines.append(f"{head}: not done: {reason}")
                continue
            shown = [
                empty_reason(artifact.type.value, sub.tools, self._source(sub.tools))
                if is_empty(value)
                else describe(value, artifact.type.value)
                for artifact, value in zip(sub.outputs, values.get(sub.id, [None] * len(sub.outputs)))
            ]
            lines.append(f"{head}: " + "; ".join(shown))
        return "\n".join(lines)

    def _source(self, tools: Sequence[str]) -> str | None:
        """The kind of file the last tool works on ("image"), when the registry knows it."""
        if not tools or self.registry is None or tools[-1] not in self.registry:
            return None
        spec = self.registry.get(tools[-1]).spec
        kinds = [i.type for i in spec.inputs if i.required and i.type in FILE_TYPES]
        return _FILE_WORDS.get(kinds[0], kinds[0].value) if kinds else None


_FILE_WORDS = {ResourceType.AUDIO: "recording"}


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
        parts = [
            f"{b.get('label') or 'box'}"
            + (f" {b['score']:.2f}" if b.get("score") is not None else "")
            + f" at ({b['x1']:.0f},{b['y1']:.0f})-({b['x2']:.0f},{b['y2']:.0f})"
            for b in value[:10]
        ]
        more = f" and {len(value) - 10} more" if len(value) > 10 else ""
        return f"{len(value)} box{'es' if len(value) != 1 else ''}: " + ", ".join(parts) + more
    if isinstance(value, list) and value and isinstance(value[0], dict) and "text" in value[0]:
        return " / ".join(str(item["text"]) for item in value[:20])
    if isinstance(value, list):
        return ", ".join(describe(v) for v in value[:20]) if value else "nothing found"
    return str(value)[:500]


class LLMResponder(Responder):
    """Asks the configured LLM to answer the request in a few sentences from the results.

    The model sees the request and the same per-subtask lines the template writes (results inline, files
    named), so it can only word what the tools found. If it fails, the template's text is the answer: the
    results are real either way, only the wording changes.
    """

    PROMPT = (
        "A user asked: {request}\n\nTools were run and found:\n{results}\n\n"
        "Answer the user in a few sentences using only these results. Say plainly what could not be done."
    )

    def __init__(self, backend: Any, max_new_tokens: int = 256, registry: ToolRegistry | None = None) -> None:
        self.backend = backend
        self.max_new_tokens = max_new_tokens
        self.template = TemplateResponder(registry)

    def respond(self, request: str, subtasks: Sequence[SubtaskOutcome], values: Mapping[int, list[Any]]) -> str:
        results = self.template.respond(request, subtasks, values)
        try:
            answer = self.backend.chat(
                None, self.PROMPT.format(request=request, results=results), max_new_tokens=self.max_new_tokens
            ).strip()
        except Exception as exc:
            logger.warning("the LLM responder failed (%s: %s); answering with the template", type(exc).__name__, exc)
            return results
        return f"{answer}\n\n{results}" if answer else results


def default_responder(llm_configured: bool, registry: ToolRegistry | None = None) -> Responder:
    """The LLM responder when an LLM is configured, the template otherwise."""
    if llm_configured:
        from tools.models import get_llm

        return LLMResponder(get_llm(), registry=registry)
    return TemplateResponder(registry)

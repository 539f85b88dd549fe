"""The text model rates candidate tools for a subtask: the :class:`~graph.assessors.BatchScorer` behind the
``llm`` assessor.

ControlLLM asks its LLM about one tool at a time. Here one chat call lists every candidate and asks for
a rating of each on ControlLLM's 1–5 relevance scale, so a subtask costs one call however large the
catalogue. The answer is a JSON object with one property per tool name, each an integer from 1 to 5,
all required: with schema-constrained decoding (``response_format`` on a server, :mod:`vlm.constrained`
in process) the model can neither skip a tool nor invent one. A rating ``s`` becomes the score
``(s - 1) / 4`` in [0, 1].

An answer that is not such an object is an :class:`~graph.assessors.UnusableScoresError` (not
retryable: decoding is greedy); a backend failure is an :class:`~graph.assessors.AssessmentError` that
keeps the backend's ``retryable`` verdict.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from graph.assessors import AssessmentError, UnusableScoresError
from graph.spec import ToolSpec
from vlm.backends.base import GenerationConfig, VLMBackend
from vlm.constrained import json_token_budget
from vlm.errors import BackendError, VLMError

logger = logging.getLogger(__name__)

#: ControlLLM's relevance ratings, lowest first.
SCALE = (1, 2, 3, 4, 5)

#: The most new tokens :class:`GenerationConfig` allows; a constrained answer needs far fewer.
_MAX_NEW_TOKENS = 16384

SYSTEM_PROMPT = """You judge which tools fit a subtask. Rate every tool listed on this scale:
5: the tool directly does what the subtask asks.
4: the tool does a necessary part of the subtask.
3: the tool is related and could help with the subtask.
2: the tool is only loosely related to the subtask.
1: the tool is irrelevant to the subtask.
Answer with one JSON object that maps each tool's exact name to its rating (an integer from 1 to 5), \
covering every tool and nothing else."""


class LLMScorer:
    """Rate all candidate tools of a subtask with one chat call to ``backend`` (text only, greedy).

    ``constrained=False`` sends no schema, for servers without structured outputs; the answer is then
    still checked the same way.
    """

    def __init__(self, backend: VLMBackend, *, constrained: bool = True) -> None:
        self.backend = backend
        self.constrained = constrained

    def score_candidates(self, task: str, candidates: Sequence[ToolSpec]) -> list[float]:
        """One score in [0, 1] per candidate, in order: ``(rating - 1) / 4``."""
        if not candidates:
            return []
        names = list(dict.fromkeys(spec.name for spec in candidates))
        schema = rating_schema(names)
        generation = GenerationConfig(
            max_new_tokens=min(json_token_budget(schema), _MAX_NEW_TOKENS),
            json_schema=schema if self.constrained else None,
        )
        try:
            raw = self.backend.chat(
                [], user_prompt(task, candidates), system_message=SYSTEM_PROMPT, generation=generation
            )
        except BackendError as exc:
            raise AssessmentError(
                f"the model could not rate the tools: {exc.message}", retryable=exc.retryable
            ) from exc
        except VLMError as exc:
            raise AssessmentError(f"the model could not rate the tools: {exc.message}") from exc
        ratings = parse_ratings(raw, names)
        return [(ratings[spec.name] - SCALE[0]) / (SCALE[-1] - SCALE[0]) for spec in candidates]


def rating_schema(names: Sequence[str]) -> dict[str, Any]:
    """The answer's JSON schema: every tool name a required property holding a rating from :data:`SCALE`.

    >>> rating_schema(["ocr"])["properties"]
    {'ocr': {'type': 'integer', 'enum': [1, 2, 3, 4, 5]}}
    """
    return {
        "title": "Tool ratings",
        "type": "object",
        "properties": {name: {"type": "integer", "enum": list(SCALE)} for name in names},
        "required": list(names),
        "additionalProperties": False,
    }


def user_prompt(task: str, candidates: Sequence[ToolSpec]) -> str:
    """The subtask and one line per tool: exact name, description, typed inputs and outputs."""
    lines = [f"Subtask: {task.strip()}", "", "Tools:"]
    for spec in candidates:
        inputs = ", ".join(f"{i.name} ({i.type.value})" for i in spec.inputs) or "nothing"
        outputs = ", ".join(o.type.value for o in spec.outputs)
        lines.append(f"- {spec.name}: {spec.description.strip().rstrip('.')}. Takes {inputs}; gives {outputs}.")
    return "\n".join(lines)


def parse_ratings(raw: str, names: Sequence[str]) -> dict[str, int]:
    """The rating of every tool in ``names`` from the model's answer (JSON, read with :mod:`json`).

    Prose or a code fence around the object is skipped; names not asked about are ignored. Anything
    missing, unparsable or off the scale is an :class:`UnusableScoresError` listing every problem.

    >>> parse_ratings('{"ocr": 5, "tts": 1}', ["ocr", "tts"])
    {'ocr': 5, 'tts': 1}
    """
    start = raw.find("{")
    if start < 0:
        raise UnusableScoresError("the model's tool ratings hold no JSON object", raw=raw)
    try:
        answer, _ = json.JSONDecoder().raw_decode(raw[start:])
    except json.JSONDecodeError as exc:
        raise UnusableScoresError(f"the model's tool ratings are not valid JSON ({exc.msg})", raw=raw) from None
    if not isinstance(answer, dict):
        raise UnusableScoresError("the model's tool ratings are not a JSON object", raw=raw)
    ratings: dict[str, int] = {}
    problems: list[str] = []
    for name in names:
        value = answer.get(name)
        if value is None:
            problems.append(f"{name}: no rating")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value not in SCALE:
            problems.append(f"{name}: {value!r} is not a rating from {SCALE[0]} to {SCALE[-1]}")
        else:
            ratings[name] = int(value)
    if problems:
        raise UnusableScoresError(
            "the model's tool ratings do not fit: " + "; ".join(problems), raw=raw, problems=problems
        )
    extra = sorted(set(answer) - set(names))
    if extra:
        logger.info("the model rated tools it was not asked about, ignored: %s", ", ".join(map(str, extra)))
    return ratings

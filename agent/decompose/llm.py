"""A decomposer that asks a language model: the local InternVL (text-only chat) or a served model.

One call per attempt. The model gets the instructions (:func:`agent.decompose.prompt.system_prompt`)
and the request with its resources by name and type; no images are sent. Its answer must be JSON of
the decomposer's draft schema. The schema constrains decoding when the backend supports it
(:mod:`vlm.constrained` in process, ``response_format`` on a server). ``max_new_tokens`` defaults to
the schema's token budget, so a constrained answer is never cut off, capped at
:data:`MAX_NEW_TOKENS` for the default (large) limits. The answer is then validated with the draft
model, repaired against the resources (:func:`agent.decompose.repair.repair`) and checked as a
:class:`~graph.plan.Plan`. An unusable answer is shown to the model again with the problem, up to
``max_attempts`` answers in all. After that, :class:`DecompositionError` carries the last raw answer
and every attempt's problem.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.decompose.prompt import (
    DraftLimits,
    draft_model,
    output_schema,
    retry_prompt,
    system_prompt,
    tool_domains,
    user_prompt,
)
from agent.decompose.repair import repair
from graph.errors import EmptyRequestError, PlanValidationError
from graph.plan import Plan, format_validation_errors
from vlm.backends.base import GenerationConfig, Turn, VLMBackend
from vlm.constrained import json_token_budget

logger = logging.getLogger(__name__)

#: Most new tokens one answer may take when not given: a real model's plan needs a few hundred.
MAX_NEW_TOKENS = 4096

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class _Unusable(Exception):
    """One answer that did not become a plan; the message is what the model is told."""


class LLMDecomposer(Decomposer):
    """Request + resources -> Plan, by asking ``backend`` for ControlLLM-style JSON.

    ``domains`` are the tool domains a subtask's ``task`` may name (default: the built-in toolbox's).
    ``limits`` bound the answer (and so the schema). ``constrained=False`` sends no schema, for servers
    without structured outputs. The answer is then still validated in the same way.
    """

    name = "llm"

    def __init__(
        self,
        backend: VLMBackend,
        max_attempts: int = 3,
        *,
        domains: Sequence[str] | None = None,
        limits: DraftLimits | None = None,
        max_new_tokens: int | None = None,
        constrained: bool = True,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.backend = backend
        self.max_attempts = max_attempts
        self.limits = limits or DraftLimits()
        self.domains = list(domains) if domains is not None else _builtin_domains()
        self.model: type[BaseModel] = draft_model(self.domains, self.limits)
        self.schema: dict[str, Any] = output_schema(self.model)
        self.max_new_tokens = max_new_tokens or min(json_token_budget(self.schema), MAX_NEW_TOKENS)
        self.generation = GenerationConfig(
            max_new_tokens=self.max_new_tokens, json_schema=self.schema if constrained else None
        )
        self.system = system_prompt(self.domains, self.limits)

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        if not request or not request.strip():
            raise EmptyRequestError("the request is empty: say what should be done")
        resources = list(resources)
        question = user_prompt(request, resources)
        history: list[Turn] = []
        asked = question
        problems: list[str] = []
        raw = ""
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            raw = self.backend.chat([], asked, history, system_message=self.system, generation=self.generation)
            try:
                return self._plan(request, raw, resources)
            except (_Unusable, DecompositionError, PlanValidationError) as exc:
                last = exc
                problems.append(_problem(exc))
                logger.info("decomposition attempt %d of %d unusable: %s", attempt, self.max_attempts, problems[-1])
            # The model sees its own last answer and what was wrong with it; older attempts are dropped.
            history, asked = [Turn(question=question, answer=raw)], retry_prompt(problems[-1])
        details = dict(last.details) if isinstance(last, DecompositionError) else {}
        details.pop("raw", None)
        raise DecompositionError(
            f"the model gave no usable plan in {self.max_attempts} attempt(s); last problem: {problems[-1]}",
            raw=raw,
            attempts=self.max_attempts,
            problems=problems,
            **details,
        )

    def _plan(self, request: str, raw: str, resources: list[Resource]) -> Plan:
        data = _parse_answer(raw)
        if isinstance(data, list):
            data = {"subtasks": data}
        try:
            draft = self.model.model_validate(data)
        except ValidationError as exc:
            raise _Unusable("the JSON does not fit the schema: " + "; ".join(format_validation_errors(exc))) from None
        items = draft.model_dump()["subtasks"]
        repaired = repair(request, items, resources)
        for fix in repaired.fixes:
            logger.info("repaired the plan: %s", fix)
        return repaired.plan


def _parse_answer(raw: str) -> Any:
    """The first JSON object or list in a model's answer (code fences and prose around it are skipped)."""
    fenced = _FENCE.search(raw)
    text = fenced.group(1) if fenced else raw
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise _Unusable("the answer holds no JSON object")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[min(starts) :])
    except json.JSONDecodeError as exc:
        raise _Unusable(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
    return value


def _problem(exc: Exception) -> str:
    if isinstance(exc, PlanValidationError) and exc.problems:
        return "the plan is invalid: " + "; ".join(exc.problems)
    return exc.message if isinstance(exc, DecompositionError) else str(exc)


def _builtin_domains() -> list[str]:
    from tools.registry import default_registry

    return tool_domains(default_registry().specs())

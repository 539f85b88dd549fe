"""What the LLM decomposer asks, and the JSON contract its answer must meet.

The answer is ControlLLM's decomposition list wrapped in an object (``{"subtasks": [...]}``: OpenAI
structured outputs need an object at the top). The contract is a set of pydantic models built per
decomposer (:func:`draft_model`): resource types and domains are enums, ids and deps are enums
of the possible ids, and every string and list has a maximum length. :func:`output_schema` turns
them into one self-contained JSON schema that constrains decoding. Its objects are closed and all
their fields required, as OpenAI's strict mode needs. Bounded lengths let even a random model finish
inside a known token budget (:func:`vlm.constrained.json_token_budget`). The models also validate
the answer, a little more leniently than the schema: a bare list, type aliases (``bbox``) and omitted
empty lists pass, as an unconstrained model writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from types import GenericAlias
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from agent.decompose.base import Resource
from graph.spec import ToolSpec
from graph.types import ResourceType, all_type_info, resolve_type

#: The domain every catalogue has: tools that fit any subtask.
GENERAL = "general"


class DraftLimits(BaseModel):
    """Upper bounds of a drafted decomposition: they keep constrained answers finite and short."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_subtasks: int = Field(default=6, ge=1, le=20)
    max_description: int = Field(default=160, ge=8, le=2000)
    max_value: int = Field(default=160, ge=8, le=2000)
    max_args: int = Field(default=4, ge=1, le=16)
    max_returns: int = Field(default=2, ge=1, le=8)
    max_domains: int = Field(default=2, ge=1, le=8)


def tool_domains(specs: Iterable[ToolSpec]) -> list[str]:
    """The domains of these tools, sorted, ``general`` always among them."""
    return sorted({GENERAL, *(d for spec in specs for d in spec.domains)})


def _type_name(value: Any) -> Any:
    return resolve_type(value).value if isinstance(value, (str, ResourceType)) else value


def _domain_name(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _text(value: Any) -> Any:
    """Unconstrained models write numbers and booleans as JSON values; arguments carry them as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


def _one_of(values: Sequence[Any]) -> Any:
    """``Literal[values...]``, made at run time."""
    return Literal[tuple(values)]


def _list_of(item: Any) -> Any:
    """``list[item]`` for an item type made at run time (the same object the subscript makes)."""
    return GenericAlias(list, (item,))


def draft_model(domains: Sequence[str], limits: DraftLimits | None = None) -> type[BaseModel]:
    """The pydantic model of one answer: ``{"subtasks": [...]}`` within ``limits``, tasks from ``domains``."""
    limits = limits or DraftLimits()
    names = sorted({_domain_name(d) for d in domains} | {GENERAL})
    # Types made at run time are values to a type checker: Any.
    type_name: Any = Annotated[_one_of([t.value for t in ResourceType]), BeforeValidator(_type_name)]
    domain: Any = Annotated[_one_of(names), BeforeValidator(_domain_name)]
    closed = ConfigDict(extra="forbid")
    argument = create_model(
        "DraftArgument",
        __config__=closed,
        type=(type_name, ...),
        value=(Annotated[str, BeforeValidator(_text), Field(max_length=limits.max_value)], ...),
    )
    returned = create_model("DraftReturn", __config__=ConfigDict(extra="ignore"), type=(type_name, ...))
    subtask = create_model(
        "DraftSubtask",
        __config__=closed,
        description=(str, Field(min_length=1, max_length=limits.max_description)),
        task=(_list_of(domain), Field(default_factory=list, max_length=limits.max_domains)),
        id=(_one_of(range(limits.max_subtasks)), ...),
        dep=(
            _list_of(_one_of(range(-1, limits.max_subtasks))),
            Field(default_factory=list, max_length=limits.max_subtasks),
        ),
        args=(_list_of(argument), Field(default_factory=list, max_length=limits.max_args)),
        returns=(_list_of(returned), Field(min_length=1, max_length=limits.max_returns)),
    )
    return create_model(
        "Decomposition",
        __config__=ConfigDict(extra="forbid", title="decomposition"),
        subtasks=(_list_of(subtask), Field(min_length=1, max_length=limits.max_subtasks)),
    )


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with every ``$ref`` inlined, every object closed and all its fields required."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def close(node: Any) -> Any:
        if isinstance(node, list):
            return [close(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return close(definitions[node["$ref"].rsplit("/", 1)[-1]])
        node = {k: close(v) for k, v in node.items() if k != "default"}
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        return node

    closed: dict[str, Any] = close(schema)
    return closed


# --- the prompt -------------------------------------------------------------------------------------

_INSTRUCTIONS = """\
You split a user's request into subtasks for an agent that runs tools on files.
Answer with JSON only, exactly this shape: {{"subtasks": [subtask, ...]}}. Each subtask is
{{"description": one step in the user's words, "task": [domains], "id": 0 for the first and then 1, 2, ...,
"dep": ids of earlier subtasks whose results it uses, or [-1],
"args": [{{"type": a resource type, "value": a resource name, "<GENERATED>-k" for the result of subtask k, or literal text such as a question}}],
"returns": [{{"type": the resource type it produces}}]}}.
Rules:
- One subtask per step the user asks for, in order; at most {max_subtasks} subtasks.
- Use only the resources listed with the request, by name; never invent a file.
- A step that works on an earlier step's result takes "<GENERATED>-k" as a value and lists k in "dep".
- Keep descriptions under {max_description} characters.
Domains (the kinds of tools; "task" lists one or more): {domains}.
Resource types:
{types}"""

#: Worked examples: (request, resources, answer); their ``task`` entries are mapped onto the domains.
_EXAMPLES: tuple[tuple[str, tuple[tuple[str, str], ...], list[dict[str, Any]]], ...] = (
    (
        "How many people are in team.jpg?",
        (("team.jpg", "image"),),
        [
            {"description": "count the people in team.jpg", "task": ["image-perception"], "id": 0, "dep": [-1],
             "args": [{"type": "image", "value": "team.jpg"}, {"type": "text", "value": "person"}],
             "returns": [{"type": "number"}]},
        ],
    ),
    (
        "What is the man in photo.png holding? Read the answer aloud.",
        (("photo.png", "image"),),
        [
            {"description": "answer what the man in photo.png is holding", "task": ["visual-question-answering"],
             "id": 0, "dep": [-1],
             "args": [{"type": "image", "value": "photo.png"}, {"type": "text", "value": "What is the man holding?"}],
             "returns": [{"type": "text"}]},
            {"description": "read the answer aloud", "task": ["audio-generation"], "id": 1, "dep": [0],
             "args": [{"type": "text", "value": "<GENERATED>-0"}], "returns": [{"type": "audio"}]},
        ],
    ),
)  # fmt: skip


def _domain_for(wanted: str, domains: Sequence[str]) -> str:
    if wanted in domains:
        return wanted
    return GENERAL if GENERAL in domains or not domains else domains[0]


def _resources_block(resources: Iterable[tuple[str, str]]) -> str:
    lines = [f"- {name}: {rtype}" for name, rtype in resources]
    return "Resources:\n" + ("\n".join(lines) if lines else "(none)")


def system_prompt(domains: Sequence[str], limits: DraftLimits | None = None) -> str:
    """The instructions: the answer's shape, the domains, every resource type, and worked examples."""
    limits = limits or DraftLimits()
    names = sorted({_domain_name(d) for d in domains} | {GENERAL})
    types = "\n".join(f"- {info.type.value}: {info.description}" for info in all_type_info())
    text = _INSTRUCTIONS.format(
        max_subtasks=limits.max_subtasks, max_description=limits.max_description, domains=", ".join(names), types=types
    )
    examples = []
    for request, resources, subtasks in _EXAMPLES:
        if len(subtasks) > limits.max_subtasks:
            continue
        mapped = [{**s, "task": [_domain_for(d, names) for d in s["task"]]} for s in subtasks]
        answer = json.dumps({"subtasks": mapped}, ensure_ascii=False)
        examples.append(f"Request: {request}\n{_resources_block(resources)}\nAnswer: {answer}")
    return text + ("\n\nExamples:\n\n" + "\n\n".join(examples) if examples else "")


def user_prompt(request: str, resources: Sequence[Resource]) -> str:
    """The request and what came with it (name -> type); values such as paths stay out of the prompt."""
    return f"Request: {request.strip()}\n{_resources_block((r.name, r.type.value) for r in resources)}\nAnswer:"


def retry_prompt(problem: str, limit: int = 600) -> str:
    """What the model is told after an unusable answer: the problem, briefly, and to answer again."""
    problem = " ".join(problem.split())
    if len(problem) > limit:
        problem = problem[: limit - 1] + "…"
    return f"That answer cannot be used: {problem}\nAnswer again with the corrected JSON only."

"""ToolSpec: the typed description of a tool that the planner, engine and UIs all read.

A spec is data, not code: specs come from ``@tool`` functions, from classes, or from JSON catalogues
written for other systems, and the tool graph is built from specs alone.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graph.types import ResourceType, resolve_type, type_info

_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Device(StrEnum):
    """Where a tool wants to run."""

    CPU = "cpu"
    GPU = "gpu"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("type", mode="before", check_fields=False)
    @classmethod
    def _resolve(cls, value: Any) -> ResourceType:
        return resolve_type(value)


class InputSpec(_Spec):
    """One typed input of a tool. Optional inputs carry a JSON default and never block planning."""

    name: str
    type: ResourceType
    description: str = ""
    required: bool = True
    default: Any = None
    from_subtask: bool = False
    """Bind only to a value the subtask was given (the user's question, a label to select by), never to
    another tool's output: a caption is no question, and selecting boxes by a caption is no selection.
    Optional inputs bind to given values only anyway (an angle comes from the user, not from a tool)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ARG_NAME.match(value):
            raise ValueError(f"argument name {value!r} must be a Python identifier")
        return value

    @model_validator(mode="after")
    def _default_means_optional(self) -> InputSpec:
        if self.required and self.default is not None:
            raise ValueError(f"argument {self.name!r} has a default, so it cannot be required")
        return self


class OutputSpec(_Spec):
    """One typed output of a tool."""

    name: str
    type: ResourceType
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ARG_NAME.match(value):
            raise ValueError(f"output name {value!r} must be a Python identifier")
        return value


class ToolSpec(BaseModel):
    """What a tool does, what it takes and gives, and what it costs.

    >>> spec = ToolSpec(name="crop", description="crop an image to a box",
    ...                 inputs=[InputSpec(name="image", type="image"), InputSpec(name="boxes", type="bbox")],
    ...                 outputs=[OutputSpec(name="image", type="image")])
    >>> [i.type.value for i in spec.inputs], spec.device.value
    (['image', 'bboxes'], 'cpu')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    description: str = Field(min_length=1)
    domains: tuple[str, ...] = ("general",)
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = Field(min_length=1)
    device: Device = Device.CPU
    expected_seconds: float = Field(default=0.1, ge=0.0)
    groups: tuple[str, ...] = ()
    """Families the tool belongs to (``captioning``, ``question-answering``), so that constraints can
    name a kind of tool instead of listing every member."""
    conflicts_with: tuple[str, ...] = ()
    """Tools or groups that must not appear in the same solution as this tool: two captioners, or two
    answerers, in one chain are alternatives, not steps. Symmetric (declaring it on either side is
    enough); naming one of the tool's own groups means "no other tool of my group"."""
    not_after: tuple[str, ...] = ()
    """Tools or groups whose output must not reach this tool, directly or through other tools: selecting
    lines of a question-answering tool's short answer, or transcribing speech that text-to-speech made
    from text the chain already had, is a detour. Order is data flow, not the order actions are listed."""
    not_before: tuple[str, ...] = ()
    """Tools or groups this tool's output must not reach, directly or through other tools: the mirror of
    ``not_after``, for a tool that knows where its output must not go (boxes drawn onto a photo are for
    people to look at; a detector or captioner given that picture would read the drawing)."""

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        value = value.strip()
        if not value or any(ord(c) < 32 for c in value):
            raise ValueError("tool name must be printable and non-empty")
        return value

    @field_validator("description")
    @classmethod
    def _clean_description(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("tool description must not be blank")
        return value

    @field_validator("domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ValueError(f"domains must be a string or a list of strings, got {type(value).__name__}")
        cleaned = tuple(sorted({str(d).strip().lower() for d in value if str(d).strip()}))
        return cleaned or ("general",)

    @field_validator("groups", "conflicts_with", "not_after", "not_before", mode="before")
    @classmethod
    def _names(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ValueError(f"must be a string or a list of strings, got {type(value).__name__}")
        names = []
        for item in value:
            if not isinstance(item, str) or not item.strip() or any(ord(c) < 32 for c in item):
                raise ValueError(f"every entry must be a non-blank printable string, got {item!r}")
            names.append(item.strip())
        return tuple(sorted(set(names)))

    @model_validator(mode="after")
    def _sensible_constraints(self) -> ToolSpec:
        """Reject constraints that cannot mean anything, so a typo is not silently a no-op."""
        problems = []
        rules = {"conflicts_with": self.conflicts_with, "not_after": self.not_after, "not_before": self.not_before}
        for kind, names in rules.items():
            if self.name in names:
                problems.append(f"{kind} names the tool itself (a tool is never used twice in a chain)")
        for kind in ("not_after", "not_before"):
            both = sorted(set(self.conflicts_with) & set(rules[kind]))
            if both:
                problems.append(
                    f"{', '.join(both)} in both conflicts_with and {kind} (a conflict already keeps them apart)"
                )
        if problems:
            raise ValueError(f"tool {self.name!r}: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> ToolSpec:
        for kind, items in (("input", self.inputs), ("output", self.outputs)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"tool {self.name!r} has duplicate {kind} names: {', '.join(dupes)}")
        return self

    # --- derived views (cached: specs are frozen, and the planner reads these in its inner loop) ---

    @cached_property
    def required_inputs(self) -> tuple[InputSpec, ...]:
        return tuple(i for i in self.inputs if i.required)

    @cached_property
    def input_types(self) -> frozenset[ResourceType]:
        return frozenset(i.type for i in self.inputs)

    @cached_property
    def output_types(self) -> frozenset[ResourceType]:
        return frozenset(o.type for o in self.outputs)

    @property
    def is_general(self) -> bool:
        return "general" in self.domains

    def matches_domains(self, domains: tuple[str, ...] | list[str]) -> bool:
        """ControlLLM's domain filter: no filter, a ``general`` tool, or a substring match either way."""
        if not domains or self.is_general:
            return True
        wanted = [d.strip().lower() for d in domains if d.strip()]
        return not wanted or any(w in mine or mine in w for w in wanted for mine in self.domains)

    def arguments_schema(self) -> dict[str, Any]:
        """JSON schema of this tool's arguments (for LLM argument filling and REST validation)."""
        properties: dict[str, Any] = {}
        for spec in self.inputs:
            schema = dict(type_info(spec.type).value_schema)
            schema["description"] = spec.description or type_info(spec.type).description
            schema["x-resource-type"] = spec.type.value
            if not spec.required:
                schema["default"] = spec.default
            properties[spec.name] = schema
        return {
            "title": self.name,
            "type": "object",
            "properties": properties,
            "required": [i.name for i in self.required_inputs],
            "additionalProperties": False,
        }

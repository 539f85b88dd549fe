"""The workflow file format, as pydantic models; :func:`json_schema` is published as ``workflow.schema.json``.

A workflow is a named, typed, reusable pipeline of tool calls::

    name: redact-faces
    inputs:
      image: {type: image}
    steps:
      - id: faces
        tool: detect_faces
        args: {image: "${inputs.image}"}
      - id: blur
        tool: blur_regions
        args: {image: "${inputs.image}", boxes: "${steps.faces.outputs.faces}", method: pixelate}
    outputs:
      redacted: "${steps.blur.outputs.image}"

An argument is a reference (``${inputs.x}``, ``${steps.s.outputs.y}``, ``${item}`` inside ``foreach``)
written as the whole value, or a literal of the argument's type. These models check only the shape;
:mod:`agent.workflows.validate` checks the meaning (tools, references, types, cycles) against a registry.

    >>> WorkflowSpec.model_validate({"name": "n", "steps": [{"id": "s", "tool": "grayscale_image",
    ...     "args": {"image": "${inputs.image}"}}], "inputs": {"image": {"type": "photo"}},
    ...     "outputs": {"grey": "${steps.s.outputs.image}"}}).inputs["image"].type.value
    'image'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from graph.types import ResourceType, resolve_type

#: Names of inputs, steps and outputs: they appear inside references, so they are plain identifiers.
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]

#: Where the published schema lives (``tests/agent/workflows`` checks it is current).
SCHEMA_PATH = Path(__file__).with_name("workflow.schema.json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputDecl(_Model):
    """A typed input. Without ``default`` it is required; ``default: null`` makes it optional, and the
    arguments it feeds then keep their tool's default when it is not given."""

    type: ResourceType = Field(
        description="resource type of the value: image, text, number, bboxes, … (see `tog types`)"
    )
    description: str = ""
    default: Any = Field(
        default=None, description="the value used when none is given; a file path is relative to the workflow file"
    )

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> ResourceType:
        return resolve_type(value)

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set


def _condition_text(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


class StepDecl(_Model):
    """One tool call (or one per item, with ``foreach``)."""

    id: Identifier = Field(description="name of the step, used in ${steps.<id>.outputs.<name>}")
    tool: str = Field(description="a registered tool (see `tog tools`)")
    description: str = ""
    args: dict[str, Any] = Field(default_factory=dict, description="argument name -> reference or literal value")
    when: Annotated[str | None, BeforeValidator(_condition_text)] = Field(
        default=None,
        description="run only if this holds: a reference, a comparison of one with a literal "
        "(== != < <= > >=), combined with and / or / not and parentheses",
    )
    foreach: str | None = Field(
        default=None,
        description="a reference to a list (boxes, labels, tags, points, or a foreach step's outputs): the step "
        "runs once per item, ${item} being that item; its outputs are lists, one value per item",
    )
    retries: int | None = Field(default=None, ge=0, description="retries of a transient failure (engine default 2)")
    timeout_s: float | None = Field(default=None, gt=0, description="seconds one call may take (engine default 300)")


class OutputDecl(_Model):
    """A value the workflow returns: a reference to a step output or an input."""

    from_: str = Field(alias="from", description="${steps.<id>.outputs.<name>} or ${inputs.<name>}")
    description: str = ""


def _output_shorthand(value: Any) -> Any:
    return {"from": value} if isinstance(value, str) else value


Output = Annotated[OutputDecl, BeforeValidator(_output_shorthand, json_schema_input_type=str | OutputDecl)]


class WorkflowSpec(_Model):
    """A whole workflow file."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    version: Literal[1] = Field(default=1, description="format version")
    name: str = Field(min_length=1)
    description: str = ""
    inputs: dict[Identifier, InputDecl] = Field(default_factory=dict)
    steps: list[StepDecl] = Field(min_length=1)
    outputs: dict[Identifier, Output] = Field(min_length=1, description="name -> reference (or {from, description})")


def json_schema() -> dict[str, Any]:
    """The JSON schema of workflow files (what editors validate against)."""
    schema = WorkflowSpec.model_json_schema(by_alias=True)
    schema["title"] = "ToG workflow"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the published schema (``python -m agent.workflows.model``)."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover
    print(write_schema())

"""Reading workflow files: values with their positions, malformed YAML and schema errors with line:col,
and the published JSON schema kept in step with the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agent.workflows.errors import WorkflowValidationError
from agent.workflows.model import SCHEMA_PATH, WorkflowSpec, json_schema, schema_text
from agent.workflows.parse import load_spec, load_yaml, read_spec

jsonschema = pytest.importorskip("jsonschema")  # present through the test extras
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "workflows"

GOOD = """\
name: grey
description: make it grey
inputs:
  image: {type: photo, description: any picture}
  factor:
    type: number
    default: 1.5
steps:
  - id: grey
    tool: grayscale_image
    args:
      image: ${inputs.image}
outputs:
  grey: ${steps.grey.outputs.image}
  same:
    from: ${inputs.image}
    description: the input, unchanged
"""


def problems_of(text: str) -> list[tuple[int | None, int | None, str, str]]:
    with pytest.raises(WorkflowValidationError) as info:
        load_spec(text, "w.yaml")
    return [(p.line, p.column, p.code, p.message) for p in info.value.problems]


def test_a_workflow_parses_into_typed_models_with_positions() -> None:
    spec, where = load_spec(GOOD, "w.yaml")
    assert spec.name == "grey" and spec.version == 1
    assert spec.inputs["image"].type.value == "image"  # aliases resolve
    assert spec.inputs["image"].required and not spec.inputs["factor"].required
    assert spec.steps[0].args == {"image": "${inputs.image}"}
    assert spec.outputs["grey"].from_ == "${steps.grey.outputs.image}"  # shorthand
    assert spec.outputs["same"].description == "the input, unchanged"
    assert where.value(("steps", 0, "args", "image")) == (12, 14)
    assert where.key(("steps", 0, "args", "image")) == (12, 7)
    assert where.value(("inputs", "factor", "default")) == (7, 14)
    assert where.value(("steps", 0, "args", "missing", "deeper")) == (12, 7)  # nearest enclosing node


def test_yaml_scalars_keep_their_types() -> None:
    data, _ = load_yaml("a: 3\nb: 2.5\nc: true\nd: null\ne: '3'\nf: [1, x]\n")
    assert data == {"a": 3, "b": 2.5, "c": True, "d": None, "e": "3", "f": [1, "x"]}


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("name: [a\nsteps: b\n", 2, 6),  # unclosed flow sequence
        ("name: w\n  steps: x\n", 2, 8),  # bad indentation
        ("name: 'open\n", 2, 1),  # unterminated quote
        ("name: w\nsteps:\n\t- id: a\n", 3, 1),  # a tab
    ],
)
def test_malformed_yaml_is_a_syntax_problem_with_its_position(text: str, line: int, column: int) -> None:
    [(got_line, got_column, code, message)] = problems_of(text)
    assert code == "syntax" and message.startswith("malformed YAML")
    assert (got_line, got_column) == (line, column)


def test_an_empty_file_and_a_non_mapping_are_reported() -> None:
    assert problems_of("")[0][2] == "syntax"
    assert problems_of("- a\n- b\n") == [
        (1, 1, "schema", "a workflow is a mapping with name, inputs, steps and outputs, not a list")
    ]


def test_duplicate_keys_are_reported_not_silently_resolved() -> None:
    [(line, column, code, message)] = problems_of("name: a\nsteps: []\nname: b\n")
    assert (line, column, code) == (3, 1, "duplicate_key") and "first at line 1" in message


def test_every_schema_problem_is_reported_at_once_with_its_position() -> None:
    text = """\
name: w
inputs:
  image: {type: imgae}
  2bad: {type: number}
steps:
  - id: a
    tool: flip_image
    retries: -1
    colour: red
  - tool: grayscale_image
outputs: {}
"""
    found = problems_of(text)
    assert [(line, code) for line, _, code, _ in found] == [
        (3, "schema"),
        (4, "schema"),
        (8, "schema"),
        (9, "schema"),
        (10, "schema"),
        (11, "schema"),
    ]
    messages = " | ".join(m for *_, m in found)
    assert "unknown resource type 'imgae'" in messages
    assert "'2bad' is not a name" in messages
    assert "greater than or equal to 0" in messages
    assert "unknown field 'colour'" in messages and found[3][1] == 5  # at the key
    assert "missing field 'id'" in messages
    assert "outputs" in found[5][3]


def test_a_missing_file_is_a_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        read_spec(tmp_path / "nope.yaml")
    assert info.value.problems[0].code == "unreadable"


def test_the_published_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), "regenerate with: python -m agent.workflows.model"


def test_the_schema_accepts_every_example_and_rejects_a_bad_field() -> None:
    schema = json_schema()
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert len(examples) >= 5
    for path in examples:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"name": "w", "steps": [{"id": "a", "tool": "t", "colour": 1}], "outputs": {"a": "b"}}, schema
        )
    assert json.loads(SCHEMA_PATH.read_text())["title"] == "ToG workflow"
    assert WorkflowSpec.model_json_schema(by_alias=True)["properties"]["outputs"]


def test_unprintable_characters_are_a_positioned_syntax_error() -> None:
    from agent.workflows.errors import WorkflowValidationError
    from agent.workflows.parse import load_yaml

    with pytest.raises(WorkflowValidationError) as info:
        load_yaml("\x89name: x")
    assert info.value.problems[0].code == "syntax"

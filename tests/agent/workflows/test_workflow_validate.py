"""Validation against the real registry: every error class, each at the file:line:col of the node at
fault, all reported at once; and the typed result of a workflow that passes."""

from __future__ import annotations

import pytest

from agent.workflows import Workflow, WorkflowValidationError
from agent.workflows.refs import Ref
from agent.workflows.validate import Literal, ValueType
from graph.types import ResourceType
from tools.registry import ToolRegistry

HEAD = """\
name: w
inputs:
  image: {type: image}
  boxes: {type: bboxes}
  k: {type: number, default: 2}
  flag: {type: boolean, default: false}
steps:
"""


def problems(body: str, registry: ToolRegistry, outputs: str = "") -> list[tuple[str, int, int, str]]:
    text = HEAD + body + (outputs or "outputs:\n  out: ${steps.last.outputs.image}\n")
    with pytest.raises(WorkflowValidationError) as info:
        Workflow.load(text, registry=registry)
    found = [(p.code, p.line, p.column, p.message) for p in info.value.problems]
    assert all(str(p).startswith(f"<workflow>:{p.line}:{p.column}: ") for p in info.value.problems)
    return found


def only(found: list[tuple[str, int, int, str]]) -> tuple[str, int, int, str]:
    assert len(found) == 1, found
    return found[0]


LAST = """\
  - id: last
    tool: flip_image
    args: {image: "${inputs.image}"}
"""


def test_unknown_tool_suggests_close_names(builtin: ToolRegistry) -> None:
    code, line, column, message = only(problems("  - id: last\n    tool: flip_imag\n    args: {}\n", builtin))
    assert (code, line, column) == ("unknown_tool", 9, 11)
    assert "'flip_image'" in message


def test_unknown_argument_is_placed_at_its_key(builtin: ToolRegistry) -> None:
    body = '  - id: last\n    tool: flip_image\n    args:\n      image: "${inputs.image}"\n      mirror: true\n'
    code, line, column, message = only(problems(body, builtin))
    assert (code, line, column) == ("unknown_argument", 12, 7)
    assert "it takes image, direction" in message


def test_missing_required_argument(builtin: ToolRegistry) -> None:
    code, line, _, message = only(
        problems('  - id: last\n    tool: blur_regions\n    args: {image: "${inputs.image}"}\n', builtin)
    )
    assert (code, line) == ("missing_argument", 10)
    assert "'boxes' (bboxes)" in message


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("${inputs.imgae}", "names no input (inputs: image, boxes, k, flag)"),
        ("${steps.nope.outputs.image}", "there is no step 'nope'"),
        ("${steps.grey.outputs.picture}", "has no output 'picture'; its outputs: image"),
        ("${item}", "only defined in a step with foreach"),
        ("${steps.grey}", "unknown reference"),
        ("photo ${inputs.image}", "a reference is the whole value"),
    ],
)
def test_unknown_references(builtin: ToolRegistry, reference: str, says: str) -> None:
    body = (
        f'  - id: grey\n    tool: grayscale_image\n    args: {{image: "${{inputs.image}}"}}\n'
        f'  - id: last\n    tool: flip_image\n    args: {{image: "{reference}"}}\n'
    )
    outputs = "outputs:\n  out: ${steps.last.outputs.image}\n  grey: ${steps.grey.outputs.image}\n"
    code, line, column, message = only(problems(body, builtin, outputs))
    assert (code, line, column) == ("unknown_reference", 13, 19)
    assert says in message


def test_type_mismatch_between_a_reference_and_its_argument(builtin: ToolRegistry) -> None:
    body = '  - id: last\n    tool: blur_regions\n    args: {image: "${inputs.image}", boxes: "${inputs.image}"}\n'
    code, line, column, message = only(problems(body, builtin))
    assert (code, line, column) == ("type_mismatch", 10, 45)
    assert message == "argument 'boxes' of blur_regions takes bboxes, but ${inputs.image} is image"


def test_literals_are_checked_against_the_argument(builtin: ToolRegistry) -> None:
    body = (
        "  - id: last\n    tool: blur_regions\n"
        '    args: {image: "${inputs.image}", boxes: "${inputs.boxes}", method: smear, strength: "12"}\n'
    )
    found = problems(body, builtin)
    assert [(c, line) for c, line, *_ in found] == [("type_mismatch", 10), ("type_mismatch", 10)]
    assert "one of 'blur', 'pixelate', got 'smear'" in found[0][3]
    assert "numeric strings are not converted" in found[1][3]


def test_a_foreach_output_is_a_list_that_only_foreach_can_feed_to_a_tool(builtin: ToolRegistry) -> None:
    body = """\
  - id: crops
    tool: crop_image
    foreach: ${inputs.boxes}
    args: {image: "${inputs.image}", boxes: "${item}"}
  - id: last
    tool: flip_image
    args: {image: "${steps.crops.outputs.image}"}
"""
    code, line, _, message = only(problems(body, builtin))
    assert (code, line) == ("type_mismatch", 14)
    assert "is a list of image (one per item)" in message and "foreach" in message


def test_foreach_needs_a_list(builtin: ToolRegistry) -> None:
    body = '  - id: last\n    tool: flip_image\n    foreach: ${inputs.image}\n    args: {image: "${item}"}\n'
    code, line, column, message = only(problems(body, builtin))
    assert (code, line, column) == ("type_mismatch", 10, 14)
    assert "foreach iterates over a list" in message and "${inputs.image} is image" in message


def test_a_cycle_names_its_steps(builtin: ToolRegistry) -> None:
    body = """\
  - id: a
    tool: flip_image
    args: {image: "${steps.b.outputs.image}"}
  - id: b
    tool: flip_image
    args: {image: "${steps.a.outputs.image}"}
  - id: last
    tool: flip_image
    args: {image: "${steps.last.outputs.image}"}
"""
    found = problems(body, builtin)
    assert [(c, line, column) for c, line, column, _ in found] == [("cycle", 8, 9), ("cycle", 14, 9)]
    assert "a -> b -> a" in found[0][3] and "last -> last" in found[1][3]


def test_a_step_nothing_uses_is_reported(builtin: ToolRegistry) -> None:
    body = LAST + '  - id: faces\n    tool: detect_faces\n    args: {image: "${inputs.image}"}\n'
    code, line, column, message = only(problems(body, builtin))
    assert (code, line, column) == ("unused_output", 11, 9)
    assert "step 'faces' (detect_faces) makes faces (bboxes)" in message


@pytest.mark.parametrize(
    ("condition", "code", "column", "says"),
    [
        ("${inputs.k} >", "bad_condition", 24, "expected a literal"),
        ("${inputs.k} > 1 or", "bad_condition", 29, "ends too early"),
        ("__import__('os')", "bad_condition", 11, "unknown word '__import__'"),
        ("${inputs.k} > 'two'", "type_mismatch", 11, "is a number, compared with 'two'"),
        ("${inputs.flag} == 1", "type_mismatch", 11, "is a boolean"),
        ("not ${inputs.image} > 3", "type_mismatch", 15, "test it alone"),
        ("${inputs.k} > 1 and ${inputs.nope}", "unknown_reference", 11, "names no input"),
        ("${item}", "bad_condition", 11, "cannot read ${item}"),
        ("${inputs.k} > ${inputs.k}", "bad_condition", 25, "not with another reference"),
    ],
)
def test_bad_conditions(builtin: ToolRegistry, condition: str, code: str, column: int, says: str) -> None:
    body = LAST + f"    when: {condition}\n"
    found = only(problems(body, builtin))
    assert found[:3] == (code, 11, column), found
    assert says in found[3]


def test_every_problem_is_reported_at_once_in_file_order(builtin: ToolRegistry) -> None:
    body = """\
  - id: faces
    tool: detect_face
    args: {image: "${inputs.image}"}
  - id: last
    tool: blur_regions
    when: ${inputs.k} >
    args: {image: "${inputs.imge}", boxes: "${steps.faces.outputs.faces}", method: smear}
  - id: last
    tool: flip_image
"""
    found = problems(body, builtin, outputs="outputs:\n  out: ${steps.last.outputs.image}\n  n: ${steps.n.outputs.x}\n")
    assert [c for c, *_ in found] == [
        "unknown_tool",
        "bad_condition",
        "unknown_reference",
        "type_mismatch",
        "duplicate_step",
        "unknown_reference",
    ]
    assert [line for _, line, *_ in found] == sorted(line for _, line, *_ in found)


def test_a_valid_workflow_is_typed_and_ordered(builtin: ToolRegistry) -> None:
    text = (
        HEAD
        + """\
  - id: last
    tool: blur_regions
    args: {image: "${steps.grey.outputs.image}", boxes: "${inputs.boxes}", method: pixelate}
    when: ${inputs.k} >= 2 and not ${inputs.flag}
  - id: grey
    tool: grayscale_image
    args: {image: "${inputs.image}"}
  - id: crops
    tool: crop_image
    foreach: ${inputs.boxes}
    args: {image: "${inputs.image}", boxes: "${item}"}
outputs:
  out: ${steps.last.outputs.image}
  crops: ${steps.crops.outputs.image}
"""
    )
    checked = Workflow.load(text, registry=builtin).checked
    assert [s.id for s in checked.steps] == ["grey", "last", "crops"]
    last = checked.step("last")
    assert last.args["image"] == Ref("step", "grey", "image")
    assert last.args["method"] == Literal("pixelate")
    assert last.deps == {"grey"}
    assert checked.outputs["crops"][1] == ValueType(ResourceType.IMAGE, many=True)
    assert checked.warnings == []


def test_a_tool_that_cannot_run_here_is_a_warning_not_an_error(builtin: ToolRegistry) -> None:
    text = (
        HEAD + '  - id: last\n    tool: caption_image\n    args: {image: "${inputs.image}"}\n'
        "outputs:\n  caption: ${steps.last.outputs.caption}\n"
    )
    warnings = Workflow.load(text, registry=builtin).checked.warnings
    assert [(w.code, w.line, w.column) for w in warnings] == [("unavailable_tool", 9, 11)]
    assert "no InternVL model configured" in warnings[0].message


def test_a_literal_file_argument_must_exist(builtin: ToolRegistry, tmp_path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        HEAD + '  - id: last\n    tool: concat_images\n    args: {image: "${inputs.image}", '
        "second: logo.png}\n" + "outputs:\n  out: ${steps.last.outputs.image}\n"
    )
    with pytest.raises(WorkflowValidationError) as info:
        Workflow.load(path, registry=builtin)
    [problem] = info.value.problems
    assert (problem.code, problem.file, problem.line) == ("missing_file", str(path), 10)
    assert str(tmp_path / "logo.png") in problem.message  # relative to the workflow file


def test_a_spec_given_as_json_names_paths(builtin: ToolRegistry) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Workflow.from_spec(
            {
                "name": "w",
                "steps": [{"id": "a", "tool": "flip_image", "args": {}}],
                "outputs": {"out": "${steps.a.outputs.image}"},
            },
            builtin,
        )
    assert [str(p) for p in info.value.problems] == ["steps.0.tool: tool 'flip_image' needs argument 'image' (image)"]

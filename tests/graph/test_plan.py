from __future__ import annotations

import pytest

from graph.errors import EmptyRequestError, PlanValidationError
from graph.plan import Plan, Subtask

# Shaped like ControlLLM's decomposer output.
CONTROLLLM = [
    {
        "description": "detect the dogs in the image",
        "task": ["image-perception"],
        "id": 0,
        "dep": [-1],
        "args": [{"type": "image", "value": "image_1.png"}, {"type": "text", "value": "dog"}],
        "returns": [{"type": "bbox", "value": "<GENERATED>-0"}],
    },
    {
        "description": "count the detected dogs",
        "task": ["general"],
        "id": 1,
        "dep": [0],
        "args": [{"type": "bbox", "value": "<GENERATED>-0"}],
        "returns": [{"type": "text", "value": "<GENERATED>-1"}],
    },
]


def test_controlllm_decomposition_reads_and_writes_back():
    plan = Plan.from_controlllm("how many dogs?", CONTROLLLM)
    assert [s.id for s in plan.subtasks] == [0, 1]
    first, second = plan.subtasks
    assert first.deps == [] and second.deps == [0]
    assert first.inputs[0].type.value == "image" and first.target_types[0].value == "bboxes"
    assert second.inputs[0].generated_by == 0
    back = plan.to_controlllm()
    assert back[0]["dep"] == [-1] and back[1]["dep"] == [0]
    assert back[1]["args"] == [{"type": "bboxes", "value": "<GENERATED>-0"}]
    assert Plan.from_controlllm("how many dogs?", back) == plan


def test_topological_order_is_deterministic():
    items = [
        {"description": "c", "id": 2, "dep": [0, 1], "args": [], "returns": [{"type": "text"}]},
        {"description": "b", "id": 1, "dep": [-1], "args": [], "returns": [{"type": "text"}]},
        {"description": "a", "id": 0, "dep": [-1], "args": [], "returns": [{"type": "text"}]},
    ]
    assert Plan.from_controlllm("x", items).order() == [0, 1, 2]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"description": "a", "id": 0, "dep": [0], "returns": [{"type": "text"}]}], "depends on itself"),
        ([{"description": "a", "id": 0, "dep": [7], "returns": [{"type": "text"}]}], "unknown subtask 7"),
        (
            [
                {"description": "a", "id": 0, "dep": [1], "returns": [{"type": "text"}]},
                {"description": "b", "id": 1, "dep": [2], "returns": [{"type": "text"}]},
                {"description": "c", "id": 2, "dep": [0], "returns": [{"type": "text"}]},
            ],
            r"dependency cycle: 0 -> 2 -> 1 -> 0 \(each feeds the next\)",
        ),
        (
            [
                {"description": "a", "id": 0, "returns": [{"type": "text"}]},
                {"description": "b", "id": 0, "returns": [{"type": "text"}]},
            ],
            "duplicate subtask ids",
        ),
        (
            [
                {"description": "a", "id": 0, "returns": [{"type": "image"}]},
                {
                    "description": "b",
                    "id": 1,
                    "args": [{"type": "image", "value": "<GENERATED>-0"}],
                    "returns": [{"type": "text"}],
                },
            ],
            "without listing subtask 0 in its deps",
        ),
        (
            [{"description": "a", "id": 0, "args": [{"type": "imgae", "value": "x"}], "returns": [{"type": "text"}]}],
            "unknown resource type 'imgae'",
        ),
        ([{"description": "a", "id": 0, "returns": []}], "declares no output types"),
    ],
)
def test_malformed_plans_raise_a_typed_error_naming_the_problem(items, message):
    with pytest.raises(PlanValidationError, match=message):
        Plan.from_controlllm("request", items)


def test_every_problem_is_reported_at_once():
    items = [
        {"description": "a", "id": 0, "dep": [0, 5], "returns": [{"type": "text"}]},
    ]
    with pytest.raises(PlanValidationError) as info:
        Plan.from_controlllm("request", items)
    assert len(info.value.problems) == 2


def test_empty_request_and_empty_subtask_text_are_typed_errors():
    with pytest.raises(EmptyRequestError, match="request is empty"):
        Plan(request="   ", subtasks=[Subtask(id=0, description="x", returns=[{"type": "text"}])])
    with pytest.raises(EmptyRequestError, match="needs a description"):
        Subtask(id=0, description=" \n ", returns=[{"type": "text"}])
    with pytest.raises(PlanValidationError):
        Plan.parse({"request": "x", "subtasks": []})

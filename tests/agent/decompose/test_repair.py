"""ControlLLM-style resource-type repair: what is kept, what is replaced by what, and what is refused."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

import agent.decompose.repair as repair_module
from agent.decompose.base import DecompositionError, Resource
from agent.decompose.repair import literal_types, repair
from graph.errors import PlanValidationError
from graph.types import ResourceType as T

PHOTO = Resource(name="photo.jpg", type="image", value="/data/photo.jpg")
SCAN = Resource(name="scan.png", type="image", value="/data/scan.png")
TALK = Resource(name="talk.wav", type="audio", value="/data/talk.wav")
NOTE = Resource(name="note", type="text", value="hello there")


def step(
    sid: int, args: list[tuple[str, Any]], returns: list[str], dep: list[int] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "description": extra.pop("description", f"step {sid}"),
        "task": extra.pop("task", ["general"]),
        "id": sid,
        "dep": [-1] if dep is None else dep,
        "args": [{"type": t, "value": v} for t, v in args],
        "returns": [{"type": r} for r in returns],
        **extra,
    }


def inputs(plan: Any, sid: int) -> list[tuple[str, Any]]:
    return [(ref.type.value, ref.value) for ref in plan.subtask(sid).inputs]


def test_valid_references_are_kept_and_names_become_values() -> None:
    items = [
        step(0, [("image", "photo.jpg"), ("text", "What is this?")], ["text"]),
        step(1, [("text", "<GENERATED>-0")], ["audio"], dep=[0]),
    ]
    fixed = repair("ask, then speak", items, [PHOTO])
    assert fixed.fixes == []
    assert inputs(fixed.plan, 0) == [("image", "/data/photo.jpg"), ("text", "What is this?")]
    assert inputs(fixed.plan, 1) == [("text", "<GENERATED>-0")]
    assert fixed.plan.subtask(1).deps == [0] and fixed.plan.subtask(0).deps == []
    assert fixed.plan.request == "ask, then speak"


def test_a_resource_without_a_value_is_referred_to_by_its_name() -> None:
    fixed = repair("caption", [step(0, [("image", "pic.png")], ["text"])], [Resource(name="pic.png", type="image")])
    assert inputs(fixed.plan, 0) == [("image", "pic.png")]


def test_a_resource_may_be_named_by_its_value_or_by_file_name_in_any_case() -> None:
    items = [step(0, [("image", "/data/scan.png"), ("image", "PHOTO.JPG"), ("audio", "clips/talk.wav")], ["text"])]
    fixed = repair("compare", items, [PHOTO, SCAN, TALK])
    assert inputs(fixed.plan, 0) == [
        ("image", "/data/scan.png"),
        ("image", "/data/photo.jpg"),
        ("audio", "/data/talk.wav"),
    ]
    assert fixed.fixes == []


def test_a_hallucinated_file_becomes_the_latest_given_resource_of_its_type() -> None:
    fixed = repair("caption", [step(0, [("image", "image1.png")], ["text"])], [PHOTO, TALK, SCAN])
    assert inputs(fixed.plan, 0) == [("image", "/data/scan.png")]  # scan.png is the latest image given
    (fix,) = fixed.fixes
    assert "'image1.png' names no resource" in fix and "'scan.png'" in fix


def test_a_mistyped_argument_becomes_the_latest_resource_of_the_argument_type() -> None:
    fixed = repair("transcribe", [step(0, [("audio", "photo.jpg")], ["text"])], [TALK, PHOTO])
    assert inputs(fixed.plan, 0) == [("audio", "/data/talk.wav")]
    assert "which is a image, not a audio" in fixed.fixes[0]


def test_an_argument_type_alias_is_resolved_before_matching() -> None:
    boxes = Resource(name="boxes.json", type="bboxes", value=[{"x1": 0, "y1": 0, "x2": 1, "y2": 1}])
    fixed = repair("crop", [step(0, [("picture", "photo.jpg"), ("bbox", "boxes.json")], ["image"])], [PHOTO, boxes])
    assert inputs(fixed.plan, 0) == [("image", "/data/photo.jpg"), ("bboxes", boxes.value)]


def test_without_a_given_resource_an_earlier_output_of_the_type_is_used() -> None:
    items = [
        step(0, [("image", "photo.jpg")], ["bboxes"]),
        step(1, [("image", "photo.jpg"), ("bboxes", "boxes.json")], ["image"]),
    ]
    fixed = repair("detect, then crop", items, [PHOTO])
    assert inputs(fixed.plan, 1) == [("image", "/data/photo.jpg"), ("bboxes", "<GENERATED>-0")]
    assert fixed.plan.subtask(1).deps == [0]  # the dep follows the reference
    assert "<GENERATED>-0, the latest bboxes made before it" in fixed.fixes[0]


def test_a_given_resource_is_preferred_over_an_earlier_output_for_a_bad_name() -> None:
    items = [step(0, [("image", "photo.jpg")], ["image"]), step(1, [("image", "nothing.png")], ["text"])]
    fixed = repair("blur, then caption", items, [PHOTO])
    assert inputs(fixed.plan, 1) == [("image", "/data/photo.jpg")]
    assert fixed.plan.subtask(1).deps == []


def test_the_latest_earlier_output_of_the_type_wins() -> None:
    items = [
        step(0, [("image", "photo.jpg")], ["text"]),
        step(1, [("image", "photo.jpg")], ["text"]),
        step(2, [("text", "<GENERATED>-7")], ["audio"], dep=[7]),
    ]
    fixed = repair("two captions, then speak", items, [PHOTO])
    assert inputs(fixed.plan, 2) == [("text", "<GENERATED>-1")]
    assert fixed.plan.subtask(2).deps == [1]
    assert any("dropped dep 7" in f for f in fixed.fixes)


def test_a_reference_to_a_later_subtask_is_repaired_from_an_earlier_one() -> None:
    items = [
        step(0, [("image", "photo.jpg")], ["text"]),
        step(1, [("text", "<GENERATED>-2")], ["audio"], dep=[2]),
        step(2, [("text", "<GENERATED>-0")], ["text"], dep=[0]),
    ]
    fixed = repair("caption, speak, translate", items, [PHOTO])
    assert inputs(fixed.plan, 1) == [("text", "<GENERATED>-0")]
    assert fixed.plan.subtask(1).deps == [0]  # the dep on the later subtask (a cycle) is gone
    assert "refers to subtask 2, which does not come before it" in fixed.fixes[0]
    assert fixed.plan.order() == [0, 1, 2]


def test_a_reference_to_the_subtask_itself_is_repaired() -> None:
    items = [step(0, [("image", "photo.jpg")], ["image"]), step(1, [("image", "<GENERATED>-1")], ["image"], dep=[1])]
    fixed = repair("twice", items, [PHOTO])
    assert inputs(fixed.plan, 1) == [("image", "<GENERATED>-0")]
    assert fixed.plan.subtask(1).deps == [0]


def test_a_reference_to_an_output_of_another_type_is_repaired() -> None:
    items = [
        step(0, [("image", "photo.jpg")], ["bboxes"]),
        step(1, [("image", "photo.jpg")], ["text"]),
        step(2, [("text", "<GENERATED>-0")], ["audio"], dep=[0]),
    ]
    fixed = repair("detect, caption, speak", items, [PHOTO])
    assert inputs(fixed.plan, 2) == [("text", "<GENERATED>-1")]
    assert fixed.plan.subtask(2).deps == [0, 1]  # the listed dep on 0, an earlier subtask, is kept
    assert "which returns bboxes, not text" in fixed.fixes[0]


def test_listed_deps_on_earlier_subtasks_are_kept_and_missing_ones_added() -> None:
    items = [
        step(0, [("image", "photo.jpg")], ["text"]),
        step(1, [("image", "photo.jpg")], ["bboxes"]),
        step(2, [("text", "<GENERATED>-0"), ("bboxes", "<GENERATED>-1")], ["image"], dep=[1, 5, 2, -1]),
    ]
    fixed = repair("three", items, [PHOTO])
    assert fixed.plan.subtask(2).deps == [0, 1]
    assert sorted(f.split(": ")[1] for f in fixed.fixes) == [
        "dropped dep 2, which is not an earlier subtask",
        "dropped dep 5, which is not an earlier subtask",
    ]


def test_a_malformed_generated_reference_is_treated_as_a_reference() -> None:
    items = [step(0, [("image", "photo.jpg")], ["text"]), step(1, [("text", "<GENERATED>")], ["audio"])]
    fixed = repair("caption, speak", items, [PHOTO])
    assert inputs(fixed.plan, 1) == [("text", "<GENERATED>-0")]  # not kept as the literal text "<GENERATED>"


def test_literals_are_kept_and_converted() -> None:
    items = [step(0, [("image", "photo.jpg"), ("text", "  a red car "), ("number", "3"), ("number", 2.5),
                      ("boolean", "Yes"), ("language", "zh")], ["image"])]  # fmt: skip
    fixed = repair("edit", items, [PHOTO])
    assert inputs(fixed.plan, 0)[1:] == [
        ("text", "a red car"),
        ("number", 3),
        ("number", 2.5),
        ("boolean", True),
        ("language", "zh"),
    ]
    assert fixed.fixes == []


@pytest.mark.parametrize("value", ["three", "nan", "", None])
def test_a_bad_literal_is_replaced_like_a_missing_resource(value: Any) -> None:
    with pytest.raises(DecompositionError, match=r"subtask 0 argument 1 \(number\)") as caught:
        repair("count", [step(0, [("image", "photo.jpg"), ("number", value)], ["image"])], [PHOTO])
    assert caught.value.details["missing_type"] == "number"
    given = Resource(name="n", type="number", value=4)
    fixed = repair("count", [step(0, [("image", "photo.jpg"), ("number", value)], ["image"])], [PHOTO, given])
    assert inputs(fixed.plan, 0)[1] == ("number", 4)


def test_literal_types_are_the_scalar_non_file_types() -> None:
    kinds = literal_types()
    assert {T.TEXT, T.NUMBER, T.BOOLEAN, T.LANGUAGE, T.URL} <= kinds
    assert not kinds & {T.IMAGE, T.AUDIO, T.BBOXES, T.LABELS, T.TAGS, T.JSON}


def test_a_structured_type_given_as_text_must_come_from_a_resource() -> None:
    with pytest.raises(DecompositionError, match=r"argument 1 \(bboxes\) 'the dog' names no resource"):
        repair("crop", [step(0, [("image", "photo.jpg"), ("bboxes", "the dog")], ["image"])], [PHOTO])


def test_a_missing_file_type_is_refused_naming_the_argument_and_the_type() -> None:
    with pytest.raises(DecompositionError) as caught:
        repair("transcribe", [step(0, [("audio", "talk.wav")], ["text"])], [PHOTO])
    error = caught.value
    assert "subtask 0 argument 0 (audio)" in error.message and "no audio was given" in error.message
    assert error.details == {"raw": None, "subtask": 0, "argument": 0, "value": "talk.wav", "missing_type": "audio"}


def test_a_generated_reference_with_nothing_earlier_of_its_type_is_refused() -> None:
    # A given resource of the type is not taken for it: the model asked for a result, not a file.
    items = [step(0, [("image", "photo.jpg")], ["text"]), step(1, [("image", "<GENERATED>-4")], ["image"], dep=[4])]
    with pytest.raises(
        DecompositionError, match=r"subtask 1 argument 0 \(image\).*no image was made by an earlier subtask"
    ):
        repair("caption, then edit", items, [PHOTO])


def test_nothing_given_and_nothing_made_is_refused() -> None:
    with pytest.raises(DecompositionError, match="no image was made by an earlier subtask"):
        repair("caption", [step(0, [("image", "photo.jpg")], ["text"])], [])


def test_an_unknown_type_is_a_decomposition_error() -> None:
    with pytest.raises(DecompositionError, match="subtask 0 argument 0 has an unknown type"):
        repair("x", [step(0, [("imgae", "photo.jpg")], ["text"])], [PHOTO])
    with pytest.raises(DecompositionError, match="subtask 0: a return has an unknown type"):
        repair("x", [step(0, [("image", "photo.jpg")], ["txet"])], [PHOTO])


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"id": "0", "args": [], "returns": [{"type": "text"}], "description": "d"}, "no integer id"),
        ({"id": 0, "args": "photo.jpg", "returns": [{"type": "text"}], "description": "d"}, "args must be a list"),
        ({"id": 0, "args": ["photo.jpg"], "returns": [{"type": "text"}], "description": "d"}, "must be an object"),
    ],
)
def test_malformed_entries_are_decomposition_errors(item: dict[str, Any], words: str) -> None:
    with pytest.raises(DecompositionError, match=words):
        repair("x", [item], [PHOTO])


def test_what_repair_cannot_decide_is_left_to_plan_validation() -> None:
    items = [step(0, [("image", "photo.jpg")], ["text"]), step(0, [("image", "photo.jpg")], ["text"])]
    with pytest.raises(PlanValidationError, match="duplicate subtask ids"):
        repair("twice", items, [PHOTO])
    with pytest.raises(PlanValidationError, match="declares no output types"):
        repair("nothing", [step(0, [("image", "photo.jpg")], [])], [PHOTO])


def test_a_returned_value_is_ignored_and_never_read_as_a_resource() -> None:
    item = step(0, [("image", "photo.jpg")], [])
    item["returns"] = [{"type": "text", "value": "<GENERATED>-0"}]
    fixed = repair("caption", [item], [PHOTO])
    assert [(r.type, r.value) for r in fixed.plan.subtask(0).outputs] == [(T.TEXT, None)]


def test_repair_never_invents_a_resource() -> None:
    given = [PHOTO, TALK, NOTE]
    first = step(0, [("image", "a.png"), ("audio", "b.mp3"), ("text", "note")], ["text"])
    wants_image_result = step(1, [("text", "<GENERATED>-0"), ("image", "<GENERATED>-0")], ["image"])
    with pytest.raises(DecompositionError, match="no image was made"):
        repair("x", [first, wants_image_result], given)  # only subtask 0 (text) is earlier
    fixed = repair("x", [first, step(1, [("text", "<GENERATED>-0"), ("image", "x.png")], ["image"])], given)
    assert inputs(fixed.plan, 0) == [("image", "/data/photo.jpg"), ("audio", "/data/talk.wav"), ("text", "hello there")]
    allowed = {r.ref().value for r in given}
    for sub in fixed.plan.subtasks:
        for ref in sub.inputs:
            assert ref.value in allowed or ref.generated_by is not None


def test_module_examples() -> None:
    assert doctest.testmod(repair_module).failed == 0

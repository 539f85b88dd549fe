"""Offline parameter filling: defaulted arguments read from the subtask text, nothing invented."""

from __future__ import annotations

import pytest

from agent.params import OfflineParameterFiller
from graph.plan import Action, Solution, Subtask
from tools.registry import default_registry


@pytest.fixture(scope="module")
def filler():
    return OfflineParameterFiller(default_registry())


def one(tool: str, description: str, args: dict[str, str], inputs: list[dict], defaulted: list[str], out: str):
    sub = Subtask(id=0, description=description, args=inputs, returns=[{"type": out}])
    spec = default_registry().get(tool).spec
    action = Action(id="a0", tool=tool, args=args, outputs={o.name: o.type for o in spec.outputs}, defaulted=defaulted)
    return sub, Solution(subtask_id=0, actions=[action], outputs=[f"a0.{spec.outputs[0].name}"])


IMAGE = [{"type": "image", "value": "p.png"}]
TEXT = [{"type": "text", "value": "Buongiorno"}]
BOXES = [{"type": "bboxes", "value": [{"x1": 0, "y1": 0, "x2": 1, "y2": 1, "label": "cat"}]}]


@pytest.mark.parametrize(
    ("tool", "text", "inputs", "args", "defaulted", "out", "expected"),
    [
        (
            "rotate_image",
            "rotate it by 270°",
            IMAGE,
            {"image": "input:0"},
            ["angle", "expand"],
            "image",
            {"angle": 270.0},
        ),
        (
            "flip_image",
            "flip the photo upside down, vertical",
            IMAGE,
            {"image": "input:0"},
            ["direction"],
            "image",
            {"direction": "vertical"},
        ),
        (
            "blur_regions",
            "pixelate the faces",
            IMAGE + BOXES,
            {"image": "input:0", "boxes": "input:1"},
            ["method", "strength"],
            "image",
            {"method": "pixelate"},
        ),
        ("top_k_boxes", "keep the top 3 boxes", BOXES, {"boxes": "input:0"}, ["k", "by"], "bboxes", {"k": 3}),
        ("count_boxes", "how many cats are there", BOXES, {"boxes": "input:0"}, ["label"], "number", {"label": "cats"}),
        ("count_boxes", "count the boxes", BOXES, {"boxes": "input:0"}, ["label"], "number", {}),
        (
            "draw_boxes",
            "draw the boxes in green",
            IMAGE + BOXES,
            {"image": "input:0", "boxes": "input:1"},
            ["color", "width"],
            "image",
            {"color": "green"},
        ),
        ("rotate_image", "turn the photo around", IMAGE, {"image": "input:0"}, ["angle", "expand"], "image", {}),
        # the language wished for, not one the text only mentions
        (
            "translate_text",
            "the card is in Italian, write out what it says in English",
            TEXT,
            {"text": "input:0"},
            ["target_language"],
            "text",
            {"target_language": "English"},
        ),
        (
            "translate_text",
            "translate the German text on the sign into French",
            TEXT,
            {"text": "input:0"},
            ["target_language"],
            "text",
            {"target_language": "French"},
        ),
        (
            "translate_text",
            "把它翻译成法语",
            TEXT,
            {"text": "input:0"},
            ["target_language"],
            "text",
            {"target_language": "French"},
        ),
    ],
)
def test_arguments_the_text_states_are_filled(filler, tool, text, inputs, args, defaulted, out, expected) -> None:
    sub, sol = one(tool, text, args, inputs, defaulted, out)
    new_sub, new_sol, filled = filler.fill(sub, sol)
    got = {f.argument: f.value for f in filled}
    assert got == expected
    action = new_sol.actions[0]
    for name, value in expected.items():
        key = action.args[name]
        assert new_sub.inputs[int(key.split(":")[1])].value == value
        assert name not in action.defaulted
    assert len(new_sub.inputs) == len(sub.inputs) + len(expected)  # only literals from the text were added


def test_ranked_solutions_share_one_literal(filler) -> None:
    sub, sol = one(
        "blur_regions",
        "pixelate the faces",
        {"image": "input:0", "boxes": "input:1"},
        IMAGE + BOXES,
        ["method", "strength"],
        "image",
    )
    sub, first, _ = filler.fill(sub, sol)
    sub, second, _ = filler.fill(sub, sol)
    assert len(sub.inputs) == 3
    assert first.actions[0].args["method"] == second.actions[0].args["method"] == "input:2"

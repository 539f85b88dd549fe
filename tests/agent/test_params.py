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


# --- read both ways (issue 17 item 2) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "text", "inputs", "defaulted", "out", "expected"),
    [
        ("rotate_image", "rotate it 90 degrees clockwise", IMAGE, ["angle"], "image", {"angle": -90.0}),
        ("rotate_image", "rotate it 90 degrees counter-clockwise", IMAGE, ["angle"], "image", {"angle": 90.0}),
        ("rotate_image", "turn it 45° anti-clockwise", IMAGE, ["angle"], "image", {"angle": 45.0}),
        ("rotate_image", "rotate it to the right", IMAGE, ["angle"], "image", {"angle": -90.0}),
        ("rotate_image", "rotate it to the left", IMAGE, ["angle"], "image", {"angle": 90.0}),
        ("rotate_image", "顺时针旋转90度", IMAGE, ["angle"], "image", {"angle": -90.0}),
        ("rotate_image", "逆时针旋转90度", IMAGE, ["angle"], "image", {"angle": 90.0}),
        ("rotate_image", "rotate the left photo by 30 degrees", IMAGE, ["angle"], "image", {"angle": 30.0}),
        (
            "translate_text",
            "translate it into French",
            TEXT,
            ["target_language"],
            "text",
            {"target_language": "French"},
        ),
        ("translate_text", "translate it from French", TEXT, ["target_language"], "text", {}),
        ("translate_text", "把英文翻译成中文", TEXT, ["target_language"], "text", {"target_language": "Chinese"}),
        ("translate_text", "把中文翻译成英文", TEXT, ["target_language"], "text", {"target_language": "English"}),
        (
            "translate_text",
            "translate the French text into Vietnamese",
            TEXT,
            ["target_language"],
            "text",
            {"target_language": "Vietnamese"},
        ),
        ("translate_text", "translate it from Vietnamese", TEXT, ["target_language"], "text", {}),
        ("rotate_image", "rotate it upside down", IMAGE, ["angle"], "image", {"angle": 180.0}),
        ("rotate_image", "give it a quarter turn clockwise", IMAGE, ["angle"], "image", {"angle": -90.0}),
        ("resize_image", "resize it to 50%", IMAGE, ["scale"], "image", {"scale": 0.5}),
        ("resize_image", "enlarge it by 50%", IMAGE, ["scale"], "image", {"scale": 1.5}),
        ("resize_image", "shrink it by 25%", IMAGE, ["scale"], "image", {"scale": 0.75}),
        ("resize_image", "scale it by 0.5", IMAGE, ["scale"], "image", {"scale": 0.5}),
        ("resize_image", "shrink it by a factor of 2", IMAGE, ["scale"], "image", {"scale": 0.5}),
        ("resize_image", "resize it to 640", IMAGE, ["scale"], "image", {}),
        (
            "resize_image",
            "resize it to 640x480",
            IMAGE,
            ["width", "height", "scale"],
            "image",
            {"width": 640, "height": 480},
        ),
        (
            "resize_image",
            "resize this image to 200 by 100 pixels",
            IMAGE,
            ["width", "height", "scale"],
            "image",
            {"width": 200, "height": 100},
        ),
        ("resize_image", "make it 150 pixels wide", IMAGE, ["width", "height", "scale"], "image", {"width": 150}),
        ("resize_image", "把图片宽度缩小到150像素", IMAGE, ["width", "height", "scale"], "image", {"width": 150}),
        ("adjust_brightness", "resize this image to 200 by 100 pixels", IMAGE, ["factor"], "image", {}),
        ("adjust_brightness", "brighten it by 1.5", IMAGE, ["factor"], "image", {"factor": 1.5}),
        ("adjust_brightness", "make it 20% brighter", IMAGE, ["factor"], "image", {"factor": 1.2}),
        ("adjust_brightness", "make it 30% darker", IMAGE, ["factor"], "image", {"factor": 0.7}),
        ("top_k_boxes", "keep the top 3 faces", BOXES, ["k"], "bboxes", {"k": 3}),
        ("top_k_boxes", "the two largest faces", BOXES, ["k"], "bboxes", {"k": 2}),
        ("top_k_boxes", "前3个", BOXES, ["k"], "bboxes", {"k": 3}),
        ("top_k_boxes", "the 2 largest faces", BOXES, ["k", "by"], "bboxes", {"k": 2, "by": "area"}),
        ("top_k_boxes", "the two most confident faces", BOXES, ["k", "by"], "bboxes", {"k": 2, "by": "score"}),
        ("top_k_boxes", "最大的两张脸", BOXES, ["k", "by"], "bboxes", {"k": 2, "by": "area"}),
        (
            "sort_boxes",
            "sort the faces from smallest to largest",
            BOXES,
            ["by", "order"],
            "bboxes",
            {"by": "area", "order": "ascending"},
        ),
        (
            "sort_boxes",
            "sort the faces from largest to smallest",
            BOXES,
            ["by", "order"],
            "bboxes",
            {"by": "area", "order": "descending"},
        ),
        ("flip_image", "flip it upside down", IMAGE, ["direction"], "image", {"direction": "vertical"}),
        ("flip_image", "mirror it left to right", IMAGE, ["direction"], "image", {"direction": "horizontal"}),
        # A number tied to an argument by the argument's own description ("the lowest confidence to keep").
        (
            "filter_boxes",
            "throw away the boxes with a confidence below 0.5",
            BOXES,
            ["min_score", "min_area", "max_area"],
            "bboxes",
            {"min_score": 0.5},
        ),
        (
            "filter_boxes",
            "keep only boxes whose confidence is at least 80%",
            BOXES,
            ["min_score", "min_area", "max_area"],
            "bboxes",
            {"min_score": 0.8},
        ),
    ],
)
def test_directions_languages_and_numbers_read_both_ways(filler, tool, text, inputs, defaulted, out, expected) -> None:
    spec = default_registry().get(tool).spec
    required = {i.name: f"input:{n}" for n, i in enumerate(i for i in spec.inputs if i.required)}
    sub, sol = one(tool, text, required, inputs, defaulted, out)
    _, _, filled = filler.fill(sub, sol)
    assert {f.argument: f.value for f in filled} == pytest.approx(expected)


def test_a_bound_angle_turns_the_way_the_words_say(filler) -> None:
    """A decomposer that bound 90 for "clockwise" (a number of the request) gets the tool's sign."""
    sub = Subtask(
        id=0,
        description="rotate the photo 90 degrees clockwise",
        args=[*IMAGE, {"type": "number", "value": 90}],
        returns=[{"type": "image"}],
    )
    action = Action(
        id="a0", tool="rotate_image", args={"image": "input:0", "angle": "input:1"}, outputs={"image": "image"}
    )
    new_sub, new_sol, _ = filler.fill(sub, Solution(subtask_id=0, actions=[action], outputs=["a0.image"]))
    assert new_sub.inputs[int(new_sol.actions[0].args["angle"].split(":")[1])].value == -90


# --- label filters: only a category the list holds -----------------------------------------------------


def _detect_and_count(words: str, detector: str = "detect_faces", detector_args: dict | None = None):
    """One subtask "detect, then count" with the request's words bound to the count's label."""
    sub = Subtask(
        id=0,
        description="这张照片里有几个人",
        args=[{"type": "text", "value": words}, *IMAGE],
        returns=[{"type": "number"}],
    )
    detect = Action(
        id="a1", tool=detector, args={"image": "input:1", **(detector_args or {})}, outputs={"faces": "bboxes"}
    )
    count = Action(
        id="a2", tool="count_boxes", args={"boxes": "a1.faces", "label": "input:0"}, outputs={"count": "number"}
    )
    return sub, Solution(subtask_id=0, actions=[detect, count], outputs=["a2.count"])


@pytest.mark.parametrize("words", ["人", "faces are", "people"])
def test_what_a_one_kind_detector_is_for_is_no_label_filter(filler, words) -> None:
    """detect_faces labels its boxes "face": "people", 人 or "faces are" filtered them all away."""
    sub, sol = _detect_and_count(words)
    _, new_sol, filled = filler.fill(sub, sol)
    assert "label" not in new_sol.actions[1].args and "label" in new_sol.actions[1].defaulted
    assert [(f.argument, f.source) for f in filled] == [("label", "dropped")]
    assert "detect_faces" in filled[0].reason


def test_a_category_a_one_kind_detector_is_not_for_stays_a_filter(filler) -> None:
    """ "How many cats" over a face detector's boxes counts no cats — never the faces as cats."""
    sub, sol = _detect_and_count("cats")
    _, new_sol, filled = filler.fill(sub, sol)
    assert new_sol.actions[1].args["label"] == "input:0" and not filled
    defaulted = sol.model_copy(
        update={
            "actions": [
                sol.actions[0],
                sol.actions[1].model_copy(update={"args": {"boxes": "a1.faces"}, "defaulted": ["label"]}),
            ]
        }
    )
    sub = sub.model_copy(update={"description": "how many cats are in the photo"})
    new_sub, new_sol, filled = filler.fill(sub, defaulted)
    assert [(f.argument, f.value) for f in filled] == [("label", "cats")]


def test_a_category_the_detector_was_asked_for_filters(filler) -> None:
    sub, sol = _detect_and_count("cats")
    sub = sub.model_copy(update={"inputs": [*sub.inputs, sub.inputs[0].model_copy(update={"value": "cats, dogs"})]})
    detect = sol.actions[0].model_copy(
        update={"tool": "detect_objects", "args": {"image": "input:1", "categories": "input:2"}}
    )
    sol = sol.model_copy(update={"actions": [detect, sol.actions[1]]})
    new_sub, new_sol, filled = filler.fill(sub, sol)
    assert new_sol.actions[1].args["label"] == "input:0" and not filled


@pytest.mark.parametrize(
    ("words", "boxes", "expected"),
    [
        ("boxes", [{"x1": 0, "y1": 0, "x2": 1, "y2": 1}], None),  # a generic word names no category
        ("dogs", [{"x1": 0, "y1": 0, "x2": 1, "y2": 1}], None),  # unlabelled boxes match no filter
        ("faces are", [{"x1": 0, "y1": 0, "x2": 1, "y2": 1, "label": "face"}], "faces"),  # the words labels match
        ("dogs", [{"x1": 0, "y1": 0, "x2": 1, "y2": 1, "label": "cat"}], "dogs"),  # an absent category counts 0
    ],
)
def test_a_label_filter_over_given_boxes_names_what_they_hold(filler, words, boxes, expected) -> None:
    sub = Subtask(
        id=0,
        description=f"count the {words}",
        args=[{"type": "text", "value": words}, {"type": "bboxes", "value": boxes}],
        returns=[{"type": "number"}],
    )
    action = Action(
        id="a0", tool="count_boxes", args={"boxes": "input:1", "label": "input:0"}, outputs={"count": "number"}
    )
    new_sub, new_sol, _ = filler.fill(sub, Solution(subtask_id=0, actions=[action], outputs=["a0.count"]))
    key = new_sol.actions[0].args.get("label")
    assert (new_sub.inputs[int(key.split(":")[1])].value if key else None) == expected


def test_a_label_is_not_read_from_words_for_boxes_an_earlier_step_makes(filler) -> None:
    """ "How many people": the step that made the boxes was asked for people; its labels are its own."""
    sub = Subtask(
        id=1,
        description="how many people are in the photo",
        args=[{"type": "bboxes", "value": "<GENERATED>-0"}],
        returns=[{"type": "number"}],
    )
    action = Action(
        id="a0", tool="count_boxes", args={"boxes": "input:0"}, outputs={"count": "number"}, defaulted=["label"]
    )
    _, new_sol, filled = filler.fill(sub, Solution(subtask_id=1, actions=[action], outputs=["a0.count"]))
    assert not filled and new_sol.actions[0].args == {"boxes": "input:0"}

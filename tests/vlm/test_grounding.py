"""Grounding prompts and the strict <ref>/<box> parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.types import BBox
from vlm.errors import GroundingParseError, ImageInputError
from vlm.grounding import (
    DETECT_ALL_PROMPT,
    detection_prompt,
    format_grounding,
    parse_grounding,
    referring_prompt,
)


def test_referring_prompt() -> None:
    assert referring_prompt("  the dog \n on the left ") == (
        "Please provide the bounding box coordinate of the region this sentence describes: "
        "<ref>the dog on the left</ref>"
    )
    with pytest.raises(ValueError):
        referring_prompt("   ")
    with pytest.raises(ValueError):
        referring_prompt("a <box> trick")


def test_detection_prompts() -> None:
    assert detection_prompt() == DETECT_ALL_PROMPT
    assert DETECT_ALL_PROMPT == "Please detect and label all objects in the following image and mark their positions."
    assert detection_prompt("cat") == referring_prompt("cat")


# --- well-formed ----------------------------------------------------------------------------------


def test_single_box_scales_to_original_image() -> None:
    boxes = parse_grounding("<ref>the cat</ref><box>[[100, 250, 500, 750]]</box>", 640, 480)
    assert boxes == [BBox(x1=64.0, y1=120.0, x2=320.0, y2=360.0, label="the cat")]


def test_multiple_boxes_for_one_ref() -> None:
    boxes = parse_grounding("<ref>dog</ref><box>[[0, 0, 500, 500], [500, 500, 1000, 1000]]</box>", 1000, 200)
    assert boxes == [
        BBox(x1=0.0, y1=0.0, x2=500.0, y2=100.0, label="dog"),
        BBox(x1=500.0, y1=100.0, x2=1000.0, y2=200.0, label="dog"),
    ]


def test_several_refs_with_prose_and_code_fence_around_them() -> None:
    text = (
        "Sure, I will detect and label all objects in the image and mark their positions.\n\n```\n"
        "<ref>Helmet</ref><box>[[1, 2, 269, 235]]</box>\n"
        "<ref>Clothing</ref> <box>[[650, 619, 990, 993]]</box>\n```"
    )
    boxes = parse_grounding(text, 1000, 1000)
    assert [(b.label, b.x1, b.y2) for b in boxes] == [("Helmet", 1.0, 235.0), ("Clothing", 650.0, 993.0)]


def test_box_without_ref_takes_the_queried_phrase() -> None:
    assert parse_grounding("<box>[[0, 0, 1000, 1000]]</box>", 10, 20, default_label="red car") == [
        BBox(x1=0.0, y1=0.0, x2=10.0, y2=20.0, label="red car")
    ]
    assert parse_grounding("<box>[[0, 0, 1000, 1000]]</box>", 10, 20)[0].label is None


def test_float_coordinates_are_accepted() -> None:
    assert parse_grounding("<box>[[100.5, 0, 200.25, 1000]]</box>", 1000, 1000)[0] == BBox(
        x1=100.5, y1=0.0, x2=200.25, y2=1000.0
    )


# --- out of range --------------------------------------------------------------------------------


def test_out_of_range_coordinates_are_clamped_to_the_image() -> None:
    boxes = parse_grounding("<ref>x</ref><box>[[-50, -10, 1200, 1001]]</box>", 400, 300)
    assert boxes == [BBox(x1=0.0, y1=0.0, x2=400.0, y2=300.0, label="x")]


def test_degenerate_boxes_after_clamping_are_dropped_others_kept() -> None:
    text = "<ref>a</ref><box>[[1100, 0, 1200, 500], [500, 500, 400, 600], [0, 0, 10, 10], [5, 7, 5, 9]]</box>"
    assert parse_grounding(text, 1000, 1000) == [BBox(x1=0.0, y1=0.0, x2=10.0, y2=10.0, label="a")]


def test_all_boxes_outside_gives_an_empty_list_not_an_error() -> None:
    assert parse_grounding("<box>[[-20, -20, -10, -10]]</box>", 100, 100) == []


def test_image_size_must_be_positive() -> None:
    with pytest.raises(ImageInputError):
        parse_grounding("<box>[[0, 0, 1, 1]]</box>", 0, 100)


# --- malformed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("A cat sits on the mat.", "no <box>"),
        ("", "no <box>"),
        ("<ref>cat</ref>", "not followed by its <box>"),
        ("<ref>cat</ref> is here <box>[[1, 2, 3, 4]]</box>", "not followed by its <box>"),
        ("<ref>cat<box>[[1, 2, 3, 4]]</box>", "not closed by </ref>"),
        ("<ref></ref><box>[[1, 2, 3, 4]]</box>", "empty <ref>"),
        ("<box>[[1, 2, 3, 4]]", "not closed by </box>"),
        ("<ref>cat</ref><box>[[1, 2, 3, 4]]", "not closed by </box>"),
        ("[[1, 2, 3, 4]]</box>", "without a matching <box>"),
        ("<ref>a</ref></ref><box>[[1, 2, 3, 4]]</box>", "not followed"),
        ("<box><box>[[1, 2, 3, 4]]</box></box>", "not closed"),
        ("<box>[[1, 2, 3]]</box>", "4 numbers"),
        ("<box>[[1, 2, 3, 4, 5]]</box>", "4 numbers"),
        ("<box>[1, 2, 3, 4]</box>", "4 numbers"),
        ("<box>[]</box>", "non-empty list"),
        ('<box>{"x": 1}</box>', "non-empty list"),
        ('<box>[[1, 2, 3, "4"]]</box>', "not a finite number"),
        ("<box>[[1, 2, 3, true]]</box>", "not a finite number"),
        ("<box>[[1, 2, 3, NaN]]</box>", "not a JSON list"),
        ("<box>[[1, 2, 3, Infinity]]</box>", "not a JSON list"),
        ("<box>[[1, 2, 3, 4]</box>", "not a JSON list"),
        ("<box>__import__('os').system('true')</box>", "not a JSON list"),
        ("<box>(1, 2, 3, 4)</box>", "not a JSON list"),
    ],
)
def test_malformed_output_raises_with_raw_text(text: str, match: str) -> None:
    with pytest.raises(GroundingParseError, match=match) as err:
        parse_grounding(text, 100, 100)
    assert err.value.raw == text
    assert err.value.to_dict()["details"]["raw"] == text


def test_one_malformed_ref_fails_the_whole_answer() -> None:
    with pytest.raises(GroundingParseError):
        parse_grounding("<ref>a</ref><box>[[1, 2, 3, 4]]</box><ref>b</ref><box>[[1, 2]]</box>", 10, 10)


# --- round trip -----------------------------------------------------------------------------------


def test_format_grounding_renders_the_internvl_format() -> None:
    assert format_grounding([("cat", [[1, 2, 3, 4], [5, 6, 7, 8]])]) == (
        "<ref>cat</ref><box>[[1, 2, 3, 4], [5, 6, 7, 8]]</box>"
    )


_labels = st.text(alphabet=st.characters(blacklist_characters="<>", blacklist_categories=("Cs",)), min_size=1).filter(
    lambda s: s.strip() == s and s
)


@st.composite
def _normalised_box(draw: st.DrawFn) -> list[int]:
    x1 = draw(st.integers(0, 999))
    y1 = draw(st.integers(0, 999))
    return [x1, y1, draw(st.integers(x1 + 1, 1000)), draw(st.integers(y1 + 1, 1000))]


@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    refs=st.lists(
        st.tuples(st.none() | _labels, st.lists(_normalised_box(), min_size=1, max_size=4)), min_size=1, max_size=4
    ),
)
def test_rendered_boxes_parse_back_to_the_same_pixel_boxes(width: int, height: int, refs: list) -> None:
    boxes = parse_grounding(format_grounding(refs), width, height, default_label="query")
    expected = [
        (
            label if label is not None else "query",
            q[0] * width / 1000,
            q[1] * height / 1000,
            q[2] * width / 1000,
            q[3] * height / 1000,
        )
        for label, quads in refs
        for q in quads
    ]
    assert len(boxes) == len(expected)
    for box, (label, x1, y1, x2, y2) in zip(boxes, expected):
        assert box.label == label
        assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx((x1, y1, x2, y2), abs=1e-9)


@given(
    width=st.integers(2, 4000),
    height=st.integers(2, 4000),
    fractions=st.tuples(*[st.floats(0, 1, allow_nan=False)] * 4),
)
def test_pixel_boxes_survive_normalisation_within_rounding(width: int, height: int, fractions: tuple) -> None:
    fx1, fx2 = sorted(fractions[:2])
    fy1, fy2 = sorted(fractions[2:])
    pixel = (fx1 * width, fy1 * height, fx2 * width, fy2 * height)
    quad = [
        round(pixel[0] / width * 1000),
        round(pixel[1] / height * 1000),
        round(pixel[2] / width * 1000),
        round(pixel[3] / height * 1000),
    ]
    boxes = parse_grounding(format_grounding([("o", [quad])]), width, height)
    if quad[2] <= quad[0] or quad[3] <= quad[1]:
        assert boxes == []  # too thin to survive 0-1000 rounding: dropped, never an error
        return
    (box,) = boxes
    tolerance_x, tolerance_y = width / 2000 + 1e-9, height / 2000 + 1e-9
    assert abs(box.x1 - pixel[0]) <= tolerance_x and abs(box.x2 - pixel[2]) <= tolerance_x
    assert abs(box.y1 - pixel[1]) <= tolerance_y and abs(box.y2 - pixel[3]) <= tolerance_y

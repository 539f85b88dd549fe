"""Built-in image operations on real images: pixel behaviour a user relies on, and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from graph.types import BBox, ResourceType
from tools.errors import ToolInputError
from tools.image_ops import (
    TOOLS,
    blur_regions,
    count_boxes,
    crop_image,
    draw_boxes,
    flip_image,
    grayscale_image,
    resize_image,
    rotate_image,
    select_boxes,
)


@pytest.fixture
def photo() -> PILImage.Image:
    """A 120x80 image with structure everywhere (noise plus gradients), so blurs and flips show."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(80, 120, 3), dtype=np.uint8)
    noise[:, :, 0] = np.linspace(0, 255, 120, dtype=np.uint8)[None, :]
    return PILImage.fromarray(noise, "RGB")


def pixels(image: PILImage.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


def box(x1: float, y1: float, x2: float, y2: float, **extra: Any) -> dict[str, Any]:
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2, **extra}


# --- crop -----------------------------------------------------------------------------------------------


def test_crop_size_and_content_equal_the_box(photo: PILImage.Image) -> None:
    out = crop_image(image=photo, boxes=[box(10, 20, 50, 45)])["image"]
    assert out.size == (40, 25)
    assert np.array_equal(pixels(out), pixels(photo)[20:45, 10:50])


def test_crop_picks_highest_score_else_first(photo: PILImage.Image) -> None:
    boxes = [box(0, 0, 10, 10, score=0.2), box(20, 20, 50, 30, score=0.9), box(0, 0, 5, 5)]
    assert crop_image(image=photo, boxes=boxes)["image"].size == (30, 10)
    unscored = [box(0, 0, 10, 12), box(20, 20, 50, 30)]
    assert crop_image(image=photo, boxes=unscored)["image"].size == (10, 12)


def test_crop_clamps_and_rounds_outward(photo: PILImage.Image) -> None:
    assert crop_image(image=photo, boxes=[box(100, 70, 500, 500)])["image"].size == (20, 10)
    assert crop_image(image=photo, boxes=[box(-5, -5, 10, 10)])["image"].size == (10, 10)
    assert crop_image(image=photo, boxes=[box(10.5, 10.2, 20.4, 20.9)])["image"].size == (11, 11)


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([], "no box"),
        ([box(10, 10, 10, 20)], "empty or inverted"),
        ([box(30, 10, 20, 20)], "empty or inverted"),
        ([box(200, 200, 300, 300)], "outside the 120x80 image"),
        ([box(0, 0, float("nan"), 5)], "non-finite"),
    ],
)
def test_crop_rejects_bad_boxes_naming_boxes(photo: PILImage.Image, boxes: list[Any], message: str) -> None:
    with pytest.raises(ToolInputError, match=message) as err:
        crop_image(image=photo, boxes=boxes)
    assert err.value.argument == "boxes" and err.value.tool == "crop_image"


# --- resize, rotate, flip, grayscale ------------------------------------------------------------------------


def test_resize_by_size_scale_and_aspect(photo: PILImage.Image) -> None:
    assert resize_image(image=photo, width=60, height=20)["image"].size == (60, 20)
    assert resize_image(image=photo, scale=0.5)["image"].size == (60, 40)
    assert resize_image(image=photo, width=30)["image"].size == (30, 20)
    assert resize_image(image=photo, height=40)["image"].size == (60, 40)


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({}, "width"),
        ({"scale": 2.0, "width": 10}, "scale"),
        ({"scale": 0.0}, "scale"),
        ({"width": 0}, "width"),
        ({"width": 100_000}, "width"),
        ({"height": 100_000}, "height"),
        ({"scale": 1000.0}, "scale"),
        ({"width": 10, "height": 5.5}, "height"),
    ],
)
def test_resize_rejects_impossible_sizes(photo: PILImage.Image, arguments: dict[str, Any], argument: str) -> None:
    with pytest.raises(ToolInputError) as err:
        resize_image(image=photo, **arguments)
    assert err.value.argument == argument


def test_rotate_90_swaps_sides_and_is_exact(photo: PILImage.Image) -> None:
    out = rotate_image(image=photo)["image"]
    assert out.size == (80, 120)
    assert np.array_equal(pixels(out), np.rot90(pixels(photo)))  # counter-clockwise
    back = rotate_image(image=out, angle=-90)["image"]
    assert np.array_equal(pixels(back), pixels(photo))


def test_rotate_other_angles_expand_or_keep(photo: PILImage.Image) -> None:
    expanded = rotate_image(image=photo, angle=45)["image"]
    assert expanded.width > photo.width and expanded.height > photo.height
    kept = rotate_image(image=photo, angle=45, expand=False)["image"]
    assert kept.size == photo.size
    assert rotate_image(image=photo, angle=360)["image"].size == photo.size
    assert rotate_image(image=photo, angle=90, expand=False)["image"].size == photo.size
    with pytest.raises(ToolInputError) as err:
        rotate_image(image=photo, expand="no")
    assert err.value.argument == "expand"


def test_flip_mirrors(photo: PILImage.Image) -> None:
    horizontal = flip_image(image=photo)["image"]
    assert np.array_equal(pixels(horizontal), pixels(photo)[:, ::-1])
    vertical = flip_image(image=photo, direction="vertical")["image"]
    assert np.array_equal(pixels(vertical), pixels(photo)[::-1])


def test_grayscale_has_one_band_and_keeps_alpha(photo: PILImage.Image) -> None:
    gray = grayscale_image(image=photo)["image"]
    assert gray.mode == "L" and gray.size == photo.size
    rgba = photo.convert("RGBA")
    assert grayscale_image(image=rgba)["image"].mode == "LA"


# --- draw and blur --------------------------------------------------------------------------------------------


def test_draw_boxes_draws_outline_only_near_the_box() -> None:
    white = PILImage.new("RGB", (100, 100), "white")
    out = draw_boxes(image=white, boxes=[box(20, 30, 80, 90)], color="#00ff00", width=2)["image"]
    arr = pixels(out)
    assert tuple(arr[30, 50]) == (0, 255, 0)  # top edge
    assert tuple(arr[60, 20]) == (0, 255, 0)  # left edge
    assert tuple(arr[60, 50]) == (255, 255, 255)  # inside untouched
    assert tuple(arr[5, 5]) == (255, 255, 255)  # far outside untouched
    assert tuple(pixels(white)[30, 50]) == (255, 255, 255)  # input not modified


def test_draw_boxes_writes_labels() -> None:
    white = PILImage.new("RGB", (200, 200), "white")
    plain = pixels(draw_boxes(image=white, boxes=[box(20, 60, 180, 180)])["image"])
    labelled = pixels(draw_boxes(image=white, boxes=[box(20, 60, 180, 180, label="dog", score=0.93)])["image"])
    above = (slice(30, 60), slice(20, 180))
    assert (plain[above] == 255).all() and (labelled[above] != 255).any()


def test_draw_boxes_on_grayscale_draws_colour_and_empty_list_is_a_copy() -> None:
    gray = PILImage.new("L", (50, 50), 200)
    out = draw_boxes(image=gray, boxes=[box(5, 5, 40, 40)])["image"]
    assert out.mode == "RGB" and tuple(pixels(out)[5, 20]) == (255, 0, 0)
    same = draw_boxes(image=gray, boxes=[])["image"]
    assert same is not gray and np.array_equal(pixels(same), pixels(gray))


@pytest.mark.parametrize(("arguments", "argument"), [({"color": "blurple"}, "color"), ({"width": 0}, "width")])
def test_draw_boxes_rejects_bad_style(photo: PILImage.Image, arguments: dict[str, Any], argument: str) -> None:
    with pytest.raises(ToolInputError) as err:
        draw_boxes(image=photo, boxes=[box(1, 1, 5, 5)], **arguments)
    assert err.value.argument == argument


@pytest.mark.parametrize("method", ["blur", "pixelate"])
def test_blur_changes_pixels_only_inside_the_boxes(photo: PILImage.Image, method: str) -> None:
    regions = [box(10, 10, 40, 30), box(70, 40, 110, 75)]
    out = pixels(blur_regions(image=photo, boxes=regions, method=method, strength=6)["image"])
    src = pixels(photo)
    inside = np.zeros(src.shape[:2], dtype=bool)
    inside[10:30, 10:40] = True
    inside[40:75, 70:110] = True
    assert np.array_equal(out[~inside], src[~inside])
    changed = (out != src).any(axis=2)
    assert changed[10:30, 10:40].mean() > 0.9 and changed[40:75, 70:110].mean() > 0.9
    # redaction really removes detail: local variation inside the box drops sharply
    assert np.abs(np.diff(out[10:30, 10:40], axis=1)).mean() < 0.5 * np.abs(np.diff(src[10:30, 10:40], axis=1)).mean()


def test_pixelate_makes_uniform_blocks(photo: PILImage.Image) -> None:
    out = pixels(blur_regions(image=photo, boxes=[box(0, 0, 40, 40)], method="pixelate", strength=10)["image"])
    block = out[0:10, 10:20]
    assert (block == block[0, 0]).all()


def test_blur_keeps_grayscale_mode_and_validates(photo: PILImage.Image) -> None:
    gray = photo.convert("L")
    assert blur_regions(image=gray, boxes=[box(0, 0, 10, 10)])["image"].mode == "L"
    with pytest.raises(ToolInputError) as err:
        blur_regions(image=photo, boxes=[box(0, 0, 10, 10)], strength=0)
    assert err.value.argument == "strength"
    with pytest.raises(ToolInputError) as err:
        blur_regions(image=photo, boxes=[box(5, 5, 5, 9)])
    assert err.value.argument == "boxes"
    with pytest.raises(ToolInputError) as err:
        blur_regions(image=photo, boxes=[box(0, 0, 10, 10)], method="smudge")
    assert err.value.argument == "method"


def test_redacting_no_regions_returns_an_unchanged_copy(photo: PILImage.Image) -> None:
    out = blur_regions(image=photo, boxes=[])["image"]
    assert out is not photo and np.array_equal(pixels(out), pixels(photo))


# --- counting and selecting -------------------------------------------------------------------------------------


def test_count_counts() -> None:
    assert count_boxes(boxes=[]) == {"count": 0}
    assert count_boxes(boxes=[box(0, 0, 1, 1)] * 7) == {"count": 7}
    assert count_boxes.spec.outputs[0].type is ResourceType.NUMBER


def test_select_by_label_with_plurals_and_scores() -> None:
    boxes = [
        box(0, 0, 1, 1, label="dog", score=0.9),
        box(0, 0, 2, 2, label="Red Car", score=0.4),
        box(0, 0, 3, 3, label="cat"),
        box(0, 0, 4, 4, label="puppy dog", score=0.3),
        box(0, 0, 5, 5),
        box(0, 0, 6, 6, label="boxes"),
    ]
    dogs = select_boxes(boxes=boxes, label="Dogs")["boxes"]
    assert [b.x2 for b in dogs] == [1, 4]
    assert all(isinstance(b, BBox) for b in dogs)
    assert [b.x2 for b in select_boxes(boxes=boxes, label="car")["boxes"]] == [2]
    assert select_boxes(boxes=boxes, label="blue car")["boxes"] == []
    assert [b.x2 for b in select_boxes(boxes=boxes, label="box")["boxes"]] == [6]
    assert [b.x2 for b in select_boxes(boxes=boxes, label="dog", min_score=0.5)["boxes"]] == [1]
    with pytest.raises(ToolInputError) as err:
        select_boxes(boxes=boxes, label="  ?! ")
    assert err.value.argument == "label"


def test_every_builtin_has_a_real_description_and_documented_inputs() -> None:
    for item in TOOLS:
        spec = item.spec
        assert len(spec.description.split()) >= 6, spec.name
        assert all(i.description for i in spec.inputs), spec.name
        assert all(o.description for o in spec.outputs), spec.name

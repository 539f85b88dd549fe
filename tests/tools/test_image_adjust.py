"""Brightness, contrast, mask overlays and concatenation: exact pixels on images built at test time."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from tools.errors import ToolInputError
from tools.image_adjust import TOOLS, adjust_brightness, adjust_contrast, concat_images, overlay_mask
from tools.image_ops import blur_regions


def pixels(image: PILImage.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


def solid(colour: Any, size: tuple[int, int] = (8, 6), mode: str = "RGB") -> PILImage.Image:
    return PILImage.new(mode, size, colour)


@pytest.fixture(scope="module")
def two_tone() -> PILImage.Image:
    """Grey 0 on the top half, 200 on the bottom half: mean 100."""
    arr = np.zeros((4, 6), dtype=np.uint8)
    arr[2:] = 200
    return PILImage.fromarray(arr, "L")


# --- brightness and contrast --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "expected"),
    [(1.5, (150, 75, 255)), (0.5, (50, 25, 100)), (0.3, (30, 15, 60)), (1.0, (100, 50, 200)), (0.0, (0, 0, 0))],
)
def test_brightness_scales_a_solid_image_exactly(factor: float, expected: tuple[int, int, int]) -> None:
    source = solid((100, 50, 200))
    out = adjust_brightness(image=source, factor=factor)["image"]
    assert out.mode == "RGB" and out.size == source.size
    assert (pixels(out) == expected).all()
    assert source.getpixel((0, 0)) == (100, 50, 200)  # input untouched


def test_brightness_keeps_alpha_and_grey_mode() -> None:
    out = adjust_brightness(image=solid((100, 50, 200, 77), mode="RGBA"), factor=2)["image"]
    assert out.mode == "RGBA" and out.getpixel((3, 3)) == (200, 100, 255, 77)
    grey = adjust_brightness(image=solid(90, mode="L"), factor=0.5)["image"]
    assert grey.mode == "L" and grey.getpixel((0, 0)) == 45
    palette = solid((100, 50, 200)).convert("P")
    assert adjust_brightness(image=palette, factor=1.0)["image"].mode == "RGB"


@pytest.mark.parametrize(("factor", "dark", "light"), [(0.0, 100, 100), (0.5, 50, 150), (1.3, 0, 230), (2.0, 0, 255)])
def test_contrast_moves_pixels_around_the_mean(two_tone: PILImage.Image, factor: float, dark: int, light: int) -> None:
    out = pixels(adjust_contrast(image=two_tone, factor=factor)["image"])
    assert (out[:2] == dark).all() and (out[2:] == light).all()


def test_contrast_leaves_a_solid_image_and_alpha_alone() -> None:
    out = adjust_contrast(image=solid((10, 200, 90, 33), mode="RGBA"), factor=3)["image"]
    assert out.mode == "RGBA" and (pixels(out)[..., 3] == 33).all()
    flat = adjust_contrast(image=solid(120, mode="L"), factor=4)["image"]
    assert (pixels(flat) == 120).all()


@pytest.mark.parametrize("tool", [adjust_brightness, adjust_contrast])
@pytest.mark.parametrize("factor", [-0.1, 5.01, 100])
def test_factors_out_of_bounds_name_factor(tool: Any, factor: float) -> None:
    with pytest.raises(ToolInputError) as err:
        tool(image=solid("white"), factor=factor)
    assert err.value.argument == "factor" and err.value.tool == tool.spec.name


# --- overlay mask -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def square_mask() -> PILImage.Image:
    """A 10x8 mask selecting the 4x3 rectangle x 2..5, y 1..3."""
    arr = np.zeros((8, 10), dtype=np.uint8)
    arr[1:4, 2:6] = 255
    return PILImage.fromarray(arr, "L")


def test_overlay_tints_mask_pixels_and_nothing_else(square_mask: PILImage.Image) -> None:
    rng = np.random.default_rng(3)
    photo = PILImage.fromarray(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8), "RGB")
    out = pixels(overlay_mask(image=photo, mask=square_mask, color="#0000ff", alpha=0.25)["image"])
    src = pixels(photo)
    inside = pixels(square_mask) > 0
    expected = np.rint(src[inside] * 0.75 + np.array([0, 0, 255]) * 0.25)
    assert np.array_equal(out[inside], expected)
    assert np.array_equal(out[~inside], src[~inside])


def test_overlay_exact_colour_on_black_and_solid_at_alpha_one(square_mask: PILImage.Image) -> None:
    black = solid("black", (10, 8))
    out = overlay_mask(image=black, mask=square_mask, color="red", alpha=0.4)["image"]
    assert out.getpixel((2, 1)) == (102, 0, 0) and out.getpixel((5, 3)) == (102, 0, 0)
    assert out.getpixel((6, 3)) == (0, 0, 0) and out.getpixel((2, 4)) == (0, 0, 0)
    full = overlay_mask(image=black, mask=square_mask, color="#00ff00", alpha=1.0)["image"]
    assert full.getpixel((3, 2)) == (0, 255, 0)
    none = overlay_mask(image=black, mask=square_mask, alpha=0.0)["image"]
    assert (pixels(none) == 0).all()


def test_overlay_accepts_mask_modes_and_keeps_alpha(square_mask: PILImage.Image) -> None:
    ones = PILImage.fromarray((pixels(square_mask) > 0).astype(np.int32), "I")  # a 0/1 integer mask
    binary = square_mask.convert("1")
    grey = solid((100, 100, 100, 50), (10, 8), "RGBA")
    for mask in (ones, binary, square_mask.convert("RGB")):
        out = overlay_mask(image=grey, mask=mask, color="white", alpha=0.5)["image"]
        assert out.mode == "RGBA"
        assert out.getpixel((4, 2)) == (178, 178, 178, 50) and out.getpixel((0, 0)) == (100, 100, 100, 50)
    # a grey image gets a colour tint
    assert overlay_mask(image=solid(0, (10, 8), "L"), mask=square_mask)["image"].getpixel((2, 1)) == (128, 0, 0)


@pytest.mark.parametrize(
    ("arguments", "argument", "message"),
    [
        ({"mask": solid(255, (9, 8), "L")}, "mask", "mask is 9x8 but image is 10x8"),
        ({"alpha": 1.5}, "alpha", "alpha"),
        ({"alpha": -0.1}, "alpha", "alpha"),
        ({"color": "blurple"}, "color", "blurple"),
        ({"mask": "mask.png"}, "mask", "PIL"),
    ],
)
def test_overlay_rejects_bad_input(
    square_mask: PILImage.Image, arguments: dict[str, Any], argument: str, message: str
) -> None:
    with pytest.raises(ToolInputError, match=message) as err:
        overlay_mask(**{"image": solid("black", (10, 8)), "mask": square_mask, **arguments})
    assert err.value.argument == argument


# --- concatenation ------------------------------------------------------------------------------------------


def test_horizontal_concat_sizes_placement_and_centering() -> None:
    red, blue = solid("red", (4, 6)), solid("blue", (3, 2))
    out = concat_images(image=red, second=blue, background="black")["image"]
    assert out.size == (7, 6) and out.mode == "RGB"
    arr = pixels(out)
    assert (arr[:, :4] == (255, 0, 0)).all()
    assert (arr[2:4, 4:] == (0, 0, 255)).all()  # centred: (6 - 2) // 2 = 2
    assert (arr[:2, 4:] == 0).all() and (arr[4:, 4:] == 0).all()


@pytest.mark.parametrize(("align", "top"), [("start", 0), ("center", 2), ("end", 4)])
def test_horizontal_alignment(align: str, top: int) -> None:
    out = pixels(concat_images(image=solid("red", (4, 6)), second=solid("blue", (3, 2)), align=align)["image"])
    column = out[:, 5]
    assert [tuple(c) for c in column[top : top + 2]] == [(0, 0, 255)] * 2
    assert (np.delete(column, [top, top + 1], axis=0) == 255).all()  # white background elsewhere


def test_vertical_concat_with_gap_and_third_image() -> None:
    a, b, c = solid("red", (5, 2)), solid("lime", (3, 3)), solid("blue", (1, 1))
    out = concat_images(image=a, second=b, third=c, direction="vertical", align="end", gap=2, background="#808080")[
        "image"
    ]
    assert out.size == (5, 2 + 2 + 3 + 2 + 1)
    arr = pixels(out)
    assert (arr[0:2] == (255, 0, 0)).all()
    assert (arr[2:4] == 128).all()  # gap
    assert (arr[4:7, 2:5] == (0, 255, 0)).all() and (arr[4:7, :2] == 128).all()  # right-aligned
    assert tuple(arr[9, 4]) == (0, 0, 255) and (arr[9, :4] == 128).all()


def test_concat_modes() -> None:
    grey = concat_images(image=solid(10, (2, 2), "L"), second=solid(200, (2, 2), "L"))["image"]
    assert grey.mode == "L" and pixels(grey).tolist() == [[10, 10, 200, 200]] * 2
    clear = concat_images(
        image=solid((255, 0, 0, 128), (2, 2), "RGBA"), second=solid("blue", (2, 1)), background="#00000000"
    )["image"]
    assert clear.mode == "RGBA"
    assert clear.getpixel((0, 0)) == (255, 0, 0, 128) and clear.getpixel((2, 0)) == (0, 0, 255, 255)
    assert clear.getpixel((3, 1)) == (0, 0, 0, 0)
    mixed = concat_images(image=solid(10, (2, 2), "L"), second=solid("red", (2, 2)))["image"]
    assert mixed.mode == "RGB" and mixed.getpixel((0, 0)) == (10, 10, 10)


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"gap": -1}, "gap"),
        ({"gap": 5000}, "gap"),
        ({"background": "nope"}, "background"),
        ({"align": "middle"}, "align"),
        ({"direction": "diagonal"}, "direction"),
        ({"second": solid("red", (0, 0))}, "second"),
        ({"second": solid("red", (15_000, 1))}, "second"),  # 20,000 + 15,000 is too wide
        ({"third": b"\x89PNG"}, "third"),
    ],
)
def test_concat_rejects_bad_input(arguments: dict[str, Any], argument: str) -> None:
    with pytest.raises(ToolInputError) as err:
        concat_images(**{"image": solid("red", (20_000, 1)), "second": solid("blue", (2, 1)), **arguments})
    assert err.value.argument == argument


def test_truncated_png_is_an_input_error_naming_the_argument() -> None:
    buffer = io.BytesIO()
    PILImage.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    truncated = PILImage.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))  # header reads fine
    with pytest.raises(ToolInputError, match="cannot decode second") as err:
        concat_images(image=solid("red"), second=truncated)
    assert err.value.argument == "second"
    truncated = PILImage.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))
    with pytest.raises(ToolInputError) as err:
        adjust_brightness(image=truncated)
    assert err.value.argument == "image"


# --- redaction is not duplicated, specs -------------------------------------------------------------------------


def test_pixelation_is_blur_regions_not_a_second_tool() -> None:
    assert "pixelate" in blur_regions.spec.description.lower()
    assert not any("pixel" in t.spec.name for t in TOOLS)


def test_every_tool_has_a_real_description_and_documented_inputs() -> None:
    for item in TOOLS:
        spec = item.spec
        assert len(spec.description.split()) >= 8, spec.name
        assert all(i.description for i in spec.inputs), spec.name
        assert all(o.description for o in spec.outputs), spec.name
        assert spec.device.value == "cpu" and "image-editing" in spec.domains
    concat = concat_images.spec
    assert [(i.name, i.type.value, i.required) for i in concat.inputs[:3]] == [
        ("image", "image", True),
        ("second", "image", True),
        ("third", "image", False),
    ]
    assert overlay_mask.spec.inputs[1].type.value == "mask"

"""Image info and EXIF orientation on photos built at test time with PIL's Exif (PNG and JPEG)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import ExifTags
from PIL import Image as PILImage

from tools.errors import ToolInputError
from tools.image_info import ORIENTATIONS, TOOLS, fix_orientation, image_info


def quadrants(width: int = 40, height: int = 20) -> PILImage.Image:
    """Red top-left, green top-right, blue bottom-left, white bottom-right: every turn and flip shows."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[: height // 2, : width // 2] = (255, 0, 0)
    arr[: height // 2, width // 2 :] = (0, 255, 0)
    arr[height // 2 :, : width // 2] = (0, 0, 255)
    arr[height // 2 :, width // 2 :] = (255, 255, 255)
    return PILImage.fromarray(arr, "RGB")


def with_exif(image: PILImage.Image, fmt: str = "PNG", **tags: object) -> PILImage.Image:
    """``image`` saved with the given EXIF tags (by ExifTags.Base name) and opened again, as an upload is."""
    exif = PILImage.Exif()
    for name, value in tags.items():
        exif[ExifTags.Base[name]] = value
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return PILImage.open(io.BytesIO(buffer.getvalue()))


def pixels(image: PILImage.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


# --- fix_orientation ------------------------------------------------------------------------------------------


def test_orientation_6_comes_out_turned_90_degrees_clockwise() -> None:
    source = quadrants()
    photo = with_exif(source, Orientation=6)
    assert photo.getexif()[ExifTags.Base.Orientation] == 6
    out = fix_orientation(image=photo)["image"]
    assert out.size == (20, 40)
    assert np.array_equal(pixels(out), np.rot90(pixels(source), k=-1))  # k=-1: clockwise
    # after a clockwise turn the old bottom-left (blue) is top-left and the old top-left (red) top-right
    assert out.getpixel((2, 2)) == (0, 0, 255) and out.getpixel((17, 2)) == (255, 0, 0)
    assert ExifTags.Base.Orientation not in out.getexif()


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        (2, lambda a: a[:, ::-1]),
        (3, lambda a: np.rot90(a, 2)),
        (4, lambda a: a[::-1]),
        (5, lambda a: a.transpose(1, 0, 2)),
        (7, lambda a: np.rot90(a, 2).transpose(1, 0, 2)),
        (8, lambda a: np.rot90(a, 1)),
    ],
)
def test_every_orientation_is_undone(orientation: int, expected: object) -> None:
    source = quadrants()
    out = fix_orientation(image=with_exif(source, Orientation=orientation))["image"]
    assert np.array_equal(pixels(out), expected(pixels(source)))  # type: ignore[operator]


def test_phone_jpeg_is_turned_upright() -> None:
    out = fix_orientation(image=with_exif(quadrants(), "JPEG", Orientation=6))["image"]
    assert out.size == (20, 40)
    centres = {(5, 10): (0, 0, 255), (15, 10): (255, 0, 0), (5, 30): (255, 255, 255), (15, 30): (0, 255, 0)}
    for xy, colour in centres.items():
        assert np.abs(np.array(out.getpixel(xy)) - colour).max() <= 8, xy


@pytest.mark.parametrize("orientation", [None, 1, 9])
def test_upright_or_invalid_tags_return_an_unchanged_copy(orientation: int | None) -> None:
    source = quadrants()
    photo = with_exif(source, **({"Orientation": orientation} if orientation is not None else {}))
    out = fix_orientation(image=photo)["image"]
    assert out is not photo and out.size == (40, 20) and np.array_equal(pixels(out), pixels(source))


# --- image_info -----------------------------------------------------------------------------------------------


def test_info_of_a_plain_image() -> None:
    info = image_info(image=PILImage.new("RGBA", (64, 48)))["info"]
    assert info == {
        "width": 64,
        "height": 48,
        "mode": "RGBA",
        "bands": ["R", "G", "B", "A"],
        "has_alpha": True,
        "format": None,
        "frames": 1,
        "orientation": None,
        "orientation_meaning": None,
        "upright_width": 64,
        "upright_height": 48,
        "exif": {},
        "summary": "64x48 RGBA image, 4 bands, with transparency, no EXIF orientation",
    }


def test_info_reports_orientation_upright_size_and_camera_fields() -> None:
    photo = with_exif(
        quadrants(), "JPEG", Orientation=6, Make="Pixelcam", Model="P 7\x00", DateTime="2024:05:01 10:11:12"
    )
    info = image_info(image=photo)["info"]
    assert (info["width"], info["height"], info["format"], info["mode"]) == (40, 20, "JPEG", "RGB")
    assert info["orientation"] == 6 and info["orientation_meaning"] == ORIENTATIONS[6]
    assert (info["upright_width"], info["upright_height"]) == (20, 40)
    assert info["exif"] == {"make": "Pixelcam", "model": "P 7", "datetime": "2024:05:01 10:11:12"}
    assert info["summary"] == (
        "40x20 RGB JPEG image, 3 bands, EXIF orientation 6 (needs a 90 degree clockwise turn), shown upright as 20x40"
    )
    upright = image_info(image=fix_orientation(image=photo)["image"])["info"]
    assert upright["orientation"] is None and (upright["width"], upright["height"]) == (20, 40)


def test_info_of_grey_and_flipped_images() -> None:
    info = image_info(image=with_exif(PILImage.new("L", (5, 3)), Orientation=3))["info"]
    assert info["bands"] == ["L"] and info["has_alpha"] is False and info["format"] == "PNG"
    assert info["orientation"] == 3 and (info["upright_width"], info["upright_height"]) == (5, 3)
    assert info["summary"] == "5x3 L PNG image, 1 band, EXIF orientation 3 (needs a 180 degree turn)"
    bad = image_info(image=with_exif(PILImage.new("L", (5, 3)), Orientation=0))["info"]
    assert bad["orientation"] == 0 and bad["orientation_meaning"] == "not a valid EXIF orientation"


@pytest.mark.parametrize("tool", TOOLS)
def test_unusable_images_are_input_errors_naming_image(tool: object) -> None:
    buffer = io.BytesIO()
    quadrants(200, 200).save(buffer, "PNG")
    truncated = PILImage.open(io.BytesIO(buffer.getvalue()[:300]))
    for bad in (PILImage.new("RGB", (0, 0)), truncated, b"not an image", "photo.jpg"):
        with pytest.raises(ToolInputError) as err:
            tool(image=bad)  # type: ignore[operator]
        assert err.value.argument == "image"


def test_specs_are_documented() -> None:
    for item in TOOLS:
        spec = item.spec
        assert len(spec.description.split()) >= 8 and "EXIF" in spec.description, spec.name
        assert all(i.description for i in spec.inputs) and all(o.description for o in spec.outputs)
    assert image_info.spec.outputs[0].type.value == "json"
    assert fix_orientation.spec.outputs[0].type.value == "image"

"""Loading images: every source kind, typed errors for bad data, the pixel guard, orientation, modes."""

from __future__ import annotations

import doctest
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

import vlm.images
from vlm.errors import ImageInputError, ImageTooLargeError, TooManyImagesError
from vlm.images import ImageLimits, check_images, load_image


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A well-framed PNG whose header claims ``width x height`` but whose pixel data is 4 stray bytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\x00bad") + chunk(b"IEND", b"")


@pytest.fixture
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))


def test_pil_path_and_bytes_give_the_same_rgb_pixels(photo, tmp_path):
    path = tmp_path / "photo.png"
    photo.save(path)
    for source in (photo, path, str(path), encoded(photo), bytearray(encoded(photo))):
        image = load_image(source)
        assert image.mode == "RGB" and image.size == (40, 30)
        assert np.array_equal(np.asarray(image), np.asarray(photo))


def test_an_rgb_pil_image_is_returned_without_a_copy(photo):
    assert load_image(photo) is photo


@pytest.mark.parametrize(
    "source",
    [b"\x00\x01 definitely not an image", b"", 12345, "/no/such/file.png"],
    ids=["garbage", "empty", "wrong-type", "missing-file"],
)
def test_unreadable_sources_raise_a_typed_error_naming_the_source(source):
    with pytest.raises(ImageInputError) as info:
        load_image(source)
    assert not isinstance(info.value, ImageTooLargeError)
    assert info.value.to_dict()["code"] == "invalid_image"
    if isinstance(source, str):
        assert source in str(info.value)


def test_a_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageInputError, match=str(tmp_path)):
        load_image(tmp_path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_raise_image_input_error_not_a_pil_exception(photo, tmp_path, fmt):
    big = photo.resize((400, 300))
    data = encoded(big, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match="cut"):
        load_image(path)
    with pytest.raises(ImageInputError):
        load_image(data[: len(data) // 2])


def test_a_lazily_opened_truncated_pil_image_is_caught_too(photo):
    data = encoded(photo.resize((400, 300)), "JPEG")
    lazy = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(ImageInputError):
        load_image(lazy)


def test_pixel_limit_is_checked_from_the_header_before_decoding():
    header_only = png_header_only(8000, 8000)  # 64 Mpx claimed, no pixel data behind it
    with pytest.raises(ImageTooLargeError) as info:
        load_image(header_only)  # default 50 Mpx: refused from the header, so no decode error
    assert info.value.details["width"] == 8000 and "64,000,000" in str(info.value)
    smaller = png_header_only(3000, 3000)
    with pytest.raises(ImageTooLargeError):
        load_image(smaller, ImageLimits(max_pixels=8_999_999))
    with pytest.raises(ImageInputError) as decoded:
        load_image(smaller, ImageLimits(max_pixels=9_000_000))  # allowed, so it is decoded: and fails
    assert not isinstance(decoded.value, ImageTooLargeError)


def test_pil_own_bomb_guard_surfaces_as_image_too_large():
    with pytest.raises(ImageTooLargeError):
        load_image(png_header_only(100_000, 100_000), ImageLimits(max_pixels=10**12))


def test_pixel_limit_applies_to_every_source(photo, tmp_path):
    limits = ImageLimits(max_pixels=40 * 30 - 1)
    path = tmp_path / "p.png"
    photo.save(path)
    for source in (photo, path, encoded(photo)):
        with pytest.raises(ImageTooLargeError):
            load_image(source, limits)
    assert load_image(photo, ImageLimits(max_pixels=40 * 30)).size == (40, 30)


def test_exif_orientation_is_applied():
    # 40x20 stored: left half red, right half blue; orientation 6 means "rotate 90 degrees clockwise"
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    upright = load_image(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert upright.size == (20, 40)
    top, bottom = upright.getpixel((10, 5)), upright.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # the stored left (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_alpha_is_dropped_like_the_reference_not_composited():
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))  # fully transparent, colour kept underneath
    assert load_image(rgba).getpixel((0, 0)) == (10, 20, 30)
    assert load_image(encoded(rgba)).getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize("mode", ["L", "P", "LA", "CMYK", "1", "YCbCr", "I", "F"])
def test_common_modes_convert_like_pil(mode):
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).convert(mode)
    assert np.array_equal(np.asarray(load_image(image)), np.asarray(image.convert("RGB")))


def test_sixteen_bit_grey_is_scaled_not_clipped_to_white():
    wide = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    image = load_image(encoded(Image.fromarray(wide)))
    assert [image.getpixel((x, 0)) for x in range(4)] == [(0, 0, 0), (1, 1, 1), (128, 128, 128), (255, 255, 255)]


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), (40 * k, 0, 0)) for k in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert load_image(path).getpixel((0, 0)) == (0, 0, 0)


def test_image_count_limit():
    check_images([b"x"] * 16)  # the default allows 16
    with pytest.raises(TooManyImagesError) as info:
        check_images([b"x"] * 3, ImageLimits(max_images=2))
    assert info.value.details == {"count": 3, "limit": 2}


def test_limits_validate():
    assert ImageLimits() == ImageLimits(max_tiles=12, max_images=16, max_pixels=50_000_000)
    assert ImageLimits(max_tiles=40).max_tiles == 40
    for bad in ({"max_tiles": 41}, {"max_tiles": 0}, {"max_images": 0}, {"max_pixels": 0}, {"other": 1}):
        with pytest.raises(ValidationError):
            ImageLimits(**bad)
    with pytest.raises(ValidationError):
        ImageLimits().max_tiles = 3  # frozen


def test_docstring_examples_run():
    assert doctest.testmod(vlm.images).failed == 0

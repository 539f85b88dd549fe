"""Bad input across the whole toolbox: every built-in tool that takes an image, and every text argument
of every tool, refuses the usual broken values with a ToolInputError naming the argument.

The matrix is built from :func:`tools.registry.default_registry`, so a new tool is covered the day it is
registered. Each test runs with the tiny InternVL configured (so the InternVL and text tools are
available) behind a recorder, and checks that the model was never asked: bad input is refused before
any work is done.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image as PILImage

from graph.spec import InputSpec, ToolSpec
from graph.types import IMAGE_TYPES, BBox, Label, ResourceType
from tools.annotations import kind_of
from tools.base import Tool, availability
from tools.errors import ToolInputError
from tools.registry import default_registry

if TYPE_CHECKING:
    from conftest import RecordingBackend

TOOLS: dict[str, Tool] = {item.spec.name: item for item in default_registry()}
#: Size of every sample image (masks included, so a mask always fits its image).
SIZE = (64, 48)
#: The size the bomb's header declares: 900 million pixels, never allocated.
BOMB_SIDE = 30_000


def image_arguments() -> list[tuple[str, str]]:
    return [(name, inp.name) for name, item in TOOLS.items() for inp in item.spec.inputs if inp.type in IMAGE_TYPES]


def text_arguments() -> list[tuple[str, str]]:
    return [(name, inp.name) for name, item in TOOLS.items() for inp in item.spec.inputs if kind_of(inp.type) == "str"]


# --- bad values ------------------------------------------------------------------------------------------


def png_bytes(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_png() -> PILImage.Image:
    """A real PNG cut short: the header parses (PIL opens it lazily), the pixels cannot be decoded."""
    pixels = PILImage.effect_noise(SIZE, 64).convert("RGB")  # noise does not compress: the cut loses rows
    data = png_bytes(pixels)
    return PILImage.open(io.BytesIO(data[: len(data) // 2]))


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png() -> bytes:
    """A PNG whose header declares 30000 x 30000 8-bit RGB pixels, written by hand: a few hundred bytes
    that would take 2.7 GB to decode."""
    header = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\x00" + b"\x00" * 3 * BOMB_SIDE)  # one filtered row; the rest is missing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def bomb_image(monkeypatch: pytest.MonkeyPatch) -> PILImage.Image:
    """The bomb opened lazily, as an upload would be: PIL's own guard is lifted for the ``open`` alone,
    so the tool's guard is what is tested."""
    with monkeypatch.context() as patch:
        patch.setattr(PILImage, "MAX_IMAGE_PIXELS", None)
        image = PILImage.open(io.BytesIO(bomb_png()))
    assert image.size == (BOMB_SIDE, BOMB_SIDE) and not decoded(image)
    return image


def decoded(image: PILImage.Image) -> bool:
    """Whether PIL has allocated and decoded the pixels (``_im`` in Pillow 11, ``im`` before)."""
    return image.__dict__.get("_im", image.__dict__.get("im")) is not None


BAD_IMAGES: dict[str, Callable[[pytest.MonkeyPatch], Any]] = {
    "non-image-bytes": lambda _: b"GIF89a? no: these are not the bytes of any image\n" * 4,
    "png-bytes": lambda _: png_bytes(PILImage.new("RGB", SIZE)),  # encoded bytes are not an image value
    "truncated-png": lambda _: truncated_png(),
    "zero-by-zero": lambda _: PILImage.new("RGB", (0, 0)),
    "bomb-header": bomb_image,
    "number": lambda _: 42,
    "boxes": lambda _: [BBox(x1=0, y1=0, x2=8, y2=8)],
    "path-string": lambda _: "/tmp/photo.png",
}

BLANK_TEXTS = {"empty": "", "whitespace": " \n\t "}


# --- good values for the other arguments -----------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short decodable GIF for the video tools."""
    frames = [PILImage.new("RGB", (32, 24), (40 * k, 90, 200)) for k in range(4)]
    path = tmp_path_factory.mktemp("bad-input") / "clip.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    return path


def good_value(inp: InputSpec, clip: Path) -> Any:
    """A valid value for a required argument; a type without one fails loudly, so a new tool whose
    inputs this matrix cannot make is noticed rather than skipped."""
    makers: dict[ResourceType, Callable[[], Any]] = {
        ResourceType.IMAGE: lambda: PILImage.new("RGB", SIZE, "teal"),
        ResourceType.MASK: lambda: PILImage.new("L", SIZE, 255),
        ResourceType.BBOXES: lambda: [BBox(x1=4, y1=4, x2=20, y2=20, label="cat", score=0.9)],
        ResourceType.LABELS: lambda: [Label(name="cat", score=0.9)],
        ResourceType.TAGS: lambda: ["cat"],
        ResourceType.TEXT: lambda: "cat",
        ResourceType.NUMBER: lambda: 3.0,
        ResourceType.VIDEO: lambda: clip,
    }
    if inp.type not in makers:
        pytest.fail(f"no sample value for {inp.name!r} ({inp.type.value}); add one to good_value()")
    return makers[inp.type]()


def valid_arguments(spec: ToolSpec, clip: Path) -> dict[str, Any]:
    return {inp.name: good_value(inp, clip) for inp in spec.inputs if inp.required}


def runnable(name: str) -> Tool:
    item = TOOLS[name]
    ok, reason = availability(item)
    if not ok:
        pytest.skip(f"{name} is not available here: {reason}")
    return item


# --- the matrix ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
@pytest.mark.parametrize(("name", "argument"), image_arguments(), ids=[f"{t}-{a}" for t, a in image_arguments()])
def test_a_bad_image_is_an_input_error_naming_the_argument(
    recorded: RecordingBackend, monkeypatch: pytest.MonkeyPatch, clip: Path, name: str, argument: str, case: str
) -> None:
    item = runnable(name)
    arguments = valid_arguments(item.spec, clip)
    arguments[argument] = bad = BAD_IMAGES[case](monkeypatch)
    with pytest.raises(ToolInputError) as info:
        item(**arguments)
    assert info.value.argument == argument, info.value
    assert info.value.tool == name
    assert recorded.requests == []
    if case == "bomb-header":
        assert not decoded(bad), "the size must be refused from the header, before any pixel is decoded"


@pytest.mark.parametrize("blank", sorted(BLANK_TEXTS))
@pytest.mark.parametrize(("name", "argument"), text_arguments(), ids=[f"{t}-{a}" for t, a in text_arguments()])
def test_blank_text_is_an_input_error_naming_the_argument(
    recorded: RecordingBackend, clip: Path, name: str, argument: str, blank: str
) -> None:
    item = runnable(name)
    arguments = valid_arguments(item.spec, clip)
    arguments[argument] = BLANK_TEXTS[blank]
    with pytest.raises(ToolInputError) as info:
        item(**arguments)
    assert info.value.argument == argument, info.value
    assert info.value.tool == name
    assert recorded.requests == []


def test_the_matrix_covers_the_toolbox() -> None:
    """Guards the generators above: an empty matrix would pass vacuously."""
    images, texts = dict(image_arguments()), set(text_arguments())
    assert {
        "crop_image",
        "overlay_mask",
        "concat_images",
        "detect_faces",
        "read_text",
        "caption_image",
        "compare_images",
        "image_info",
    } <= set(images)
    assert ("overlay_mask", "mask") in image_arguments() and ("concat_images", "third") in image_arguments()
    assert {
        ("summarize_text", "text"),
        ("ground_phrase", "phrase"),
        ("select_boxes", "label"),
        ("text_to_speech", "text"),
        ("answer_video_question", "question"),
    } <= texts


def test_the_bomb_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-made header really declares 30000 x 30000 and PIL alone would refuse to open it."""
    with pytest.raises(PILImage.DecompressionBombError):
        PILImage.open(io.BytesIO(bomb_png()))
    assert len(bomb_png()) < 2_000
    image = bomb_image(monkeypatch)
    assert image.size == (BOMB_SIDE, BOMB_SIDE) and image.mode == "RGB"

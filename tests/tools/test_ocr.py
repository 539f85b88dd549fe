"""OCR tools on text rendered at test time (English and Chinese) and on scikit-image's ``page()``.

One engine serves the whole module (it is a process-wide singleton); the rendered document is read once
and its result shared by the tests that check strings, boxes and order.
"""

from __future__ import annotations

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from graph.types import BBox
from tools.errors import ToolInputError
from tools.ocr import TOOLS, TextLine, join_text, ocr_engine, ocr_text_lines, read_text, reading_order

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

pytestmark = pytest.mark.skipif(
    not all(t.available()[0] for t in TOOLS), reason=f"OCR backend unavailable: {TOOLS[0].available()[1]}"
)

#: (position, text, font size); the last two share a row although their tops differ by 18 pixels.
ENGLISH = [((24, 24), "Invoice 2024 total 318.50 EUR", 32), ((24, 96), "The quick brown fox jumps", 32)]
CHINESE = [((24, 168), "今天天气很好，我们去公园", 32), ((24, 240), "扫描二维码关注我们", 32)]
STAGGERED = [((24, 300), "Big", 56), ((160, 318), "and small", 32)]


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(CJK_FONT), size)


Lines = list[tuple[tuple[int, int], str, int]]
Ink = list[tuple[str, tuple[int, int, int, int]]]


def _render(lines: Lines, size: tuple[int, int]) -> tuple[PILImage.Image, Ink]:
    """Black text on white; returns the image and each string's ink box as PIL measures it."""
    image = PILImage.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    ink = []
    for xy, text, font_size in lines:
        draw.text(xy, text, font=_font(font_size), fill="black")
        ink.append((text, draw.textbbox(xy, text, font=_font(font_size))))
    return image, ink


@pytest.fixture(scope="module")
def engine() -> Any:
    return ocr_engine()


@pytest.fixture(scope="module")
def document(engine: Any) -> dict[str, Any]:
    if not CJK_FONT.is_file():
        pytest.skip(f"the CJK font {CJK_FONT} is not installed (Debian fonts-wqy-microhei); it renders the test text")
    image, ink = _render(ENGLISH + CHINESE + STAGGERED, (560, 400))
    return {
        "image": image,
        "ink": ink,
        "boxes": ocr_text_lines(image=image)["boxes"],
        "text": read_text(image=image)["text"],
    }


def test_english_and_chinese_are_read_exactly_in_reading_order(document: dict[str, Any]) -> None:
    labels = [b.label for b in document["boxes"]]
    assert labels == [text for _, text, _ in ENGLISH + CHINESE + STAGGERED]
    assert document["text"] == "\n".join(
        [
            "Invoice 2024 total 318.50 EUR",
            "The quick brown fox jumps",
            "今天天气很好，我们去公园",
            "扫描二维码关注我们",
            "Big and small",
        ]  # one row: the words' boxes overlap vertically although their tops differ
    )
    assert all(isinstance(b, BBox) and b.score is not None and b.score >= 0.9 for b in document["boxes"])


def test_boxes_lie_around_the_rendered_text(document: dict[str, Any]) -> None:
    for box, (text, (x1, y1, x2, y2)) in zip(document["boxes"], document["ink"], strict=True):
        assert box.label == text
        # the box holds all the ink (2 px tolerance) and hugs it (no side more than 12 px away)
        assert box.x1 <= x1 + 2 and box.y1 <= y1 + 2 and box.x2 >= x2 - 2 and box.y2 >= y2 - 2, (text, box)
        assert x1 - box.x1 <= 12 and y1 - box.y1 <= 12 and box.x2 - x2 <= 12 and box.y2 - y2 <= 12, (text, box)


def test_same_input_gives_the_same_output(document: dict[str, Any]) -> None:
    assert ocr_text_lines(image=document["image"].copy())["boxes"] == document["boxes"]


def test_one_engine_per_process_even_under_concurrency(monkeypatch: pytest.MonkeyPatch, engine: Any) -> None:
    import tools.ocr as ocr

    monkeypatch.setattr(ocr, "_engine", None)  # pretend nothing was built yet (restored afterwards)
    with ThreadPoolExecutor(8) as pool:
        built = list(pool.map(lambda _: ocr_engine(), range(8)))
    assert all(b is built[0] for b in built)


def test_concurrent_calls_give_the_same_result_as_serial(document: dict[str, Any]) -> None:
    image, _ = _render([((20, 60), "Hello 42", 40)], (300, 200))
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda im: ocr_text_lines(image=im)["boxes"], [image, document["image"], image]))
    assert results[1] == document["boxes"]
    assert results[0] == results[2] and [b.label for b in results[0]] == ["Hello 42"]


def test_blank_image_gives_empty_results(engine: Any) -> None:
    blank = PILImage.new("RGB", (320, 240), "white")
    assert ocr_text_lines(image=blank) == {"boxes": []}
    assert read_text(image=blank) == {"text": ""}


def test_page_gives_recognisable_words(engine: Any) -> None:
    from skimage import data

    text = read_text(image=PILImage.fromarray(data.page()))["text"]
    lines = text.splitlines()
    assert lines[0] == "Region-based segmentation"
    assert "markers of the coins" in text and "histogram of grey values" in text
    assert len(lines) == 7


def test_transparent_png_text_is_read(engine: Any) -> None:
    """Black text on a fully transparent canvas (all stored colours black) is composited, not lost."""
    if not CJK_FONT.is_file():
        pytest.skip(f"the font {CJK_FONT} is not installed")
    image = PILImage.new("RGBA", (400, 120), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((20, 30), "Transparent label", font=_font(32), fill=(0, 0, 0, 255))
    assert read_text(image=image)["text"] == "Transparent label"


def test_reading_order_groups_rows_by_vertical_overlap() -> None:
    def line(text: str, x1: float, y1: float, x2: float, y2: float) -> TextLine:
        return TextLine(text, 0.9, x1, y1, x2, y2)

    pieces = [
        line("right", 300, 12, 400, 40),
        line("second", 10, 60, 120, 90),
        line("left", 10, 0, 120, 50),
        line("中文", 130, 60, 180, 90),
        line("字", 185, 62, 200, 88),
    ]
    rows = reading_order(pieces)
    assert [[p.text for p in row] for row in rows] == [["left", "right"], ["second", "中文", "字"]]
    assert join_text(rows) == "left right\nsecond 中文字"  # no space between two CJK characters
    assert reading_order([]) == [] and join_text([]) == ""


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width``x``height`` pixels (and holds none): a decompression-bomb shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _truncated_png() -> PILImage.Image:
    buffer = io.BytesIO()
    PILImage.effect_noise((200, 200), 60).convert("RGB").save(buffer, format="PNG")
    return PILImage.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))


def _huge_png() -> PILImage.Image:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)  # under PIL's own hard limit
        return PILImage.open(io.BytesIO(_png_header(9000, 7000)))


BAD_INPUTS = {
    "bytes": (lambda: {"image": b"\x89PNG not really"}, "image", "PIL.Image.Image"),
    "path-string": (lambda: {"image": "photo.png"}, "image", "PIL.Image.Image"),
    "0x0": (lambda: {"image": PILImage.new("RGB", (0, 0))}, "image", "no pixels"),
    "truncated-png": (lambda: {"image": _truncated_png()}, "image", "cannot decode"),
    "huge-declared-size": (lambda: {"image": _huge_png()}, "image", "the limit is"),
    "min_score": (lambda: {"image": PILImage.new("RGB", (8, 8)), "min_score": 1.5}, "min_score", "between 0 and 1"),
}


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.spec.name)
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_tool_input_error_naming_the_argument(tool: Any, case: str) -> None:
    make, argument, message = BAD_INPUTS[case]
    with pytest.raises(ToolInputError, match=message) as err:
        tool(**make())
    assert err.value.argument == argument and err.value.tool == tool.spec.name


def test_specs_say_what_the_tools_do() -> None:
    by_name = {t.spec.name: t.spec for t in TOOLS}
    assert set(by_name) == {"read_text", "ocr_text_lines"}
    assert [o.type.value for o in by_name["read_text"].outputs] == ["text"]
    assert [o.type.value for o in by_name["ocr_text_lines"].outputs] == ["bboxes"]
    for spec in by_name.values():
        assert "OCR" in spec.description and spec.domains == ("image-perception",)
        assert [(i.name, i.type.value, i.required) for i in spec.inputs] == [
            ("image", "image", True),
            ("min_score", "number", False),
        ]


@pytest.mark.parametrize("package", ["rapidocr", "onnxruntime"])
def test_missing_backend_makes_the_tools_unavailable(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    import importlib.util

    from tools.registry import ToolRegistry

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    for tool in TOOLS:
        ok, reason = tool.available()
        assert not ok and package in reason and "pip install" in reason
    assert len(ToolRegistry(TOOLS).tool_graph()) == 0  # left out of the graph, never faked

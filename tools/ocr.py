"""Optical character recognition (OCR) offline on CPU, with the PP-OCR models that ship in the ``rapidocr`` wheel.

- ``read_text`` gives the text of an image as plain text, line by line in reading order.
- ``ocr_text_lines`` gives one box per line of text, labelled with the recognised string and scored with
  the recogniser's confidence, so a plan can highlight, crop or blur text ("blur the licence plate").

They are two tools rather than one with two outputs because the planner only accepts a solution whose
every output is used: a "what does the sign say" request wants text alone, a "blur the text" request boxes
alone.

The engine is rapidocr 3.x on onnxruntime with its default models (PP-OCR text detection and a
multilingual recogniser that reads English and Chinese, mixed too). The model files are taken from the
installed wheel by the paths rapidocr itself resolves for its defaults; a missing file makes the tools
unavailable instead of letting rapidocr download one. One engine is built per process, on first use, and
shared by both tools; calls into it are serialised with a lock, because rapidocr keeps per-call state on
the engine (each call still uses every CPU core through onnxruntime).

Deliberate departures from rapidocr's defaults:

- The 180-degree text-line classifier is off. On upright text it can only hurt, and it does: it flips a
  correctly read line of scikit-image's ``page()`` into nonsense. Upside-down text is not read; rotate the
  image first (``rotate_image``).
- rapidocr's own score filter is off (threshold 0) and each tool filters by ``min_score`` instead, so the
  engine's state never changes between calls.
- Reading order is computed here, not taken from rapidocr, whose fixed 10-pixel rule splits one line of
  large type into two when its words' boxes start at different heights (see :func:`reading_order`).

Boxes are in pixel coordinates of the image as given (EXIF orientation is not applied, the same frame as
``draw_boxes`` and ``blur_regions``), the axis-aligned hull of each detected text quadrilateral, clamped
to the image. rapidocr shrinks images whose long side exceeds 2000 pixels before detection and maps the
boxes back, so very large images are read at that resolution. No text is a normal result: ``[]`` and
``""``, never ``None``.
"""

from __future__ import annotations

import importlib.util
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image as PILImage

from graph.types import BBox
from tools.annotations import BBoxes, Image, Text
from tools.base import Tool
from tools.errors import ToolExecutionError, ToolInputError, ToolUnavailableError
from tools.image_ops import check_image

if TYPE_CHECKING:
    from rapidocr import RapidOCR

__all__ = [
    "TOOLS",
    "OcrTextLines",
    "ReadText",
    "TextLine",
    "join_text",
    "ocr_engine",
    "ocr_text_lines",
    "read_text",
    "reading_order",
    "recognise",
]

_DOMAINS = ("image-perception",)
_REINSTALL = "pip install rapidocr onnxruntime"

#: Two boxes are on the same line when their vertical extents overlap by at least this share of the
#: shorter one: words of one line overlap almost fully, consecutive lines barely (line spacing).
SAME_LINE_OVERLAP = 0.5


@dataclass(frozen=True)
class TextLine:
    """One recognised line: its text, the recogniser's confidence (0-1), and its box in image pixels."""

    text: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float

    def bbox(self) -> BBox:
        return BBox(x1=self.x1, y1=self.y1, x2=self.x2, y2=self.y2, label=self.text, score=self.score)


# --- the engine (one per process) ---------------------------------------------------------------------

_engine: RapidOCR | None = None
_engine_error: str | None = None
_build_lock = threading.Lock()
_call_lock = threading.Lock()


def _missing_backend() -> str | None:
    """Why OCR cannot run, or None; cheap: finds the packages without importing them."""
    for module, package in (("rapidocr", "rapidocr"), ("onnxruntime", "onnxruntime")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed ({_REINSTALL})"
    return _engine_error


def _default_model_paths() -> dict[str, Path]:
    """The files rapidocr's default detection and recognition models resolve to inside the wheel."""
    from rapidocr.inference_engine.base import FileInfo, InferSession
    from rapidocr.main import DEFAULT_CFG_PATH, root_dir
    from rapidocr.utils.parse_parameters import ParseParams

    cfg = ParseParams.load(DEFAULT_CFG_PATH)
    paths = {}
    for task in ("Det", "Rec"):
        section = cfg[task]
        info = InferSession.get_model_url(
            FileInfo(
                engine_type=section.engine_type,
                ocr_version=section.ocr_version,
                task_type=section.task_type,
                lang_type=section.lang_type,
                model_type=section.model_type,
            )
        )
        paths[task] = root_dir / "models" / Path(str(info["model_dir"])).name
    return paths


def ocr_engine() -> RapidOCR:
    """The process's rapidocr engine, built on first use; safe to call from any thread.

    Raises :class:`ToolUnavailableError` (and remembers why, so ``available()`` says so from then on)
    when rapidocr or onnxruntime cannot be imported or a default model file is missing from the wheel.
    """
    global _engine, _engine_error
    if _engine is not None:
        return _engine
    with _build_lock:
        if _engine is not None:
            return _engine
        if _engine_error is not None:
            raise ToolUnavailableError(_engine_error)
        try:
            import onnxruntime  # noqa: F401 - a broken install fails here, with its own message
            from rapidocr import RapidOCR

            paths = _default_model_paths()
        except Exception as exc:
            _engine_error = f"rapidocr cannot be imported: {type(exc).__name__}: {exc} ({_REINSTALL})"
            raise ToolUnavailableError(_engine_error) from exc
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            _engine_error = (
                f"rapidocr's default model is missing from the wheel ({', '.join(missing)}); "
                f"reinstall it ({_REINSTALL}); models are never downloaded"
            )
            raise ToolUnavailableError(_engine_error)
        try:
            engine = RapidOCR(
                params={
                    "Global.log_level": "error",  # "no text found" is a normal result, not a warning
                    "Global.use_cls": False,
                    "Global.text_score": 0.0,
                    "Det.model_path": str(paths["Det"]),
                    "Rec.model_path": str(paths["Rec"]),
                }
            )
            # rapidocr loads each model on first use; load them now so that a broken model file makes
            # the tools unavailable here rather than failing a call later (a no-op on versions without these)
            for loader in ("_load_det_model", "_load_rec_model"):
                getattr(engine, loader, lambda: None)()
        except Exception as exc:
            _engine_error = f"rapidocr failed to start: {type(exc).__name__}: {exc}"
            raise ToolUnavailableError(_engine_error) from exc
        _engine = engine
    return _engine


# --- recognition --------------------------------------------------------------------------------------


def recognise(image: PILImage.Image, min_score: float = 0.5, argument: str = "image") -> list[list[TextLine]]:
    """Every line of text in ``image`` with a confidence of at least ``min_score``, as rows in reading
    order (see :func:`reading_order`); ``[]`` when there is none."""
    check_image(image, argument)
    if not 0.0 <= min_score <= 1.0:
        raise ToolInputError(f"min_score must be between 0 and 1, got {min_score}", argument="min_score")
    engine = ocr_engine()
    pixels = _ocr_ready(image)
    with _call_lock:
        try:
            result = engine(pixels)
        except Exception as exc:
            raise ToolExecutionError(f"rapidocr failed: {type(exc).__name__}: {exc}") from exc
    boxes, texts, scores = (getattr(result, name, None) for name in ("boxes", "txts", "scores"))
    if boxes is None or texts is None or scores is None:  # nothing found: rapidocr leaves the fields None
        return []
    width, height = image.size
    lines = []
    for quad, text, score in zip(boxes, texts, scores):
        text = str(text).strip()
        if not text or float(score) < min_score:
            continue
        xs, ys = [float(p[0]) for p in quad], [float(p[1]) for p in quad]
        x1, y1 = round(max(0.0, min(xs)), 1), round(max(0.0, min(ys)), 1)
        x2, y2 = round(min(float(width), max(xs)), 1), round(min(float(height), max(ys)), 1)
        if x2 > x1 and y2 > y1:
            lines.append(TextLine(text, round(min(1.0, max(0.0, float(score))), 4), x1, y1, x2, y2))
    return reading_order(lines)


def _ocr_ready(image: PILImage.Image) -> PILImage.Image:
    """An image in a mode rapidocr reads right: RGB or L as they are; RGBA/LA kept so that rapidocr
    composites transparent text over a contrasting background; everything else (palette, CMYK, 16-bit,
    float) converted by PIL, because rapidocr would read a palette's indices as grey levels."""
    if image.mode in ("RGB", "L", "RGBA", "LA"):
        return image
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def reading_order(lines: list[TextLine]) -> list[list[TextLine]]:
    """Group boxes into rows, top to bottom, each row left to right.

    A box joins a row when its vertical extent overlaps the row's by at least :data:`SAME_LINE_OVERLAP`
    of the shorter of the two, so words of one line set in large type stay together however their boxes
    are staggered, while consecutive lines (which overlap little or not at all) stay apart. Columns side
    by side are read across, row by row.
    """
    rows: list[tuple[float, float, list[TextLine]]] = []  # (top, bottom, members)
    for line in sorted(lines, key=lambda b: ((b.y1 + b.y2) / 2, b.x1)):
        for index, (top, bottom, members) in enumerate(rows):
            overlap = min(bottom, line.y2) - max(top, line.y1)
            if overlap >= SAME_LINE_OVERLAP * min(bottom - top, line.y2 - line.y1):
                members.append(line)
                rows[index] = (min(top, line.y1), max(bottom, line.y2), members)
                break
        else:
            rows.append((line.y1, line.y2, [line]))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [sorted(members, key=lambda b: (b.x1, b.y1)) for _, _, members in rows]


def join_text(rows: list[list[TextLine]]) -> str:
    """Rows joined with newlines; pieces of a row with a space, except between two CJK characters."""
    out = []
    for row in rows:
        text = ""
        for piece in row:
            if text and not (_is_cjk(text[-1]) and _is_cjk(piece.text[0])):
                text += " "
            text += piece.text
        out.append(text)
    return "\n".join(out)


def _is_cjk(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK ", "HIRAGANA", "KATAKANA", "HANGUL", "FULLWIDTH", "IDEOGRAPHIC"))


# --- the tools ----------------------------------------------------------------------------------------


class _Ocr(Tool):
    """What both OCR tools share: availability and the shared engine."""

    domains = _DOMAINS
    expected_seconds = 1.0

    def available(self) -> tuple[bool, str]:
        missing = _missing_backend()
        return (False, missing) if missing else (True, "")

    def setup(self) -> None:
        ocr_engine()


class ReadText(_Ocr):
    name = "read_text"
    groups = ("image-understanding", "text-reading")
    conflicts_with = ("text-reading",)  # two readings of one image are alternatives

    def forward(self, image: Image, min_score: float = 0.5) -> Text:
        """Read the text in an image (OCR): recognise the printed words of a sign, document, screenshot,
        label, poster or photo and return them as plain text, line by line in reading order.

        Reads English and Chinese (also mixed), horizontal and upright. An image without text gives "".

        Args:
            image: the image to read.
            min_score: drop lines the recogniser is less sure of than this (0 to 1).

        Returns:
            text: the recognised text, one line of the image per line.
        """
        return join_text(recognise(image, min_score))


class OcrTextLines(_Ocr):
    name = "ocr_text_lines"
    groups = ("image-understanding",)

    def forward(self, image: Image, min_score: float = 0.5) -> BBoxes:
        """Find and read every line of text in an image (OCR with locations): one bounding box per text
        line, labelled with the recognised words and scored with the recogniser's confidence.

        Use it to locate, highlight, crop or blur text such as signs, captions or licence plates.
        Reads English and Chinese; boxes come in reading order. An image without text gives no boxes.

        Args:
            image: the image to read.
            min_score: drop lines the recogniser is less sure of than this (0 to 1).

        Returns:
            boxes: one box per line of text, in pixel coordinates, with label = the text, score = confidence.
        """
        return [line.bbox() for row in recognise(image, min_score) for line in row]


read_text = ReadText()
ocr_text_lines = OcrTextLines()

TOOLS: tuple[Tool, ...] = (read_text, ocr_text_lines)

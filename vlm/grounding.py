"""Grounding with InternVL: the prompts it was trained on, and a strict parser of its boxes.

InternVL answers grounding prompts with ``<ref>phrase</ref><box>[[x1, y1, x2, y2], …]</box>``, one
pair per phrase, possibly several pairs with prose or a code fence around them. Coordinates are
normalised to 0–1000 of the *original* image (not of the 448 px tiles), so a pixel coordinate is
``x · width / 1000``.

The parser is strict about structure and lenient only where the geometry says so:

- malformed output — no box at all, unbalanced or nested tags, a ``<ref>`` not directly followed by
  its ``<box>``, box contents that are not a JSON list of ``[x1, y1, x2, y2]`` number lists —
  raises :class:`GroundingParseError` carrying the raw text (box contents are read with ``json``,
  never evaluated);
- coordinates outside 0–1000 are clamped to the image;
- a box with no area after clamping (``x2 <= x1`` or ``y2 <= y1``, inverted ones included) is
  dropped, since no pixel box can represent it; the other boxes are kept.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from graph.types import BBox
from vlm.errors import GroundingParseError, ImageInputError

#: The referring-expression prompt of InternVL's grounding training data.
REFERRING_PROMPT = (
    "Please provide the bounding box coordinate of the region this sentence describes: <ref>{phrase}</ref>"
)
#: The detection prompt of InternVL's grounding/detection training data (all objects, labelled).
DETECT_ALL_PROMPT = "Please detect and label all objects in the following image and mark their positions."
#: Coordinates are normalised to this range.
NORMALISED_RANGE = 1000

_TAG = re.compile(r"<(/?)(ref|box)>")


def referring_prompt(phrase: str) -> str:
    """The prompt asking for the box(es) of ``phrase``.

    >>> referring_prompt("the red car")
    'Please provide the bounding box coordinate of the region this sentence describes: <ref>the red car</ref>'
    """
    return REFERRING_PROMPT.format(phrase=_clean_phrase(phrase))


def detection_prompt(category: str | None = None) -> str:
    """The prompt for detecting one ``category`` (every instance of it), or every object if ``None``.

    InternVL documents two grounding prompts: the referring one, and "detect and label all objects".
    A category is asked for with the referring prompt (the model returns all matching boxes in one
    ``<box>``); to detect several categories, ask once per category so each answer is labelled.

    >>> detection_prompt() == DETECT_ALL_PROMPT
    True
    """
    return DETECT_ALL_PROMPT if category is None else referring_prompt(category)


def parse_grounding(text: str, width: int, height: int, default_label: str | None = None) -> list[BBox]:
    """Pixel boxes of the original ``width`` × ``height`` image from a grounding answer.

    A box directly after ``<ref>label</ref>`` gets that label; a ``<box>`` without a ``<ref>`` gets
    ``default_label`` (pass the queried phrase).

    >>> parse_grounding("<ref>cat</ref><box>[[100, 0, 600, 1000]]</box>", 200, 100)
    [BBox(x1=20.0, y1=0.0, x2=120.0, y2=100.0, label='cat', score=None)]
    """
    _check_size(width, height)
    boxes: list[BBox] = []
    found = 0
    for label, coords in _scan(text):
        for quad in coords:
            found += 1
            box = to_pixel_box(quad, width, height, label if label is not None else default_label)
            if box is not None:
                boxes.append(box)
    if found == 0:
        raise GroundingParseError("the model output has no <box>[[x1, y1, x2, y2]]</box>", raw=text)
    return boxes


def to_pixel_box(quad: Sequence[float], width: int, height: int, label: str | None = None) -> BBox | None:
    """One 0–1000 box as a pixel box clamped to the image, or ``None`` if it has no area there."""
    x1, y1, x2, y2 = (float(v) for v in quad)
    px1, px2 = (_clamp(v * width / NORMALISED_RANGE, width) for v in (x1, x2))
    py1, py2 = (_clamp(v * height / NORMALISED_RANGE, height) for v in (y1, y2))
    if px2 <= px1 or py2 <= py1:
        return None
    return BBox(x1=px1, y1=py1, x2=px2, y2=py2, label=label)


def format_grounding(refs: Iterable[tuple[str | None, Sequence[Sequence[float]]]]) -> str:
    """Render (label, 0–1000 boxes) pairs the way InternVL writes them (for fakes and tests).

    >>> format_grounding([("cat", [[1, 2, 3, 4]]), (None, [[5, 6, 7, 8]])])
    '<ref>cat</ref><box>[[1, 2, 3, 4]]</box>\\n<box>[[5, 6, 7, 8]]</box>'
    """
    lines = []
    for label, quads in refs:
        body = "[" + ", ".join("[" + ", ".join(_number(v) for v in quad) + "]" for quad in quads) + "]"
        ref = "" if label is None else f"<ref>{label}</ref>"
        lines.append(f"{ref}<box>{body}</box>")
    return "\n".join(lines)


def _scan(text: str) -> list[tuple[str | None, list[list[float]]]]:
    """Walk the tags in order, pairing each ``<ref>`` with the ``<box>`` right after it."""
    tags = list(_TAG.finditer(text))
    found: list[tuple[str | None, list[list[float]]]] = []
    i = 0
    while i < len(tags):
        tag = tags[i]
        closing, name = tag.group(1) == "/", tag.group(2)
        if closing:
            _fail(f"</{name}> without a matching <{name}>", text, at=tag.start())
        end = tags[i + 1] if i + 1 < len(tags) else None
        if end is None or end.group(0) != f"</{name}>":
            _fail(f"<{name}> at position {tag.start()} is not closed by </{name}>", text, at=tag.start())
        inner = text[tag.end() : end.start()]
        if name == "box":
            found.append((None, _read_box(inner, text)))
            i += 2
            continue
        label = inner.strip()
        if not label:
            _fail("empty <ref></ref>", text, at=tag.start())
        box = tags[i + 2] if i + 2 < len(tags) else None
        if box is None or box.group(0) != "<box>" or text[end.end() : box.start()].strip():
            _fail(f"<ref>{label}</ref> is not followed by its <box>", text, at=tag.start())
        close = tags[i + 3] if i + 3 < len(tags) else None
        if close is None or close.group(0) != "</box>":
            _fail(f"<box> at position {box.start()} is not closed by </box>", text, at=box.start())
        found.append((label, _read_box(text[box.end() : close.start()], text)))
        i += 4
    return found


def _read_box(inner: str, raw: str) -> list[list[float]]:
    try:
        value: Any = json.loads(inner, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        _fail(f"box contents {inner.strip()!r} are not a JSON list of boxes ({exc})", raw)
    if not isinstance(value, list) or not value:
        _fail(f"box contents {inner.strip()!r} must be a non-empty list of [x1, y1, x2, y2] boxes", raw)
    quads: list[list[float]] = []
    for quad in value:
        if not isinstance(quad, list) or len(quad) != 4:
            _fail(f"{quad!r} is not an [x1, y1, x2, y2] box (4 numbers)", raw)
        for v in quad:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                _fail(f"box coordinate {v!r} in {quad!r} is not a finite number", raw)
        quads.append([float(v) for v in quad])
    return quads


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a coordinate")


def _fail(message: str, raw: str, **details: Any) -> NoReturn:
    raise GroundingParseError(f"malformed grounding output: {message}", raw=raw, **details)


def _clamp(value: float, limit: int) -> float:
    return min(max(value, 0.0), float(limit))


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageInputError(f"image size must be positive, got {width}x{height}", width=width, height=height)


def _clean_phrase(phrase: str) -> str:
    cleaned = " ".join(phrase.split())
    if not cleaned:
        raise ValueError("a grounding phrase must not be empty")
    if _TAG.search(cleaned):
        raise ValueError(f"a grounding phrase must not contain <ref>/<box> tags: {phrase!r}")
    return cleaned


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))

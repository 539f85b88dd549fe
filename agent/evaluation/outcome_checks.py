"""What a run gave the user (:class:`Observed`), and the checks of an expected answer against it.

A check looks at what the user would look at: the answer text, and the *last* output of the type the
check is about (the last image for an image check, the last number for a count). Each failed check is a
short sentence saying what was wrong, so a report reads as a list of user-visible mistakes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.evaluation.outcome_cases import AudioCheck, Expect, ImageCheck
from graph.types import ResourceType

if TYPE_CHECKING:
    from PIL import Image as PILImage

#: A pixel counts as edited when a channel differs from the reference by more than this (0-255).
EDIT_THRESHOLD = 24
#: Mean absolute difference (0-255) under which an image "looks like" the reference.
LIKE_TOLERANCE = 12.0
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")

#: Speech to text, for audio checks: a file -> the words heard.
Transcriber = Callable[[Path], str]


@dataclass(frozen=True)
class Output:
    """One result value the user got: an image (PIL), a number, a text, a file path, boxes."""

    type: ResourceType
    value: Any
    subtask: int | None = None


@dataclass
class Observed:
    """How a run ended, as the user sees it.

    ``status``: the run's status (succeeded, unsupported, empty, failed, partial, …) or ``crashed`` when
    the agent raised something other than a typed error.
    """

    status: str
    answer: str = ""
    error: dict[str, Any] | None = None
    outputs: list[Output] = field(default_factory=list)
    seconds: float = 0.0

    def last(self, rtype: ResourceType) -> Output | None:
        found = [o for o in self.outputs if o.type == rtype]
        return found[-1] if found else None

    def texts(self) -> list[str]:
        return [str(o.value) for o in self.outputs if o.type == ResourceType.TEXT]

    def reason(self) -> str:
        """Everything a refusal or an empty result says about why: message, details, answer."""
        parts = [self.answer]
        if self.error:
            parts.append(str(self.error.get("message", "")))
            parts.append(_flatten(self.error.get("details")))
        return "\n".join(p for p in parts if p)


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k} {_flatten(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(_flatten(v) for v in value)
    return "" if value is None else str(value)


def names_all(text: str, wanted: Sequence[str]) -> list[str]:
    """The entries of ``wanted`` (each ``a|b``: any alternative) that ``text`` does not name."""
    low = text.lower()
    return [w for w in wanted if not any(alt.strip().lower() in low for alt in w.split("|"))]


def check_answer(
    expect: Expect,
    observed: Observed,
    reference: PILImage.Image | None = None,
    transcribe: Transcriber | None = None,
) -> list[str]:
    """Each way the observed answer misses ``expect`` (empty: every check holds).

    ``reference`` is the case's first image input (for size, rotation and edit checks); ``transcribe``
    turns speech into text for ``audio.says``.
    """
    problems: list[str] = []
    if expect.contains:
        shown = "\n".join([observed.answer, *observed.texts()])
        problems += [f"the answer does not say {w!r}" for w in names_all(shown, expect.contains)]
    if expect.number is not None:
        problems += _check_number(observed, expect.number, expect.tolerance, "number")
    if expect.count is not None:
        problems += _check_number(observed, float(expect.count), 0.0, "count")
    if expect.boxes is not None:
        problems += _check_boxes(observed, expect.boxes)
    if expect.image is not None:
        problems += check_image(expect.image, observed, reference)
    if expect.audio is not None:
        problems += check_audio(expect.audio, observed, transcribe)
    return problems


def _check_number(observed: Observed, wanted: float, tolerance: float, what: str) -> list[str]:
    """The last number output, else a final text holding exactly one distinct number (``TOTAL 6.21``)."""
    number = observed.last(ResourceType.NUMBER)
    if number is not None:
        try:
            got = float(number.value)
        except (TypeError, ValueError):
            return [f"the {what} is not a number: {number.value!r}"]
    else:
        texts = observed.texts()
        found = sorted({float(n.replace(",", ".")) for n in _NUMBER.findall(texts[-1])}) if texts else []
        if len(found) != 1:
            return [f"no {what} in the result (expected {wanted:g})"]
        got = found[0]
    if abs(got - wanted) > tolerance:
        return [f"the {what} is {got:g}, expected {wanted:g}"]
    return []


def _check_boxes(observed: Observed, wanted: int) -> list[str]:
    boxes = observed.last(ResourceType.BBOXES)
    if boxes is None:
        return ["no boxes in the result"]
    if len(boxes.value) != wanted:
        return [f"the result holds {len(boxes.value)} boxes, expected {wanted}"]
    return []


def check_image(check: ImageCheck, observed: Observed, reference: PILImage.Image | None) -> list[str]:
    """The last image against ``check``; size and edit checks compare with ``reference``."""
    output = observed.last(ResourceType.IMAGE)
    if output is None:
        return ["no image in the result"]
    image: PILImage.Image = output.value
    problems: list[str] = []
    if check.grey and not is_grey(image):
        problems.append("the image is not greyscale")
    if check.size is not None and image.size != tuple(check.size):
        problems.append(f"the image is {image.width}x{image.height}, expected {check.size[0]}x{check.size[1]}")
    if check.width is not None and image.width != check.width:
        problems.append(f"the image is {image.width} pixels wide, expected {check.width}")
    needs_reference = check.same_size or check.smaller or check.brighter or check.like or check.edited
    if not needs_reference:
        return problems
    if reference is None:
        return [*problems, "the case has no image input to compare the result with"]
    if check.same_size and image.size != reference.size:
        shown = f"{reference.width}x{reference.height}"
        problems.append(f"the image is {image.width}x{image.height}, not the input's {shown}")
    if check.smaller and not (
        image.width <= reference.width and image.height <= reference.height and image.size != reference.size
    ):
        problems.append(f"the image ({image.width}x{image.height}) is not a part of the input")
    if check.brighter and _mean_luma(image) <= _mean_luma(reference) + 5:
        problems.append("the image is not brighter than the input")
    expected = apply_ops(reference, check.like or [])
    if check.like:
        problems += _compare(image, expected, check.like)
    if check.edited is not None:
        problems += _check_edited(image, expected, check.edited)
    return problems


def is_grey(image: PILImage.Image) -> bool:
    """Greyscale mode, or RGB whose channels agree everywhere (within rounding)."""
    import numpy as np

    if image.mode in ("L", "LA", "1", "I", "F", "I;16"):
        return True
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int(np.abs(rgb[..., 0] - rgb[..., 1]).max()) <= 2 and int(np.abs(rgb[..., 1] - rgb[..., 2]).max()) <= 2


def _mean_luma(image: PILImage.Image) -> float:
    import numpy as np

    return float(np.asarray(image.convert("L"), dtype=np.float32).mean())


def apply_ops(image: PILImage.Image, ops: Sequence[str]) -> PILImage.Image:
    """``image`` after the named operations, in order (see :data:`~agent.evaluation.outcome_cases.IMAGE_OPS`)."""
    from PIL import Image

    out = image.convert("RGB")
    for op in ops:
        if op == "grey":
            out = out.convert("L").convert("RGB")
        elif op == "rotate_cw":
            out = out.transpose(Image.Transpose.ROTATE_270)
        elif op == "rotate_ccw":
            out = out.transpose(Image.Transpose.ROTATE_90)
        elif op == "rotate_180":
            out = out.transpose(Image.Transpose.ROTATE_180)
        elif op == "flip_horizontal":
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        elif op == "flip_vertical":
            out = out.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        else:  # resize:WxH (validated when the suite was loaded)
            width, height = op.partition(":")[2].split("x")
            out = out.resize((int(width), int(height)))
    return out


def _difference(image: PILImage.Image, expected: PILImage.Image) -> Any:
    import numpy as np

    got = np.asarray(image.convert("RGB"), dtype=np.int16)
    want = np.asarray(expected.convert("RGB"), dtype=np.int16)
    return np.abs(got - want)


def _compare(image: PILImage.Image, expected: PILImage.Image, ops: Sequence[str]) -> list[str]:
    done = " then ".join(ops)
    if image.size != expected.size:
        gives = f"{expected.width}x{expected.height}"
        return [f"the image is {image.width}x{image.height}, not what {done} gives ({gives})"]
    mean = float(_difference(image, expected).mean())
    if mean > LIKE_TOLERANCE:
        return [f"the image does not look like the input after {done} (mean difference {mean:.0f}/255)"]
    return []


def _check_edited(image: PILImage.Image, expected: PILImage.Image, bounds: tuple[float, float]) -> list[str]:
    if image.size != expected.size:
        return []  # a size mismatch is reported by the size and likeness checks
    fraction = float((_difference(image, expected).max(axis=-1) > EDIT_THRESHOLD).mean())
    low, high = bounds
    if fraction < low:
        return [f"too little of the image changed ({fraction:.1%}; expected at least {low:.1%})"]
    if fraction > high:
        return [f"too much of the image changed ({fraction:.1%}; expected at most {high:.1%})"]
    return []


def check_audio(check: AudioCheck, observed: Observed, transcribe: Transcriber | None) -> list[str]:
    """The last audio output lasts ``min_seconds`` and, transcribed, says each of ``says``."""
    output = observed.last(ResourceType.AUDIO)
    if output is None:
        return ["no audio in the result"]
    path = Path(output.value)
    seconds = audio_seconds(path)
    if seconds < check.min_seconds:
        return [f"the audio lasts {seconds:.2f} s, expected at least {check.min_seconds:g} s"]
    if not check.says:
        return []
    if transcribe is None:
        return ["the speech cannot be checked: no speech-to-text here"]
    heard = transcribe(path)
    return [f"the speech does not say {w!r} (heard {heard!r})" for w in names_all(heard, check.says)]


def audio_seconds(path: Path) -> float:
    """How long an audio file plays (0 for one that does not decode)."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return float(container.duration / av.time_base)
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except Exception:  # PyAV raises many error types for bytes that are no audio
        return 0.0
    return 0.0

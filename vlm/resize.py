"""PIL's bicubic resize split across threads, with output bit-identical to one ``Image.resize`` call.

The fallback of :mod:`vlm.bicubic` (used where its compiled loops are not built): Pillow does the
arithmetic, this module only cuts the work into bands. :func:`pass_order` serves both.

Why it is exact: PIL resizes in two separable passes (horizontal, vertical) through an 8-bit
intermediate image, and every output pixel of a pass depends only on one row (horizontal pass) or one
column (vertical pass) of that pass's input, with integer coefficients that depend only on the full
input and output lengths. So the first pass can run on bands of whole rows (horizontal) or columns
(vertical) of the source, the bands are stacked into the same intermediate PIL would build, and the
second pass runs on bands of the other direction. No ``box`` argument is used (its float32 offsets
change the coefficients).

Which pass PIL runs first depends on the Pillow version: older ones always go horizontal first; newer
ones go vertical first when the height shrinks by more than twice as many pixels as the width does.
:func:`pass_order` finds out once, on a small probe image, which of the two rules the installed Pillow
follows; if neither matches, splitting is reported unavailable and callers resize in one piece.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: ``(pixels, x0, y0)``: a finished band of the output as uint8 ``(h, w, 3)``, and where it starts.
Sink = Callable[[np.ndarray, int, int], None]
Rule = Literal["horizontal_first", "shrink_rule"]


def _bicubic() -> int:
    from PIL import Image

    return Image.Resampling.BICUBIC


@lru_cache(maxsize=1)
def pass_order() -> Rule | None:
    """How the installed Pillow orders its two passes, checked on probe images; None if unknown.

    >>> pass_order() in ("horizontal_first", "shrink_rule", None)
    True
    """
    from PIL import Image

    rng = np.random.default_rng(0)

    def agrees(width: int, height: int, target: tuple[int, int], horizontal_first: bool) -> bool:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        whole = np.asarray(image.resize(target, _bicubic()))
        first = (target[0], height) if horizontal_first else (width, target[1])
        return bool(np.array_equal(np.asarray(image.resize(first, _bicubic()).resize(target, _bicubic())), whole))

    # Height shrinks by far more than the width: the two known rules disagree here.
    tall = (37, 120, (36, 20))
    if not agrees(64, 40, (50, 70), horizontal_first=True):  # both rules go horizontal first here
        return None
    if agrees(*tall, horizontal_first=False) and not agrees(*tall, horizontal_first=True):
        return "shrink_rule"
    if agrees(*tall, horizontal_first=True) and not agrees(*tall, horizontal_first=False):
        return "horizontal_first"
    return None


def horizontal_first(size: tuple[int, int], target: tuple[int, int], rule: Rule) -> bool:
    """Whether PIL resizes ``size`` to ``target`` horizontally first, under ``rule``."""
    if rule == "horizontal_first":
        return True
    shrink_y = size[1] - target[1]
    return not (shrink_y > 0 and shrink_y > (size[0] - target[0]) * 2)


@dataclass
class SplitResize:
    """One resize cut into two rounds of independent jobs; run every ``first_jobs()`` job, then
    every ``second_jobs(sink)`` job (the first round pastes its bands into one intermediate image).

    >>> from PIL import Image
    >>> image = Image.effect_noise((300, 200), 40).convert("RGB")
    >>> split, pieces = SplitResize(image, (448, 448), parts=2, rule="horizontal_first"), {}
    >>> for job in split.first_jobs(): job()
    >>> for job in split.second_jobs(lambda px, x0, y0: pieces.update({(x0, y0): px})): job()
    >>> whole = np.concatenate([pieces[k] for k in sorted(pieces)], axis=1)
    >>> bool(np.array_equal(whole, np.asarray(image.resize((448, 448), Image.Resampling.BICUBIC))))
    True
    """

    image: PILImage
    target: tuple[int, int]
    parts: int
    rule: Rule
    _done: list[bool] = field(default_factory=list, init=False, repr=False)
    _middle: PILImage | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._horizontal_first = horizontal_first(self.image.size, self.target, self.rule)
        # First pass over row bands (horizontal first) or column bands (vertical first) of the source.
        length = self.image.height if self._horizontal_first else self.image.width
        self._first_cuts = cuts(length, self.parts)
        self._done = [False] * (len(self._first_cuts) - 1)
        # The image between the passes: first-pass output, full length in the other direction.
        width, height = self.image.size
        self._middle_size = (self.target[0], height) if self._horizontal_first else (width, self.target[1])

    def first_jobs(self) -> list[Callable[[], None]]:
        from PIL import Image

        if len(self._done) > 1:  # the bands are pasted into it side by side, by the threads themselves
            self._middle = Image.new(self.image.mode, self._middle_size, None)
        return [partial(self._first, i) for i in range(len(self._done))]

    def second_jobs(self, sink: Sink) -> list[Callable[[], None]]:
        middle = self._intermediate()
        length = middle.width if self._horizontal_first else middle.height
        bounds = cuts(length, self.parts)
        return [partial(self._second, middle, a, b, sink) for a, b in zip(bounds, bounds[1:])]

    def _first(self, i: int) -> None:
        a, b = self._first_cuts[i], self._first_cuts[i + 1]
        width, height = self.image.size
        if self._horizontal_first:
            band, size = self.image.crop((0, a, width, b)), (self._middle_size[0], b - a)
        else:
            band, size = self.image.crop((a, 0, b, height)), (b - a, self._middle_size[1])
        resized = band.resize(size, _bicubic())
        if self._middle is None:
            self._middle = resized
        else:  # disjoint rows (or columns) of one image: safe from several threads
            self._middle.paste(resized, (0, a) if self._horizontal_first else (a, 0))
        self._done[i] = True

    def _intermediate(self) -> PILImage:
        if self._middle is None or not all(self._done):
            raise RuntimeError("second_jobs() called before every first job ran")
        return self._middle

    def _second(self, middle: PILImage, a: int, b: int, sink: Sink) -> None:
        if self._horizontal_first:  # vertical pass over column bands of the intermediate
            band = middle.crop((a, 0, b, middle.height)).resize((b - a, self.target[1]), _bicubic())
            sink(np.asarray(band), a, 0)
        else:  # horizontal pass over row bands
            band = middle.crop((0, a, middle.width, b)).resize((self.target[0], b - a), _bicubic())
            sink(np.asarray(band), 0, a)


def cuts(length: int, parts: int) -> list[int]:
    """Boundaries of ``parts`` near-equal bands of ``length`` (fewer when it is shorter): ``[0, …, length]``."""
    parts = max(1, min(parts, length))
    return [length * k // parts for k in range(parts + 1)]

"""Pillow's 8-bit bicubic resize, byte for byte, 2-3x faster: coefficients here, the two passes in C.

Pillow resizes in two separable passes through an 8-bit intermediate. Each pass turns every output
position into a weighted sum of a few input positions, with weights computed in double precision and
rounded to 22-bit fixed point; the sum is an integer, shifted and clipped to 0-255. This module computes
the same weights with the same double operations in the same order (so the same integers), and
``vlm._kernels`` applies them with integer arithmetic — whose result does not depend on the order of
the sum, which is what lets it run over many pixels at once where Pillow goes pixel by pixel.

The pass order is Pillow's own (:func:`vlm.resize.pass_order`). :func:`available` checks the whole
thing against ``Image.resize`` on probe images once; anything else (the extension not compiled, an
unknown Pillow, a platform whose compiler fused Pillow's multiply-adds differently) makes it report
False and callers resize with Pillow. Passes can be split into bands of rows and run on threads (the C
loops release the GIL); every band of a pass reads the whole input of that pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from vlm.resize import Rule, horizontal_first, pass_order

if TYPE_CHECKING:
    from types import ModuleType

_kernels: ModuleType | None  # typed by vlm/_kernels.pyi when built
try:
    from vlm import _kernels
except ImportError:  # built optionally (pyproject.toml); without it Pillow does the resizing
    _kernels = None

_PRECISION = float(1 << 22)
_SUPPORT = 2.0  # bicubic's support, in input pixels at scale 1


@dataclass(frozen=True)
class Taps:
    """One pass's weights: output ``i`` is the sum over ``t < bounds[i, 1]`` of
    ``coeffs[i, t] * input[bounds[i, 0] + t]`` (fixed point, 22 fractional bits)."""

    bounds: np.ndarray  # int32 (outputs, 2): first input, number of taps
    coeffs: np.ndarray  # int32 (outputs, ksize)


@lru_cache(maxsize=256)
def taps(in_size: int, out_size: int) -> Taps:
    """Pillow's bicubic weights for resampling ``in_size`` positions to ``out_size`` (no box).

    Every double operation is Pillow's, in its order: the sum of the raw weights runs tap by tap, as
    Pillow's loop does, not pairwise as ``np.sum`` would.

    >>> t = taps(4, 2)
    >>> t.bounds.tolist(), t.coeffs.sum(axis=1).tolist()
    ([[0, 4], [0, 4]], [4194304, 4194304])
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    scale = float(in_size) / out_size  # Pillow: (double)(float(in1) - float(in0)) / outSize, exact here
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    ksize = math.ceil(support) * 2 + 1
    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    first = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)  # C's (int) truncates
    count = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_size) - first
    offsets = np.arange(ksize)
    used = offsets[None, :] < count[:, None]
    weights = np.where(
        used, _bicubic((first[:, None] + offsets[None, :] - center[:, None] + 0.5) * (1.0 / filterscale)), 0.0
    )
    total = np.zeros(out_size)
    for t in range(ksize):  # sequential, like Pillow's ``ww += w``; unused taps add an exact 0.0
        total = total + weights[:, t]
    weights = np.where(total[:, None] != 0.0, weights / np.where(total == 0.0, 1.0, total)[:, None], weights)
    scaled = weights * _PRECISION
    fixed = np.where(weights < 0, np.trunc(-0.5 + scaled), np.trunc(0.5 + scaled))
    bounds = np.stack([first, count], axis=1).astype(np.int32)
    return Taps(bounds=bounds, coeffs=np.ascontiguousarray(fixed, dtype=np.int32))


def _bicubic(x: np.ndarray) -> np.ndarray:
    # Pillow's bicubic kernel with a = -0.5, each branch in its own operation order
    x = np.abs(x)
    near = ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * -0.5
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def kernels() -> ModuleType | None:
    """The compiled tiling loops (`vlm._kernels`: resize passes, normalisation), or None if not built."""
    return _kernels


@dataclass(frozen=True)
class Plan:
    """How one resize runs: its passes in Pillow's order, each an axis (0 rows, 1 columns) and its taps.

    ``shapes[k]`` is the array shape after pass ``k``; a pass Pillow skips (the size along its axis
    does not change) is left out, as Pillow leaves it out.
    """

    passes: tuple[tuple[int, Taps], ...]
    shapes: tuple[tuple[int, int, int], ...]


def plan(size: tuple[int, int], target: tuple[int, int], rule: Rule, channels: int = 3) -> Plan:
    """The passes that resize a ``size`` (width, height) image to ``target`` under Pillow's ``rule``."""
    (width, height), (out_w, out_h) = size, target
    order = ("h", "v") if horizontal_first(size, target, rule) else ("v", "h")
    passes: list[tuple[int, Taps]] = []
    shapes: list[tuple[int, int, int]] = []
    shape = (height, width, channels)
    for kind in order:
        if kind == "h" and out_w != width:
            passes.append((1, taps(width, out_w)))
            shape = (shape[0], out_w, channels)
        elif kind == "v" and out_h != height:
            passes.append((0, taps(height, out_h)))
            shape = (out_h, shape[1], channels)
        else:
            continue
        shapes.append(shape)
    return Plan(tuple(passes), tuple(shapes))


def run_pass(src: np.ndarray, dst: np.ndarray, axis: int, weights: Taps, rows: slice = slice(None)) -> None:
    """Run one pass for output rows ``rows`` of ``dst`` (uint8 ``(rows, width, channels)``, C order).

    A vertical pass (axis 0) reads all of ``src`` for any band; a horizontal one reads the same rows.
    """
    if _kernels is None:
        raise RuntimeError("vlm._kernels is not built; use Pillow's resize")
    if axis == 0:
        _kernels.vertical(src, dst[rows], weights.bounds[rows], weights.coeffs[rows])
    else:
        _kernels.horizontal(src[rows], dst[rows], weights.bounds, weights.coeffs)


def resize(pixels: np.ndarray, target: tuple[int, int], rule: Rule) -> np.ndarray:
    """``pixels`` (uint8 ``(h, w, c)``) resized to ``target`` (width, height), equal to Pillow's bicubic.

    >>> from PIL import Image
    >>> image = Image.effect_noise((300, 200), 40).convert("RGB")
    >>> rule = pass_order()
    >>> ours = resize(np.asarray(image), (448, 448), rule) if available() else None
    >>> ours is None or bool(np.array_equal(ours, np.asarray(image.resize((448, 448), Image.Resampling.BICUBIC))))
    True
    """
    src = np.ascontiguousarray(pixels, dtype=np.uint8)
    steps = plan((src.shape[1], src.shape[0]), target, rule, src.shape[2])
    for (axis, weights), shape in zip(steps.passes, steps.shapes):
        dst = np.empty(shape, dtype=np.uint8)
        run_pass(src, dst, axis, weights)
        src = dst
    return src if steps.passes else src.copy()


@lru_cache(maxsize=1)
def available() -> Rule | None:
    """Pillow's pass rule if the compiled passes reproduce ``Image.resize`` here, else None.

    Checked once, on probe images covering up- and down-scaling along each axis and both pass orders.
    """
    from PIL import Image

    rule = pass_order()
    if _kernels is None or rule is None:
        return None
    rng = np.random.default_rng(1)
    probes = [
        ((37, 120), (36, 20)),
        ((64, 40), (50, 70)),
        ((300, 200), (448, 448)),
        ((911, 37), (448, 448)),
        ((1, 5), (3, 1)),
    ]
    for (width, height), target in probes:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        if not np.array_equal(
            resize(np.asarray(image), target, rule), np.asarray(image.resize(target, Image.Resampling.BICUBIC))
        ):
            return None
    return rule

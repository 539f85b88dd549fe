"""vlm.bicubic: the compiled resize passes give Pillow's bytes, for any size pair, band split or not."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from PIL import Image
from skimage import data

import vlm.bicubic
from vlm.bicubic import Taps, available, kernels, plan, resize, run_pass, taps
from vlm.resize import pass_order

BICUBIC = Image.Resampling.BICUBIC


@pytest.fixture(scope="module")
def rule() -> str:
    # `make install` compiles vlm/_kernels.c; without it ToG still works (Pillow resizes) but slower,
    # and a silent fallback in CI would hide a broken build, so this is a failure, not a skip.
    assert kernels() is not None, "vlm._kernels is not built: reinstall with a C compiler (make install)"
    found = available()
    assert found is not None, f"the compiled passes disagree with this Pillow (pass order {pass_order()})"
    return found


def pil(pixels: np.ndarray, target: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize(target, BICUBIC))


def test_equals_pillow_on_random_size_pairs(rule):
    rng = np.random.default_rng(7)
    shapes = set()  # (shrinks width, shrinks height): each kind of pair must be among those compared
    for _ in range(400):
        width, height, out_w, out_h = (int(v) for v in rng.integers(1, 700, 4))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        assert np.array_equal(resize(pixels, (out_w, out_h), rule), pil(pixels, (out_w, out_h))), (
            width,
            height,
            out_w,
            out_h,
        )
        shapes.add((out_w < width, out_h < height))
    assert shapes == {(True, True), (True, False), (False, True), (False, False)}


@pytest.mark.parametrize(
    ("size", "target"),
    [
        ((1, 1), (448, 448)),  # a single pixel stretched
        ((5000, 3), (448, 448)),  # extreme shrink along one axis, stretch along the other
        ((3, 5000), (448, 448)),
        ((448, 900), (448, 448)),  # width unchanged: Pillow skips that pass
        ((900, 448), (448, 448)),
        ((448, 448), (448, 448)),  # nothing to do: a copy
        ((640, 2000), (100, 90)),  # height shrinks more than twice the width: vertical pass first
        ((3000, 1875), (448, 448)),
    ],
)
def test_equals_pillow_on_edge_sizes(rule, size, target):
    pixels = np.random.default_rng(size[0] * size[1]).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    assert np.array_equal(resize(pixels, target, rule), pil(pixels, target))


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_equals_pillow_on_photos(rule, name):
    pixels = getattr(data, name)()
    for target in [(448, 448), (1344, 896), (896, 1344), (123, 77)]:
        assert np.array_equal(resize(pixels, target, rule), pil(pixels, target)), target


def test_one_channel_images_equal_pillow_too(rule):
    page = data.page()  # greyscale, Pillow's 8-bit single-band loops
    for target in [(448, 448), (100, 700)]:
        got = resize(page[:, :, None], target, rule)[:, :, 0]
        assert np.array_equal(got, np.asarray(Image.fromarray(page).resize(target, BICUBIC)))


def test_a_pass_split_into_row_bands_equals_the_whole_pass(rule):
    pixels = np.random.default_rng(3).integers(0, 256, (301, 517, 3), dtype=np.uint8)
    for target in [(448, 448), (200, 90)]:
        steps = plan((517, 301), target, rule)
        src = pixels
        for (axis, weights), shape in zip(steps.passes, steps.shapes):
            dst = np.zeros(shape, dtype=np.uint8)
            cuts = [0, 1, shape[0] // 3, shape[0] - 1, shape[0]]
            for a, b in zip(cuts, cuts[1:]):
                run_pass(src, dst, axis, weights, slice(a, b))
            src = dst
        assert np.array_equal(src, pil(pixels, target))


def test_weights_sum_to_one_in_fixed_point_and_stay_inside_the_input():
    for in_size, out_size in [(600, 448), (448, 1344), (3000, 448), (1, 7), (7, 1)]:
        t = taps(in_size, out_size)
        assert t.bounds.shape == (out_size, 2) and t.coeffs.shape[0] == out_size
        assert (t.bounds[:, 0] >= 0).all() and (t.bounds.sum(axis=1) <= in_size).all()
        # each row's rounded weights sum to 1.0 (2**22) give or take the rounding of its taps
        assert (np.abs(t.coeffs.sum(axis=1) - (1 << 22)) <= t.coeffs.shape[1]).all()


def test_bad_buffers_raise_instead_of_touching_memory(rule):
    module = kernels()
    src = np.zeros((10, 10, 3), dtype=np.uint8)
    good = taps(10, 5)
    with pytest.raises(ValueError, match="outside"):  # taps past the end of the input
        module.vertical(src, np.zeros((5, 10, 3), np.uint8), good.bounds + np.int32([[8, 0]]), good.coeffs)
    with pytest.raises(ValueError, match="same width"):
        module.vertical(src, np.zeros((5, 9, 3), np.uint8), good.bounds, good.coeffs)
    with pytest.raises(ValueError, match="format"):  # not uint8
        module.horizontal(src.astype(np.int16), np.zeros((10, 5, 3), np.uint8), good.bounds, good.coeffs)
    with pytest.raises(ValueError, match="contiguous|format"):
        module.horizontal(src, np.zeros((10, 5, 3), np.uint8), good.bounds.astype(np.int64), good.coeffs)
    with pytest.raises((ValueError, BufferError)):  # a strided view is not accepted as is
        module.horizontal(src[:, ::2], np.zeros((10, 5, 3), np.uint8), good.bounds, good.coeffs)
    with pytest.raises(ValueError, match="bounds must be"):
        module.horizontal(src, np.zeros((10, 4, 3), np.uint8), good.bounds, good.coeffs)
    with pytest.raises((ValueError, TypeError)):  # read-only destination
        frozen = np.zeros((10, 5, 3), np.uint8)
        frozen.flags.writeable = False
        module.horizontal(src, frozen, good.bounds, good.coeffs)


def test_bad_tiles_for_the_compiled_normalisation_raise(rule):
    module = kernels()
    band, lut = np.zeros((4, 448, 3), np.uint8), np.zeros((3, 256), np.float32)
    tiles = np.zeros((2, 3, 448, 448), np.float32)
    module.normalise(band, tiles, lut, 0, 444, 1)  # the last rows of tile 0: fits
    with pytest.raises(ValueError, match="do not fit"):  # rows 445..448 would spill past tile 1
        module.normalise(band, tiles, lut, 0, 445 + 448, 1)
    with pytest.raises(ValueError, match="do not fit"):  # a band wider than the grid's columns
        module.normalise(np.zeros((4, 449, 3), np.uint8), tiles, lut, 0, 0, 1)
    with pytest.raises(ValueError, match="do not fit"):
        module.normalise(band, tiles, lut[:, :255].copy(), 0, 0, 1)
    with pytest.raises(ValueError, match="format"):
        module.normalise(band, tiles.astype(np.float64), lut, 0, 0, 1)


def test_availability_is_refused_when_the_passes_disagree_with_pillow(rule, monkeypatch):
    # the probe really compares bytes: off-by-one weights are caught and Pillow takes over
    def skewed(in_size: int, out_size: int) -> Taps:
        t = taps.__wrapped__(in_size, out_size)
        return Taps(bounds=t.bounds, coeffs=t.coeffs + np.int32(1 << 13))

    monkeypatch.setattr(vlm.bicubic, "taps", skewed)
    vlm.bicubic.available.cache_clear()
    try:
        assert available() is None
    finally:
        monkeypatch.undo()
        vlm.bicubic.available.cache_clear()
    assert available() == rule


def test_docstring_examples_run():
    assert doctest.testmod(vlm.bicubic).failed == 0

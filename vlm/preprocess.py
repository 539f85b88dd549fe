"""InternVL's dynamic high-resolution tiling, bit-exact with the reference, with less work around PIL.

The reference (InternVL 1.5+'s ``dynamic_preprocess``, restated step by step in
``benchmarks/naive_internvl_tiling.py``) picks a grid of ``cols × rows`` 448-px tiles whose aspect ratio
is closest to the image's, resizes the whole image once to ``(448·cols, 448·rows)`` with PIL bicubic,
crops the tiles row-major, appends a 448×448 thumbnail of the whole image when there is more than one
tile, and normalises every crop with ImageNet mean/std the way torchvision does
(``ToTensor``: ``x / 255`` in float32; ``Normalize``: ``(x - mean) / std`` in float32).

This module produces the same float32 bits with less work:

* resizing is most of the cost. :mod:`vlm.bicubic` reproduces Pillow's bicubic byte for byte with
  compiled loops that are 2-3x faster than ``Image.resize`` on one thread, and runs each of its two
  passes in bands of rows on a small thread pool (the loops release the GIL). Where the extension is not
  built, or does not match the installed Pillow, Pillow itself resizes (split into bands by
  :mod:`vlm.resize` when more than one worker is allowed);
* tiles are never cropped or stacked: each band of the final resized image is written straight into
  its slots of one preallocated ``pixel_values`` array, by the thread that produced it;
* normalisation runs the reference's three float32 operations in the same order (so rounding is
  identical). The compiled path looks every value up in a 256-entry table per band that those same
  operations made; the fallback applies them tile by tile with numpy, which keeps the working set in
  cache (1.3-1.5x faster than one pass over the whole array, 3-4x faster than per-crop torch ops).

Grid choice reproduces the reference exactly, including its order among grids with the same tile count
(the iteration order of a Python set of tuples, deterministic in CPython). That order only decides exact
ties when ``min_num > 1``; there transformers' ``GotOcr2ImageProcessorPil``, which orders columns-first,
can pick another grid (a 10×4 image with ``min_num = max_num = 4``: reference 4×1, GotOcr2 2×2). With
``min_num = 1``, InternVL's setting, the two agree everywhere.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

import numpy as np

from vlm import bicubic
from vlm.errors import TooManyImagesError
from vlm.images import MAX_TILES_CAP, ImageLimits, check_images, load_image
from vlm.resize import Rule, SplitResize, cuts, pass_order

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image as PILImage

IMAGE_SIZE = 448
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_MEAN32 = np.asarray(IMAGENET_MEAN, dtype=np.float32)
_STD32 = np.asarray(IMAGENET_STD, dtype=np.float32)
_255 = np.float32(255)
#: A cap, not a tuned optimum (only 2 cores were measured): thinner bands add crops and hand-offs.
_MAX_WORKERS = 4

#: (target width and height, destination rows of ``pixel_values``, tile columns)
_Target = tuple[tuple[int, int], np.ndarray, int]


@dataclass(frozen=True)
class Batch:
    """Model-ready pixels for several images: their crops stacked, and how many crops each has.

    ``pixel_values`` is float32 ``(sum(num_patches), 3, 448, 448)``; image ``k``'s crops are the
    ``num_patches[k]`` rows after those of the images before it (thumbnail last).
    """

    pixel_values: np.ndarray
    num_patches: list[int]

    @property
    def num_images(self) -> int:
        return len(self.num_patches)


def find_grid(
    width: int, height: int, min_num: int = 1, max_num: int = 12, image_size: int = IMAGE_SIZE
) -> tuple[int, int]:
    """The ``(cols, rows)`` tile grid the InternVL reference chooses for a ``width × height`` image.

    Closest aspect ratio wins; on an exact tie a later (larger) grid replaces the best only while the
    image has more than half the pixels the larger grid covers.

    >>> find_grid(640, 480), find_grid(800, 1300), find_grid(633, 633), find_grid(634, 634)
    ((4, 3), (2, 3), (1, 1), (2, 2))
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    _check_min_max(min_num, max_num)
    aspect = width / height
    area = width * height
    best_diff = float("inf")
    best = (1, 1)
    for cols, rows in _candidate_grids(min_num, max_num):
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best_diff, best = diff, (cols, rows)
        elif diff == best_diff and area > 0.5 * image_size * image_size * cols * rows:
            best = (cols, rows)
    return best


@lru_cache(maxsize=128)
def _candidate_grids(min_num: int, max_num: int) -> tuple[tuple[int, int], ...]:
    # Built as the reference builds it: the same set, filled in the same order, then a stable sort by
    # tile count. The set's iteration order is what breaks same-count ties (see the module docstring).
    grids = {
        (i, j)
        for n in range(min_num, max_num + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_num <= i * j <= max_num
    }
    return tuple(sorted(grids, key=lambda grid: grid[0] * grid[1]))


def num_crops(
    width: int,
    height: int,
    min_num: int = 1,
    max_num: int = 12,
    image_size: int = IMAGE_SIZE,
    use_thumbnail: bool = True,
) -> int:
    """How many 448 crops (so ``256 ×`` that many image tokens) a ``width × height`` image becomes.

    >>> num_crops(448, 448), num_crops(1344, 896), num_crops(1344, 896, use_thumbnail=False)
    (1, 7, 6)
    """
    cols, rows = find_grid(width, height, min_num, max_num, image_size)
    return cols * rows + (1 if use_thumbnail and cols * rows > 1 else 0)


def preprocess_image(
    image: Any,
    max_num: int = 12,
    min_num: int = 1,
    image_size: int = IMAGE_SIZE,
    use_thumbnail: bool = True,
    workers: int | None = None,
) -> np.ndarray:
    """One image's InternVL crops as float32 ``(N, 3, image_size, image_size)``.

    ``image`` is an RGB PIL image, or anything :func:`vlm.images.load_image` opens. ``workers`` threads
    resize and normalise (default: one per CPU, up to 4; ``1``: the calling thread only).

    >>> from PIL import Image
    >>> preprocess_image(Image.new("RGB", (1344, 896)), max_num=12).shape
    (7, 3, 448, 448)
    """
    _check_tile_range(min_num, max_num)
    rgb = _as_rgb(image)
    grid = find_grid(rgb.width, rgb.height, min_num, max_num, image_size)
    out = np.empty((_count(grid, use_thumbnail), 3, image_size, image_size), dtype=np.float32)
    _tile_into(rgb, out, grid, image_size, use_thumbnail, _resolve_workers(workers))
    return out


def preprocess_images(
    images: Sequence[Any],
    max_num: int | None = None,
    limits: ImageLimits | None = None,
    min_num: int = 1,
    image_size: int = IMAGE_SIZE,
    use_thumbnail: bool = True,
    workers: int | None = None,
) -> Batch:
    """Load, check and tile several images into one :class:`Batch` (one allocation, no stacking copy).

    ``max_num`` defaults to ``limits.max_tiles`` and may not exceed it. Images may be PIL images, paths
    or encoded bytes; every one is checked against ``limits`` before any is tiled.

    >>> from PIL import Image
    >>> batch = preprocess_images([Image.new("RGB", (640, 480)), Image.new("RGB", (300, 300))])
    >>> batch.num_patches, batch.pixel_values.shape
    ([13, 1], (14, 3, 448, 448))
    """
    limits = limits or ImageLimits()
    check_images(images, limits)
    max_num = _tile_budget(max_num, limits)
    _check_tile_range(min_num, max_num)
    loaded = [load_image(source, limits) for source in images]
    grids = [find_grid(im.width, im.height, min_num, max_num, image_size) for im in loaded]
    return _batch(loaded, grids, image_size, use_thumbnail, _resolve_workers(workers))


def preprocess_frames(
    frames: Sequence[Any],
    limits: ImageLimits | None = None,
    image_size: int = IMAGE_SIZE,
    workers: int | None = None,
) -> Batch:
    """Video frames as InternVL takes them: each frame resized to one 448 tile, no thumbnail.

    (The reference tiles frames with ``max_num=1``, whose only grid is 1×1.)

    >>> from PIL import Image
    >>> preprocess_frames([Image.new("RGB", (64, 48))] * 3).num_patches
    [1, 1, 1]
    """
    limits = limits or ImageLimits()
    loaded = [load_image(frame, limits) for frame in frames]
    return _batch(loaded, [(1, 1)] * len(loaded), image_size, False, _resolve_workers(workers))


def to_torch(batch: Batch | np.ndarray, dtype: torch.dtype | None = None, device: Any = None) -> torch.Tensor:
    """``pixel_values`` as a torch tensor on ``device`` in ``dtype`` (zero-copy when neither changes).

    >>> import torch
    >>> from PIL import Image
    >>> to_torch(preprocess_frames([Image.new("RGB", (64, 48))]), torch.bfloat16).shape
    torch.Size([1, 3, 448, 448])
    """
    import torch

    values = batch.pixel_values if isinstance(batch, Batch) else batch
    tensor = torch.from_numpy(values)
    if dtype is None and device is None:
        return tensor
    return tensor.to(device=device, dtype=dtype)


def default_workers() -> int:
    """Threads used when ``workers`` is not given: one per available CPU, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(_MAX_WORKERS, cpus))


# --- internals ------------------------------------------------------------------------------------


def _check_tile_range(min_num: int, max_num: int) -> None:
    if max_num > MAX_TILES_CAP:
        raise TooManyImagesError(
            f"max_num={max_num} tiles per image; InternVL is never run with more than {MAX_TILES_CAP}",
            max_num=max_num,
            limit=MAX_TILES_CAP,
        )
    _check_min_max(min_num, max_num)


def _check_min_max(min_num: int, max_num: int) -> None:
    if not 1 <= min_num <= max_num:
        raise ValueError(f"need 1 <= min_num <= max_num, got min_num={min_num}, max_num={max_num}")


def _tile_budget(max_num: int | None, limits: ImageLimits) -> int:
    if max_num is None:
        return limits.max_tiles
    if max_num > limits.max_tiles:
        raise TooManyImagesError(
            f"{max_num} tiles per image requested; the limit is {limits.max_tiles}",
            max_num=max_num,
            limit=limits.max_tiles,
        )
    return max_num


def _as_rgb(image: Any) -> PILImage:
    from PIL import Image

    if isinstance(image, Image.Image) and image.mode == "RGB":
        return image
    return load_image(image)


def _count(grid: tuple[int, int], use_thumbnail: bool) -> int:
    tiles = grid[0] * grid[1]
    return tiles + (1 if use_thumbnail and tiles > 1 else 0)


def _batch(
    images: list[PILImage], grids: list[tuple[int, int]], image_size: int, use_thumbnail: bool, workers: int
) -> Batch:
    counts = [_count(grid, use_thumbnail) for grid in grids]
    out = np.empty((sum(counts), 3, image_size, image_size), dtype=np.float32)
    start = 0
    for image, grid, count in zip(images, grids, counts):
        _tile_into(image, out[start : start + count], grid, image_size, use_thumbnail, workers)
        start += count
    return Batch(pixel_values=out, num_patches=counts)


def _tile_into(
    image: PILImage, out: np.ndarray, grid: tuple[int, int], size: int, use_thumbnail: bool, workers: int
) -> None:
    """Write the crops of one RGB image into ``out`` (its preallocated rows of ``pixel_values``)."""
    cols, rows = grid
    tiles = cols * rows
    # (target size, destination rows of ``out``, tile columns): the grid, then the thumbnail
    targets = [((size * cols, size * rows), out[:tiles], cols)]
    if use_thumbnail and tiles > 1:
        targets.append(((size, size), out[tiles:], 1))
    rule = bicubic.available()
    if rule is not None:
        _tile_exact(np.asarray(image), targets, size, workers, rule)
    else:
        _tile_with_pillow(image, targets, size, workers)


def _tile_exact(pixels: np.ndarray, targets: list[_Target], size: int, workers: int, rule: Rule) -> None:
    """Resize with :mod:`vlm.bicubic` (Pillow's bytes, faster loops): pass by pass, every target's
    pass cut into row bands run side by side; the thread that finishes a band of the last pass
    normalises it into its tiles."""
    stages: defaultdict[int, list[Callable[[], None]]] = defaultdict(list)  # pass number -> its jobs
    for target, dst, tile_cols in targets:
        steps = bicubic.plan((pixels.shape[1], pixels.shape[0]), target, rule, pixels.shape[2])
        sink = partial(_normalise_compiled, out=dst, cols=tile_cols)
        if not steps.passes:  # already the target size: Pillow would copy it
            stages[0].append(partial(sink, pixels, 0, 0))
        src = pixels
        for k, ((axis, weights), shape) in enumerate(zip(steps.passes, steps.shapes)):
            resized = np.empty(shape, dtype=np.uint8)
            last = k == len(steps.passes) - 1
            for band in _bands(shape[0], workers):
                stages[k].append(partial(_exact_band, src, resized, axis, weights, band, sink if last else None))
            src = resized
    pool = _pool(workers) if workers > 1 else None
    for k in sorted(stages):  # a pass starts when every band of the pass before it is done
        if pool is None:
            for job in stages[k]:
                job()
        else:
            _run_all(pool, stages[k])


def _exact_band(
    src: np.ndarray,
    dst: np.ndarray,
    axis: int,
    weights: bicubic.Taps,
    band: slice,
    sink: Callable[[np.ndarray, int, int], None] | None,
) -> None:
    bicubic.run_pass(src, dst, axis, weights, band)
    if sink is not None:
        sink(dst[band], 0, band.start)


def _normalise_compiled(pixels: np.ndarray, x0: int, y0: int, out: np.ndarray, cols: int) -> None:
    """:func:`_normalise_region` in one compiled pass, through a table of its own results for 0..255."""
    kernels = bicubic.kernels()
    assert kernels is not None  # only called where bicubic.available()
    kernels.normalise(pixels, out, _normalised_values(), x0, y0, cols)


@lru_cache(maxsize=1)
def _normalised_values() -> np.ndarray:
    # float32 (3, 256): what _normalise_region makes of each uint8 value in each band, made by it, so
    # the table cannot drift from the arithmetic it stands for
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    table = np.empty((1, 3, 256, 256), dtype=np.float32)
    _normalise_region(ramp, 0, 0, table, cols=1, size=256)
    return np.ascontiguousarray(table[0, :, 0, :])


def _bands(length: int, parts: int) -> list[slice]:
    bounds = cuts(length, parts)
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def _tile_with_pillow(image: PILImage, targets: list[_Target], size: int, workers: int) -> None:
    """Where :mod:`vlm.bicubic` is unavailable: Pillow's own resize, split into bands if it can be."""
    from PIL import Image

    rule = pass_order() if workers > 1 else None
    if rule is None:
        for target, dst, tile_cols in targets:
            pixels = np.asarray(image.resize(target, Image.Resampling.BICUBIC))
            _normalise_region(pixels, 0, 0, dst, tile_cols, size)
        return
    splits = [(SplitResize(image, target, workers, rule), dst, tile_cols) for target, dst, tile_cols in targets]
    pool = _pool(workers)
    _run_all(pool, [job for split, _, _ in splits for job in split.first_jobs()])
    _run_all(
        pool,
        [
            job
            for split, dst, tile_cols in splits
            for job in split.second_jobs(partial(_normalise_region, out=dst, cols=tile_cols, size=size))
        ],
    )


def _run_all(pool: ThreadPoolExecutor, jobs: list[Callable[[], None]]) -> None:
    futures = [pool.submit(job) for job in jobs]
    wait(futures)  # every job finishes writing before a failure (if any) propagates
    for future in futures:
        future.result()


def _normalise_region(pixels: np.ndarray, x0: int, y0: int, out: np.ndarray, cols: int, size: int) -> None:
    """Normalise a uint8 ``(h, w, 3)`` band of the resized image, whose top-left is ``(x0, y0)``, into
    the parts of the tiles it covers: ``out[k, c] = (tile_k[c] / 255 - mean[c]) / std[c]`` in float32.

    The order and precision of the three operations are torchvision's ``ToTensor`` + ``Normalize``, so
    every value is bit-identical; uint8 -> float32 is exact. Tile by tile keeps one tile's source and
    destination in cache across the four passes.
    """
    height, width = pixels.shape[:2]
    for row in range(y0 // size, (y0 + height - 1) // size + 1):
        top, bottom = max(y0, row * size), min(y0 + height, (row + 1) * size)
        for col in range(x0 // size, (x0 + width - 1) // size + 1):
            left, right = max(x0, col * size), min(x0 + width, (col + 1) * size)
            tile = pixels[top - y0 : bottom - y0, left - x0 : right - x0]
            dst = out[
                row * cols + col, :, top - row * size : bottom - row * size, left - col * size : right - col * size
            ]
            dst[...] = tile.transpose(2, 0, 1)
            np.divide(dst, _255, out=dst)
            np.subtract(dst, _MEAN32[:, None, None], out=dst)
            np.divide(dst, _STD32[:, None, None], out=dst)


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _resolve_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return min(workers, _MAX_WORKERS)


def _pool(workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="vlm-tiling")
        return pool


def _forget_pools_after_fork() -> None:
    # A forked child (a Ray or multiprocessing worker) inherits the dict but none of the threads.
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_after_fork)

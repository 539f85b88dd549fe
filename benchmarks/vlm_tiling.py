"""Tiling benchmark: ``vlm.preprocess`` against the naive InternVL reference, for 1, 6, 12 and 40 tiles.

Each case is a photo (scikit-image's coffee, resized beforehand) at a size that InternVL tiles into
1, 6, 12 or 40 tiles (plus the thumbnail). Both implementations run on the same image, interleaved,
``repeat`` times; the figures are medians, and the outputs must be bit-identical (``tiling_identical``).

The naive reference is timed with one torch thread and with as many as ours uses, and the faster of
the two is the baseline (on a busy 2-core machine extra torch threads make it several times slower;
counting that would flatter us). Two speed-ups:

* ``tiling_speedup_N`` — ours with :func:`vlm.preprocess.default_workers` threads against that baseline
  (the reference's PIL resizes are single-threaded however many threads torch has);
* ``tiling_speedup_serial_N`` — ours with ``workers=1`` against the same baseline.

``tiling_resize_ms_N`` is the time of Pillow's two bicubic resizes alone (tile grid and thumbnail), the
bulk of the reference's time: ours beats it because its resize (:mod:`vlm.bicubic`) is Pillow's
arithmetic in faster loops, not Pillow.

Used by ``benchmarks/vlm.py``; ``python -m benchmarks.vlm_tiling [--quick]`` runs it alone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks._common import emit_json, fmt, machine, median, print_table, timed
from benchmarks.naive_internvl_tiling import naive_pixel_values
from vlm.bicubic import available as compiled_resize
from vlm.preprocess import IMAGE_SIZE, default_workers, find_grid, preprocess_image

#: tiles -> (photo size, max_num) that InternVL tiles into exactly that many tiles.
CASES: dict[int, tuple[tuple[int, int], int]] = {
    1: ((600, 600), 12),
    6: ((1500, 1000), 12),
    12: ((1600, 1200), 12),
    40: ((3000, 1875), 40),
}
TARGET_SPEEDUP = 2.0


def run_tiling_benchmark(quick: bool = False, repeat: int = 7, tiles: Sequence[int] = tuple(CASES)) -> dict[str, Any]:
    """Time ours against the naive reference per case; medians in ms, speed-ups, and identity.

    ``quick`` caps ``repeat`` at 3 (every case still runs, so every key is present); ``tiles`` picks
    a subset of the cases (for smoke tests).
    """
    import torch
    from PIL import Image
    from skimage import data

    repeat = max(1, min(repeat, 3) if quick else repeat)
    workers = default_workers()
    photo = Image.fromarray(data.coffee())
    threads_before = torch.get_num_threads()
    figures: dict[str, Any] = {
        "tiling_workers": workers,
        "tiling_repeat": repeat,
        # which resize ours used: vlm.bicubic's compiled passes, or Pillow (the fallback)
        "tiling_resize": "compiled" if compiled_resize() else "pillow",
    }
    identical = True
    try:
        for count in tiles:
            size, max_num = CASES[count]
            case, same = _time_case(photo.resize(size, Image.Resampling.LANCZOS), max_num, repeat, workers)
            figures.update({f"tiling_{name}_{count}": value for name, value in case.items()})
            identical &= same
    finally:
        torch.set_num_threads(threads_before)
    figures["tiling_identical"] = identical
    return figures


def _time_case(image: Any, max_num: int, repeat: int, workers: int) -> tuple[dict[str, float], bool]:
    import torch
    from PIL import Image

    cols, rows = find_grid(image.width, image.height, max_num=max_num)

    def naive(threads: int) -> np.ndarray:
        torch.set_num_threads(threads)
        return naive_pixel_values(image, max_num=max_num)

    def resizes() -> None:
        image.resize((IMAGE_SIZE * cols, IMAGE_SIZE * rows), Image.Resampling.BICUBIC)
        if cols * rows > 1:
            image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)

    # Order matters: torch's idle OpenMP threads keep spinning for a moment after a multi-threaded op,
    # so ``naive_k`` goes first and the single-threaded ``naive_1`` and ``serial`` stand between it and
    # ``ours`` (otherwise ours would share its cores with spinning threads that belong to the baseline).
    runs: dict[str, Callable[[], Any]] = {}
    if workers > 1:
        runs["naive_k"] = lambda: naive(workers)
    runs.update(
        naive_1=lambda: naive(1),
        serial=lambda: preprocess_image(image, max_num=max_num, workers=1),
        ours=lambda: preprocess_image(image, max_num=max_num, workers=workers),
        resize=resizes,
    )
    reference = naive(1)
    identical = bool(np.array_equal(runs["ours"](), reference) and np.array_equal(runs["serial"](), reference))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):  # interleaved, so load changes hit every variant alike
        for name, call in runs.items():
            ms, _, error = timed(call)
            if error is not None:
                raise error
            times[name].append(ms)
    ms = {name: median(values) for name, values in times.items()}
    baseline = min(ms["naive_1"], ms.get("naive_k", float("inf")))
    return {
        "naive_ms": round(baseline, 2),
        "ms": round(ms["ours"], 2),
        "speedup": round(baseline / ms["ours"], 2),
        "serial_ms": round(ms["serial"], 2),
        "speedup_serial": round(baseline / ms["serial"], 2),
        "resize_ms": round(ms["resize"], 2),
    }, identical


def tiling_table_rows(figures: dict[str, Any]) -> list[list[str]]:
    """One table row per case, for a printed report."""
    rows = []
    for tiles, ((width, height), _) in CASES.items():
        if f"tiling_ms_{tiles}" not in figures:
            continue
        rows.append(
            [
                f"{tiles} tile{'s' if tiles > 1 else ''} ({width}x{height})",
                fmt(figures[f"tiling_naive_ms_{tiles}"]),
                fmt(figures[f"tiling_ms_{tiles}"]),
                fmt(figures[f"tiling_speedup_{tiles}"]) + "x",
                fmt(figures[f"tiling_serial_ms_{tiles}"]),
                fmt(figures[f"tiling_speedup_serial_{tiles}"]) + "x",
                fmt(figures[f"tiling_resize_ms_{tiles}"]),
            ]
        )
    return rows


TABLE_COLUMNS = [
    "case",
    "naive ms",
    "ours ms",
    "speed-up",
    "ours 1-thread ms",
    "1-thread speed-up",
    "Pillow resizes ms",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats per case")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    figures = run_tiling_benchmark(quick=args.quick, repeat=args.repeat)
    print(machine())
    print_tiling_table(figures)
    emit_json(figures)


def print_tiling_table(figures: dict[str, Any]) -> None:
    """The human-readable tiling table (shared with ``benchmarks/vlm.py``)."""
    print_table(
        f"InternVL tiling, medians of {figures['tiling_repeat']} (ours: {figures['tiling_workers']} threads, "
        f"{figures['tiling_resize']} resize; "
        f"target {TARGET_SPEEDUP:g}x; identical output: {figures['tiling_identical']})",
        TABLE_COLUMNS,
        tiling_table_rows(figures),
    )


if __name__ == "__main__":
    main()

"""VLM benchmark: InternVL tiling against the naive reference, and batched against sequential answers.

Two parts, one run, one JSON line:

* **Tiling** (:mod:`benchmarks.vlm_tiling`): ``vlm.preprocess`` against the naive reference for 1, 6,
  12 and 40 tiles on a real photo, outputs checked bit-identical (``tiling_identical``), medians of
  interleaved repeats; ``tiling_speedup_N`` per case.
* **Batching**: the tiny random InternVL (:func:`vlm.testing.tiny_internvl`, real transformers classes
  loaded from disk) on :class:`vlm.backends.TransformersBackend`. Eight different requests (one
  448 px tile each, different questions, greedy, ``--new-tokens`` new tokens at most) are answered
  one by one through the backend (the strongest sequential baseline: no queue in the way), then by
  eight concurrent callers through :class:`vlm.worker.ModelWorker`, which batches them into one
  ``generate`` call. ``batch8_speedup`` is sequential time over batched time (medians of interleaved
  repeats; target 2.5x); ``batch8_identical`` says whether every caller got exactly its sequential
  answer. The tiny model has the real model's shapes per tile (256 image tokens, 1,025 ViT tokens) but
  a tiny width, so the figure says how well batching amortises per-step overhead, not what an 8B
  model gains on a GPU.

``--device cuda`` runs the batching part in bf16 on the GPU when there is one (it falls back to CPU,
saying so, when there is not); on CPU it runs in fp32 on one torch thread, the setting timings are
stable under. ``--quick`` (3 repeats each) finishes in well under a minute.

Run ``python -m benchmarks.vlm [--quick] [--device cuda]``. The last line of stdout is a JSON object
with ``tiling_speedup_{1,6,12,40}``, ``tiling_identical``, ``batch8_speedup`` and the figures behind them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit_json, fmt, machine, median, print_table, single_thread_torch, timed
from benchmarks.vlm_tiling import CASES, print_tiling_table, run_tiling_benchmark

BATCH = 8
TARGET_BATCH_SPEEDUP = 2.5
#: Per-case figures of the tiling part (``tiling_<name>_<tiles>``).
TILING_FIGURES = ("naive_ms", "ms", "speedup", "serial_ms", "speedup_serial", "resize_ms")


def run_batch_benchmark(
    quick: bool = False, repeat: int = 5, device: str = "cpu", new_tokens: int = 64, batch: int = BATCH
) -> dict[str, Any]:
    """Sequential vs worker-batched answers of ``batch`` requests on the tiny model; medians in ms."""
    import numpy as np
    import torch
    from PIL import Image

    from vlm.backends import TransformersBackend
    from vlm.backends.base import ChatRequest, GenerationConfig
    from vlm.testing import tiny_internvl
    from vlm.worker import ModelWorker

    repeat = max(1, min(repeat, 3) if quick else repeat)
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device: the batching part runs on the CPU instead of {device}", file=sys.stderr)
        device = "cpu"
    threads_before = torch.get_num_threads()
    if not device.startswith("cuda"):
        single_thread_torch()
    rng = np.random.default_rng(0)
    generation = GenerationConfig(max_new_tokens=new_tokens)
    requests = [
        ChatRequest(
            question=f"Question {k}: what is in the picture?",
            images=[Image.fromarray(rng.integers(0, 256, (448, 448, 3), dtype=np.uint8))],
            generation=generation,
        )
        for k in range(batch)
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="tiny-internvl-") as folder:
            backend = TransformersBackend(tiny_internvl(folder), device=device)
            with (
                ModelWorker(backend, max_batch_size=batch, max_wait_ms=20.0) as worker,
                ThreadPoolExecutor(batch) as callers,
            ):

                def sequential() -> list[str]:
                    return [backend.batch_chat([request])[0] for request in requests]

                def batched() -> list[str]:
                    return list(callers.map(lambda request: worker.submit(request).result(timeout=600), requests))

                reference = sequential()  # also loads the model and warms both paths up
                identical = batched() == reference
                times: dict[str, list[float]] = {"sequential": [], "batched": []}
                for _ in range(repeat):  # interleaved, so load changes hit both alike
                    for name, call in (("sequential", sequential), ("batched", batched)):
                        ms, answers, error = timed(call)
                        if error is not None:
                            raise error
                        identical &= answers == reference
                        times[name].append(ms)
                largest = worker.stats.largest_batch
                dtype = str(backend.dtype).removeprefix("torch.")
                resolved = str(backend.device)
    finally:
        torch.set_num_threads(threads_before)
    seq, bat = median(times["sequential"]), median(times["batched"])
    return {
        "batch8_sequential_ms": round(seq, 2),
        "batch8_batched_ms": round(bat, 2),
        "batch8_speedup": round(seq / bat, 2),
        "batch8_identical": identical,
        "batch8_largest_batch": largest,
        "batch8_new_tokens": new_tokens,
        "batch8_repeat": repeat,
        "batch8_device": resolved,
        "batch8_dtype": dtype,
    }


def run_benchmark(
    quick: bool = False,
    repeat: int | None = None,
    device: str = "cpu",
    tiles: Sequence[int] = tuple(CASES),
    new_tokens: int = 64,
) -> dict[str, Any]:
    """Both parts. Every tiling key is present; those of cases left out (``tiles``) are ``None``."""
    tiling = run_tiling_benchmark(quick=quick, repeat=repeat or 7, tiles=tiles)
    figures: dict[str, Any] = {f"tiling_{name}_{n}": None for n in CASES for name in TILING_FIGURES}
    figures.update(tiling)
    figures.update(run_batch_benchmark(quick=quick, repeat=repeat or 5, device=device, new_tokens=new_tokens))
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats per measurement (under a minute)")
    parser.add_argument("--repeat", type=int, default=None, help="repeats (default: 7 tiling, 5 batching)")
    parser.add_argument("--device", default="cpu", help="where the batching part runs: cpu, cuda, auto")
    parser.add_argument("--new-tokens", type=int, default=64, help="max new tokens per answer")
    parser.add_argument(
        "--tiles", default=",".join(map(str, CASES)), help=f"tiling cases to run, of {','.join(map(str, CASES))}"
    )
    args = parser.parse_args(argv)
    tiles = [int(t) for t in args.tiles.split(",") if t.strip()]
    unknown = sorted(set(tiles) - set(CASES))
    if unknown:
        parser.error(f"unknown tiling case(s) {unknown}; choose from {sorted(CASES)}")
    figures = run_benchmark(args.quick, args.repeat, args.device, tiles, args.new_tokens)
    print(machine())
    print_tiling_table(figures)
    print_table(
        f"Tiny InternVL, {BATCH} requests of 1 tile, up to {figures['batch8_new_tokens']} new tokens, "
        f"{figures['batch8_device']} {figures['batch8_dtype']}, medians of {figures['batch8_repeat']} "
        f"(target {TARGET_BATCH_SPEEDUP:g}x; identical answers: {figures['batch8_identical']})",
        ["mode", "ms for 8", "requests/s", "speed-up"],
        [
            [
                "one by one (backend)",
                fmt(figures["batch8_sequential_ms"]),
                fmt(BATCH * 1000 / figures["batch8_sequential_ms"]),
                "1.00x",
            ],
            [
                f"8 callers, worker (largest batch {figures['batch8_largest_batch']})",
                fmt(figures["batch8_batched_ms"]),
                fmt(BATCH * 1000 / figures["batch8_batched_ms"]),
                fmt(figures["batch8_speedup"]) + "x",
            ],
        ],
    )
    emit_json(figures)


if __name__ == "__main__":
    main()

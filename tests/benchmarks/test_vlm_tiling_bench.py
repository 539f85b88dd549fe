"""The tiling benchmark runs, checks identity and reports every figure (timings are not asserted)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_tiling_benchmark_reports_identical_output_and_speedups():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO_ROOT))
        bench = importlib.import_module("benchmarks.vlm_tiling")
    figures = bench.run_tiling_benchmark(quick=True, repeat=1, tiles=(1, 6))
    assert figures["tiling_identical"] is True
    for tiles in (1, 6):
        for name in ("naive_ms", "ms", "speedup", "serial_ms", "speedup_serial", "resize_ms"):
            assert figures[f"tiling_{name}_{tiles}"] > 0
    assert len(bench.tiling_table_rows(figures)) == 2
    assert set(bench.CASES) == {1, 6, 12, 40}

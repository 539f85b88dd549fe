"""benchmarks/vlm.py runs end to end in a reduced mode and reports every key with the right type."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO_ROOT))
        return importlib.import_module("benchmarks.vlm")


def test_reduced_run_prints_every_key_as_the_last_line(bench, capsys) -> None:
    bench.main(["--quick", "--repeat", "1", "--tiles", "1", "--new-tokens", "4"])
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["tiling_identical"] is True
    assert figures["tiling_speedup_1"] > 0 and figures["tiling_naive_ms_1"] > 0
    for tiles in (6, 12, 40):  # not run in this mode: present, and null
        assert f"tiling_speedup_{tiles}" in figures and figures[f"tiling_speedup_{tiles}"] is None
    for key in ("batch8_speedup", "batch8_sequential_ms", "batch8_batched_ms"):
        assert isinstance(figures[key], float) and figures[key] > 0
    assert isinstance(figures["batch8_identical"], bool)
    assert figures["batch8_identical"] is True  # greedy fp32: batching must not change any answer
    assert figures["batch8_largest_batch"] > 1 and figures["batch8_new_tokens"] == 4
    assert figures["batch8_device"] == "cpu" and figures["batch8_dtype"] == "float32"


def test_unknown_tiling_case_is_refused(bench) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--tiles", "5"])

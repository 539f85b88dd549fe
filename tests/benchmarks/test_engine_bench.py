"""benchmarks/engine.py runs end to end in a reduced mode (local backend) and reports every headline key."""

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
        return importlib.import_module("benchmarks.engine")


def test_reduced_run_prints_the_headline_keys_last(bench, capsys) -> None:
    bench.main(["--quick", "--repeat", "1", "--no-ray"])
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("overhead_local_ms", "efficiency_local", "speedup_vs_sequential", "fallback_recovery_ms"):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["overhead_ray_ms"] is None and figures["efficiency_ray"] is None  # not measured with --no-ray
    assert 0 < figures["efficiency_local"] <= 1.05

from __future__ import annotations

import json

import pytest
from rich.console import Console

from agent.demo import run_demo


@pytest.mark.slow
def test_demo_plans_each_sample_subtask_with_the_right_tool(tmp_path, embedder):
    summary = run_demo(tmp_path, Console(file=open("/dev/null", "w")))
    best = [s["best"] for s in summary["subtasks"]]
    assert best == [["blur_regions"], ["count_boxes"], ["draw_boxes"], ["rotate_image"], ["grayscale_image"]]
    for name in ("tool-graph.png", "tool-graph.mmd", "plan-0.png", "inputs/street.png", "inputs/regions.json"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "summary.json").read_text()) == summary

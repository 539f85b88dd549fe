from __future__ import annotations

import json

import pytest
from rich.console import Console

from PIL import Image

from agent.demo import run_demo
from agent.samples import SAMPLE_REGIONS


@pytest.mark.slow
def test_demo_plans_each_sample_subtask_with_the_right_tool(tmp_path, embedder):
    summary = run_demo(tmp_path, Console(file=open("/dev/null", "w")))
    best = [s["best"] for s in summary["subtasks"]]
    assert best == [["blur_regions"], ["count_boxes"], ["draw_boxes"], ["rotate_image"], ["grayscale_image"],
                    ["grayscale_image"]]
    for name in ("tool-graph.png", "tool-graph.mmd", "plan-0.png", "inputs/street.png", "inputs/regions.json"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    run = summary["run"]
    assert run["status"] == "succeeded"
    assert json.loads((tmp_path / "results" / "subtask-1.json").read_text()) == len(SAMPLE_REGIONS)
    photo = Image.open(tmp_path / "inputs" / "street.png")
    blurred = Image.open(tmp_path / "results" / "subtask-0.png")
    chained = Image.open(tmp_path / "results" / "subtask-5.png")
    assert blurred.size == photo.size and chained.mode == "L"
    face = SAMPLE_REGIONS[0]
    region = (face.x1, face.y1, face.x2, face.y2)
    assert blurred.crop(region).tobytes() != photo.crop(region).tobytes()  # the face really is blurred
    assert chained.tobytes() == blurred.convert("L").tobytes()  # subtask 5 ran on subtask 0's result

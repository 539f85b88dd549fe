from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from agent.demo import run_demo
from agent.samples import SIGN_TEXT


@pytest.mark.slow
def test_demo_runs_the_agent_task_end_to_end(tmp_path, embedder):
    with open("/dev/null", "w") as sink:
        summary = run_demo(tmp_path, Console(file=sink))
    assert summary["status"] == "succeeded", summary
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    tools = [t for s in summary["subtasks"] for t in s["tools"]]
    for tool in ("detect_faces", "blur_regions", "read_text", "ocr_text_lines", "draw_boxes"):
        assert tool in tools, tools
    assert SIGN_TEXT in summary["answer"]
    assert set(summary["timings_ms"]) >= {"setup", "decompose", "plan", "execute", "respond"}
    for name in ("tool-graph.png", "tool-graph.mmd", "plan-0.png", "inputs/photo.png", "results/answer.txt"):
        assert (tmp_path / name).is_file(), name
    by_tool = {s["tools"][-1]: s["id"] for s in summary["subtasks"]}
    faces = json.loads((tmp_path / "results" / f"subtask-{by_tool['detect_faces']}.json").read_text())
    photo = np.asarray(Image.open(tmp_path / "inputs" / "photo.png")).astype(int)
    blurred = np.asarray(Image.open(tmp_path / "results" / f"subtask-{by_tool['blur_regions']}.png")).astype(int)
    box = faces[0]
    face = (slice(int(box["y1"]), int(box["y2"])), slice(int(box["x1"]), int(box["x2"])))
    assert np.abs(blurred[face] - photo[face]).mean() > 3

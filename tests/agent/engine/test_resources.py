"""The request's files are loaded (and checked) when the graph is compiled: bad ones stop the run before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from agent.engine import Engine, ExecutionGraphError, RunStatus
from agent.engine.local import LocalBackend
from graph.artifacts import ArtifactStore
from graph.plan import Action, Plan, Solution
from tools.registry import default_registry


def grey_plan(*values) -> tuple[Plan, dict[int, list[Solution]]]:
    subtasks, sols = [], {}
    for i, value in enumerate(values):
        subtasks.append(
            {
                "id": i,
                "description": f"grey {i}",
                "args": [{"type": "image", "value": value}],
                "returns": [{"type": "image"}],
            }
        )
        sols[i] = [
            Solution(
                subtask_id=i,
                outputs=["a0.image"],
                actions=[
                    Action(id="a0", tool="grayscale_image", args={"image": "input:0"}, outputs={"image": "image"})
                ],
            )
        ]
    return Plan.parse({"request": "grey", "subtasks": subtasks}), sols


@pytest.fixture(scope="module")
def backend():
    backend = LocalBackend()
    yield backend
    backend.close()


def test_paths_and_artifact_ids_become_images(tmp_path: Path, backend) -> None:
    path = tmp_path / "red.png"
    Image.new("RGB", (8, 6), (255, 0, 0)).save(path)
    store = ArtifactStore(tmp_path / "store")
    meta = store.put_image(Image.new("RGB", (4, 4), (0, 0, 255)))
    plan, sols = grey_plan(str(path), meta.id)
    result = Engine(default_registry(), backend=backend, store=store).run(plan, sols)
    assert result.status is RunStatus.SUCCEEDED
    assert result.outputs(0)[0].size == (8, 6) and result.outputs(0)[0].getpixel((0, 0)) == 76
    assert result.outputs(1)[0].size == (4, 4)


def test_every_bad_input_is_listed_and_nothing_runs(tmp_path: Path, backend) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (8, 6)).save(good)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:40])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    store = ArtifactStore(tmp_path / "store")
    wrong = store.put_json([{"x1": 0, "y1": 0, "x2": 1, "y2": 1}], "bboxes")
    plan, sols = grey_plan(str(good), str(truncated), str(text), str(tmp_path / "missing.png"), wrong.id)
    events = []
    with pytest.raises(ExecutionGraphError) as info:
        Engine(default_registry(), backend=backend, store=store).run(plan, sols, on_event=events.append)
    problems = info.value.problems
    assert len(problems) == 4, problems
    assert [p.split(",")[0] for p in problems] == ["subtask 1", "subtask 2", "subtask 3", "subtask 4"]
    assert "bboxes, not image" in problems[3]
    assert events == []

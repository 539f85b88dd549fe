"""``tog ask`` and ``tog plan REQUEST`` drive the whole pipeline (a scripted decomposer stands in for the real one)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import agent.api
from agent.cli import app
from agent.samples import SAMPLE_REGIONS, make_sample_photo
from graph.plan import Plan

runner = CliRunner()


class GreyAndCount:
    def decompose(self, request, resources=()):
        image = next(r for r in resources if r.type.value == "image")
        boxes = next(r for r in resources if r.type.value == "bboxes")
        return Plan.parse(
            {
                "request": request,
                "subtasks": [
                    {
                        "id": 0,
                        "description": "make the photo black and white",
                        "args": [image.ref().model_dump()],
                        "returns": [{"type": "image"}],
                    },
                    {
                        "id": 1,
                        "description": "count the regions",
                        "args": [boxes.ref().model_dump()],
                        "returns": [{"type": "number"}],
                    },
                ],
            }
        )


@pytest.fixture
def scripted(monkeypatch, tmp_path, embedder):
    monkeypatch.setattr(agent.api, "default_decomposer", lambda settings: GreyAndCount())
    monkeypatch.setenv("TOG_AGENT_DATA_DIR", str(tmp_path / "data"))
    return make_sample_photo(tmp_path / "street.png")


def test_ask_runs_the_request_and_saves_the_results(scripted, tmp_path) -> None:
    boxes = json.dumps([b.model_dump() for b in SAMPLE_REGIONS])
    result = runner.invoke(
        app,
        [
            "ask",
            "make it grey and count the regions",
            "--image",
            str(scripted),
            "-i",
            f"bboxes={boxes}",
            "-o",
            str(tmp_path / "out"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "2. count the regions (count_boxes): 3" in result.output
    assert json.loads((tmp_path / "out" / "subtask-1.json").read_text()) == 3
    assert (tmp_path / "out" / "subtask-0.png").is_file()
    assert json.loads((tmp_path / "out" / "result.json").read_text())["status"] == "succeeded"


def test_ask_with_a_missing_file_is_a_one_line_error(scripted, tmp_path) -> None:
    result = runner.invoke(app, ["ask", "grey", "--image", str(tmp_path / "nope.png")])
    assert result.exit_code == 2
    assert "error:" in result.output and "no such file" in result.output and "Traceback" not in result.output


def test_plan_a_whole_request(scripted, tmp_path) -> None:
    boxes = json.dumps([b.model_dump() for b in SAMPLE_REGIONS])
    result = runner.invoke(
        app,
        [
            "plan",
            "make it grey and count the regions",
            "-i",
            f"image={scripted}",
            "-i",
            f"bboxes={boxes}",
            "--render",
            str(tmp_path / "plan.png"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "grayscale_image" in result.output and "count_boxes" in result.output
    assert (tmp_path / "plan-0.png").is_file() and (tmp_path / "plan-1.png").is_file()


def test_a_bad_setting_is_a_one_line_error(monkeypatch) -> None:
    monkeypatch.setenv("TOG_AGENT_MAX_DEPTH", "deep")
    result = runner.invoke(app, ["plan", "count the regions"])
    assert result.exit_code == 2
    assert "invalid settings: TOG_AGENT_MAX_DEPTH='deep'" in result.output and "Traceback" not in result.output

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


@pytest.fixture
def no_models(monkeypatch, tmp_path, embedder):
    """The real decomposer and tools, no model configured: a new user's ``tog ask``."""
    for variable in ("TOG_VLM_MODEL", "TOG_VLM_URL", "TOG_LLM_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TOG_AGENT_DATA_DIR", str(tmp_path / "data"))
    from agent.samples import make_demo_photo

    return make_demo_photo(tmp_path / "astro.png")


@pytest.mark.parametrize(
    ("request_text", "named"),
    [
        ("describe this image", "describe_image"),
        ("caption this photo", "caption_image"),
        ("turn this image into a video of a dancing cat", "video"),
    ],
)
def test_ask_refuses_what_no_tool_here_is_meant_for_with_exit_code_3(no_models, tmp_path, request_text, named) -> None:
    result = runner.invoke(app, ["ask", request_text, "--image", str(no_models), "-o", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    output = result.output.replace("\n", "")
    assert "unsupported:" in output and named in output and "Traceback" not in output
    assert not (tmp_path / "out" / "subtask-0.json").exists()  # nothing ran


def test_ask_json_prints_the_refusal_as_json(no_models, tmp_path) -> None:
    result = runner.invoke(app, ["ask", "describe this image", "--image", str(no_models), "--json"])
    assert result.exit_code == 3
    body = json.loads(result.stdout)
    assert body["status"] == "unsupported" and body["error"]["details"]["tools"][0] == "describe_image"


def test_ask_names_weights_that_cannot_load(no_models, tmp_path, monkeypatch) -> None:
    missing = str(tmp_path / "no-such-checkpoint")
    monkeypatch.setenv("TOG_VLM_MODEL", missing)  # --model sets it: undone after the test
    result = runner.invoke(app, ["ask", "describe this image", "--image", str(no_models), "--model", missing])
    assert result.exit_code == 3, result.output
    output = result.output.replace("\n", "")
    assert "describe_image" in output and "no-such-checkpoint' not found" in output


def test_plan_refuses_with_exit_code_3(no_models) -> None:
    result = runner.invoke(app, ["plan", "describe this image", "-i", f"image={no_models}"])
    assert result.exit_code == 3, result.output
    assert "TOG_VLM_MODEL" in result.output.replace("\n", "") and "Traceback" not in result.output


def test_ask_exits_4_when_what_was_asked_for_is_empty(scripted, tmp_path, monkeypatch) -> None:
    from agent.outcomes import EXIT_EMPTY

    real = agent.api.Agent.result
    monkeypatch.setattr(
        agent.api.Agent, "result", lambda self, run_id: real(self, run_id).model_copy(update={"status": "empty"})
    )
    boxes = json.dumps([b.model_dump() for b in SAMPLE_REGIONS])
    result = runner.invoke(
        app, ["ask", "grey", "--image", str(scripted), "-i", f"bboxes={boxes}", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == EXIT_EMPTY == 4, result.output
    assert "empty: results in" in result.output

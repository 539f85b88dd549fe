from __future__ import annotations

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agent.cli import app
from agent.samples import make_sample_photo
from tools.annotations import Image, Text
from tools.base import Tool
from tools.registry import ToolRegistry, builtin_tools

runner = CliRunner()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return make_sample_photo(tmp_path_factory.mktemp("inputs") / "street.png")


BOXES = 'bboxes=[{"x1": 10, "y1": 10, "x2": 60, "y2": 60, "label": "face"}]'


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("tools", "types", "graph", "plan", "demo"):
        assert command in result.output


def test_tools_table_and_json():
    table = invoke("tools")
    assert table.exit_code == 0 and "blur_regions" in table.output
    specs = json.loads(invoke("tools", "--json").output)
    names = {s["name"] for s in specs}
    assert {"blur_regions", "crop_image", "count_boxes"} <= names
    assert all(s["outputs"] for s in specs)


def test_tools_table_says_which_tools_cannot_run_and_why(monkeypatch):

    class NeedsWeights(Tool):
        name = "needs_weights"

        def forward(self, image: Image) -> Text:
            """Describe an image with a model nobody configured."""
            return ""

        def available(self):
            return False, "no model configured (set TOG_VLM_MODEL)"

    registry = ToolRegistry([*builtin_tools(), NeedsWeights()])
    monkeypatch.setattr("tools.registry.default_registry", lambda: registry)
    monkeypatch.setattr("agent.cli.console", Console(width=400))
    result = invoke("tools")
    line = next(row for row in result.output.splitlines() if "needs_weights" in row)
    assert "unavailable" in line and "no model configured" in line
    assert "available" in next(row for row in result.output.splitlines() if "crop_image" in row)
    listed = {s["name"] for s in json.loads(invoke("tools", "--json").output)}
    assert "needs_weights" not in listed and "crop_image" in listed  # --json is a plannable catalogue


def test_types_lists_every_resource_type():
    result = invoke("types")
    assert result.exit_code == 0
    for name in ("text", "image", "bboxes", "mask", "points", "labels", "number", "audio", "video"):
        assert name in result.output


def test_graph_png_and_mermaid(tmp_path):
    out = tmp_path / "g.png"
    assert invoke("graph", "--out", str(out)).exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mermaid = invoke("graph", "--mermaid").output
    assert mermaid.startswith("flowchart") and "blur_regions" in mermaid


def test_plan_prints_ranked_solutions_and_renders(photo, tmp_path):
    picture = tmp_path / "plan.png"
    result = invoke(
        "plan",
        "-i",
        f"image={photo}",
        "-i",
        BOXES,
        "-t",
        "image",
        "-d",
        "blur the faces",
        "--assessor",
        "uniform",
        "--strategy",
        "exhaustive",
        "--render",
        str(picture),
    )
    assert result.exit_code == 0, result.output
    assert "blur_regions" in result.output and "#1" in result.output
    assert picture.is_file()


def test_plan_json_is_a_search_result():
    result = invoke("plan", "-i", BOXES, "-t", "number", "-d", "count the boxes", "--assessor", "uniform", "--json")
    data = json.loads(result.output)
    assert data["solutions"][0]["actions"][-1]["tool"] == "count_boxes"
    assert data["strategy"] == "adaptive"


def test_plan_over_a_user_catalogue(tmp_path):
    catalogue = tmp_path / "tools.json"
    catalogue.write_text(
        json.dumps(
            {
                "nodes": [
                    {"id": "Speaker", "desc": "Reads text aloud.", "input-type": ["text"], "output-type": ["audio"]},
                ]
            }
        )
    )
    result = invoke(
        "plan", "-c", str(catalogue), "-i", "text=hello", "-t", "audio", "-d", "say hello", "--assessor", "uniform"
    )
    assert result.exit_code == 0 and "Speaker" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "image=/no/such/file.png", "-t", "image", "-d", "x"], "no such file"),
        (["-i", "imgae=x.png", "-t", "image", "-d", "x"], "unknown resource type 'imgae'"),
        (["-i", "number=lots", "-t", "image", "-d", "x"], "is not a number"),
        (["-i", "text=hi", "-t", "video", "-d", "x"], "target video unreachable from {text}"),
        (["-i", "time=noon", "-i", BOXES, "-t", "number", "-d", "x"], "input time ('noon') cannot be used"),
        (["-i", "text=hi", "-t", "image", "-d", "x", "--strategy", "random"], "unknown strategy"),
        (["-i", "text=hi", "-t", "image", "-d", "   "], "needs a description"),
    ],
)
def test_plan_user_mistakes_exit_2_with_a_message_and_no_traceback(args, message):
    result = runner.invoke(app, ["plan", "--assessor", "uniform", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_catalogue_lists_every_problem(tmp_path):
    catalogue = tmp_path / "bad.json"
    catalogue.write_text(
        json.dumps(
            [
                {
                    "name": "a",
                    "description": "x",
                    "domain": "d",
                    "args": [{"name": "p", "type": "imgae", "description": ""}],
                    "returns": [{"name": "r", "type": "text", "description": ""}],
                },
                {
                    "name": "b",
                    "description": "y",
                    "domain": "d",
                    "args": [],
                    "returns": [{"name": "r", "type": "sould", "description": ""}],
                },
            ]
        )
    )
    result = runner.invoke(app, ["tools", "-c", str(catalogue)])
    assert result.exit_code == 2
    assert "imgae" in result.output and "sould" in result.output

"""``tog validate`` and ``tog run``: exit codes, every problem as file:line:col, inputs converted by their
declared type, a folder or glob as a batch, and nothing saved from a failed run unless --partial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from agent.cli import app

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "workflows"
runner = CliRunner()

CROP = """\
name: crop
inputs:
  image: {type: image}
  boxes: {type: bboxes}
  scale: {type: number, default: 0.5}
steps:
  - {id: crop, tool: crop_image, args: {image: "${inputs.image}", boxes: "${inputs.boxes}"}}
  - {id: small, tool: resize_image, args: {image: "${inputs.image}", scale: "${inputs.scale}"}}
outputs:
  crop: ${steps.crop.outputs.image}
  small: ${steps.small.outputs.image}
"""
BOX = '[{"x1": 0, "y1": 0, "x2": 30, "y2": 20}]'


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def crop_file(tmp_path: Path) -> Path:
    path = tmp_path / "crop.yaml"
    path.write_text(CROP)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i, size in enumerate([(80, 60), (120, 90), (64, 64)]):
        Image.new("RGB", size, (40 * i, 120, 200)).save(folder / f"photo{i}.png")
    return folder


def test_validate_ok_and_every_problem_with_its_position(tmp_path: Path) -> None:
    ok = invoke("validate", str(EXAMPLES / "redact_document.yaml"))
    assert ok.exit_code == 0 and "ok (4 steps" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(CROP.replace("crop_image", "crop_imag").replace("${inputs.scale}", "${inputs.scal}"))
    result = invoke("validate", str(bad))
    assert result.exit_code == 2
    lines = [line.strip() for line in result.output.splitlines() if line.strip().startswith(str(bad))]
    assert lines == [
        f"{bad}:7:22: unknown tool 'crop_imag'; did you mean 'crop_image', 'compare_images', 'rotate_image'?",
        f"{bad}:8:77: ${{inputs.scal}} names no input (inputs: image, boxes, scale)",
    ]
    as_json = json.loads(invoke("validate", str(bad), "--json").output)
    assert not as_json["valid"] and [p["line"] for p in as_json["problems"]] == [7, 8]


def test_validate_reports_malformed_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\nsteps: [\n")
    result = invoke("validate", str(bad))
    assert result.exit_code == 2 and f"{bad}:3:1: malformed YAML" in result.output


def test_run_converts_inputs_by_their_declared_type(crop_file: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(
        "run",
        str(crop_file),
        "--input",
        f"image={photos / 'photo1.png'}",
        "--input",
        f"boxes={BOX}",
        "--input",
        "scale=0.25",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert Image.open(out / "crop.png").size == (30, 20) and Image.open(out / "small.png").size == (30, 22)
    assert json.loads((out / "result.json").read_text())["status"] == "succeeded"


def test_a_folder_runs_once_per_file(crop_file: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    result = invoke("run", str(crop_file), "-i", f"image={photos}", "-i", f"boxes={BOX}", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["batch.json", "photo0", "photo1", "photo2"]
    assert Image.open(out / "photo1" / "small.png").size == (60, 45)
    assert [r["status"] for r in json.loads((out / "batch.json").read_text())] == ["succeeded"] * 3
    globbed = invoke(
        "run", str(crop_file), "-i", f"image={photos}/photo[01].png", "-i", f"boxes={BOX}", "-o", str(tmp_path / "glob")
    )
    assert globbed.exit_code == 0 and sorted(p.name for p in (tmp_path / "glob").iterdir()) == [
        "batch.json",
        "photo0",
        "photo1",
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-i", "image=missing.png", "-i", f"boxes={BOX}"], "no such file: 'missing.png'"),
        (["-i", "image={photo}", "-i", 'boxes=[{"x1": 1}]'], "not a valid bboxes value"),
        (["-i", "image={photo}", "-i", f"boxes={BOX}", "-i", "scale=half"], "'half' is not a number"),
        (["-i", "image={photo}", "-i", f"boxes={BOX}", "-i", "colour=red"], "no input 'colour'"),
        (["-i", "image={photo}"], "input 'boxes' (bboxes) is required"),
        (["-i", "image", "-i", f"boxes={BOX}"], "write NAME=VALUE"),
    ],
)
def test_bad_inputs_exit_2_and_nothing_runs(
    crop_file: Path, photos: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    out = tmp_path / "never"
    args = [a.replace("{photo}", str(photos / "photo0.png")) for a in args]
    result = invoke("run", str(crop_file), *args, "-o", str(out))
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not out.exists()


def test_a_failed_step_saves_nothing_unless_partial(crop_file: Path, photos: Path, tmp_path: Path) -> None:
    args = ["run", str(crop_file), "-i", f"image={photos / 'photo0.png'}", "-i", "boxes=[]"]
    failed = invoke(*args, "-o", str(tmp_path / "strict"))
    assert failed.exit_code == 1
    assert "there is no box to crop to" in failed.output and "nothing saved" in failed.output
    assert not (tmp_path / "strict").exists()
    partial = invoke(*args, "-o", str(tmp_path / "partial"), "--partial")
    assert partial.exit_code == 1 and "partial" in partial.output
    saved = json.loads((tmp_path / "partial" / "result.json").read_text())
    assert saved["status"] == "partial" and saved["outputs"]["crop"]["status"] == "missing"
    assert (tmp_path / "partial" / "small.png").is_file()

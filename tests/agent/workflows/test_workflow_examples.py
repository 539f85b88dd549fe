"""Every example in examples/workflows validates and runs offline on generated or scikit-image inputs;
detect-crop-caption runs with the tiny random InternVL (real model code, noise answers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.engine import Engine
from agent.workflows import Workflow
from tools.models import configure_vlm
from tools.registry import ToolRegistry

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "workflows"


def example(name: str, registry: ToolRegistry) -> Workflow:
    return Workflow.load(EXAMPLES / f"{name}.yaml", registry=registry)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def inside(boxes: list, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], dtype=bool)
    for box in boxes:
        mask[int(box.y1) : int(np.ceil(box.y2)), int(box.x1) : int(np.ceil(box.x2))] = True
    return mask


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_validates_and_is_documented(path: Path, builtin: ToolRegistry) -> None:
    workflow = Workflow.load(path, registry=builtin)
    assert workflow.spec.description and path.read_text().startswith("# ")
    assert all(w.code == "unavailable_tool" for w in workflow.checked.warnings)


def test_there_are_at_least_five_examples() -> None:
    assert len(list(EXAMPLES.glob("*.yaml"))) >= 5


def test_redact_document_hides_faces_and_text_and_nothing_else(
    builtin: ToolRegistry, engine: Engine, document: Path
) -> None:
    result = example("redact_document", builtin).run({"image": str(document)}, engine=engine)
    faces, lines = result.value("faces"), result.value("text_lines")
    assert len(faces) >= 1 and all(f.x2 <= 256 for f in faces)  # found in the portrait
    assert "PASSPORT" in [b.label for b in lines] and any("Collins" in (b.label or "") for b in lines)
    before, after = pixels(Image.open(document)), pixels(result.value("redacted"))
    hidden = inside(faces + lines, before.shape)
    assert np.array_equal(before[~hidden], after[~hidden]), "pixels outside the boxes must not change"
    for box in faces + lines:
        region = inside([box], before.shape)
        assert np.abs(before[region] - after[region]).mean() > 3, f"{box.label} was not hidden"
    assert result.steps["faces"].wave == result.steps["text"].wave == 0


def test_receipt_total_reads_the_amount(builtin: ToolRegistry, engine: Engine, receipt: Path) -> None:
    result = example("receipt_total", builtin).run({"image": str(receipt)}, engine=engine)
    assert result.value("total") == pytest.approx(6.21)
    assert result.value("total_line") == "TOTAL 6.21"  # not "Subtotal 5.75"
    before, after = pixels(Image.open(receipt)), pixels(result.value("highlighted"))
    changed = np.argwhere((before != after).any(axis=2))
    rows = changed[:, 0]
    assert len(changed) and rows.min() > before.shape[0] * 0.6, "only the total line, near the bottom, is boxed"


def test_receipt_total_is_skipped_without_text(builtin: ToolRegistry, engine: Engine, inputs_dir: Path) -> None:
    workflow = example("receipt_total", builtin)
    blank = inputs_dir / "blank.png"
    Image.new("RGB", (200, 120), "white").save(blank)
    nothing = workflow.run({"image": str(blank)}, engine=engine)
    assert nothing.status == "succeeded"
    assert nothing.steps["total_line"].status == "skipped" and nothing.outputs["total"].status == "skipped"


def test_face_gallery_makes_one_thumbnail_per_face(builtin: ToolRegistry, engine: Engine, astronaut: Path) -> None:
    result = example("face_gallery", builtin).run({"image": str(astronaut), "size": 64}, engine=engine)
    faces = result.value("faces")
    assert result.value("count") == len(faces) == len(result.value("boxes")) >= 1
    assert {f.height for f in faces} == {64}
    assert result.steps["thumbnail"].items == len(faces)


def test_privacy_check_redacts_only_when_there_are_faces(
    builtin: ToolRegistry, engine: Engine, astronaut: Path, inputs_dir: Path
) -> None:
    workflow = example("privacy_check", builtin)
    found = workflow.run({"image": str(astronaut)}, engine=engine)
    assert 1 <= found.value("faces") <= 3
    assert found.outputs["redacted"].status == "ok" and found.outputs["review"].status == "skipped"
    empty = inputs_dir / "sky.png"
    Image.new("RGB", (160, 120), (120, 170, 230)).save(empty)
    none = workflow.run({"image": str(empty)}, engine=engine)
    assert none.value("faces") == 0 and none.outputs["redacted"].status == "skipped"


def test_thumbnails_are_upright_and_grey_on_request(builtin: ToolRegistry, engine: Engine, inputs_dir: Path) -> None:
    rotated = inputs_dir / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.new("RGB", (300, 200), "orange").save(rotated, exif=exif)
    workflow = example("thumbnails", builtin)
    result = workflow.run({"image": str(rotated), "width": 100, "grey": True}, engine=engine)
    assert result.value("thumbnail").size == (100, 150)  # opened upright (200 x 300), then resized
    assert result.value("grey").mode == "L"
    assert (result.value("info")["width"], result.value("info")["height"]) == (200, 300)
    assert workflow.run({"image": str(rotated)}, engine=engine).outputs["grey"].status == "skipped"


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The tiny random InternVL checkpoint, loaded once on CPU for this module."""
    from vlm.backends.transformers_backend import TransformersBackend
    from vlm.images import ImageLimits
    from vlm.testing import tiny_internvl

    backend = TransformersBackend(
        tiny_internvl(tmp_path_factory.mktemp("tiny-internvl")), device="cpu", limits=ImageLimits(max_tiles=2)
    )
    backend.load()
    yield backend
    backend.close()


def test_detect_crop_caption_captions_every_crop_with_internvl(
    builtin: ToolRegistry, engine: Engine, astronaut: Path, tiny_vlm: object
) -> None:
    configure_vlm(tiny_vlm)  # the autouse fixture unconfigures it afterwards
    result = example("detect_crop_caption", builtin).run({"image": str(astronaut), "max_regions": 2}, engine=engine)
    regions, crops, captions = result.value("regions"), result.value("crops"), result.value("captions")
    assert 1 <= len(regions) == len(crops) == len(captions) <= 2
    for crop, box in zip(crops, regions):
        assert crop.size == pytest.approx((box.x2 - box.x1, box.y2 - box.y1), abs=2)
    assert all(isinstance(c, str) and c.strip() for c in captions)
    assert result.steps["caption"].items == len(crops) and result.steps["caption"].wave == 2

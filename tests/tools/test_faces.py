"""Face detection on scikit-image's photos: the astronaut's face, no face in coffee or a blank image,
boxes in original pixels whatever the resolution, and the "find faces, then blur them" chain."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from graph.types import BBox
from tools.errors import ToolInputError
from tools.faces import MAX_WORK_PIXELS, TOOLS, detect_faces, face_cascade
from tools.image_ops import blur_regions

pytestmark = pytest.mark.skipif(not detect_faces.available()[0], reason=f"{detect_faces.available()[1]}")

#: The astronaut's face in ``data.astronaut()`` (512x512), found by inspection of the photo: from the
#: hairline to just below the chin, cheek to cheek.
ASTRONAUT_FACE = (176.0, 68.0, 272.0, 166.0)


def iou(box: BBox, ref: tuple[float, float, float, float]) -> float:
    w = min(box.x2, ref[2]) - max(box.x1, ref[0])
    h = min(box.y2, ref[3]) - max(box.y1, ref[1])
    inter = max(0.0, w) * max(0.0, h)
    union = (box.x2 - box.x1) * (box.y2 - box.y1) + (ref[2] - ref[0]) * (ref[3] - ref[1]) - inter
    return inter / union


def scaled(ref: tuple[float, float, float, float], factor: float, dx: float = 0, dy: float = 0) -> tuple[float, ...]:
    return (ref[0] * factor + dx, ref[1] * factor + dy, ref[2] * factor + dx, ref[3] * factor + dy)


@pytest.fixture(scope="module")
def astronaut() -> PILImage.Image:
    from skimage import data

    face_cascade()  # load once for the module
    return PILImage.fromarray(data.astronaut())


@pytest.fixture(scope="module")
def astronaut_faces(astronaut: PILImage.Image) -> list[BBox]:
    return detect_faces(image=astronaut)["faces"]


def test_finds_the_astronauts_face_as_one_box(astronaut_faces: list[BBox]) -> None:
    on_face = [b for b in astronaut_faces if iou(b, ASTRONAUT_FACE) > 0.1]
    assert len(on_face) == 1, astronaut_faces  # overlapping windows merged into one detection
    best = astronaut_faces[0]  # most confident first
    assert best is on_face[0] and iou(best, ASTRONAUT_FACE) > 0.5
    assert best.label == "face" and best.score is not None and 0.6 < best.score < 1.0


def test_scores_rank_and_filter(astronaut: PILImage.Image, astronaut_faces: list[BBox]) -> None:
    scores = [b.score for b in astronaut_faces]
    assert scores == sorted(scores, reverse=True)
    # the cascade also fires on the helmet's reflection, with less support: a stricter min_score drops it
    strict = detect_faces(image=astronaut, min_score=0.65)["faces"]
    assert len(strict) == 1 and iou(strict[0], ASTRONAUT_FACE) > 0.5


def test_concurrent_calls_share_the_cascade(astronaut: PILImage.Image, astronaut_faces: list[BBox]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda im: detect_faces(image=im)["faces"], [astronaut, astronaut.copy()]))
    assert results == [astronaut_faces, astronaut_faces]


@pytest.mark.parametrize("name", ["coffee", "blank"])
def test_no_face_gives_an_empty_list(name: str) -> None:
    from skimage import data

    image = PILImage.new("RGB", (640, 480), "white") if name == "blank" else PILImage.fromarray(data.coffee())
    assert detect_faces(image=image) == {"faces": []}


def test_boxes_are_in_original_pixels_of_an_upscaled_photo(astronaut: PILImage.Image) -> None:
    big = astronaut.resize((1536, 1536), PILImage.Resampling.BICUBIC)
    faces = detect_faces(image=big)["faces"]
    assert iou(faces[0], scaled(ASTRONAUT_FACE, 3)) > 0.5


def test_very_large_image_is_shrunk_for_detection_and_mapped_back(astronaut: PILImage.Image) -> None:
    """A 4000x3000 canvas with the astronaut at 4x and an offset: the working copy stays under the limit
    (about 12x fewer pixels) and the box still lands on the face in canvas pixels."""
    canvas = PILImage.new("RGB", (4000, 3000), (90, 90, 90))
    canvas.paste(astronaut.resize((2048, 2048), PILImage.Resampling.BILINEAR), (1500, 600))
    faces = detect_faces(image=canvas)["faces"]
    assert faces and iou(faces[0], scaled(ASTRONAUT_FACE, 4, 1500, 600)) > 0.5
    assert all(0 <= b.x1 < b.x2 <= 4000 and 0 <= b.y1 < b.y2 <= 3000 for b in faces)


def test_small_photo_is_upscaled_and_mapped_back(astronaut: PILImage.Image) -> None:
    small = astronaut.resize((256, 256), PILImage.Resampling.LANCZOS)
    faces = detect_faces(image=small)["faces"]
    assert iou(faces[0], scaled(ASTRONAUT_FACE, 0.5)) > 0.5


def test_find_faces_then_blur_them(astronaut: PILImage.Image, astronaut_faces: list[BBox]) -> None:
    blurred = blur_regions(image=astronaut, boxes=astronaut_faces)["image"]
    before, after = np.asarray(astronaut).astype(int), np.asarray(blurred).astype(int)
    x1, y1, x2, y2 = (
        round(v) for v in (astronaut_faces[0].x1, astronaut_faces[0].y1, astronaut_faces[0].x2, astronaut_faces[0].y2)
    )
    assert np.abs(after[y1:y2, x1:x2] - before[y1:y2, x1:x2]).mean() > 5  # the face is hidden
    outside = np.ones(before.shape[:2], bool)
    for b in astronaut_faces:
        outside[int(b.y1) : int(np.ceil(b.y2)), int(b.x1) : int(np.ceil(b.x2))] = False
    assert np.array_equal(after[outside], before[outside])  # nothing else changed
    assert all(iou(b, ASTRONAUT_FACE) < 0.1 for b in detect_faces(image=blurred)["faces"])  # and it stays hidden


def _truncated_png() -> PILImage.Image:
    buffer = io.BytesIO()
    PILImage.effect_noise((200, 200), 60).convert("RGB").save(buffer, format="PNG")
    return PILImage.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))


BAD_INPUTS = {
    "bytes": (lambda: {"image": b"GIF89a nonsense"}, "image", "PIL.Image.Image"),
    "0x0": (lambda: {"image": PILImage.new("RGB", (0, 0))}, "image", "no pixels"),
    "truncated-png": (lambda: {"image": _truncated_png()}, "image", "cannot decode"),
    "min_score": (lambda: {"image": PILImage.new("RGB", (64, 64)), "min_score": -0.1}, "min_score", "between 0 and 1"),
    "min_face_size-tiny": (
        lambda: {"image": PILImage.new("RGB", (64, 64)), "min_face_size": 2},
        "min_face_size",
        "between 8",
    ),
    "min_face_size-bigger-than-image": (
        lambda: {"image": PILImage.new("RGB", (64, 48)), "min_face_size": 49},
        "min_face_size",
        "shorter side",
    ),
    "min_face_size-too-small-for-a-large-image": (
        lambda: {"image": PILImage.new("L", (4000, 3000)), "min_face_size": 10},
        "min_face_size",
        f"limit is {MAX_WORK_PIXELS:,} pixels",
    ),
    "min_face_size-float": (
        lambda: {"image": PILImage.new("RGB", (64, 64)), "min_face_size": 30.5},
        "min_face_size",
        "an int",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_tool_input_error_naming_the_argument(case: str) -> None:
    make, argument, message = BAD_INPUTS[case]
    with pytest.raises(ToolInputError, match=message) as err:
        detect_faces(**make())
    assert err.value.argument == argument and err.value.tool == "detect_faces"


def test_spec() -> None:
    spec = detect_faces.spec
    assert (detect_faces,) == TOOLS
    assert [(o.name, o.type.value) for o in spec.outputs] == [("faces", "bboxes")]
    assert [(i.name, i.type.value, i.required) for i in spec.inputs] == [
        ("image", "image", True),
        ("min_face_size", "number", False),
        ("min_score", "number", False),
    ]
    assert "face" in spec.description and spec.domains == ("image-perception",)


def test_min_face_size_limits_what_is_found(astronaut: PILImage.Image) -> None:
    """The face is about 100 pixels wide: asking for faces of at least 200 pixels finds none of it."""
    faces: list[Any] = detect_faces(image=astronaut, min_face_size=200)["faces"]
    assert all(iou(b, ASTRONAUT_FACE) < 0.5 for b in faces)


def test_missing_scikit_image_makes_the_tool_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skimage" else real(name, *a))
    ok, reason = detect_faces.available()
    assert not ok and "scikit-image" in reason

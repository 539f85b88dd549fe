"""Parameters are read, not invented (issue 17 item 2): requests through the Python API, no VLM or LLM.

Each request runs the real offline decomposer, planner and tools on a sample photo; what is checked is
the value a user relies on — the count, the turned pixels, the new size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.api import Agent
from agent.config import ToGSettings
from agent.decompose.base import Resource
from agent.outcomes import UnsupportedRequestError
from agent.result import AgentResult
from agent.samples import make_demo_photo
from tools.faces import detect_faces


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> Iterator[Agent]:
    data = tmp_path_factory.mktemp("honest-params")
    with Agent(ToGSettings(agent={"data_dir": data / "tog"}, vlm={})) as agent:
        yield agent


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The astronaut: one face the offline detector finds."""
    return make_demo_photo(tmp_path_factory.mktemp("photo") / "photo.png")


def _values(agent: Agent, result: AgentResult, kind: str) -> list[object]:
    return [result.load(a, agent.store) for a in result.artifacts if a.role == "output" and a.type.value == kind]


@pytest.fixture(scope="module")
def faces(photo: Path) -> int:
    """How many faces the offline detector finds in the photo."""
    found = len(detect_faces(image=Image.open(photo))["faces"])
    assert found >= 1
    return found


def test_how_many_faces_counts_the_faces_found(agent: Agent, photo: Path, faces: int) -> None:
    result = agent.run("how many faces are in this photo", files=[photo])
    assert result.status == "succeeded", result.answer
    assert _values(agent, result, "number") == [faces]  # not 0: "faces are" is no label filter


def test_count_the_boxes_counts_every_given_box(agent: Agent) -> None:
    boxes = [{"x1": 0, "y1": 0, "x2": 4, "y2": 4}, {"x1": 5, "y1": 5, "x2": 9, "y2": 9}]
    result = agent.run("count the boxes", resources=[Resource(name="boxes", type="bboxes", value=boxes)])
    assert result.status == "succeeded", result.answer
    assert _values(agent, result, "number") == [2]


def test_a_category_of_labelled_boxes_still_filters(agent: Agent) -> None:
    boxes = [
        {"x1": 0, "y1": 0, "x2": 4, "y2": 4, "label": "cat"},
        {"x1": 5, "y1": 5, "x2": 9, "y2": 9, "label": "dog"},
        {"x1": 1, "y1": 1, "x2": 3, "y2": 3, "label": "cat"},
    ]
    given = [Resource(name="boxes", type="bboxes", value=boxes)]
    assert _values(agent, agent.run("how many cats are there", resources=given), "number") == [2]
    assert _values(agent, agent.run("how many dogs are there", resources=given), "number") == [1]


def test_how_many_people_in_chinese_is_no_zero_count_of_found_faces(agent: Agent, photo: Path, faces: int) -> None:
    try:
        result = agent.run("这张照片里有几个人？", files=[photo])
    except UnsupportedRequestError:
        return  # refusing to count people with a face detector is honest too
    if result.status == "succeeded":
        assert _values(agent, result, "number") == [faces]
    else:
        assert result.status in ("unsupported", "empty"), result.answer


def test_cats_over_a_face_detector_are_no_faces(agent: Agent, photo: Path) -> None:
    try:
        result = agent.run("how many cats are in this photo", files=[photo])
    except UnsupportedRequestError:
        return  # refusing to count cats with a face detector is honest too
    assert result.status != "succeeded" or _values(agent, result, "number") == [0], result.answer


@pytest.mark.parametrize(
    ("request_text", "turn"),
    [
        ("rotate it 90 degrees clockwise", Image.Transpose.ROTATE_270),
        ("rotate it 90 degrees counter-clockwise", Image.Transpose.ROTATE_90),
        ("rotate it 90 degrees anticlockwise", Image.Transpose.ROTATE_90),
        ("rotate it to the right", Image.Transpose.ROTATE_270),
        ("rotate it to the left", Image.Transpose.ROTATE_90),
        ("顺时针旋转90度", Image.Transpose.ROTATE_270),
        ("逆时针旋转90度", Image.Transpose.ROTATE_90),
    ],
)
def test_rotation_turns_the_way_the_words_say(
    agent: Agent, photo: Path, request_text: str, turn: Image.Transpose
) -> None:
    result = agent.run(request_text, files=[photo])
    assert result.status == "succeeded", result.answer
    [image] = _values(agent, result, "image")
    expected = Image.open(photo).convert("RGB").transpose(turn)
    assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(expected))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("request_text", "scale"),
    [("resize it to 50%", 0.5), ("enlarge it by 50%", 1.5), ("shrink it by 25%", 0.75), ("resize it to 200%", 2.0)],
)
def test_resizing_reads_the_size_both_ways(agent: Agent, photo: Path, request_text: str, scale: float) -> None:
    result = agent.run(request_text, files=[photo])
    assert result.status == "succeeded", result.answer
    [image] = _values(agent, result, "image")
    width, height = Image.open(photo).size
    assert image.size == (round(width * scale), round(height * scale))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("request_text", "factor"),
    [("brighten it by 1.5", 1.5), ("make it 20% brighter", 1.2), ("make it 30% darker", 0.7)],
)
def test_brightness_reads_the_factor_both_ways(agent: Agent, photo: Path, request_text: str, factor: float) -> None:
    result = agent.run(request_text, files=[photo])
    assert result.status == "succeeded", result.answer
    used = {p["value"] for p in result.parameters if p["argument"] == "factor" and p["tool"] == "adjust_brightness"}
    assert sorted(used) == pytest.approx([factor])
    assert result.subtasks[0].tools == ["adjust_brightness"]


def test_the_counted_object_carries_no_leftover_words() -> None:
    from agent.decompose.reading import object_phrase, split_clauses

    assert object_phrase(split_clauses("how many faces are in this photo")[0]) == "faces"
    assert object_phrase(split_clauses("count the people who are in the photo")[0]) == "people"

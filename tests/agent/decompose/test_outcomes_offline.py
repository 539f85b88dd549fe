"""Requests of issue 17 run end to end with the offline decomposer, real tools and no VLM or LLM: the
answer a user relies on, not only the plan."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from skimage import data

from agent.api import Agent
from agent.config import ToGSettings
from agent.decompose.base import Resource
from agent.decompose.offline import OfflineDecomposer
from agent.result import AgentResult
from graph.embedding import Embedder
from graph.types import ResourceType as T

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Agent]:
    folder = tmp_path_factory.mktemp("outcomes")
    settings = ToGSettings.model_validate({"agent": {"data_dir": folder / "tog"}, "vlm": {}})  # no VLM
    with Agent(settings, decomposer=OfflineDecomposer(embedder=embedder)) as agent:
        yield agent


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "photo.png"
    Image.fromarray(data.astronaut()).save(path)  # type: ignore[no-untyped-call]  # unannotated in scikit-image
    return path


@pytest.fixture(scope="module")
def receipt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = Image.new("RGB", (420, 320), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(["CAFE LUNA", "COFFEE 3.50", "BAGEL 4.25", "JUICE 3.54", "TOTAL 11.29"]):
        draw.text((30, 20 + 55 * i), line, fill="black", font_size=34)
    path = tmp_path_factory.mktemp("inputs") / "receipt.jpg"
    image.save(path)
    return path


def _load(agent: Agent, result: AgentResult, subtask: int) -> Any:
    """The first output of a subtask, as its tool made it."""
    return agent.store.load(result.outputs(subtask)[0].id)


def test_a_grey_photo_with_blurred_faces_is_one_result(agent: Agent, photo: Path) -> None:
    result = agent.run("make the photo grey and blur the faces", files=[photo])
    assert result.status == "succeeded", result.subtasks
    assert [s.tools for s in result.subtasks] == [["grayscale_image"], ["detect_faces"], ["blur_regions"]]
    final = _load(agent, result, 2)
    rgb = np.asarray(final.convert("RGB")).astype(int)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])  # grey
    grey = np.asarray(ImageOps.grayscale(Image.open(photo))).astype(int)
    box = _load(agent, result, 1)[0]
    face = (slice(int(box["y1"]), int(box["y2"])), slice(int(box["x1"]), int(box["x2"])))
    blurred = rgb[..., 0]
    assert np.abs(blurred[face] - grey[face]).mean() > 3  # the face is blurred
    assert np.abs(blurred[-20:, -20:] - grey[-20:, -20:]).max() <= 1  # the rest is only grey


def test_the_total_of_a_receipt_is_read_from_its_total_line(agent: Agent, receipt: Path) -> None:
    result = agent.run("what is the total on receipt.jpg", files=[receipt])
    assert result.status == "succeeded", result.subtasks
    assert _load(agent, result, 2) == pytest.approx(11.29)
    assert "11.29" in result.answer


@needs_espeak
def test_a_given_text_is_read_aloud(agent: Agent) -> None:
    result = agent.run("read this text aloud", resources=[Resource(name="text", type=T.TEXT, value="hello there")])
    assert result.status == "succeeded", result.subtasks
    assert [s.tools for s in result.subtasks] == [["text_to_speech"]]


@needs_espeak
@pytest.mark.parametrize(
    "request_text",
    ["count the faces in the photo and say the number out loud", "检测照片里的人脸，数一数有几个，然后读出来"],
)
def test_a_count_is_said_out_loud(agent: Agent, photo: Path, request_text: str) -> None:
    result = agent.run(request_text, files=[photo])
    assert result.status == "succeeded", result.subtasks
    assert [s.tools for s in result.subtasks] == [["detect_faces"], ["count_boxes"], ["speak_number"]]
    assert _load(agent, result, 1) == len(_load(agent, result, 0)) >= 1

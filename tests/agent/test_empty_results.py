"""Empty is not an answer (issue 17 item 4): through the Python API with real offline tools, no VLM or LLM.

A result the user asked for that is empty ends the run as ``empty`` with the reason in the answer; an
empty intermediate result does not, and a count of 0 is an answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from agent.api import Agent
from agent.config import ToGSettings
from agent.outcomes import EMPTY
from agent.samples import make_demo_photo


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> Iterator[Agent]:
    data = tmp_path_factory.mktemp("empty-results")
    with Agent(ToGSettings(agent={"data_dir": data / "tog"}, vlm={})) as agent:
        yield agent


@pytest.fixture(scope="module")
def blank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A white page: no text, no face."""
    path = tmp_path_factory.mktemp("blank") / "blank.png"
    Image.new("RGB", (320, 200), "white").save(path)
    return path


def test_no_text_found_is_an_empty_result_with_its_reason(agent: Agent, blank: Path) -> None:
    result = agent.run("read the text in this image", files=[blank])
    assert result.status == EMPTY and not result.ok
    assert "no text was found in the image (read_text returned nothing)" in result.answer


def test_nothing_detected_is_an_empty_result(agent: Agent, blank: Path) -> None:
    result = agent.run("find the faces", files=[blank])
    assert result.status == EMPTY
    assert "nothing was detected in the image (detect_faces returned nothing)" in result.answer


def test_a_count_of_zero_is_an_answer(agent: Agent, blank: Path) -> None:
    result = agent.run("how many faces are in this photo", files=[blank])
    assert result.status == "succeeded", result.answer
    assert result.answer.rstrip().endswith(": 0")
    assert "nothing was detected" in result.answer  # the step before still says what it found


def test_an_empty_intermediate_result_is_no_empty_answer(agent: Agent, blank: Path) -> None:
    result = agent.run("blur the faces", files=[blank])  # no faces: the photo comes back as it was
    assert result.status == "succeeded", result.answer
    assert result.plan is not None and len(result.plan.subtasks) == 2


def test_text_that_is_found_is_the_answer(agent: Agent, tmp_path: Path) -> None:
    result = agent.run("read the text in this image", files=[make_demo_photo(tmp_path / "photo.png")])
    assert result.status == "succeeded", result.answer
    assert "returned nothing" not in result.answer

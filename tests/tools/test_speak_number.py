"""``speak_number``: a count or an amount another tool found, said out loud (issue 17: "count the faces
and say the number out loud" spoke the photo's text instead)."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from graph.constraints import resolve_constraints
from graph.types import ResourceType
from tools.audio import SpeakNumber, spoken_number
from tools.registry import default_registry

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.mark.parametrize(("number", "said"), [(3.0, "3"), (11.29, "11.29"), (-2.0, "-2"), (0.5, "0.5")])
def test_a_number_is_said_as_written(number: float, said: str) -> None:
    assert spoken_number(number) == said


def test_it_takes_a_number_and_makes_speech() -> None:
    spec = default_registry().get("speak_number").spec
    assert [i.type for i in spec.required_inputs] == [ResourceType.NUMBER]
    assert spec.output_types == {ResourceType.AUDIO}


def test_its_speech_is_never_transcribed_back_into_text() -> None:
    """Reading a count aloud is no way from a list to a text: the transcribers refuse synthesised speech."""
    rules = resolve_constraints(default_registry().specs())
    assert "speak_number" in rules.banned_upstream["speech_to_text"]


@needs_espeak
def test_the_number_is_spoken(tmp_path: Path) -> None:
    tool = SpeakNumber(output_dir=tmp_path)
    tool.setup()
    path = tool.forward(number=3.0)
    with wave.open(str(path)) as wav:
        assert wav.getnframes() > 0
    assert path == tool.forward(number=3)  # the same number, the same file

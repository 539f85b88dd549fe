from __future__ import annotations

import pytest

from agent.config import ToGSettings
from agent.inputs import InputSpecError, parse_input, type_for_file
from graph.search import Strategy
from graph.types import ResourceType


def test_bare_paths_are_typed_by_name(tmp_path):
    for name, rtype in [("a.jpg", "image"), ("b.wav", "audio"), ("c.mp4", "video"), ("d.pdf", "document")]:
        path = tmp_path / name
        path.write_bytes(b"x")
        assert parse_input(str(path)).type.value == rtype
    with pytest.raises(InputSpecError, match="write TYPE=PATH"):
        type_for_file(tmp_path / "mystery.xyz")


def test_literals_and_json_values():
    assert parse_input("text=a=b").value == "a=b"
    assert parse_input("number=-2.5").value == -2.5
    with pytest.raises(InputSpecError, match="empty"):
        parse_input("text=  ")


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("TOG_AGENT_STRATEGY", "beam")
    monkeypatch.setenv("TOG_AGENT_MAX_DEPTH", "3")
    settings = ToGSettings()
    config = settings.agent.search_config()
    assert config.strategy is Strategy.BEAM and config.max_depth == 3
    monkeypatch.setenv("TOG_AGENT_MAX_DEPTH", "0")
    with pytest.raises(ValueError):
        ToGSettings()


def test_structured_values_are_parsed_and_validated():
    ref = parse_input('bboxes=[{"x1": 1, "y1": 2, "x2": 3, "y2": 4, "label": "cat"}]')
    assert ref.type is ResourceType.BBOXES
    assert ref.value == [{"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0, "label": "cat"}]
    with pytest.raises(InputSpecError, match="must be JSON"):
        parse_input("bboxes=[{x1: 1}]")
    with pytest.raises(InputSpecError, match="not a valid bboxes value"):
        parse_input('bboxes=[{"x1": 1}]')

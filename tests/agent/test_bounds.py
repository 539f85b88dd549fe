"""Work bounds (issue 17 item 5): a typed error before any tool runs, for requests that ask for too much."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.api import Agent
from agent.bounds import RequestTooLongError, TooManySubtasksError, TooManyToolCallsError, WorkLimitError
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, Resource
from graph.plan import Plan

BOXES = [{"x1": 0, "y1": 0, "x2": 4, "y2": 4}]


class Many(Decomposer):
    """One counting subtask per ``;``-separated part of the request."""

    def __init__(self) -> None:
        self.calls = 0

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        self.calls += 1
        parts = [p for p in request.split(";") if p.strip()]
        return Plan.parse(
            {
                "request": request,
                "subtasks": [
                    {
                        "id": i,
                        "description": p,
                        "args": [{"type": "bboxes", "value": BOXES}],
                        "returns": [{"type": "number"}],
                    }
                    for i, p in enumerate(parts)
                ],
            }
        )


def _agent(tmp_path: Path, **limits: int) -> tuple[Agent, Many]:
    decomposer = Many()
    settings = ToGSettings(agent={"data_dir": tmp_path / "tog", "assessor": "uniform", **limits})
    return Agent(settings, decomposer=decomposer), decomposer


def _no_tool_ran(agent: Agent, exc: WorkLimitError) -> None:
    assert exc.code != WorkLimitError.code  # each bound has its own code
    assert not [a for a in agent.store if a.type.value == "number"]  # no subtask produced anything


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOG_AGENT_MAX_SUBTASKS", "3")
    monkeypatch.setenv("TOG_AGENT_MAX_TOOL_CALLS", "7")
    monkeypatch.setenv("TOG_AGENT_MAX_REQUEST_CHARS", "99")
    agent = ToGSettings().agent
    assert (agent.max_subtasks, agent.max_tool_calls, agent.max_request_chars) == (3, 7, 99)
    assert ToGSettings.model_fields["agent"].default_factory().max_subtasks == 16  # type: ignore[misc]


def test_too_many_subtasks_is_a_typed_error_before_planning(tmp_path: Path) -> None:
    agent, decomposer = _agent(tmp_path, max_subtasks=2)
    with agent:
        with pytest.raises(TooManySubtasksError) as caught:
            agent.run("count them; count again; and again")
        assert caught.value.code == "too_many_subtasks" and caught.value.details["subtasks"] == 3
        assert "TOG_AGENT_MAX_SUBTASKS" in caught.value.message
        _no_tool_ran(agent, caught.value)
        with pytest.raises(TooManySubtasksError):  # planning only is bounded too
            agent.plan("a; b; c")


def test_a_request_within_the_bounds_runs(tmp_path: Path) -> None:
    agent, _ = _agent(tmp_path, max_subtasks=2, max_tool_calls=2)
    with agent:
        assert agent.run("count them; count again").status == "succeeded"


def test_too_many_tool_calls_is_refused_before_execution(tmp_path: Path) -> None:
    agent, _ = _agent(tmp_path, max_tool_calls=2)
    with agent:
        with pytest.raises(TooManyToolCallsError) as caught:
            list(agent.stream("count them; count again; and again"))
        assert caught.value.details == {"tool_calls": 3, "max_tool_calls": 2}
        _no_tool_ran(agent, caught.value)
        assert agent.plan("count them; count again; and again").status == "planned"  # nothing runs in plan mode


def test_too_long_a_request_is_refused_before_decomposing(tmp_path: Path, photo_file: Path) -> None:
    agent, decomposer = _agent(tmp_path, max_request_chars=50)
    with agent, pytest.raises(RequestTooLongError) as caught:
        agent.run("x" * 51, files=[photo_file])
    assert caught.value.code == "request_too_long" and decomposer.calls == 0
    assert len(agent.store) == 0  # not even the input file was stored


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(path)
    return path


def test_the_cli_says_which_bound_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from agent.cli import app

    monkeypatch.setenv("TOG_AGENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TOG_AGENT_MAX_REQUEST_CHARS", "10")
    result = CliRunner().invoke(app, ["ask", "count all the things in here", "-i", "number=3"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "the request is 28 characters long; the limit is 10 (TOG_AGENT_MAX_REQUEST_CHARS)" in " ".join(
        result.output.split()
    )

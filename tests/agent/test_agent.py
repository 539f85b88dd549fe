"""The agent pipeline end to end with real offline tools and scripted decomposers (no model requests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from agent.api import Agent, InputFileError, RunNotFoundError
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, Resource
from agent.engine.testing import registry as engine_tools
from agent.inputs import InputSpecError
from agent.pipeline import PlanningError
from agent.respond import TemplateResponder
from graph.errors import EmptyRequestError
from graph.plan import Plan


class Scripted(Decomposer):
    """Returns the plan it was given, binding ``$name`` values to the request's resources by name."""

    def __init__(self, subtasks: list[dict]) -> None:
        self.subtasks = subtasks
        self.calls = 0

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        self.calls += 1
        by_name = {r.name: r.ref().value for r in resources}
        subtasks = json.loads(json.dumps(self.subtasks))
        for sub in subtasks:
            for arg in sub["args"]:
                if isinstance(arg["value"], str) and arg["value"].startswith("$"):
                    arg["value"] = by_name[arg["value"][1:]]
        return Plan.parse({"request": request, "subtasks": subtasks})


FACES = [
    {
        "id": 0,
        "description": "find the faces",
        "args": [{"type": "image", "value": "$astronaut.png"}],
        "returns": [{"type": "bboxes"}],
    },
    {
        "id": 1,
        "description": "blur the faces",
        "dep": [0],
        "args": [{"type": "image", "value": "$astronaut.png"}, {"type": "bboxes", "value": "<GENERATED>-0"}],
        "returns": [{"type": "image"}],
    },
    {
        "id": 2,
        "description": "how many faces are there",
        "dep": [0],
        "args": [{"type": "bboxes", "value": "<GENERATED>-0"}],
        "returns": [{"type": "number"}],
    },
]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def settings(tmp_path: Path, vlm: dict | None = None, **extra) -> ToGSettings:
    return ToGSettings(agent={"data_dir": tmp_path / "tog", **extra}, vlm=vlm or {})


@pytest.fixture
def faces_agent(tmp_path: Path, embedder):
    agent = Agent(settings(tmp_path), decomposer=Scripted(FACES))
    yield agent
    agent.close()


def test_a_request_runs_end_to_end_with_real_tools(faces_agent: Agent, photo: Path, tmp_path: Path) -> None:
    result = faces_agent.run("blur the faces and tell me how many there are", files=[photo])
    assert result.status == "succeeded", result.subtasks
    assert [s.tools for s in result.subtasks] == [["detect_faces"], ["blur_regions"], ["count_boxes"]]
    boxes = faces_agent.store.load(result.outputs(0)[0].id)
    count = faces_agent.store.load(result.outputs(2)[0].id)
    assert count == len(boxes) >= 1
    blurred = np.asarray(faces_agent.store.load(result.outputs(1)[0].id)).astype(int)
    original = data.astronaut().astype(int)
    box = boxes[0]
    face = (slice(int(box["y1"]), int(box["y2"])), slice(int(box["x1"]), int(box["x2"])))
    assert np.abs(blurred[face] - original[face]).mean() > 3  # the face changed
    assert np.array_equal(blurred[-20:, -20:], original[-20:, -20:])  # the rest did not
    assert f"3. how many faces are there (count_boxes): {count}" in result.answer
    assert set(result.timings) >= {"decompose", "plan", "execute", "respond"}
    assert [a.role for a in result.artifacts].count("input") == 1
    saved = result.save_to(tmp_path / "out", faces_agent.store)
    assert {p.name for p in saved.iterdir()} == {
        "subtask-0.json",
        "subtask-1.png",
        "subtask-2.json",
        "answer.txt",
        "result.json",
    }


def test_events_stream_in_stage_order(faces_agent: Agent, photo: Path) -> None:
    events = list(faces_agent.stream("blur the faces and count them", files=[photo]))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    stages = [(e.stage, e.kind) for e in events if e.kind.startswith("stage_")]
    assert stages == [
        (s, k) for s in ("decompose", "plan", "execute", "respond") for k in ("stage_started", "stage_finished")
    ]
    started = events.index(next(e for e in events if e.stage == "execute" and e.kind == "stage_started"))
    finished = events.index(next(e for e in events if e.stage == "execute" and e.kind == "stage_finished"))
    actions = [i for i, e in enumerate(events) if e.kind.startswith("action_")]
    assert actions and all(started < i < finished for i in actions)
    assert events[-1].kind == "run_finished" and events[-1].data["status"] == "succeeded"


class CrashOnce(TemplateResponder):
    def __init__(self) -> None:
        self.crashed = False

    def respond(self, *args, **kwargs) -> str:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("the process died while answering")
        return super().respond(*args, **kwargs)


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path, photo: Path, embedder) -> None:
    decomposer = Scripted(FACES)
    agent = Agent(settings(tmp_path), decomposer=decomposer, responder=CrashOnce())
    with pytest.raises(RuntimeError):
        agent.run("blur the faces", files=[photo], run_id="run-1")
    assert agent.result("run-1").status == "interrupted"
    agent.close()
    # a new process: same data directory, nothing in memory
    again = Agent(settings(tmp_path), decomposer=decomposer, responder=TemplateResponder())
    result = again.resume("run-1")
    assert result.status == "succeeded" and result.answer.startswith("1. find the faces")
    assert decomposer.calls == 1  # decomposition (and execution) were not repeated
    assert again.result("run-1").subtasks[1].outputs[0].id == result.subtasks[1].outputs[0].id
    with pytest.raises(RunNotFoundError):
        again.resume("no-such-run")
    again.close()


def test_a_failed_subtask_is_replanned_with_solutions_not_yet_tried(tmp_path: Path) -> None:
    plan = [
        {
            "id": 0,
            "description": "change the text",
            "args": [{"type": "text", "value": "x"}],
            "returns": [{"type": "text"}],
        }
    ]
    agent = Agent(
        settings(tmp_path, assessor="uniform", top_k=1, strategy="greedy", max_depth=1),
        registry=engine_tools(),
        decomposer=Scripted(plan),
    )
    events = list(agent.stream("change the text"))
    result = agent.result(events[-1].run_id)
    agent.close()
    assert result.status == "succeeded"
    # one run_finished however many executions (issue 17): the engine's are relayed as execution_finished
    assert [e.kind for e in events].count("run_finished") == 1 and events[-1].kind == "run_finished"
    assert [e.kind for e in events].count("execution_finished") == 2
    assert result.subtasks[0].tools != ["always_fail"]
    assert "execute_" in " ".join(result.timings)  # executed twice: before and after re-planning
    assert "replan" in result.timings


def test_plan_only_and_execute_a_given_plan(faces_agent: Agent, photo: Path) -> None:
    planned = faces_agent.plan("blur the faces", files=[photo])
    assert planned.status == "planned" and not planned.subtasks
    assert planned.solutions[1][0].tools == ["blur_regions"]
    result = faces_agent.execute(planned.plan, planned.solutions)
    assert result.status == "succeeded"


def test_async_run(faces_agent: Agent, photo: Path) -> None:
    result = asyncio.run(faces_agent.arun("blur the faces", files=[photo]))
    assert result.status == "succeeded"


def test_bad_requests_are_typed_errors(faces_agent: Agent, photo: Path, tmp_path: Path) -> None:
    with pytest.raises(EmptyRequestError):
        faces_agent.run("   ", files=[photo])
    with pytest.raises(InputFileError, match="no such file"):
        faces_agent.run("blur the faces", files=[tmp_path / "missing.png"])
    odd = tmp_path / "data.xyz"
    odd.write_text("?")
    with pytest.raises(InputSpecError, match="cannot tell the type"):
        faces_agent.run("blur the faces", files=[photo, odd])
    assert len(list(faces_agent.store)) <= 1  # the good file of a rejected request is not stored twice over


def test_a_plan_needing_an_unavailable_tool_says_which_and_why(tmp_path: Path, photo: Path, embedder) -> None:
    caption = [
        {
            "id": 0,
            "description": "describe the video",
            "args": [{"type": "video", "value": "$clip.mp4"}],
            "returns": [{"type": "text"}],
        }
    ]
    agent = Agent(settings(tmp_path), decomposer=Scripted(caption))
    with pytest.raises(PlanningError) as info:
        agent.run("describe the video", resources=[Resource(name="clip.mp4", type="video", value=str(photo))])
    agent.close()
    assert "unavailable" in str(info.value) and "InternVL" in str(info.value)
    assert info.value.details["tools"]


def test_a_run_can_be_cancelled_while_it_executes(tmp_path: Path) -> None:
    from agent.engine.testing import solution, step

    plan = Plan.parse(
        {
            "request": "slow",
            "subtasks": [
                {
                    "id": 0,
                    "description": "wait a lot",
                    "args": [{"type": "text", "value": "x"}, {"type": "number", "value": 0.5}],
                    "returns": [{"type": "text"}],
                }
            ],
        }
    )
    slow = solution(
        0,
        *[step(f"a{k}", "wait", text="input:0" if k == 0 else f"a{k - 1}.result", seconds="input:1") for k in range(4)],
    )
    agent = Agent(settings(tmp_path, assessor="uniform"), registry=engine_tools(), decomposer=Scripted([]))
    import threading
    import time as _time

    started = _time.monotonic()
    timer = threading.Timer(0.3, lambda: agent.cancel("slow-1"))
    timer.start()
    result = agent.execute(plan, {0: [slow]}, run_id="slow-1")
    timer.join()
    agent.close()
    assert result.status == "cancelled"
    assert _time.monotonic() - started < 1.5
    assert "respond" not in result.timings


def test_replanning_reruns_skipped_subtasks_with_their_own_solutions(tmp_path: Path) -> None:
    from agent.engine.testing import always_fail, append, join_texts
    from tools.registry import ToolRegistry

    plan = [
        {
            "id": 0,
            "description": "change the text",
            "args": [{"type": "text", "value": "x"}],
            "returns": [{"type": "text"}],
        },
        {
            "id": 1,
            "description": "join both",
            "dep": [0],
            "args": [{"type": "text", "value": "<GENERATED>-0"}, {"type": "text", "value": "y"}],
            "returns": [{"type": "text"}],
        },
    ]
    agent = Agent(
        settings(tmp_path, assessor="uniform", top_k=1, strategy="greedy", max_depth=1),
        registry=ToolRegistry([always_fail, append, join_texts]),
        decomposer=Scripted(plan),
    )
    result = agent.run("change the text, then join it with y")
    assert result.status == "succeeded", result.subtasks
    assert result.subtasks[0].tools == ["append"]  # always_fail was tried first, then re-planned
    joined = agent.store.load(result.outputs(1)[0].id)
    assert "x" in joined and "y" in joined  # subtask 1, skipped at first, ran on subtask 0's new result
    agent.close()


def test_model_settings_given_in_code_reach_the_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.models import vlm_status

    monkeypatch.delenv("TOG_VLM_MODEL", raising=False)
    monkeypatch.delenv("TOG_VLM_URL", raising=False)
    checkpoint = tmp_path / "no-such-checkpoint"
    with Agent(settings(tmp_path, vlm={"model": str(checkpoint)})) as agent:
        available, reason = vlm_status()
        assert not available and str(checkpoint) in reason  # the code's model, not "not configured"
        unavailable = agent.registry.unavailable()
        assert "describe_image" in unavailable and str(checkpoint) in unavailable["describe_image"]
    assert str(checkpoint) not in vlm_status()[1]  # closed: the environment's (no) model again


def test_the_settings_choose_the_decomposer() -> None:
    from agent.api import default_decomposer
    from agent.decompose import LLMDecomposer, OfflineDecomposer
    from tools import models
    from tools.errors import ToolUnavailableError
    from vlm.backends.base import VLMBackend

    class Canned(VLMBackend):
        def batch_chat(self, requests):
            return ["[]" for _ in requests]

        def stream(self, request):
            yield "[]"

    assert isinstance(default_decomposer(ToGSettings()), OfflineDecomposer)
    with pytest.raises(ToolUnavailableError):  # no LLM configured: says so instead of guessing
        default_decomposer(ToGSettings(agent={"decomposer": "llm"}))
    models.configure_llm(Canned())
    try:
        assert isinstance(default_decomposer(ToGSettings(agent={"decomposer": "llm"})), LLMDecomposer)
    finally:
        models.configure_llm(None)

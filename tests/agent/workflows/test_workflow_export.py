"""Plan -> workflow: the solutions an agent run executed become a workflow file that, run again with the
same inputs, gives the same results; given files become typed inputs, filled parameters defaults."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.api import Agent
from agent.cli import app
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, Resource
from agent.engine import Engine
from agent.outputs import jsonable
from agent.result import AgentResult
from agent.workflows import Workflow, WorkflowExportError, export_workflow, workflow_yaml
from graph.plan import Plan
from tools.registry import ToolRegistry


class FacesPlan(Decomposer):
    """Three subtasks over the given photo: one feeds the other two (``<GENERATED>-0``), one needs two tools."""

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        image = next(r for r in resources if r.type.value == "image").ref().model_dump()
        return Plan.parse(
            {
                "request": request,
                "subtasks": [
                    {"id": 0, "description": "find the faces", "args": [image], "returns": [{"type": "bboxes"}]},
                    {
                        "id": 1,
                        "description": "pixelate the faces",
                        "dep": [0],
                        "args": [image, {"type": "bboxes", "value": "<GENERATED>-0"}],
                        "returns": [{"type": "image"}],
                    },
                    {
                        "id": 2,
                        "description": "how many faces are in the photo",
                        "args": [image],
                        "returns": [{"type": "number"}],
                    },
                ],
            }
        )


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory: pytest.TempPathFactory, astronaut: Path) -> Iterator[tuple[Agent, AgentResult]]:
    data = tmp_path_factory.mktemp("agent")
    with Agent(ToGSettings(agent={"data_dir": data, "assessor": "uniform"}), decomposer=FacesPlan()) as agent:
        result = agent.run("pixelate the faces and count them", files=[astronaut])
        assert result.status == "succeeded", result.subtasks
        yield agent, result


def test_the_exported_workflow_reruns_to_the_same_results(
    agent_run: tuple[Agent, AgentResult], astronaut: Path, builtin: ToolRegistry, engine: Engine
) -> None:
    agent, result = agent_run
    spec = export_workflow(result, name="faces")
    text = workflow_yaml(spec)
    workflow = Workflow.load(text, registry=builtin)  # the YAML is valid and type-checks
    assert [n for n, d in workflow.spec.inputs.items() if d.required] == ["image"]
    assert workflow.spec.inputs["image"].description == "was astronaut.png"
    ran = [tool for sub in result.subtasks for tool in sub.tools]
    assert sorted(s.tool for s in workflow.spec.steps) == sorted(ran)
    rerun = workflow.run({"image": str(astronaut)}, engine=engine)
    outputs = list(rerun.outputs.values())
    assert len(outputs) == 3
    for subtask, output in zip(result.subtasks, outputs):
        expected = agent.store.load(subtask.outputs[0].id)
        if output.type.value == "image":
            assert np.array_equal(np.asarray(output.value), np.asarray(expected))
        else:
            assert jsonable(output.value) == jsonable(expected)
    assert rerun.value(list(rerun.outputs)[2]) >= 1  # the faces were counted


def test_a_subtask_result_feeds_the_next_step_by_reference(
    agent_run: tuple[Agent, AgentResult], builtin: ToolRegistry
) -> None:
    _, result = agent_run
    spec = export_workflow(result)
    assert spec.name == "pixelate-the-faces-and-count-them" and spec.description == result.request
    blur = next(s for s in spec.steps if s.tool == "blur_regions")
    producer = next(s for s in spec.steps if s.tool == result.subtasks[0].tools[-1])
    assert blur.args["image"] == "${inputs.image}"
    made = builtin.get(producer.tool).spec.outputs[0].name
    assert blur.args["boxes"] == f"${{steps.{producer.id}.outputs.{made}}}"
    literal = [n for n, d in spec.inputs.items() if not d.required]
    assert all(spec.inputs[n].default is not None for n in literal)  # filled parameters keep their values


def test_a_run_that_did_not_succeed_cannot_be_exported(agent_run: tuple[Agent, AgentResult]) -> None:
    _, result = agent_run
    failed = result.model_copy(
        update={"subtasks": [result.subtasks[0].model_copy(update={"status": "failed"}), *result.subtasks[1:]]}
    )
    with pytest.raises(WorkflowExportError, match="subtask 0 .* is failed"):
        export_workflow(failed)
    with pytest.raises(WorkflowExportError, match="has no plan"):
        export_workflow(result.model_copy(update={"plan": None}))


def test_tog_export_workflow_writes_a_runnable_file(
    agent_run: tuple[Agent, AgentResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut: Path
) -> None:
    agent, result = agent_run
    monkeypatch.setenv("TOG_AGENT_DATA_DIR", str(agent.settings.agent.data_dir))
    monkeypatch.setenv("TOG_AGENT_ASSESSOR", "uniform")
    out = tmp_path / "exported.yaml"
    runner = CliRunner()
    done = runner.invoke(app, ["export-workflow", result.run_id, "-o", str(out)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "--input image=..." in done.output
    ran = runner.invoke(
        app, ["run", str(out), "--input", f"image={astronaut}", "-o", str(tmp_path / "res")], catch_exceptions=False
    )
    assert ran.exit_code == 0, ran.output
    assert (tmp_path / "res" / "result.json").is_file()
    missing = runner.invoke(app, ["export-workflow", "no-such-run", "-o", str(out)], catch_exceptions=False)
    assert missing.exit_code == 2 and "no run with id" in missing.output

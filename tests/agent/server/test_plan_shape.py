"""One plan JSON shape (issue 17 item 7): ToG's field names from REST, the task store and Python alike."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from server_support import make_agent, make_settings, wait_for

from agent.server.app import create_app
from graph.plan import Subtask

BOXES = [{"x1": 0, "y1": 0, "x2": 4, "y2": 4}]
PLAN_FIELDS = {"id", "description", "domains", "inputs", "outputs", "deps"}


def test_subtasks_read_both_names_and_write_togs() -> None:
    controlllm = {"id": 1, "description": "y", "task": ["b"], "args": [{"type": "text"}], "returns": [{"type": "text"}]}
    ours = {"id": 1, "description": "y", "domains": ["b"], "inputs": [{"type": "text"}], "outputs": [{"type": "text"}]}
    a, b = Subtask.model_validate({**controlllm, "dep": [0]}), Subtask.model_validate({**ours, "deps": [0]})
    assert a == b
    assert set(a.model_dump(by_alias=True)) == set(a.model_dump()) == PLAN_FIELDS  # FastAPI dumps by alias
    assert a.to_controlllm()["dep"] == [0]  # ControlLLM's shape stays available on request


def test_one_plan_shape_from_rest_tasks_and_python(data_dir: Path) -> None:
    body = {"request": "count", "resources": [{"name": "b", "type": "bboxes", "value": BOXES}]}
    settings = make_settings(data_dir)
    with TestClient(create_app(settings, make_agent(settings))) as client:
        planned = client.post("/v1/plan", json=body).json()
        [subtask] = planned["plan"]["subtasks"]
        assert set(subtask) == PLAN_FIELDS
        task_id = client.post("/v1/tasks", json=body).json()["id"]
        view = wait_for(client, task_id, ("succeeded",))
        [done] = view["result"]["plan"]["subtasks"] if "result" in view else view["plan"]["subtasks"]
        assert set(done) == PLAN_FIELDS
        python = client.app.state.tog.agent.result(task_id).model_dump(mode="json")["plan"]["subtasks"][0]
        assert set(python) == PLAN_FIELDS and python == done
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        subtask_schemas = [name for name in schemas if name.startswith("Subtask") and "Outcome" not in name]
        assert subtask_schemas and all(set(schemas[name]["properties"]) == PLAN_FIELDS for name in subtask_schemas)

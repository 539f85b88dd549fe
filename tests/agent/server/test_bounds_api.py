"""Work bounds over REST (issue 17 item 5): the agent's limits, as a 422 at submission or the task's typed error."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from server_support import make_agent, make_settings, wait_for

from agent.server.app import create_app

BOXES = [{"x1": 0, "y1": 0, "x2": 4, "y2": 4}]


def _client(data_dir: Path, **agent_limits: int) -> TestClient:
    settings = make_settings(data_dir)
    settings.agent = settings.agent.model_copy(update=agent_limits)
    return TestClient(create_app(settings, make_agent(settings)))


def test_the_agents_request_limit_is_a_422_at_submission(data_dir: Path) -> None:
    with _client(data_dir, max_request_chars=30) as client:
        response = client.post("/v1/tasks", json={"request": "x" * 31})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "request_too_long" and error["details"]["max_chars"] == 30
        assert client.get("/v1/tasks").json()["items"] == []  # nothing queued
        assert client.post("/v1/plan", json={"request": "x" * 31}).status_code == 422


def test_too_many_subtasks_fails_the_task_before_any_tool_runs(data_dir: Path) -> None:
    resources = [{"name": f"b{i}", "type": "bboxes", "value": BOXES} for i in range(3)]
    with _client(data_dir, max_subtasks=2) as client:
        planned = client.post("/v1/plan", json={"request": "count", "resources": resources})
        assert planned.status_code == 422 and planned.json()["error"]["code"] == "too_many_subtasks"
        task_id = client.post("/v1/tasks", json={"request": "count", "resources": resources}).json()["id"]
        view = wait_for(client, task_id, ("succeeded", "partial", "failed", "cancelled", "interrupted"))
        assert view["status"] == "failed" and view["error"]["code"] == "too_many_subtasks"
        assert view["error"]["details"] == {"subtasks": 3, "max_subtasks": 2}
        assert view["progress"]["total"] == 0  # no tool call was even queued

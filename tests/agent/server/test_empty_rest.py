"""Over REST, a task whose asked-for result is empty ends ``empty`` with the reason (issue 17 item 4)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi.testclient import TestClient
from server_support import make_settings, png_bytes, wait_for

from agent.api import Agent
from agent.decompose.base import Decomposer, Resource
from agent.server.app import create_app
from graph.plan import Plan
from tools.ocr import read_text
from tools.registry import ToolRegistry


class ReadEach(Decomposer):
    """Reads the text of each given image."""

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        subtasks = [
            {"id": i, "description": request, "args": [r.ref().model_dump(mode="json")], "returns": [{"type": "text"}]}
            for i, r in enumerate(resources)
        ]
        return Plan.parse({"request": request, "subtasks": subtasks})


def test_a_task_whose_ocr_finds_no_text_ends_empty(data_dir: Path) -> None:
    settings = make_settings(data_dir)
    agent = Agent(settings, registry=ToolRegistry([read_text]), decomposer=ReadEach())
    try:
        with TestClient(create_app(settings, agent)) as client:
            blank = png_bytes((160, 100), (255, 255, 255))
            response = client.post(
                "/v1/tasks",
                data={"request": "read the text in this image"},
                files=[("files", ("blank.png", blank, "image/png"))],
            )
            assert response.status_code == 202, response.text
            view = wait_for(client, response.json()["id"], ("succeeded", "partial", "failed", "empty"), 60)
            assert view["status"] == "empty", view
            assert "no text was found in the image (read_text returned nothing)" in view["answer"]
    finally:
        agent.close()

"""Honest outcomes over REST (issue 17): an empty asked-for result ends ``empty`` with its reason (item 4);
"count the boxes" counts them all (item 2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi.testclient import TestClient
from server_support import make_settings, png_bytes, wait_for

from agent.api import Agent
from agent.decompose.base import Decomposer, Resource
from agent.decompose.offline import OfflineDecomposer
from agent.server.app import create_app
from graph.plan import Plan
from tools.list_ops import count_boxes, select_boxes
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


def test_count_the_boxes_over_rest_counts_every_box(data_dir: Path, embedder: object) -> None:
    """Issue 17 item 2 over REST: "count the boxes" with two boxes is 2 — "boxes" is no label filter."""
    settings = make_settings(data_dir)
    agent = Agent(settings, registry=ToolRegistry([count_boxes, select_boxes]), decomposer=OfflineDecomposer())
    boxes = [{"x1": 0, "y1": 0, "x2": 4, "y2": 4}, {"x1": 5, "y1": 5, "x2": 9, "y2": 9}]
    try:
        with TestClient(create_app(settings, agent)) as client:
            response = client.post(
                "/v1/tasks",
                json={"request": "count the boxes", "resources": [{"name": "boxes", "type": "bboxes", "value": boxes}]},
            )
            assert response.status_code == 202, response.text
            view = wait_for(client, response.json()["id"], ("succeeded", "partial", "failed", "empty"), 60)
            assert view["status"] == "succeeded", view
            [count] = view["artifacts"]
            assert client.get(count["url"]).json() == 2
    finally:
        agent.close()

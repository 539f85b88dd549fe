"""A request the tools here cannot answer ends ``unsupported`` over REST, with the reason (issue 17 item 1).

The real offline decomposer and the built-in tools with no model configured: "describe this image" was
answered by OCR and marked ``succeeded``; now the task is refused before any tool runs, naming the tool
meant for it and how to enable it, and ``/metrics`` counts it by that status.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_support import metric_by_label, wait_for

from agent.api import Agent
from agent.config import ToGSettings
from agent.samples import make_demo_photo
from agent.server.app import create_app
from agent.server.models import FINAL_STATUSES

MODEL_VARIABLES = ("TOG_VLM_MODEL", "TOG_VLM_URL", "TOG_LLM_URL")


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: object) -> Iterator[TestClient]:
    for variable in MODEL_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    settings = ToGSettings.model_validate({"agent": {"data_dir": tmp_path / "tog"}, "server": {"api_keys": []}})
    agent = Agent(settings)
    with TestClient(create_app(settings, agent)) as test_client:
        yield test_client
    agent.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_demo_photo(tmp_path_factory.mktemp("inputs") / "astro.png")
    return path.read_bytes()


def test_a_request_for_an_unavailable_tool_ends_unsupported_with_the_reason(client: TestClient, photo: bytes) -> None:
    response = client.post(
        "/v1/tasks",
        data={"request": "describe this image"},
        files=[("files", ("astro.png", io.BytesIO(photo), "image/png"))],
    )
    assert response.status_code == 202, response.text
    view = wait_for(client, response.json()["id"], tuple(FINAL_STATUSES), timeout_s=60)
    assert view["status"] == "unsupported", view
    error = view["error"]
    assert error["code"] == "unsupported" and view["message"] == error["message"]
    assert error["details"]["tools"][0] == "describe_image"
    assert "TOG_VLM_MODEL" in error["details"]["unavailable"]["describe_image"]
    counts = metric_by_label(client, "tog_tasks_finished_total", "status")
    assert counts["unsupported"] == 1 and counts["succeeded"] == 0 and counts["empty"] == 0


def test_a_product_no_tool_makes_is_a_422_when_only_planning(client: TestClient, photo: bytes) -> None:
    response = client.post(
        "/v1/plan",
        data={"request": "turn this image into a video of a dancing cat"},
        files=[("files", ("astro.png", io.BytesIO(photo), "image/png"))],
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported" and error["details"]["product"] == "video" and error["details"]["tools"]

"""POST /v1/artifacts: files stored for later use by id, under the same checks as a task's uploads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from server_support import GREY_AND_COUNT, png_bytes, serve, wait_for

from agent.client import APIError, ToGClient

FINAL = ("succeeded", "partial", "failed", "cancelled", "interrupted")
BOXES = [{"x1": 0, "y1": 0, "x2": 4, "y2": 4}, {"x1": 5, "y1": 5, "x2": 9, "y2": 9}]


def post(client: TestClient, *files: tuple[str, bytes]) -> httpx.Response:
    return client.post(
        "/v1/artifacts", files=[("files", (name, content, "application/octet-stream")) for name, content in files]
    )


def error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.fixture
def limited(data_dir: Path) -> Iterator[TestClient]:
    test_client, agent = serve(
        data_dir, max_file_bytes=20_000, max_files=2, max_pixels=1_000_000, allowed_types=["image"]
    )
    with test_client:
        yield test_client
    agent.close()


def test_uploaded_files_are_stored_in_order_and_downloadable_byte_for_byte(client: TestClient) -> None:
    photo, other = png_bytes((32, 24)), png_bytes((10, 7), (0, 90, 0))
    response = post(client, ("photo.png", photo), ("other.png", other))
    assert response.status_code == 201, response.text
    body = response.json()
    first, second = body["artifacts"]
    assert (first["type"], first["mime"], first["filename"]) == ("image", "image/png", "photo.png")
    assert (first["width"], first["height"], second["width"], second["height"]) == (32, 24, 10, 7)
    assert first["sha256"] == hashlib.sha256(photo).hexdigest() and first["size"] == len(photo)
    assert body["urls"] == [f"/v1/artifacts/{first['id']}", f"/v1/artifacts/{second['id']}"]
    assert client.get(body["urls"][1]).content == other


def test_a_workflow_runs_on_an_uploaded_file(client: TestClient) -> None:
    [stored] = post(client, ("photo.png", png_bytes())).json()["artifacts"]
    response = client.post(
        "/v1/workflows/run", json={"workflow": GREY_AND_COUNT, "inputs": {"image": stored["id"], "boxes": BOXES}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded" and client.get(f"/v1/artifacts/{body['artifacts']['total']}").json() == 2


def test_a_task_takes_an_uploaded_file_as_a_resource_by_id(client: TestClient) -> None:
    [stored] = post(client, ("photo.png", png_bytes())).json()["artifacts"]
    created = client.post(
        "/v1/tasks", json={"request": "grey", "resources": [{"name": "photo", "type": "image", "value": stored["id"]}]}
    )
    assert created.status_code == 202, created.text
    task = wait_for(client, created.json()["id"], FINAL)
    assert task["status"] == "succeeded", task


def test_bad_uploads_are_4xx_with_a_json_error_and_store_nothing(limited: TestClient, data_dir: Path) -> None:
    def stored() -> int:
        return sum(1 for p in data_dir.rglob("*") if p.is_file() and p.suffix in (".png", ".jpg", ".txt"))

    before = stored()
    assert error(limited.post("/v1/artifacts", json={"files": []}), 415)["code"]
    assert error(limited.post("/v1/artifacts", data={"note": "no files"}), 415)  # a form, not multipart
    missing = error(limited.post("/v1/artifacts", files={"note": (None, "no files")}), 422)  # multipart, no file
    assert "files" in str(missing["details"])
    assert error(limited.post("/v1/artifacts", files={"files": (None, "text, not a file")}), 422)
    assert error(post(limited, ("notes.txt", b"hello")), 415)["details"]["type"] == "text"
    assert error(post(limited, ("mystery", b"\x00\x01")), 415)
    assert error(post(limited, ("broken.png", b"\x89PNG not really")), 422)
    assert error(post(limited, ("big.png", b"\x00" * 30_000)), 413)
    assert error(post(limited, *[(f"p{k}.png", png_bytes()) for k in range(3)]), 413)
    assert stored() == before
    assert (
        post(limited, ("fine.png", png_bytes())).status_code == 201 and stored() == before + 1
    )  # the count sees files


def test_the_typed_client_uploads_and_reports_errors(client: TestClient) -> None:
    def relay(request: httpx.Request) -> httpx.Response:  # ToGClient's requests, answered by the app
        answer = client.request(request.method, request.url.path, content=request.read(), headers=request.headers)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    api = ToGClient("http://testserver", transport=httpx.MockTransport(relay))
    uploaded = api.upload([("photo.png", png_bytes((5, 4)))])
    assert [a.width for a in uploaded.artifacts] == [5]
    assert api.artifact(uploaded.artifacts[0].id) == png_bytes((5, 4))
    with pytest.raises(APIError) as caught:
        api.upload([("notes.doc", b"x")])
    assert caught.value.status == 415

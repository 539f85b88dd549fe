"""Honest REST answers (issue 17 item 7): sniffed uploads, no server paths, rejections counted by reason."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from server_support import make_agent, make_settings, metric_by_label

from agent.server.app import create_app


def _client(data_dir: Path, **server: object) -> TestClient:
    settings = make_settings(data_dir, **server)
    return TestClient(create_app(settings, make_agent(settings)))


def test_a_file_whose_bytes_are_not_its_declared_type_is_415_at_upload(data_dir: Path) -> None:
    with _client(data_dir) as client:
        fake = client.post("/v1/artifacts", files=[("files", ("talk.mp3", b"just some text\n", "audio/mpeg"))])
        assert fake.status_code == 415, fake.text
        error = fake.json()["error"]
        assert error["code"] == "unsupported_type" and "'talk.mp3' is not audio" in error["message"]
        task = client.post("/v1/tasks", data={"request": "hear it"}, files=[("files", ("clip.mp4", b"<html>", "x/y"))])
        assert task.status_code == 415 and "'clip.mp4' is not video" in task.json()["error"]["message"]
        assert client.get("/v1/tasks").json()["items"] == []  # nothing queued
        wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32)
        real = client.post("/v1/artifacts", files=[("files", ("talk.wav", wav, "audio/wav"))])
        assert real.status_code == 201 and real.json()["artifacts"][0]["type"] == "audio"


def test_error_bodies_name_no_server_path(data_dir: Path) -> None:
    with _client(data_dir) as client:
        bad = client.post("/v1/artifacts", files=[("files", ("x.png", b"not an image", "image/png"))])
        assert bad.status_code == 422
        text = bad.text
        assert str(data_dir) not in text and ".tmp" not in text and "put-" not in text
        assert "'x.png'" in bad.json()["error"]["message"]


def test_rejected_submissions_are_counted_by_reason(data_dir: Path) -> None:
    with _client(data_dir, max_request_chars=50, max_request_bytes=4096) as client:
        assert client.post("/v1/tasks", json={"request": "x" * 51}).status_code == 422
        files = [("files", ("talk.mp3", b"text", "audio/mpeg"))]
        assert client.post("/v1/tasks", data={"request": "x"}, files=files).status_code == 415
        assert client.post("/v1/tasks", json={"files": []}).status_code == 422
        big = json.dumps({"request": "x", "resources": [{"name": "t", "type": "text", "value": "y" * 5000}]})
        too_big = client.post("/v1/tasks", content=big, headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413
        assert client.post("/v1/tasks", json={"request": "quick"}).status_code == 202  # not counted
        assert metric_by_label(client, "tog_tasks_rejected_total", "reason") == {
            "request_too_long": 1,
            "unsupported_type": 1,
            "invalid_request": 1,
            "payload_too_large": 1,
        }

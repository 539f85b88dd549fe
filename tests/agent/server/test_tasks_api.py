"""The task endpoints with httpx against the app: lifecycle, events, cancellation, paging, plan-only, catalogue."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from server_support import GREY_AND_COUNT, SLOW_SECONDS, SLOW_STEPS, png_bytes, serve, wait_for

FINAL = ("succeeded", "partial", "failed", "cancelled", "interrupted")
BOXES = [
    {"x1": 0, "y1": 0, "x2": 4, "y2": 4},
    {"x1": 5, "y1": 5, "x2": 9, "y2": 9},
    {"x1": 1, "y1": 1, "x2": 2, "y2": 2},
]


def sse_events(client: TestClient, task_id: str, **headers: str) -> list[dict]:
    with client.stream("GET", f"/v1/tasks/{task_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            event = json.loads(fields["data"])
            assert int(fields["id"]) == event["seq"] and fields["event"] == event["kind"]
            events.append(event)
    return events


def test_multipart_task_with_an_image_and_boxes_runs_to_an_answer_and_artifacts(client: TestClient) -> None:
    photo = png_bytes((40, 30), (200, 30, 30))
    response = client.post(
        "/v1/tasks",
        data={
            "request": "make it grey and count the boxes",
            "resources": json.dumps([{"name": "boxes", "type": "bboxes", "value": BOXES}]),
        },
        files=[("files", ("photo.png", photo, "image/png"))],
    )
    assert response.status_code == 202, response.text
    created = response.json()
    assert set(created) == {"id", "status", "links"} and created["status"] == "queued"
    assert response.headers["location"] == f"/v1/tasks/{created['id']}"
    view = wait_for(client, created["id"], FINAL)
    assert view["status"] == "succeeded", view
    assert "(count_boxes): 3" in view["answer"] and "(grayscale_image)" in view["answer"]
    assert [s["tools"] for s in view["subtasks"]] == [["grayscale_image"], ["count_boxes"]]
    assert view["plan"]["subtasks"][0]["description"] == "make the photo grey"
    assert view["progress"]["total"] == view["progress"]["finished"] == 2
    assert {a["tool"] for a in view["progress"]["actions"]} == {"grayscale_image", "count_boxes"}
    [given] = view["inputs"]
    assert given["name"] == "photo.png" and given["mime"] == "image/png" and given["role"] == "input"
    grey_link, count_link = sorted(view["artifacts"], key=lambda a: a["subtask"])
    grey = client.get(grey_link["url"])
    assert grey.status_code == 200 and grey.headers["content-type"] == "image/png"
    assert grey.headers["x-content-type-options"] == "nosniff"
    pixels = np.asarray(Image.open(io.BytesIO(grey.content)).convert("RGB")).astype(int)
    assert pixels.shape == (30, 40, 3) and np.all(pixels[..., 0] == pixels[..., 1])  # really grey now
    count = client.get(count_link["url"])
    assert count.headers["content-type"].startswith("application/json") and count.json() == 3
    original = client.get(given["url"])
    assert original.content == photo
    meta = client.get(f"{given['url']}/meta").json()
    assert (meta["width"], meta["height"], meta["filename"]) == (40, 30, "photo.png")


def test_json_task_with_a_base64_image(client: TestClient) -> None:
    body = {"request": "make it grey", "files": [{"name": "p.png", "data": base64.b64encode(png_bytes()).decode()}]}
    response = client.post("/v1/tasks", json=body)
    assert response.status_code == 202, response.text
    view = wait_for(client, response.json()["id"], FINAL)
    assert view["status"] == "succeeded" and view["subtasks"][0]["tools"] == ["grayscale_image"]
    assert client.get(view["artifacts"][0]["url"]).headers["content-type"] == "image/png"


def test_events_arrive_in_order_and_resume_after_last_event_id(client: TestClient) -> None:
    task_id = client.post(
        "/v1/tasks", json={"request": "count", "resources": [{"name": "b", "type": "bboxes", "value": BOXES}]}
    ).json()["id"]
    events = sse_events(client, task_id)  # live: the stream ends after task_finished
    kinds = [e["kind"] for e in events]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert kinds[:2] == ["task_queued", "task_started"] and kinds[-1] == "task_finished"
    assert (events[-2]["stage"], events[-2]["kind"]) == ("done", "run_finished")  # the agent's last event
    assert kinds.count("run_finished") == 1 and kinds.count("execution_finished") == 1  # issue 17: not twice
    stages = [(e["stage"], e["kind"]) for e in events if e["kind"].startswith("stage_")]
    assert stages == [
        (s, k) for s in ("decompose", "plan", "execute", "respond") for k in ("stage_started", "stage_finished")
    ]
    assert {"action_started", "action_finished"} <= set(kinds)
    assert events[-1]["data"]["status"] == "succeeded"
    resumed = sse_events(client, task_id, **{"Last-Event-ID": str(events[4]["seq"])})
    assert resumed == events[5:]
    assert sse_events(client, task_id, **{"Last-Event-ID": str(events[-1]["seq"])}) == []
    with client.stream("GET", f"/v1/tasks/{task_id}/events?after=3") as response:
        assert json.loads(response.read().decode().split("data: ")[1].split("\n")[0])["seq"] == 4


def test_a_running_task_can_be_cancelled(client: TestClient) -> None:
    task_id = client.post("/v1/tasks", json={"request": "slow"}).json()["id"]
    wait_for(client, task_id, ("running",))
    time.sleep(SLOW_SECONDS / 2)
    started = time.monotonic()
    response = client.delete(f"/v1/tasks/{task_id}")
    assert response.status_code == 202 and response.json() == {
        "id": task_id,
        "status": "running",
        "cancel_requested": True,
    }
    view = wait_for(client, task_id, FINAL)
    assert view["status"] == "cancelled"
    assert time.monotonic() - started < SLOW_STEPS * SLOW_SECONDS - SLOW_SECONDS  # the later waits never ran
    kinds = [e["kind"] for e in sse_events(client, task_id)]
    assert "cancel_requested" in kinds and kinds[-1] == "task_finished"
    again = client.delete(f"/v1/tasks/{task_id}")
    assert again.status_code == 202 and again.json()["status"] == "cancelled"


def test_a_queued_task_is_cancelled_at_once_and_never_runs(data_dir) -> None:
    test_client, agent = serve(data_dir, workers=1)
    with test_client as client:
        busy = client.post("/v1/tasks", json={"request": "slow"}).json()["id"]
        waiting = client.post("/v1/tasks", json={"request": "quick"}).json()["id"]
        response = client.delete(f"/v1/tasks/{waiting}")
        assert response.status_code == 202
        assert response.json() == {"id": waiting, "status": "cancelled", "cancel_requested": False}
        client.delete(f"/v1/tasks/{busy}")
        wait_for(client, busy, FINAL)
        view = client.get(f"/v1/tasks/{waiting}").json()
        assert view["status"] == "cancelled" and view["started"] is None and view["message"]
        assert [e["kind"] for e in sse_events(client, waiting)] == ["task_queued", "task_finished"]
    agent.close()


def test_cancelling_a_finished_task_is_a_conflict(client: TestClient) -> None:
    task_id = client.post("/v1/tasks", json={"request": "quick"}).json()["id"]
    wait_for(client, task_id, FINAL)
    response = client.delete(f"/v1/tasks/{task_id}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "task_finished"


def test_a_request_that_cannot_be_decomposed_fails_with_its_error(client: TestClient) -> None:
    task_id = client.post("/v1/tasks", json={"request": "undecomposable"}).json()["id"]
    view = wait_for(client, task_id, FINAL)
    assert view["status"] == "failed" and view["error"]["code"] == "decomposition_failed"
    assert "no subtasks" in view["message"]


def test_tasks_are_paged_newest_first(client: TestClient) -> None:
    ids = [client.post("/v1/tasks", json={"request": f"quick {i}"}).json()["id"] for i in range(5)]
    first = client.get("/v1/tasks", params={"limit": 2}).json()
    assert [t["id"] for t in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    second = client.get("/v1/tasks", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get("/v1/tasks", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [t["id"] for t in second["items"] + third["items"]] == ids[::-1][2:]
    assert third["next_cursor"] is None
    for task_id in ids:
        wait_for(client, task_id, FINAL)
    done = client.get("/v1/tasks", params={"status": "succeeded", "limit": 200}).json()
    assert {t["id"] for t in done["items"]} == set(ids)
    assert client.get("/v1/tasks", params={"status": "queued"}).json()["items"] == []
    assert client.get("/v1/tasks", params={"limit": 0}).status_code == 422


def test_plan_only_decomposes_and_plans_without_running(client: TestClient) -> None:
    response = client.post(
        "/v1/plan", json={"request": "count", "resources": [{"name": "b", "type": "bboxes", "value": BOXES}]}
    )
    assert response.status_code == 200, response.text
    planned = response.json()
    assert planned["status"] == "planned" and planned["plan"]["subtasks"][0]["description"] == "count the boxes"
    assert planned["solutions"]["0"][0]["actions"][0]["tool"] == "count_boxes"
    assert client.get("/v1/tasks").json()["items"] == []  # nothing was queued
    bad = client.post("/v1/plan", json={"request": "undecomposable"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "decomposition_failed"


def test_tools_graph_and_types(client: TestClient) -> None:
    tools = client.get("/v1/tools").json()
    assert tools["total"] == 3 == tools["available"]
    assert {t["name"] for t in tools["tools"]} == {"wait", "grayscale_image", "count_boxes"}
    assert all(t["available"] and t["reason"] is None for t in tools["tools"])
    graph = client.get("/v1/graph").json()
    assert {
        "source": "type:bboxes",
        "target": "tool:count_boxes",
        "relation": "accepts",
        "arg": "boxes",
        "required": True,
    } in graph["edges"]
    assert "image" in graph["types"] and len(graph["tools"]) == 3
    png = client.get("/v1/graph", params={"format": "png"})
    assert png.headers["content-type"] == "image/png" and Image.open(io.BytesIO(png.content)).size[0] > 100
    assert client.get("/v1/graph", headers={"Accept": "image/png"}).content == png.content
    types = {t["type"]: t for t in client.get("/v1/types").json()}
    assert types["image"]["is_file"] and not types["bboxes"]["is_file"]


def test_unavailable_tools_are_listed_with_their_reason(data_dir) -> None:
    from server_support import InputsDecomposer, make_settings

    from agent.api import Agent
    from tools.registry import default_registry

    settings = make_settings(data_dir)
    agent = Agent(settings, registry=default_registry(), decomposer=InputsDecomposer())
    from agent.server.app import create_app

    with TestClient(create_app(settings, agent)) as client:
        tools = {t["name"]: t for t in client.get("/v1/tools").json()["tools"]}
    agent.close()
    unavailable = agent.registry.unavailable()
    assert unavailable, "the VLM tools need a model, none is configured in tests"
    for name, reason in unavailable.items():
        assert tools[name]["available"] is False and tools[name]["reason"] == reason


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] and ready.json()["workers"] == 2
    task_id = client.post("/v1/tasks", json={"request": "quick"}).json()["id"]
    wait_for(client, task_id, FINAL)
    client.get("/v1/tasks/" + "0" * 32)
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"] == CONTENT_TYPE_LATEST
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.text)
        for s in family.samples
    }
    assert samples[("tog_http_requests_total", (("method", "POST"), ("route", "/v1/tasks"), ("status", "202")))] == 1
    assert (
        samples[("tog_http_requests_total", (("method", "GET"), ("route", "/v1/tasks/{task_id}"), ("status", "404")))]
        == 1
    )
    assert all("0" * 32 not in value for _, labels in samples for _, value in labels)  # route templates, not paths
    assert samples[("tog_tasks_submitted_total", ())] == 1
    assert not [name for name, _ in samples if name == "tog_tasks_rejected_total"]  # by reason: none refused yet
    assert samples[("tog_tasks_finished_total", (("status", "succeeded"),))] == 1
    healthz = (("route", "/healthz"),)
    buckets = [
        labels[0][1]
        for name, labels in samples
        if name == "tog_http_request_duration_seconds_bucket" and labels[1:] == healthz
    ]
    assert buckets == ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]
    assert samples[("tog_http_request_duration_seconds_count", healthz)] == 1
    assert samples[("tog_queue_depth", ())] == 0 and samples[("tog_tasks_running", ())] == 0
    assert samples[("tog_workers_alive", ())] == 2 and 0 < samples[("tog_start_time_seconds", ())] <= time.time()


def test_an_idle_event_stream_gets_heartbeats_after_the_retry_delay(data_dir: Path) -> None:
    test_client, agent = serve(data_dir, sse_heartbeat_s=0.2)
    with test_client as client:
        task_id = client.post("/v1/tasks", json={"request": "slow"}).json()["id"]  # 0.5 s steps, silent meanwhile
        with client.stream("GET", f"/v1/tasks/{task_id}/events") as response:
            assert response.headers["cache-control"] == "no-cache"
            text = response.read().decode()
    agent.close()
    blocks = text.split("\n\n")
    assert blocks[0] == "retry: 1000" and ": keep-alive" in blocks
    assert blocks[-1] == "" and "event: task_finished" in blocks[-2].splitlines()


def test_a_workflow_runs_on_uploaded_artifacts(client: TestClient) -> None:
    created = client.post(
        "/v1/tasks", files=[("files", ("photo.png", png_bytes(), "image/png"))], data={"request": "grey"}
    ).json()
    task = wait_for(client, created["id"], FINAL)
    [given] = task["inputs"]
    image_id = given["id"]
    response = client.post(
        "/v1/workflows/run", json={"workflow": GREY_AND_COUNT, "inputs": {"image": image_id, "boxes": BOXES}}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "succeeded"
    total = client.get(f"/v1/artifacts/{body['artifacts']['total']}")
    assert total.json() == len(BOXES)
    grey = Image.open(io.BytesIO(client.get(f"/v1/artifacts/{body['artifacts']['grey']}").content))
    assert grey.mode == "L"


def test_a_bad_workflow_is_a_422_listing_every_problem(client: TestClient) -> None:
    broken = GREY_AND_COUNT.replace("count_boxes", "count_sheep").replace("${inputs.image}", "${inputs.picture}")
    response = client.post("/v1/workflows/run", json={"workflow": broken, "inputs": {"boxes": BOXES}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_workflow"
    text = json.dumps(error["details"])
    assert "count_sheep" in text and "picture" in text
    paths = client.post(
        "/v1/workflows/run", json={"workflow": GREY_AND_COUNT, "inputs": {"image": "/etc/passwd", "boxes": BOXES}}
    )
    assert paths.status_code == 422 and paths.json()["error"]["code"] == "invalid_workflow_input"


def test_unknown_routes_and_methods_answer_json_errors(client: TestClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.put("/v1/tasks")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    unknown = client.get("/v1/tasks/" + "a" * 32)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "task_not_found"

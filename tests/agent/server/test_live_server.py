"""A real uvicorn on a loopback port, driven by :class:`agent.client.ToGClient`; then killed mid-task.

The server runs in its own process (server_support.py: the scripted agent, one worker), so killing it
is a real crash: no shutdown code runs. A new app on the same data directory must find the task and
mark it interrupted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_support import free_port, png_bytes, serve, wait_for

from agent.client import APIError, ToGClient
from agent.decompose.base import Resource

SUPPORT = Path(__file__).with_name("server_support.py")
BOXES = [{"x1": 0, "y1": 0, "x2": 4, "y2": 4}, {"x1": 5, "y1": 5, "x2": 9, "y2": 9}]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    data_dir = tmp_path_factory.mktemp("live") / "tog"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOG_")}
    process = subprocess.Popen([sys.executable, str(SUPPORT), str(data_dir), str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the live server did not start")
        time.sleep(0.2)
    yield url, data_dir, process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_client_runs_a_task_end_to_end_and_streams_its_events(live) -> None:
    url, _, _ = live
    with ToGClient(url) as client:
        assert client.health().status == "ok"
        assert {t.name for t in client.tools().tools} == {"wait", "grayscale_image", "count_boxes"}
        photo = png_bytes((16, 12))
        created = client.submit(
            "grey it and count",
            files=[("photo.png", photo)],
            resources=[Resource(name="boxes", type="bboxes", value=BOXES)],
        )
        events = list(client.events(created.id))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[-1].kind == "task_finished" and events[-1].data["status"] == "succeeded"
        assert [e.seq for e in client.events(created.id, after=5)] == [e.seq for e in events[5:]]
        view = client.wait(created.id)
        assert view.status == "succeeded" and "(count_boxes): 2" in (view.answer or "")
        assert client.artifact(view.inputs[0].id) == photo
        assert client.artifact(next(a.id for a in view.artifacts if a.type.value == "number")) == b"2"
        assert client.tasks(limit=1).items[0].id == created.id
        assert client.plan("count", resources=[Resource(name="b", type="bboxes", value=BOXES)]).status == "planned"
        with pytest.raises(APIError) as info:
            client.task("0" * 32)
        assert info.value.status == 404 and info.value.code == "task_not_found"


def test_the_async_client(live) -> None:
    url, _, _ = live

    async def go() -> tuple[list[str], str]:
        async with ToGClient(url) as client:
            created = await client.asubmit("quick")
            kinds = [e.kind async for e in client.aevents(created.id)]
            return kinds, (await client.await_task(created.id)).status

    kinds, status = asyncio.run(go())
    assert kinds[0] == "task_queued" and kinds[-1] == "task_finished" and status == "succeeded"


def test_a_killed_server_leaves_its_running_task_interrupted(live) -> None:
    url, data_dir, process = live
    with ToGClient(url) as client:
        task_id = client.submit("slow").id
        deadline = time.monotonic() + 30
        while client.task(task_id).progress.stage != "execute":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    process.kill()  # SIGKILL: no shutdown code runs
    process.wait()
    test_client, agent = serve(data_dir)
    with test_client as client:
        view = wait_for(client, task_id, ("interrupted",), timeout_s=5)
        assert "server stopped while this task was running" in view["message"]
        assert view["plan"] is not None and view["finished"] is not None
        assert client.get("/v1/tasks").json()["items"][0]["id"] == task_id  # every task is still listed
    agent.close()

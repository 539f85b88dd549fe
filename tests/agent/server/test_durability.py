"""Tasks survive the server: stopped mid-task and started again on the same data directory, nothing is lost.

Policy under test: a task that was running when the server stopped (and outlived the shutdown grace period)
ends ``interrupted`` with a message (and its finished stages in the result); a task still queued runs on the
next server.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from server_support import LiveServer, ThreadServer, serve, wait_for

from agent.client import ToGClient
from agent.server.tasks import TaskStore

FINAL = ("succeeded", "partial", "failed", "cancelled", "interrupted")


def test_a_server_stopped_mid_task_marks_it_interrupted_and_runs_the_queued_ones_after_restart(data_dir: Path) -> None:
    test_client, agent = serve(data_dir, workers=1, shutdown_grace_s=0)  # no time to finish: interrupted at once
    with test_client as client:
        running = client.post("/v1/tasks", json={"request": "slow"}).json()["id"]
        queued = client.post("/v1/tasks", json={"request": "quick"}).json()["id"]
        deadline = time.monotonic() + 20
        while client.get(f"/v1/tasks/{running}").json()["progress"]["stage"] != "execute":  # mid-way through
            assert time.monotonic() < deadline
            time.sleep(0.02)
    # the app has shut down (lifespan exit) while `running` ran; a new process starts on the same data
    agent.close()
    test_client, agent = serve(data_dir, workers=1)
    with test_client as client:
        stopped = client.get(f"/v1/tasks/{running}").json()
        assert stopped["status"] == "interrupted" and "shut down" in stopped["message"]
        assert stopped["plan"]["subtasks"][0]["description"] == "wait, step 0"  # what was done is kept
        later = wait_for(client, queued, FINAL)
        assert later["status"] == "succeeded" and later["answer"]
        listed = {t["id"]: t["status"] for t in client.get("/v1/tasks").json()["items"]}
        assert listed == {running: "interrupted", queued: "succeeded"}
        with client.stream("GET", f"/v1/tasks/{running}/events") as response:
            text = response.read().decode()
        last = dict(line.split(": ", 1) for line in text.rstrip().split("\n\n")[-1].splitlines())
        assert last["event"] == "task_finished"
        assert json.loads(last["data"])["data"] == {"status": "interrupted", "message": stopped["message"]}
    agent.close()


def test_the_store_is_wal_and_numbers_events_per_task(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "server.sqlite")
    assert store.journal_mode == "wal"
    store.create("a" * 32, "one", [], [])
    store.create("b" * 32, "two", [], [])
    assert store.add_event("a" * 32, "server", "task_started") == 2
    assert store.add_event("b" * 32, "server", "task_started") == 2
    assert [e.seq for e in store.events("a" * 32)] == [1, 2]
    assert store.transition("a" * 32, ("queued",), "running")
    assert not store.transition("a" * 32, ("queued",), "cancelled")  # compare-and-set: it is running now
    store.close()
    again = TaskStore(tmp_path / "server.sqlite")
    assert again.get("a" * 32).status == "running" and again.counts() == {"running": 1, "queued": 1}
    again.close()


def test_sigkill_mid_load_loses_no_task_and_runs_none_twice(tmp_path: Path) -> None:
    """Four clients submit 20 tasks (with Idempotency-Keys, retrying through the outage); the server is killed
    with SIGKILL mid-way and started again. Every task asked for exists exactly once, none ran twice."""
    data_dir = tmp_path / "tog"
    live = LiveServer(data_dir, workers=2).start()
    accepted: dict[str, str] = {}  # request -> task id, as the client was told
    half = threading.Event()
    restarted: list[ThreadServer] = []

    def submit(worker: int) -> None:
        with ToGClient(live.url, retry_budget_s=30) as client:
            for i in range(5):
                text = f"{'slow' if i == 0 else 'quick'} {worker}-{i}"
                accepted[text] = client.submit(text).id
                if len(accepted) >= 8:
                    half.set()

    clients = [threading.Thread(target=submit, args=(w,)) for w in range(4)]
    try:
        for thread in clients:
            thread.start()
        assert half.wait(30)
        live.kill()  # SIGKILL mid-load: tasks queued, running, and submissions in flight
        restarted.append(ThreadServer(data_dir, port=live.port, workers=2).__enter__())
        for thread in clients:
            thread.join(60)
        assert len(accepted) == 20
        with ToGClient(live.url) as client:
            views = {text: client.wait(task_id, timeout_s=60) for text, task_id in accepted.items()}
            listed = client.tasks(limit=100).items
    finally:
        live.kill()
        for server in restarted:
            server.__exit__(None, None, None)
    assert sorted(t.request for t in listed) == sorted(accepted)  # one task per request: no duplicate, none lost
    assert {t.id for t in listed} == set(accepted.values())
    store = TaskStore(data_dir / "server.sqlite")
    try:
        for text, task_id in accepted.items():
            starts = [e for e in store.events(task_id) if e.kind == "task_started"]
            assert len(starts) <= 1, f"{text} ran {len(starts)} times"
            assert views[text].status in ("succeeded", "interrupted"), (text, views[text].status)
    finally:
        store.close()

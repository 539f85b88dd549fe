"""The server under faults, one test per finding of the fault-injection run (issue 20):

1. a write error (the file-size limit of the server process lowered with ``prlimit``) is a JSON 507/503 with
   Retry-After, never a bare 500, and kills no worker; readiness is off only while writes fail;
2. SIGTERM with an event stream open: the stream ends at once, no task starts after the signal, and the
   process is gone within the grace period;
3. the same Idempotency-Key twice (or a client retrying after timeouts) gives one task;
4. a damaged task store refuses to start (one line, no traceback); a damaged artifact is never served, and
   uploading the same bytes repairs it;
5. the client follows a task through a server restart longer than its old retry window;
and a 500 leaves the keep-alive connection usable.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import os
import resource
import signal
import sqlite3
import struct
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from server_support import (
    GREY_AND_COUNT,
    LiveServer,
    ThreadServer,
    free_port,
    make_agent,
    make_settings,
    png_bytes,
    serve,
    wait_for,
)

from agent.client import ToGClient
from agent.server.app import create_app
from agent.server.errors import StoreCorruptError
from agent.server.tasks import TaskStore
from graph.artifacts import ArtifactCorruptError

FINAL = ("succeeded", "partial", "failed", "cancelled", "interrupted")


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 * side**2 bytes."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def poll(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


# --- 1. write errors -------------------------------------------------------------------------------------


def test_a_write_error_is_a_json_507_and_no_worker_dies(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "tog", workers=2) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        warm = http.post("/v1/tasks", json={"request": "quick"}).json()["id"]
        poll(lambda: http.get(f"/v1/tasks/{warm}").json()["status"] == "succeeded", 20, "the first task")
        slow = http.post("/v1/tasks", json={"request": "slow"}).json()["id"]
        poll(lambda: http.get(f"/v1/tasks/{slow}").json()["progress"]["stage"] == "execute", 20, "the slow task")

        limit = (live.data_dir / "server.sqlite-wal").stat().st_size
        photo = noise_png(int((limit / 3) ** 0.5) + 40)  # larger than the limit: storing it fails too
        _, hard = resource.prlimit(live.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(live.pid, resource.RLIMIT_FSIZE, (limit, hard))  # no file may grow now
        answers = [
            http.post("/v1/tasks", files=[("files", ("photo.png", photo, "image/png"))], data={"request": "grey"}),
            http.post("/v1/tasks", json={"request": "quick"}),
            http.post("/v1/artifacts", files=[("files", ("photo.png", photo, "image/png"))]),
        ]
        for answer in answers:
            assert answer.status_code in (503, 507), answer.text
            assert answer.json()["error"]["code"] in ("insufficient_storage", "storage_unavailable")
            assert int(answer.headers["Retry-After"]) > 0
            assert str(live.data_dir) not in answer.text
        assert answers[1].status_code == 507  # the file-size limit: no room, not a mere hiccup
        ready = poll(lambda: (r := http.get("/readyz")).status_code == 503 and r.json(), 10, "readiness off")
        assert ready["store"] == "unwritable" and ready["workers"] == 2
        poll(lambda: f"task {slow} stopped: the store failed" in live.output, 10, "the running task to meet it")
        assert http.get("/readyz").json()["workers"] == 2

        resource.prlimit(live.pid, resource.RLIMIT_FSIZE, (hard, hard))  # the disk has room again
        ready = poll(lambda: (r := http.get("/readyz")).status_code == 200 and r.json(), 10, "readiness back")
        assert ready["workers"] == 2 and ready["store"] == "ok"
        stopped = poll(lambda: (v := http.get(f"/v1/tasks/{slow}").json())["status"] in FINAL and v, 20, "its end")
        assert stopped["status"] == "failed" and stopped["error"]["code"] in (
            "insufficient_storage",
            "storage_unavailable",
        )
        for _ in range(3):  # both workers still take tasks
            again = http.post("/v1/tasks", json={"request": "quick"}).json()["id"]
            poll(lambda t=again: http.get(f"/v1/tasks/{t}").json()["status"] == "succeeded", 20, "a task after")
        assert http.post("/v1/artifacts", files=[("files", ("p.png", photo, "image/png"))]).status_code == 201
    assert "Exception in thread" not in live.output and "Traceback" not in live.output, live.output


# --- 2. graceful shutdown -----------------------------------------------------------------------------


def test_sigterm_ends_open_streams_starts_nothing_and_stops_within_the_grace_period(tmp_path: Path) -> None:
    grace = 1.5
    live = LiveServer(tmp_path / "tog", workers=2, shutdown_grace_s=grace).start()
    try:
        with httpx.Client(base_url=live.url, timeout=10) as http:
            ids = [http.post("/v1/tasks", json={"request": f"slow {i}"}).json()["id"] for i in range(6)]
            poll(lambda: http.get("/readyz").json()["running"] == 2, 20, "two tasks running")
            stream: dict[str, Any] = {}
            opened = threading.Event()

            def follow() -> None:  # like `curl -N .../events` on the last queued task
                with httpx.stream("GET", f"{live.url}/v1/tasks/{ids[-1]}/events", timeout=30) as response:
                    opened.set()
                    stream["lines"] = list(response.iter_lines())
                stream["ended"] = time.monotonic()

            reader = threading.Thread(target=follow)
            reader.start()
            assert opened.wait(10)
            time.sleep(0.2)
            signalled, signalled_wall = time.monotonic(), time.time()
            assert live.process is not None
            live.process.send_signal(signal.SIGTERM)
            live.process.wait(grace + 8)
            stopped = time.monotonic() - signalled
            reader.join(5)
    finally:
        live.kill()
    assert stopped < grace + 3.0, f"took {stopped:.1f} s to stop"
    assert stream["ended"] - signalled < 1.0, "the open event stream held the shutdown up"
    assert "event: server_stopping" in stream["lines"]
    store = TaskStore(live.data_dir / "server.sqlite")
    try:
        records = [store.get(task_id) for task_id in ids]
    finally:
        store.close()
    started_after = [r.id for r in records if r.started is not None and r.started > signalled_wall]
    assert not started_after, f"{len(started_after)} tasks started after SIGTERM"
    statuses = [r.status for r in records]
    assert statuses.count("queued") == 4, statuses  # never started: the next start runs them
    assert all(s in ("succeeded", "interrupted") for s in statuses[:2] if s != "queued"), statuses
    assert "running" not in statuses


# --- 3. idempotent submission --------------------------------------------------------------------------


def test_the_same_idempotency_key_twice_gives_one_task(client: TestClient) -> None:
    key = {"Idempotency-Key": "3f1c0e6e-key-1"}
    first = client.post("/v1/tasks", json={"request": "quick"}, headers=key)
    again = client.post("/v1/tasks", json={"request": "quick"}, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(client.get("/v1/tasks").json()["items"]) == 1
    other = client.post("/v1/tasks", json={"request": "something else"}, headers=key)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert client.post("/v1/tasks", json={"request": "quick"}).json()["id"] != first.json()["id"]  # no key
    assert (
        client.post("/v1/tasks", json={"request": "quick"}, headers={"Idempotency-Key": "bad key"}).status_code == 422
    )

    photo = png_bytes((12, 10))
    files = [("files", ("a.png", photo, "image/png"))]
    up = client.post("/v1/artifacts", files=files, headers={"Idempotency-Key": "upload-1"})
    up_again = client.post("/v1/artifacts", files=files, headers={"Idempotency-Key": "upload-1"})
    assert up.status_code == up_again.status_code == 201 and up_again.json() == up.json()
    different = [("files", ("a.png", png_bytes((12, 10), (1, 2, 3)), "image/png"))]
    assert client.post("/v1/artifacts", files=different, headers={"Idempotency-Key": "upload-1"}).status_code == 422
    [meta] = up.json()["artifacts"]
    run = {"workflow": GREY_AND_COUNT, "inputs": {"image": meta["id"], "boxes": []}}
    ran = client.post("/v1/workflows/run", json=run, headers={"Idempotency-Key": "flow-1"})
    ran_again = client.post("/v1/workflows/run", json=run, headers={"Idempotency-Key": "flow-1"})
    assert ran.status_code == ran_again.status_code == 200 and ran_again.json() == ran.json()
    assert ran_again.headers["Idempotent-Replayed"] == "true"


def test_concurrent_sends_with_one_key_make_one_task(data_dir: Path) -> None:
    with ThreadServer(data_dir) as live:
        store = live.app.state.tog.store
        create = store.create

        def slow_create(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.3)  # the first send is still being handled when the others arrive
            return create(*args, **kwargs)

        store.create = slow_create
        answers: list[httpx.Response] = []

        def send() -> None:
            answers.append(
                httpx.post(f"{live.url}/v1/tasks", json={"request": "quick"}, headers={"Idempotency-Key": "k"})
            )

        senders = [threading.Thread(target=send) for _ in range(5)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(20)
        assert [a.status_code for a in answers] == [202] * 5
        assert len({a.json()["id"] for a in answers}) == 1
        assert len(httpx.get(f"{live.url}/v1/tasks").json()["items"]) == 1


def test_retried_submissions_through_the_client_give_exactly_one_task_each(data_dir: Path) -> None:
    with ThreadServer(data_dir) as live:
        store = live.app.state.tog.store
        create = store.create
        calls: list[str] = []

        def slow_create(*args: Any, **kwargs: Any) -> Any:
            calls.append(args[1])
            time.sleep(0.15)  # longer than the client's read timeout: its first try always times out
            return create(*args, **kwargs)

        store.create = slow_create
        photo = png_bytes((16, 12))
        with ToGClient(live.url, timeout_s=0.05, retry_budget_s=30) as client:
            ids = [client.submit(f"grey {i}", files=[("photo.png", photo)]).id for i in range(10)]
        assert len(set(ids)) == 10
        items = httpx.get(f"{live.url}/v1/tasks", params={"limit": 50}).json()["items"]
        assert sorted(t["id"] for t in items) == sorted(ids)  # exactly one task per submission
        posts = live.app.state.tog.metrics.render().decode()
        sent = sum(
            float(line.rsplit(" ", 1)[1])
            for line in posts.splitlines()
            if line.startswith('tog_http_requests_total{method="POST",route="/v1/tasks"')
        )
        assert sent > 10  # the client did retry


# --- 4. integrity --------------------------------------------------------------------------------------


def _damage_id_index(path: Path) -> None:
    """Zero one leaf page of the index on tasks.id (as the fault run did)."""
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_tasks_1'").fetchone()
    db.close()
    data = bytearray(path.read_bytes())
    (page_size,) = struct.unpack(">H", data[16:18])
    at = (root - 1) * page_size
    assert data[at] == 2, "the index should have interior pages"
    (leaf,) = struct.unpack(">I", data[at + 8 : at + 12])  # its right-most child
    data[(leaf - 1) * page_size : leaf * page_size] = bytes(page_size)
    path.write_bytes(bytes(data))


def test_a_damaged_task_store_refuses_to_start_with_one_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "tog"
    store = TaskStore(tmp_path / "tog" / "server.sqlite")
    for i in range(300):
        store.create(f"{i:032x}", "quick", [], [])
    store.close()  # checkpoints the WAL into the file
    _damage_id_index(data_dir / "server.sqlite")

    with pytest.raises(StoreCorruptError) as info:
        TaskStore(data_dir / "server.sqlite")
    assert "damaged" in info.value.message and ".recover" in info.value.message
    assert str(tmp_path) not in info.value.message and "\n" not in info.value.message

    settings = make_settings(data_dir)
    agent = make_agent(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, agent), port=free_port(), log_level="info"))
    capfd.readouterr()
    with pytest.raises(SystemExit):  # uvicorn exits 3: start-up failed
        asyncio.run(server.serve())
    agent.close()
    assert not server.started
    log = capfd.readouterr().err
    assert "Traceback" not in log, log
    [line] = [line for line in log.splitlines() if "damaged" in line]
    assert "cannot start: the task store is damaged" in line and ".recover" in line
    assert str(tmp_path) not in log


def test_a_damaged_artifact_is_not_served_and_a_fresh_upload_repairs_it(data_dir: Path) -> None:
    test_client, agent = serve(data_dir)
    photo = png_bytes((24, 16))
    with test_client as client:
        [meta] = client.post("/v1/artifacts", files=[("files", ("p.png", photo, "image/png"))]).json()["artifacts"]
        content = agent.store.path(meta["id"])
        damaged = bytearray(photo)
        damaged[len(damaged) // 2] ^= 0xFF
        content.write_bytes(bytes(damaged))

        served = client.get(f"/v1/artifacts/{meta['id']}")
        assert served.status_code == 410 and served.json()["error"]["code"] == "artifact_corrupt"
        assert (
            "upload" in served.json()["error"]["message"] or "store the same file" in served.json()["error"]["message"]
        )
        used = client.post(
            "/v1/tasks",
            json={"request": "grey", "resources": [{"name": "photo", "type": "image", "value": meta["id"]}]},
        )
        assert used.status_code == 422 and "damaged" in used.json()["error"]["message"]
        with pytest.raises(ArtifactCorruptError) as info:
            agent.store.load(meta["id"])  # what a tool would get: no decoder error naming the file
        assert str(data_dir) not in info.value.message
        for answer in (served, used):
            assert str(data_dir) not in answer.text

        again = client.post("/v1/artifacts", files=[("files", ("p.png", photo, "image/png"))]).json()["artifacts"]
        assert again[0]["id"] == meta["id"]
        assert client.get(f"/v1/artifacts/{meta['id']}").content == photo  # repaired
        task = client.post(
            "/v1/tasks",
            json={"request": "grey", "resources": [{"name": "photo", "type": "image", "value": meta["id"]}]},
        ).json()["id"]
        assert wait_for(client, task, FINAL)["status"] == "succeeded"
    agent.close()


def test_a_store_that_turns_out_damaged_while_serving_answers_503_and_is_not_ready(client: TestClient) -> None:
    task_id = client.post("/v1/tasks", json={"request": "quick"}).json()["id"]
    wait_for(client, task_id, FINAL)
    store = client.app.state.tog.store  # type: ignore[attr-defined]
    real = store._db

    class Damaged:
        def execute(self, *args: Any) -> Any:
            error = sqlite3.DatabaseError("database disk image is malformed")
            error.sqlite_errorcode = 11  # type: ignore[attr-defined]
            raise error

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    store._db = Damaged()
    try:
        answer = client.get(f"/v1/tasks/{task_id}")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "store_corrupt"
        assert "Retry-After" in answer.headers
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["store"] == "corrupt"
    finally:
        store._db = real


# --- 5. the client through a restart ---------------------------------------------------------------


def test_the_client_follows_a_task_through_a_server_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "tog"
    live = LiveServer(data_dir).start()
    restarted: list[ThreadServer] = []
    try:
        with ToGClient(live.url) as client:
            task_id = client.submit("slow").id
            events = client.events(task_id)
            seen = [next(events)]
            while seen[-1].kind != "action_started":
                seen.append(next(events))
            live.kill()  # SIGKILL: a crash
            killed = time.monotonic()

            def restart() -> None:  # longer than the old client's 3 s of retries
                time.sleep(3.5)
                server = ThreadServer(data_dir, port=live.port)
                restarted.append(server.__enter__())

            threading.Thread(target=restart, daemon=True).start()
            seen.extend(events)
            assert time.monotonic() - killed > 3.5
        assert [e.seq for e in seen] == list(range(1, len(seen) + 1))  # nothing lost, nothing twice
        assert seen[-1].kind == "task_finished" and seen[-1].data["status"] == "interrupted"
    finally:
        live.kill()
        for server in restarted:
            server.__exit__(None, None, None)


# --- smaller -------------------------------------------------------------------------------------------


def test_a_500_keeps_the_keep_alive_connection_open(data_dir: Path) -> None:
    with ThreadServer(data_dir) as live:
        state = live.app.state.tog

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug")

        state.store.page = broken
        connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=5)
        connection.request("GET", "/v1/tasks")
        failed = connection.getresponse()
        body = failed.read()
        assert failed.status == 500 and b'"internal_error"' in body
        connection.request("GET", "/healthz")  # the same connection
        after = connection.getresponse()
        assert after.status == 200 and after.read() == b'{"status":"ok"}'
        connection.close()


def test_no_error_names_a_server_path(client: TestClient, data_dir: Path) -> None:
    answer = client.post("/v1/artifacts", files=[("files", ("x.png", b"not an image", "image/png"))])
    assert answer.status_code == 422 and "not a readable image" in answer.json()["error"]["message"]
    assert str(data_dir.resolve()) not in answer.text and ".tmp" not in answer.text  # the file's own name instead
    assert "'x.png'" in answer.json()["error"]["message"]

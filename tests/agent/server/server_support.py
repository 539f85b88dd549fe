"""Helpers for the REST tests: a REST app over a real Agent with a scripted decomposer and small real tools.

No model anywhere.

The decomposer turns what the request came with into subtasks: an image is made grey, boxes are counted,
and a request without inputs is a chain of ``wait`` calls (``slow`` makes each wait 0.5 s); a request
containing ``undecomposable`` fails decomposition.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from agent.api import Agent
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.engine.testing import wait
from agent.server.app import create_app
from agent.server.config import ServerSettings
from graph.plan import Plan
from graph.types import ResourceType
from tools.image_ops import grayscale_image
from tools.list_ops import count_boxes
from tools.registry import ToolRegistry

SLOW_STEPS = 4
SLOW_SECONDS = 0.5


class InputsDecomposer(Decomposer):
    """A subtask per input (image -> grey image, boxes -> count); no inputs -> a chain of waits."""

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        if "undecomposable" in request:
            raise DecompositionError("no subtasks found in the request")
        subtasks: list[dict[str, Any]] = []
        for r in resources:
            if r.type is ResourceType.IMAGE:
                subtasks.append(
                    {
                        "description": "make the photo grey",
                        "args": [r.ref().model_dump(mode="json")],
                        "returns": [{"type": "image"}],
                    }
                )
            elif r.type is ResourceType.BBOXES:
                subtasks.append(
                    {
                        "description": "count the boxes",
                        "args": [r.ref().model_dump(mode="json")],
                        "returns": [{"type": "number"}],
                    }
                )
        if not subtasks:
            slow = "slow" in request
            for k in range(SLOW_STEPS if slow else 1):
                text = "x" if k == 0 else f"<GENERATED>-{k - 1}"
                subtasks.append(
                    {
                        "description": f"wait, step {k}",
                        "dep": [k - 1] if k else [],
                        "args": [
                            {"type": "text", "value": text},
                            {"type": "number", "value": SLOW_SECONDS if slow else 0.0},
                        ],
                        "returns": [{"type": "text"}],
                    }
                )
        return Plan.parse({"request": request, "subtasks": [{"id": i, **s} for i, s in enumerate(subtasks)]})


def tool_registry() -> ToolRegistry:
    return ToolRegistry([wait, grayscale_image, count_boxes])


def make_settings(data_dir: Path, **server: Any) -> ToGSettings:
    return ToGSettings(
        agent={"data_dir": data_dir, "assessor": "uniform", "strategy": "greedy", "max_depth": 1, "top_k": 1},
        server=ServerSettings(**{"api_keys": [], **server}),
    )


def make_agent(settings: ToGSettings) -> Agent:
    return Agent(settings, registry=tool_registry(), decomposer=InputsDecomposer())


def serve(data_dir: Path, **server: Any) -> tuple[TestClient, Agent]:
    """A client (not yet entered) over a fresh app and agent on ``data_dir``."""
    settings = make_settings(data_dir, **server)
    agent = make_agent(settings)
    return TestClient(create_app(settings, agent)), agent


#: A workflow over the test tools: an image made grey, and boxes counted (all, or those of one label).
GREY_AND_COUNT = """version: 1
name: grey-and-count
inputs:
  image: {type: image, description: the photo}
  boxes: {type: bboxes}
  label: {type: text, default: null, description: "only boxes with this label, if given"}
steps:
  - id: grey
    tool: grayscale_image
    args: {image: "${inputs.image}"}
  - id: n
    tool: count_boxes
    args: {boxes: "${inputs.boxes}", label: "${inputs.label}"}
outputs:
  grey: {from: "${steps.grey.outputs.image}"}
  total: {from: "${steps.n.outputs.count}"}
"""


def png_bytes(size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def wait_for(
    client: TestClient, task_id: str, statuses: Sequence[str], timeout_s: float = 20.0, **headers: str
) -> dict[str, Any]:
    """Poll GET /v1/tasks/{id} until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = client.get(f"/v1/tasks/{task_id}", headers=headers).json()
        if view["status"] in statuses:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} stayed {view['status']!r}, wanted one of {statuses}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``server_support.py`` in a subprocess on a loopback port: a real process to kill, signal or limit.

    Its output (uvicorn's log, worker threads' tracebacks) is collected in :attr:`output`."""

    def __init__(self, data_dir: Path, port: int | None = None, **server: Any) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = server
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def start(self, timeout_s: float = 90.0) -> LiveServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOG_")}
        args = [f"{k}={v}" for k, v in self.server.items()]
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__)), str(self.data_dir), str(self.port), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, args=(self.process,), daemon=True).start()
        wait_ready(self.url, timeout_s, self.process)
        return self

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


class ThreadServer:
    """The scripted app on a real uvicorn in a thread of the test process: it starts in a moment (everything is
    imported already) and its app state can be reached, to inject faults."""

    def __init__(self, data_dir: Path, port: int | None = None, **server: Any) -> None:
        self.settings = make_settings(data_dir, **{"workers": 1, **server})
        self.agent = make_agent(self.settings)
        self.app: FastAPI = create_app(self.settings, self.agent)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.agent.close()


def wait_ready(url: str, timeout_s: float = 90.0, process: subprocess.Popen[str] | None = None) -> None:
    """Poll ``/readyz`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"the server at {url} did not become ready")
        time.sleep(0.1)


def main() -> None:
    """``python server_support.py DATA_DIR PORT [FIELD=VALUE ...]``: the scripted app on a real uvicorn (for the
    live tests); the FIELD=VALUE pairs are server settings (one worker unless given)."""
    data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    server = dict(arg.split("=", 1) for arg in sys.argv[3:])
    settings = make_settings(data_dir, **{"workers": 1, **server})
    uvicorn.run(create_app(settings, make_agent(settings)), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()


def metric_by_label(client: TestClient, metric: str, label: str) -> dict[str, float]:
    """The samples of one counter from ``/metrics``, keyed by the value of one of its labels."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.labels[label]: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name == metric
    }

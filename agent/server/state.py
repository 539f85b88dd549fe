"""What the routes share: the agent, the task store, the runner, the upload policy and the metrics."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from agent.api import Agent
from agent.config import ToGSettings
from agent.server.errors import NotReadyError
from agent.server.idempotency import Idempotency
from agent.server.limits import UploadPolicy
from agent.server.metrics import Metrics
from agent.server.tasks import TaskStore
from agent.server.workers import TaskRunner


@dataclass
class ServerState:
    settings: ToGSettings
    agent: Agent
    store: TaskStore
    runner: TaskRunner
    policy: UploadPolicy
    metrics: Metrics
    plans: threading.BoundedSemaphore
    idempotency: Idempotency
    graph_png: bytes | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def get_state(request: Request) -> ServerState:
    """The running server's state (a dependency); 503 while it starts or after it stopped."""
    state: ServerState | None = getattr(request.app.state, "tog", None)
    if state is None:
        raise NotReadyError("the server is not ready; retry in a moment")
    return state

"""Backends for the shared engine suite: every test in it runs on each backend.

Backends are built once per session (one Ray cluster for the whole session); a test picks its own
scheduling settings (timeouts, retries, limits) through :func:`engine`, which wraps the shared backend.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.engine import Engine, EngineConfig
from agent.engine.backend import ExecutionBackend
from agent.engine.local import LocalBackend
from agent.engine.testing import registry as engine_tools

BACKENDS = ["local", "ray"]
#: Logical GPUs of the test cluster (and devices of the local backend): scheduling is tested without GPUs.
LOGICAL_GPUS = 4


def _ray_available() -> bool:
    return (
        importlib.util.find_spec("ray") is not None and importlib.util.find_spec("agent.engine.ray_backend") is not None
    )


@pytest.fixture(scope="session")
def local_backend() -> Iterator[LocalBackend]:
    backend = LocalBackend(EngineConfig(max_workers=16, devices=[f"cuda:{i}" for i in range(LOGICAL_GPUS)]))
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def ray_backend() -> Iterator[ExecutionBackend]:
    if not _ray_available():
        pytest.skip("Ray backend not available")
    from agent.engine.ray_backend import RayBackend

    config = EngineConfig(backend="ray")
    config.ray.num_cpus = 8
    config.ray.num_gpus = LOGICAL_GPUS
    backend = RayBackend(config)
    yield backend
    backend.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> ExecutionBackend:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def engine(backend: ExecutionBackend) -> Callable[..., Engine]:
    """``engine(**settings)``: an Engine over the test tools and this session's backend."""

    def make(registry: Any = None, **settings: Any) -> Engine:
        settings.setdefault("retry_backoff_s", 0.01)
        return Engine(registry or engine_tools(), EngineConfig(**settings), backend=backend)

    return make

"""The FastAPI app: ``create_app(settings, agent=None)``.

The app owns a :class:`~agent.server.tasks.TaskStore` and a :class:`~agent.server.workers.TaskRunner`
for its lifetime (FastAPI lifespan). Pass an ``agent`` to serve one you built (tests inject a scripted
decomposer and test tools this way); without one the app builds ``Agent(settings)`` at startup and
closes it at shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool

from agent.api import Agent
from agent.config import ToGSettings
from agent.server.auth import bearer_auth
from agent.server.errors import install_error_handlers
from agent.server.limits import BodyLimitMiddleware, UploadPolicy
from agent.server.metrics import Metrics, MetricsMiddleware
from agent.server.models import TaskCreate
from agent.server.routes_console import console_routes
from agent.server.routes_info import catalogue_routes, metrics_routes, service_routes
from agent.server.routes_tasks import artifact_routes, task_routes
from agent.server.state import ServerState
from agent.server.tasks import TaskStore
from agent.server.workers import TaskRunner

VERSION = "0.1.0"
DESCRIPTION = """Run ToG over HTTP: submit a request with files, follow its progress as server-sent events,
fetch the results. Errors are `{"error": {"code", "message", "details"}}`. When the server has API keys,
every `/v1` route and `/metrics` need `Authorization: Bearer <key>`."""


def create_app(settings: ToGSettings | None = None, agent: Agent | None = None) -> FastAPI:
    """The REST app over ``agent`` (or an ``Agent(settings)`` built at startup)."""
    settings = settings or (agent.settings if agent is not None else ToGSettings())
    server = settings.server
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        the_agent = agent if agent is not None else await run_in_threadpool(Agent, settings)
        store = TaskStore(settings.agent.data_dir / "server.sqlite")
        runner = TaskRunner(
            the_agent,
            store,
            workers=server.workers,
            queue_size=server.queue_size,
            retry_after_s=server.retry_after_s,
            metrics=metrics,
        )
        await run_in_threadpool(runner.start)
        metrics.gauges.update(
            {
                "tog_queue_depth": ("Tasks waiting for a worker.", lambda: runner.waiting),
                "tog_tasks_running": ("Tasks running now.", lambda: runner.running),
                "tog_workers_alive": ("Worker threads alive.", lambda: runner.alive),
            }
        )
        app.state.tog = ServerState(
            settings=settings,
            agent=the_agent,
            store=store,
            runner=runner,
            policy=UploadPolicy(server, the_agent.store.root),
            metrics=metrics,
            plans=threading.BoundedSemaphore(server.workers),
        )
        try:
            yield
        finally:
            app.state.tog = None
            await run_in_threadpool(runner.stop)
            store.close()
            if agent is None:
                the_agent.close()

    app = FastAPI(title="ToG", version=VERSION, description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    auth = [Depends(bearer_auth(server.api_keys))]
    app.include_router(task_routes(), dependencies=auth)
    app.include_router(artifact_routes(), dependencies=auth)
    app.include_router(catalogue_routes(), dependencies=auth)
    app.include_router(metrics_routes(), dependencies=auth)
    app.include_router(service_routes())
    app.include_router(console_routes())  # the page is public; its API calls carry the key
    app.add_middleware(BodyLimitMiddleware, max_bytes=server.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=["Location", "Retry-After"],
        )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the task body models (the task routes read their bodies themselves)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _, defs = models_json_schema([(TaskCreate, "validation")], ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in defs.get("$defs", {}).items():
            components.setdefault(name, definition)
        app.openapi_schema = schema
    return app.openapi_schema

"""The FastAPI app: ``create_app(settings, agent=None)``.

The app owns a :class:`~agent.server.tasks.TaskStore` and a :class:`~agent.server.workers.TaskRunner`
for its lifetime (FastAPI lifespan). Pass an ``agent`` to serve one you built (tests inject a scripted
decomposer and test tools this way); without one the app builds ``Agent(settings)`` at startup and
closes it at shutdown.

Start-up opens the task store first: a damaged one (it fails SQLite's integrity check) stops the start with
one line saying how to recover, no traceback. On SIGTERM (or Ctrl+C) the app drains at once, before the
server waits for open connections: no task starts any more, open event streams end with a
``server_stopping`` message, and running tasks get ``shutdown_grace_s`` to finish (see
:mod:`agent.server.workers`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.api import Agent
from agent.config import ToGSettings
from agent.server.auth import bearer_auth
from agent.server.errors import CatchAllMiddleware, install_error_handlers
from agent.server.idempotency import HEADER as IDEMPOTENCY_KEY
from agent.server.idempotency import REPLAYED, Idempotency
from agent.server.limits import BodyLimitMiddleware, UploadPolicy
from agent.server.metrics import Metrics, MetricsMiddleware
from agent.server.models import TaskCreate
from agent.server.routes_console import console_routes
from agent.server.routes_info import catalogue_routes, metrics_routes, service_routes
from agent.server.routes_tasks import artifact_routes, task_routes
from agent.server.state import ServerState
from agent.server.tasks import TaskStore
from agent.server.workers import TaskRunner
from graph.errors import ToGError

logger = logging.getLogger(__name__)

VERSION = "0.1.0"
DESCRIPTION = """Run ToG over HTTP: submit a request with files, follow its progress as server-sent events,
fetch the results. Errors are `{"error": {"code", "message", "details"}}`. When the server has API keys,
every `/v1` route and `/metrics` need `Authorization: Bearer <key>`."""


def create_app(settings: ToGSettings | None = None, agent: Agent | None = None) -> FastAPI:
    """The REST app over ``agent`` (or an ``Agent(settings)`` built at startup)."""
    settings = settings or (agent.settings if agent is not None else ToGSettings())
    server = settings.server
    metrics = Metrics()

    data_roots = [settings.agent.data_dir, *([agent.store.root] if agent is not None else [])]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await run_in_threadpool(TaskStore, settings.agent.data_dir / "server.sqlite")  # refuses damage
        await run_in_threadpool(store.purge_keys, server.idempotency_ttl_s, unfinished=True)
        the_agent = agent if agent is not None else await run_in_threadpool(Agent, settings)
        if agent is None:  # the server's first request should not pay for loading the model and the catalogue
            await run_in_threadpool(the_agent.warm)
        runner = TaskRunner(
            the_agent,
            store,
            workers=server.workers,
            queue_size=server.queue_size,
            retry_after_s=server.retry_after_s,
            grace_s=server.shutdown_grace_s,
            metrics=metrics,
            redact=[*data_roots, the_agent.store.root],
        )
        await run_in_threadpool(runner.start)

        def drain() -> None:
            runner.drain()
            store.wakeups.close()

        restore_signals = _drain_on_signals(asyncio.get_running_loop(), drain)
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
            policy=UploadPolicy(
                server, the_agent.store.root, max_request_chars=the_agent.settings.agent.max_request_chars
            ),
            metrics=metrics,
            plans=threading.BoundedSemaphore(server.workers),
            idempotency=Idempotency(store, server.idempotency_ttl_s),
        )
        try:
            yield
        finally:
            restore_signals()
            drain()
            app.state.tog = None
            await run_in_threadpool(runner.stop)
            store.close()
            if agent is None:
                the_agent.close()

    app = FastAPI(title="ToG", version=VERSION, description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app, redact=data_roots)
    auth = [Depends(bearer_auth(server.api_keys))]
    app.include_router(task_routes(), dependencies=auth)
    app.include_router(artifact_routes(), dependencies=auth)
    app.include_router(catalogue_routes(), dependencies=auth)
    app.include_router(metrics_routes(), dependencies=auth)
    app.include_router(service_routes())
    app.include_router(console_routes())  # the page is public; its API calls carry the key
    app.add_middleware(CatchAllMiddleware)  # innermost: a 500 keeps the connection open
    app.add_middleware(BodyLimitMiddleware, max_bytes=server.max_request_bytes, on_task_refused=metrics.rejected)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(StartupErrorMiddleware)
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", IDEMPOTENCY_KEY],
            expose_headers=["Location", "Retry-After", REPLAYED],
        )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _drain_on_signals(loop: asyncio.AbstractEventLoop, drain: Callable[[], None]) -> Callable[[], None]:
    """Call ``drain`` on ``loop`` as soon as SIGTERM or SIGINT arrives, then the handler that was there.

    uvicorn's own handler only starts its shutdown, which first waits for every open response, an event
    stream included, and only then runs the app's shutdown: without this, workers would go on starting queued
    tasks meanwhile. Chained only to a Python handler (uvicorn's; in the main thread), so a signal keeps its
    meaning; returns the undo.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(drain)
        previous[signum](signum, frame)

    for sig in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, handler)

    return restore


class StartupErrorMiddleware:
    """A start-up refused on purpose (a :class:`ToGError`, e.g. a damaged task store) is reported as its one-line
    message, not as the traceback Starlette hands the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def report(message: Message) -> None:
            failure = sys.exc_info()[1]  # sent from inside the lifespan's except block
            if message["type"] == "lifespan.startup.failed" and isinstance(failure, ToGError):
                logger.debug("start-up refused", exc_info=failure)
                message = {**message, "message": f"cannot start: {failure.message}"}
            await send(message)

        await self.app(scope, receive, report)


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

"""The catalogue (``/v1/tools``, ``/v1/types``, ``/v1/graph``) and the service endpoints.

Health, readiness and metrics live here too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from agent.server.errors import error_responses
from agent.server.metrics import CONTENT_TYPE as METRICS_TYPE
from agent.server.models import GraphEdge, GraphView, Health, Readiness, ToolInfo, ToolList
from agent.server.state import ServerState, get_state
from agent.server.views import PREFIX
from graph.toolgraph import ToolGraph
from graph.types import TypeInfo, all_type_info

State = Annotated[ServerState, Depends(get_state)]


def catalogue_routes() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["catalogue"])

    @router.get("/tools", response_model=ToolList, responses=error_responses(401), summary="Registered tools")
    def tools(state: State) -> ToolList:
        """Every registered tool with whether it can run here and, if not, why (e.g. no model configured)."""
        registry = state.agent.registry
        unavailable = registry.unavailable()
        items = [
            ToolInfo(**spec.model_dump(), available=spec.name not in unavailable, reason=unavailable.get(spec.name))
            for spec in registry.specs()
        ]
        return ToolList(tools=items, total=len(items), available=sum(t.available for t in items))

    @router.get("/types", response_model=list[TypeInfo], responses=error_responses(401), summary="Resource types")
    def types() -> list[TypeInfo]:
        """The resource types tools exchange, and the JSON shape of each one's value."""
        return all_type_info()

    @router.get(
        "/graph",
        response_model=GraphView,
        responses={
            200: {
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                "description": "the graph as JSON, or drawn as PNG (format=png or Accept: image/png)",
            },
            **error_responses(401, 422),
        },
        summary="The tool graph",
    )
    async def tool_graph(
        state: State,
        format: Annotated[Literal["json", "png"] | None, Query(description="json or png")] = None,
        accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Response:
        graph = state.agent.registry.tool_graph()
        wants_png = format == "png" or (
            format is None and "image/png" in (accept or "") and "application/json" not in (accept or "")
        )
        if wants_png:
            return Response(await run_in_threadpool(_png, state, graph), media_type="image/png")
        return JSONResponse(_graph_view(graph).model_dump(mode="json"))

    return router


def _graph_view(graph: ToolGraph) -> GraphView:
    edges = [
        GraphEdge(source=u, target=v, relation=d["relation"], arg=d["arg"], required=d.get("required"))
        for u, v, d in sorted(graph.graph.edges(data=True), key=lambda e: (e[0], e[1]))
    ]
    return GraphView(tools=graph.specs, types=graph.types, edges=edges)


def _png(state: ServerState, graph: ToolGraph) -> bytes:
    """The drawing, made once per server (the registry does not change while it runs)."""
    with state.lock:
        if state.graph_png is None:
            with tempfile.TemporaryDirectory() as folder:
                state.graph_png = graph.render(FilePath(folder) / "graph.png").read_bytes()
        return state.graph_png


def service_routes() -> APIRouter:
    """Health and readiness need no key (probes); metrics do, when the server has keys."""
    router = APIRouter(tags=["service"])

    @router.get("/healthz", response_model=Health, summary="Liveness")
    def healthz() -> Health:
        return Health()

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "not ready"}},
        summary="Readiness: workers alive, the store writable, taking tasks",
    )
    def readyz(state: State) -> JSONResponse:
        runner, store = state.runner, state.store
        if not store.writable and not store.corrupt:
            store.probe()  # unready only while writes fail: one small write tells whether they go through again
        condition: Literal["ok", "unwritable", "corrupt"] = (
            "corrupt" if store.corrupt else "ok" if store.writable else "unwritable"
        )
        ready = (
            condition == "ok"
            and not runner.draining
            and runner.alive == runner.workers
            and runner.waiting < runner.queue_size
        )
        body = Readiness(
            ready=ready,
            workers=runner.alive,
            queued=runner.waiting,
            running=runner.running,
            queue_size=runner.queue_size,
            store=condition,
            stopping=runner.draining,
            problem=store.failure if condition == "unwritable" else None,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)

    return router


def metrics_routes() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **error_responses(401)},
    )
    def metrics(state: State) -> PlainTextResponse:
        return PlainTextResponse(state.metrics.render(), media_type=METRICS_TYPE)

    return router

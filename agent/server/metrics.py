"""Prometheus metrics through ``prometheus_client``, so the exposition format and its escaping are the library's.

Each app has its own :class:`~prometheus_client.CollectorRegistry` rather than the process-wide default: tests
build many apps in one process, and the default registry refuses a metric name registered twice. Requests are
labelled by route template (``/v1/tasks/{task_id}``), never by raw path, so a client cannot grow the label set;
gauges (queue depth, running tasks) are read when ``/metrics`` is scraped. Counters and histograms also expose
the library's ``*_created`` series; ``PROMETHEUS_DISABLE_CREATED_SERIES=true`` in the environment turns them off.

    >>> m = Metrics()
    >>> m.request("GET", "/healthz", 200, 0.004)
    >>> b'tog_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in m.render()
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.server.models import FINAL_STATUSES

CONTENT_TYPE = CONTENT_TYPE_LATEST
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Readings(Collector):
    """The ``gauges`` of a :class:`Metrics`, each read when the registry is collected (at scrape time)."""

    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (help_text, read) in sorted(self.gauges.items()):
            yield GaugeMetricFamily(name, help_text, value=float(read()))


class Metrics:
    """The server's metrics in one registry; ``gauges`` maps a name to ``(help, read)``, read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started = time.time()
        self._requests = Counter(
            "tog_http_requests",
            "HTTP requests by route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self._durations = Histogram(
            "tog_http_request_duration_seconds",
            "Time to the end of the response, by route template.",
            ("route",),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._submitted = Counter("tog_tasks_submitted", "Tasks accepted into the queue.", registry=self.registry)
        self._rejected = Counter(
            "tog_tasks_rejected",
            "Task submissions refused, by reason: the error code (queue_full, request_too_long, unsupported_type...).",
            ("reason",),
            registry=self.registry,
        )
        self._finished = Counter(
            "tog_tasks_finished",
            "Tasks that ended, by final status (unsupported: refused before any tool ran; empty: nothing found).",
            ("status",),
            registry=self.registry,
        )
        for status in sorted(FINAL_STATUSES):  # every status is a series from the start, at 0
            self._finished.labels(status=status)
        Gauge("tog_start_time_seconds", "When the server started.", registry=self.registry).set(self.started)
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.registry.register(_Readings(self.gauges))

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method=method, route=route, status=str(status)).inc()
        self._durations.labels(route=route).observe(seconds)

    def submitted(self) -> None:
        self._submitted.inc()

    def rejected(self, reason: str) -> None:
        """One refused task submission; ``reason`` is the error code of the answer (a closed set: ours)."""
        self._rejected.labels(reason=reason).inc()

    def finished(self, status: str) -> None:
        self._finished.labels(status=status).inc()

    def render(self) -> bytes:
        """The text exposition of every metric; serve it as :data:`CONTENT_TYPE`."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request by method, route template and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request(scope.get("method", ""), route, status, time.perf_counter() - started)

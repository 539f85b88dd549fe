"""Prometheus metrics in the text exposition format (0.0.4), written by hand: a few counters, one histogram.

Requests are labelled by route template (``/v1/tasks/{task_id}``), never by raw path, so an attacker
cannot grow the label set; gauges (queue depth, running tasks) are read when ``/metrics`` is scraped.

    >>> m = Metrics()
    >>> m.request("GET", "/healthz", 200, 0.004)
    >>> 'tog_http_requests_total{method="GET",route="/healthz",status="200"} 1' in m.render()
    True
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


class Metrics:
    """Thread-safe counters; ``gauges`` are callables read at render time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._durations: dict[str, list[int]] = {}
        self._duration_sum: dict[str, float] = defaultdict(float)
        self._tasks: dict[str, int] = defaultdict(int)
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.started = time.time()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            counts = self._durations.setdefault(route, [0] * (len(_BUCKETS) + 1))
            counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
            self._duration_sum[route] += seconds

    def submitted(self) -> None:
        self._count("submitted")

    def rejected(self) -> None:
        self._count("rejected")

    def finished(self, status: str) -> None:
        self._count(f"finished:{status}")

    def _count(self, key: str) -> None:
        with self._lock:
            self._tasks[key] += 1

    def render(self) -> str:
        with self._lock:
            requests = dict(self._requests)
            durations = {k: list(v) for k, v in self._durations.items()}
            sums = dict(self._duration_sum)
            tasks = dict(self._tasks)
        lines = [
            "# HELP tog_http_requests_total HTTP requests by route template and status.",
            "# TYPE tog_http_requests_total counter",
        ]
        lines += [
            f"tog_http_requests_total{_labels(method=m, route=r, status=s)} {n}"
            for (m, r, s), n in sorted(requests.items())
        ]
        lines += [
            "# HELP tog_http_request_duration_seconds Time to the end of the response, by route template.",
            "# TYPE tog_http_request_duration_seconds histogram",
        ]
        for route, counts in sorted(durations.items()):
            running = 0
            for bound, count in zip([*map(str, _BUCKETS), "+Inf"], counts):
                running += count
                lines.append(f"tog_http_request_duration_seconds_bucket{_labels(route=route, le=bound)} {running}")
            lines.append(f"tog_http_request_duration_seconds_sum{_labels(route=route)} {sums[route]:.6f}")
            lines.append(f"tog_http_request_duration_seconds_count{_labels(route=route)} {running}")
        lines += _counter("tog_tasks_submitted_total", "Tasks accepted into the queue.", tasks.get("submitted", 0))
        lines += _counter(
            "tog_tasks_rejected_total", "Tasks refused because the queue was full (429).", tasks.get("rejected", 0)
        )
        lines += [
            "# HELP tog_tasks_finished_total Tasks that ended, by final status.",
            "# TYPE tog_tasks_finished_total counter",
        ]
        lines += [
            f"tog_tasks_finished_total{_labels(status=k.split(':', 1)[1])} {n}"
            for k, n in sorted(tasks.items())
            if k.startswith("finished:")
        ]
        for name, (help_text, read) in sorted(self.gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {float(read()):g}"]
        lines += [
            "# HELP tog_start_time_seconds When the server started.",
            "# TYPE tog_start_time_seconds gauge",
            f"tog_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


def _counter(name: str, help_text: str, value: int) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {value}"]


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

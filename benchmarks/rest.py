"""REST benchmark: a bounded load test of ``tog serve`` on loopback, against ``Agent.run`` in the same run.

The plan is trivial on purpose (one subtask, ``count_boxes`` over the boxes the request came with, the
uniform assessor: no model anywhere), so the figures are the cost of the REST layer: HTTP, the durable
task store, the worker queue and the event stream. Task ``i`` carries ``1 + i % 9`` boxes, so every
answer is checked against its own request and a mixed-up result cannot pass.

The server is a real uvicorn in its own process (this script with ``--serve``), on a free loopback port,
with the server's own defaults (2 workers, 64 waiting tasks, ``Retry-After: 2``, SSE poll 0.1 s) unless
told otherwise. A client submits with ``POST /v1/tasks`` (on 429 it sleeps for ``Retry-After`` and
submits again, and the 429 is counted), follows ``GET /v1/tasks/{id}/events`` (SSE) to
``task_finished``, then reads the task's view. Latency runs from the first submission attempt to holding
the finished view; the ``server_*`` figures run from the same start to the finish time the server
recorded, so they leave out how long the event stream took to notice (up to one SSE poll).

(a) **Sequential**: ``--repeat`` tasks one at a time over REST, alternating with ``Agent.run`` on an
    agent in this process built the same way; ``overhead_ms`` = median REST latency − median direct.
(b) **Load**: ``--submissions`` tasks submitted at once (at most ``--concurrency`` in flight); throughput
    = tasks finished ÷ wall time of the burst, p50/p99 latency.
(c) **Bookkeeping**: every accepted id finishes exactly once (one ``task_started``, one
    ``task_finished`` in its events), ``GET /v1/tasks`` paged to the end lists exactly the accepted ids,
    every answer is right, and the server's ``/metrics`` counts as many accepted tasks and 429s as the
    client saw. ``lost``/``duplicated``/``wrong`` count the exceptions.

Run ``python -m benchmarks.rest [--quick] [--submissions N] [--concurrency N] [--repeat N] [--workers N]
[--queue-size N] [--retry-after-s N] [--sse-poll-s S]``; the last stdout line is JSON with
``throughput_rps``, ``p50_ms``, ``p99_ms``, ``overhead_ms``, ``direct_ms``, ``lost``, ``duplicated``,
``wrong``, ``rejected_429``, ``submissions`` and ``concurrency`` (and the rest of the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from agent.api import Agent
from agent.client import ToGClient
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, Resource
from agent.server.config import ServerSettings
from benchmarks._common import emit_json, fmt, machine, median, print_table
from graph.plan import Plan
from graph.types import ResourceType
from tools.list_ops import count_boxes
from tools.registry import ToolRegistry

REQUEST = "count the boxes"
ANSWER = re.compile(r"\(count_boxes\): (\d+)$")
#: The submitted count, and the rejections the queue made (429s; other reasons are the client's own mistakes).
COUNTER = re.compile(
    r'^(tog_tasks_submitted_total|tog_tasks_rejected_total)(?:\{reason="queue_full"\})? (\S+)$', re.MULTILINE
)
START_TIMEOUT_S = 90.0
TASK_TIMEOUT_S = 300.0


class CountBoxesDecomposer(Decomposer):
    """One subtask: count the boxes the request came with (no model)."""

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        args = [r.ref().model_dump(mode="json") for r in resources if r.type is ResourceType.BBOXES]
        return Plan.parse(
            {
                "request": request,
                "subtasks": [{"id": 0, "description": REQUEST, "args": args, "returns": [{"type": "number"}]}],
            }
        )


def bench_settings(data_dir: Path, **server: Any) -> ToGSettings:
    return ToGSettings(
        agent={"data_dir": data_dir, "assessor": "uniform", "strategy": "greedy", "max_depth": 1, "top_k": 1},
        server=ServerSettings(api_keys=[], **server),
    )


def bench_agent(settings: ToGSettings) -> Agent:
    """The agent both sides run: one tool, the scripted decomposer."""
    return Agent(settings, registry=ToolRegistry([count_boxes]), decomposer=CountBoxesDecomposer())


def box_count(i: int) -> int:
    return 1 + i % 9


def boxes(n: int) -> list[dict[str, int]]:
    return [{"x1": 10 * k, "y1": 0, "x2": 10 * k + 5, "y2": 5} for k in range(n)]


def counted(answer: str | None) -> int | None:
    """The count an answer reports, or None when it reports none."""
    match = ANSWER.search(answer or "")
    return int(match.group(1)) if match else None


# --- the server ------------------------------------------------------------------------------------------


def serve(port: int, data_dir: Path, server: dict[str, float]) -> None:
    """The benchmark's app on a real uvicorn (runs in the child process)."""
    import uvicorn

    from agent.server.app import create_app

    settings = bench_settings(data_dir, **server)
    uvicorn.run(
        create_app(settings, bench_agent(settings)), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """This script with ``--serve`` in a child process; ``url`` once ``/readyz`` answers 200."""

    def __init__(self, data_dir: Path, server: dict[str, float]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = [f"--{name.replace('_', '-')}={value}" for name, value in server.items()]
        self._command = [
            sys.executable,
            str(Path(__file__).resolve()),
            f"--serve={self.port}",
            f"--data-dir={data_dir}",
            *options,
        ]
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LiveServer:
        self._process = subprocess.Popen(self._command)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the benchmark server did not start on {self.url}")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()  # a clean uvicorn shutdown
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


# --- one task over REST ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the client saw of one submission."""

    boxes: int
    id: str | None = None
    latency_ms: float = float("nan")
    rejected: int = 0
    status: str | None = None
    answer: str | None = None
    kinds: list[str] = field(default_factory=list)
    server_ms: float = float("nan")
    error: str | None = None

    @property
    def right(self) -> bool:
        return self.status == "succeeded" and counted(self.answer) == self.boxes


class RestRunner:
    """Submits tasks and follows them to the end; ``submit`` for the 429 handling, the client for the rest."""

    def __init__(self, url: str) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.http = httpx.AsyncClient(base_url=url, timeout=60.0, transport=httpx.AsyncHTTPTransport(limits=limits))
        self.client = ToGClient(url, async_transport=httpx.AsyncHTTPTransport(limits=limits), timeout_s=60.0)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.client.aclose()

    async def submit(self, n_boxes: int, outcome: Outcome) -> str:
        """POST the task until it is accepted; every 429 waits its Retry-After and is counted."""
        body = {"request": REQUEST, "resources": [{"name": "boxes", "type": "bboxes", "value": boxes(n_boxes)}]}
        while True:
            response = await self.http.post("/v1/tasks", json=body)
            if response.status_code == 429:
                outcome.rejected += 1
                await asyncio.sleep(float(response.headers["Retry-After"]))
                continue
            if response.status_code != 202:
                raise RuntimeError(f"POST /v1/tasks: HTTP {response.status_code}: {response.text[:200]}")
            return str(response.json()["id"])

    async def run(self, n_boxes: int) -> Outcome:
        outcome = Outcome(boxes=n_boxes)
        started = time.perf_counter()
        submitted_at = time.time()
        try:
            async with asyncio.timeout(TASK_TIMEOUT_S):  # retries included: a server that only says 429 ends too
                outcome.id = await self.submit(n_boxes, outcome)
                outcome.kinds = [e.kind async for e in self.client.aevents(outcome.id)]
                view = await self.client.atask(outcome.id)
        except Exception as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            return outcome
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        outcome.status, outcome.answer = view.status, view.answer
        if view.finished is not None:
            outcome.server_ms = (view.finished - submitted_at) * 1000
        return outcome

    async def load(self, counts: Sequence[int], concurrency: int) -> tuple[list[Outcome], float]:
        """All ``counts`` submitted at once, at most ``concurrency`` in flight; (outcomes, wall seconds)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> Outcome:
            async with gate:
                return await self.run(n)

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(n) for n in counts))
        return list(outcomes), time.perf_counter() - started

    async def listed_ids(self) -> list[str]:
        """Every task id the server lists, paging ``GET /v1/tasks`` to the end."""
        ids: list[str] = []
        cursor: str | None = None
        while True:
            page = await self.client.atasks(limit=200, cursor=cursor)
            ids += [item.id for item in page.items]
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor

    async def task_counters(self) -> dict[str, int]:
        """The server's own counts of accepted and refused tasks (``/metrics``)."""
        response = await self.http.get("/metrics")
        response.raise_for_status()
        found = dict(COUNTER.findall(response.text))
        counts = {name: int(float(found.get(f"tog_tasks_{name}_total", "nan"))) for name in ("submitted",)}
        return {**counts, "rejected": int(float(found.get("tog_tasks_rejected_total", "0")))}  # none yet: no series


# --- the phases ------------------------------------------------------------------------------------------


def direct_run(agent: Agent, n_boxes: int) -> tuple[float, bool]:
    """(ms, right) of one ``Agent.run`` of the same plan."""
    started = time.perf_counter()
    result = agent.run(REQUEST, resources=[Resource(name="boxes", type="bboxes", value=boxes(n_boxes))])
    return (time.perf_counter() - started) * 1000, result.status == "succeeded" and counted(result.answer) == n_boxes


async def sequential(runner: RestRunner, agent: Agent, repeat: int) -> tuple[Outcome, list[Outcome], list[float], int]:
    """REST and direct runs alternated, after one untimed warm-up of each.

    Returns (the warm-up REST outcome, the timed REST outcomes, direct ms, direct runs with a wrong answer).
    """
    warm = await runner.run(box_count(0))
    direct_run(agent, box_count(0))
    rest: list[Outcome] = []
    direct: list[float] = []
    wrong = 0
    for i in range(repeat):
        rest.append(await runner.run(box_count(i)))
        ms, right = direct_run(agent, box_count(i))
        direct.append(ms)
        wrong += not right
    return warm, rest, direct, wrong


@dataclass
class Ledger:
    """No task lost, none duplicated, every answer right: the bookkeeping check."""

    lost: int
    duplicated: int
    wrong: int
    accepted: int
    listed: int


def ledger(outcomes: Sequence[Outcome], listed: Sequence[str]) -> Ledger:
    """Compare what the client was told with what the server lists and what each task's events say."""
    accepted = [o.id for o in outcomes if o.id is not None]
    accepted_set, listed_set = set(accepted), set(listed)
    per_id = Counter(accepted)
    lost = sum(o.id is None for o in outcomes)  # never accepted
    lost += len(accepted_set - listed_set)  # accepted, then not listed
    lost += sum(o.id is not None and o.kinds.count("task_finished") == 0 for o in outcomes)  # never finished
    duplicated = sum(n - 1 for n in per_id.values())  # one id handed out twice
    duplicated += len(listed) - len(listed_set)  # listed twice
    duplicated += len(listed_set - accepted_set)  # a task nobody was given (a refused submission recorded anyway)
    duplicated += sum(o.kinds.count("task_started") > 1 or o.kinds.count("task_finished") > 1 for o in outcomes)
    wrong = sum(o.id is not None and not o.right for o in outcomes)
    return Ledger(lost=lost, duplicated=duplicated, wrong=wrong, accepted=len(accepted_set), listed=len(listed))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    items = sorted(v for v in values if not math.isnan(v))
    if not items:
        return float("nan")
    return items[max(0, math.ceil(q / 100 * len(items)) - 1)]


async def measure(url: str, agent: Agent, repeat: int, submissions: int, concurrency: int) -> dict[str, Any]:
    runner = RestRunner(url)
    try:
        warm, rest, direct, direct_wrong = await sequential(runner, agent, repeat)
        loaded, wall_s = await runner.load([box_count(i) for i in range(submissions)], concurrency)
        listed = await runner.listed_ids()
        counters = await runner.task_counters()
    finally:
        await runner.aclose()
    book = ledger([warm, *rest, *loaded], listed)
    latencies = [o.latency_ms for o in loaded]
    rest_ms, direct_ms = median(o.latency_ms for o in rest), median(direct)
    return {
        "throughput_rps": sum(o.status is not None for o in loaded) / wall_s,
        "wall_s": wall_s,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "server_p50_ms": percentile([o.server_ms for o in loaded], 50),
        "server_p99_ms": percentile([o.server_ms for o in loaded], 99),
        "rest_c1_ms": rest_ms,
        "rest_c1_server_ms": median(o.server_ms for o in rest),
        "direct_ms": direct_ms,
        "overhead_ms": rest_ms - direct_ms,
        "rejected_429": sum(o.rejected for o in loaded),
        "rejected_429_all": sum(o.rejected for o in [warm, *rest, *loaded]),
        "server_rejected": counters["rejected"],
        "server_submitted": counters["submitted"],
        "lost": book.lost,
        "duplicated": book.duplicated,
        "wrong": book.wrong + direct_wrong,
        "accepted": book.accepted,
        "listed": book.listed,
        "errors": sorted({o.error for o in [warm, *rest, *loaded] if o.error}),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 submissions, 10 sequential repeats (under a minute)")
    parser.add_argument("--submissions", type=int, default=None, help="tasks of the load phase (default 200)")
    parser.add_argument("--concurrency", type=int, default=None, help="most tasks in flight (default: all of them)")
    parser.add_argument("--repeat", type=int, default=None, help="sequential REST and direct runs (default 30)")
    defaults = ServerSettings()
    parser.add_argument("--workers", type=int, default=defaults.workers, help="server worker threads")
    parser.add_argument("--queue-size", type=int, default=defaults.queue_size, help="tasks waiting before 429")
    parser.add_argument("--retry-after-s", type=int, default=defaults.retry_after_s, help="Retry-After of a 429 (s)")
    parser.add_argument(
        "--sse-poll-s",
        type=float,
        default=defaults.sse_poll_s,
        help="how often an event stream looks for new events (the server's setting)",
    )
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)  # the child: serve on this port
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    server: dict[str, float] = {
        "workers": args.workers,
        "queue_size": args.queue_size,
        "retry_after_s": args.retry_after_s,
        "sse_poll_s": args.sse_poll_s,
    }
    if args.serve is not None:
        serve(args.serve, args.data_dir, server)
        return {}
    submissions = args.submissions or (50 if args.quick else 200)
    concurrency = args.concurrency or submissions
    repeat = args.repeat or (10 if args.quick else 30)

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="tog-rest-bench-") as tmp:
        root = Path(tmp)
        agent = bench_agent(bench_settings(root / "direct"))
        try:
            with LiveServer(root / "server", server) as live:
                figures = asyncio.run(measure(live.url, agent, repeat, submissions, concurrency))
        finally:
            agent.close()

    print_table(
        f"REST on loopback: {submissions} tasks of one count_boxes call, at most {concurrency} in flight, "
        f"{args.workers} workers, queue {args.queue_size}, Retry-After {args.retry_after_s} s, SSE poll "
        f"{args.sse_poll_s} s",
        ["phase", "tasks/s", "p50 ms", "p99 ms", "server p50 ms", "429s"],
        [
            [
                "load",
                fmt(figures["throughput_rps"]),
                fmt(figures["p50_ms"], 1),
                fmt(figures["p99_ms"], 1),
                fmt(figures["server_p50_ms"], 1),
                fmt(figures["rejected_429"]),
            ]
        ],
    )
    print_table(
        f"one task at a time, medians of {repeat}",
        ["path", "ms", "server-recorded ms", "overhead ms"],
        [
            ["Agent.run (in process)", fmt(figures["direct_ms"], 1), "-", "-"],
            [
                "REST: submit, SSE to task_finished, GET",
                fmt(figures["rest_c1_ms"], 1),
                fmt(figures["rest_c1_server_ms"], 1),
                fmt(figures["overhead_ms"], 1),
            ],
        ],
    )
    print(
        f"accepted {figures['accepted']} (server counted {figures['server_submitted']}), listed "
        f"{figures['listed']}: lost {figures['lost']}, duplicated {figures['duplicated']}, wrong answers "
        f"{figures['wrong']}; 429s {figures['rejected_429_all']} (server counted {figures['server_rejected']})"
    )
    for error in figures["errors"]:
        print(f"error: {error}")
    result = {**figures, "submissions": submissions, "concurrency": concurrency, "repeat": repeat, **server}
    emit_json(result)
    return result


if __name__ == "__main__":
    main()

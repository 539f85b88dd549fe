"""The public face of the execution engine: one object, the same calls for every backend.

>>> from graph.plan import Plan, Solution, Action
>>> from tools.registry import default_registry
>>> plan = Plan.parse({"request": "count", "subtasks": [{"id": 0, "description": "count the boxes",
...     "args": [{"type": "bboxes", "value": [{"x1": 0, "y1": 0, "x2": 5, "y2": 5}]}],
...     "returns": [{"type": "number"}]}]})
>>> count = Solution(subtask_id=0, actions=[Action(id="a0", tool="count_boxes",
...     args={"boxes": "input:0"}, outputs={"count": "number"})], outputs=["a0.count"])
>>> with Engine(default_registry()) as engine:
...     engine.run(plan, {0: [count]}).outputs(0)
[1]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence

from agent.engine.backend import ExecutionBackend
from agent.engine.config import EngineConfig
from agent.engine.events import EngineEvent, EventKind
from agent.engine.graph import ExecutionGraph, compile_graph
from agent.engine.resources import ResourceLoader
from agent.engine.result import ExecutionResult
from agent.engine.scheduler import EventSink, Run
from graph.artifacts import ArtifactStore
from graph.plan import Plan, Solution
from tools.registry import ToolRegistry


def make_backend(config: EngineConfig) -> ExecutionBackend:
    """The backend ``config.backend`` names (Ray is imported only when chosen)."""
    if config.backend == "ray":
        from agent.engine.ray_backend import RayBackend

        return RayBackend(config)
    from agent.engine.local import LocalBackend

    return LocalBackend(config)


class Engine:
    """Runs plans' solutions on a backend. Reusable across runs; close it (or use ``with``) when done."""

    def __init__(
        self,
        registry: ToolRegistry,
        config: EngineConfig | None = None,
        backend: ExecutionBackend | None = None,
        store: ArtifactStore | None = None,
    ) -> None:
        self.registry = registry
        self.config = config or EngineConfig()
        self.backend = backend or make_backend(self.config)
        self.store = store

    def compile(self, plan: Plan, solutions: Mapping[int, Sequence[Solution]]) -> ExecutionGraph:
        """Check the graph and load its input files (artifact ids through ``store``); raises
        :class:`~agent.engine.errors.ExecutionGraphError` listing every problem."""
        return compile_graph(plan, solutions, self.registry, ResourceLoader(self.store))

    def prepare(
        self,
        plan: Plan | ExecutionGraph,
        solutions: Mapping[int, Sequence[Solution]] | None = None,
        on_event: EventSink | None = None,
        config: EngineConfig | None = None,
    ) -> Run:
        """A run ready to ``execute``; ``config`` overrides the scheduling settings (timeouts, retries) for
        this run only (the backend keeps its own)."""
        graph = plan if isinstance(plan, ExecutionGraph) else self.compile(plan, solutions or {})
        names = {t.tool for s in graph.subtasks.values() for sol in s.solutions for t in sol.actions}
        tools = {name: self.registry.get(name) for name in sorted(names)}
        return Run(graph, tools, self.backend, config or self.config, on_event=on_event)

    def run(
        self,
        plan: Plan | ExecutionGraph,
        solutions: Mapping[int, Sequence[Solution]] | None = None,
        *,
        on_event: EventSink | None = None,
        config: EngineConfig | None = None,
    ) -> ExecutionResult:
        """Run to the end in this thread and return the result (partial results included)."""
        return self.prepare(plan, solutions, on_event, config).execute()

    def submit(
        self, plan: Plan | ExecutionGraph, solutions: Mapping[int, Sequence[Solution]] | None = None
    ) -> RunHandle:
        """Start a run on a background thread; the handle streams events, cancels and waits."""
        handle = RunHandle()
        run = self.prepare(plan, solutions, on_event=handle._events.put)
        handle._start(run)
        return handle

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunHandle:
    """A run in progress: ``events()`` yields its events live, ``result()`` waits, ``cancel()`` stops it."""

    def __init__(self) -> None:
        self._events: queue.SimpleQueue[EngineEvent] = queue.SimpleQueue()
        self._done = threading.Event()
        self._result: ExecutionResult | None = None
        self._error: BaseException | None = None
        self._run: Run | None = None

    def _start(self, run: Run) -> None:
        self._run = run
        thread = threading.Thread(target=self._work, name=f"tog-run-{run.run_id}", daemon=True)
        thread.start()

    def _work(self) -> None:
        assert self._run is not None
        try:
            self._result = self._run.execute()
        except BaseException as exc:  # surfaced by result(); the event stream still ends
            self._error = exc
        finally:
            self._done.set()

    @property
    def run_id(self) -> str:
        assert self._run is not None
        return self._run.run_id

    def cancel(self) -> None:
        if self._run is not None:
            self._run.cancel()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> ExecutionResult:
        if not self._done.wait(timeout):
            raise TimeoutError(f"run {self.run_id} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def events(self, timeout: float | None = None) -> Iterator[EngineEvent]:
        """Every event of the run in order, ending after ``run_finished`` (or when the run crashed)."""
        while True:
            try:
                event = self._events.get(timeout=0.25 if self._done.is_set() else timeout)
            except queue.Empty:
                if self._done.is_set():
                    return
                raise TimeoutError(f"no event from run {self.run_id} for {timeout} s") from None
            yield event
            if event.kind is EventKind.RUN_FINISHED:
                return

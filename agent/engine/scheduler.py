"""The scheduler: runs a compiled execution graph on a backend, as one DAG of tool calls.

One coordinator thread owns all state; backends report outcomes through a queue, so there are no locks
around the bookkeeping and no polling (the coordinator sleeps until the next outcome, deadline or retry).

* A call is identified by its tool and where its arguments come from, so the same call needed by two
  subtasks, or by a fallback solution after another failed, runs once (``action_reused``).
* An argument that is another subtask's output is bound when that subtask succeeds, whichever of its
  solutions produced it; calls that do not need it start at once.
* A transient failure (a retryable tool error, a lost worker) is retried with backoff; any other failure
  makes every subtask whose current solution needs the call fall back to its next-ranked solution; a
  subtask with none left fails and those depending on it are skipped. What succeeded is kept.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.engine.backend import ActionCall, ExecutionBackend, Failure, Outcome, Produced, Value
from agent.engine.config import EngineConfig
from agent.engine.events import EngineEvent, EventKind
from agent.engine.graph import ActionTemplate, CompiledSubtask, ExecutionGraph, Literal, Local, Source, Upstream
from agent.engine.result import ActionRecord, ExecutionResult, RunStatus, SubtaskResult, SubtaskStatus
from tools.base import Tool

EventSink = Callable[[EngineEvent], None]


class _State(StrEnum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    DELAYED = "delayed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


_OPEN = (_State.PENDING, _State.READY, _State.DELAYED)


@dataclass(frozen=True)
class _FromNode:
    node: str
    name: str


@dataclass(frozen=True)
class _FromValue:
    value: Any


_Arg = _FromNode | _FromValue


@dataclass
class _Node:
    id: str
    key: str
    tool: str
    args: dict[str, _Arg]
    deps: set[str]
    owner: tuple[int, int, str]
    seq: int
    users: set[tuple[int, int]] = field(default_factory=set)
    dependents: set[str] = field(default_factory=set)
    state: _State = _State.PENDING
    attempt: int = 0
    infra_retries: int = 0
    call_id: str | None = None
    deadline: float | None = None
    handle: Any = None
    failure: Failure | None = None
    started_at: float | None = None
    ended_at: float | None = None
    worker: str | None = None
    slot: str = ""


@dataclass
class _SubRun:
    sub: CompiledSubtask
    rank: int = 0
    status: SubtaskStatus = SubtaskStatus.WAITING
    nodes: dict[str, str] = field(default_factory=dict)
    pending: list[ActionTemplate] = field(default_factory=list)
    outputs: list[_Arg] = field(default_factory=list)
    error: dict[str, Any] | None = None
    fallbacks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in (
            SubtaskStatus.SUCCEEDED,
            SubtaskStatus.FAILED,
            SubtaskStatus.SKIPPED,
            SubtaskStatus.CANCELLED,
        )


class Cancel:
    """Message that stops a run."""


class Run:
    """One execution of a graph. Create through :class:`~agent.engine.engine.Engine`; call :meth:`execute` once."""

    def __init__(
        self,
        graph: ExecutionGraph,
        tools: dict[str, Tool],
        backend: ExecutionBackend,
        config: EngineConfig,
        on_event: EventSink | None = None,
        run_id: str | None = None,
    ) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.graph = graph
        self.tools = tools
        self.backend = backend
        self.config = config
        self.inbox: queue.SimpleQueue[Outcome | Cancel] = queue.SimpleQueue()
        self._on_event = on_event
        self._events: list[EngineEvent] = []
        self._seq = itertools.count(1)
        self._node_seq = itertools.count(1)
        self._nodes: dict[str, _Node] = {}
        self._memo: dict[str, str] = {}
        self._calls: dict[str, str] = {}
        self._ready: list[tuple[int, str]] = []
        self._delayed: list[tuple[float, int, str]] = []
        self._running: dict[str, int] = {}
        self._running_tool: dict[str, int] = {}
        self._capacity: dict[str, int] = {}
        self._subruns = {sid: _SubRun(sub) for sid, sub in graph.subtasks.items()}
        self._downstream: dict[int, list[int]] = {sid: [] for sid in graph.subtasks}
        for sid, sub in graph.subtasks.items():
            for up in sub.upstream:
                self._downstream[up].append(sid)
        self._cancelled = False
        self._live: set[str] = set()

    def cancel(self) -> None:
        """Ask the run to stop (thread-safe); pending calls never start, running ones are stopped."""
        self.inbox.put(Cancel())

    # --- the loop ---------------------------------------------------------------------------------------

    def execute(self) -> ExecutionResult:
        started = time.time()
        self.backend.start(self.tools)
        self._emit(EventKind.RUN_STARTED, message=f"{len(self._subruns)} subtasks")
        for sid in self.graph.order:
            self._activate(self._subruns[sid])
        while not self._finished():
            self._dispatch()
            if self._finished():
                break
            try:
                message = self.inbox.get(timeout=self._wait_time())
            except queue.Empty:
                message = None
            if isinstance(message, Cancel):
                self._cancel_all()
                break
            if message is not None:
                self._on_outcome(message)
            self._expire(time.time())
            self._promote(time.time())
        self._abandon_orphans()
        return self._result(started)

    def _finished(self) -> bool:
        return all(r.done for r in self._subruns.values())

    def _wait_time(self) -> float | None:
        times = [d for d in (self._nodes[n].deadline for n in self._live) if d is not None]
        if self._delayed:
            times.append(self._delayed[0][0])
        return max(0.0, min(times) - time.time()) if times else None

    # --- subtasks ---------------------------------------------------------------------------------------

    def _activate(self, run: _SubRun) -> None:
        solution = run.sub.solutions[run.rank]
        run.status = SubtaskStatus.RUNNING
        run.nodes, run.pending = {}, list(solution.actions)
        self._emit(
            EventKind.SUBTASK_STARTED, subtask=run.sub.id, solution=run.rank, message=" -> ".join(solution.tools)
        )
        self._instantiate(run)

    def _instantiate(self, run: _SubRun) -> None:
        """Turn every template whose arguments can be resolved now into a node (or reuse one)."""
        progress = True
        while progress and run.status is SubtaskStatus.RUNNING:
            progress = False
            for template in list(run.pending):
                args = self._resolve_args(run, template.args)
                if args is None:
                    continue
                run.pending.remove(template)
                progress = True
                node = self._node_for(run, template, args)
                if node is None:
                    return  # the run fell back or failed inside
                run.nodes[template.id] = node.id
        self._check_complete(run)

    def _resolve_args(self, run: _SubRun, sources: dict[str, Source]) -> dict[str, _Arg] | None:
        args: dict[str, _Arg] = {}
        for name, source in sources.items():
            arg = self._resolve(run, source)
            if arg is None:
                return None
            args[name] = arg
        return args

    def _resolve(self, run: _SubRun, source: Source) -> _Arg | None:
        if isinstance(source, Literal):
            return _FromValue(source.value)
        if isinstance(source, Local):
            node_id = run.nodes.get(source.action)
            return _FromNode(node_id, source.name) if node_id else None
        assert isinstance(source, Upstream)
        upstream = self._subruns[source.subtask]
        return upstream.outputs[source.index] if upstream.status is SubtaskStatus.SUCCEEDED else None

    def _node_for(self, run: _SubRun, template: ActionTemplate, args: dict[str, _Arg]) -> _Node | None:
        key = self._key(template.tool, args)
        existing = self._nodes.get(self._memo.get(key, ""))
        user = (run.sub.id, run.rank)
        if existing is not None and existing.state is _State.FAILED:
            self._fall_back(run, existing.failure, existing)
            return None
        if existing is not None and existing.state is not _State.CANCELLED:
            existing.users.add(user)
            if existing.state is _State.SUCCEEDED:
                self._emit(
                    EventKind.ACTION_REUSED, node=existing, subtask=run.sub.id, solution=run.rank, action=template.id
                )
            return existing
        seq = next(self._node_seq)
        node = _Node(
            id=f"n{seq}",
            key=key,
            tool=template.tool,
            args=args,
            deps={a.node for a in args.values() if isinstance(a, _FromNode)},
            owner=(run.sub.id, run.rank, template.id),
            seq=seq,
            users={user},
            slot=self._slot(template.tool),
        )
        self._nodes[node.id] = node
        self._memo[key] = node.id
        for dep in node.deps:
            self._nodes[dep].dependents.add(node.id)
        self._emit(EventKind.ACTION_QUEUED, node=node)
        if all(self._nodes[d].state is _State.SUCCEEDED for d in node.deps):
            self._make_ready(node)
        return node

    def _check_complete(self, run: _SubRun) -> None:
        if run.status is not SubtaskStatus.RUNNING or run.pending:
            return
        if not all(self._nodes[n].state is _State.SUCCEEDED for n in run.nodes.values()):
            return
        solution = run.sub.solutions[run.rank]
        run.outputs = [self._resolve(run, source) for source in solution.outputs]  # type: ignore[misc]
        run.status = SubtaskStatus.SUCCEEDED
        self._emit(EventKind.SUBTASK_FINISHED, subtask=run.sub.id, solution=run.rank, status="succeeded")
        for sid in self._downstream[run.sub.id]:
            downstream = self._subruns[sid]
            if downstream.status is SubtaskStatus.RUNNING:
                self._instantiate(downstream)

    def _fall_back(self, run: _SubRun, failure: Failure | None, node: _Node) -> None:
        error = _error(failure, node)
        run.fallbacks.append({"solution": run.rank, **error})
        self._release(run)
        if self.config.fallback and run.rank + 1 < len(run.sub.solutions):
            run.rank += 1
            self._emit(
                EventKind.SUBTASK_FALLBACK,
                subtask=run.sub.id,
                solution=run.rank,
                error=error,
                message=f"solution {run.rank - 1} failed at {node.tool}; trying solution {run.rank}",
            )
            self._activate(run)
            return
        run.status, run.error = SubtaskStatus.FAILED, error
        self._emit(EventKind.SUBTASK_FAILED, subtask=run.sub.id, solution=run.rank, error=error, status="failed")
        self._skip_downstream(run.sub.id)

    def _skip_downstream(self, failed: int) -> None:
        for sid in self._downstream[failed]:
            run = self._subruns[sid]
            if run.done:
                continue
            self._release(run)
            run.status = SubtaskStatus.SKIPPED
            run.error = {"code": "upstream_failed", "message": f"needs the result of subtask {failed}, which failed"}
            self._emit(EventKind.SUBTASK_SKIPPED, subtask=sid, error=run.error, status="skipped")
            self._skip_downstream(sid)

    def _release(self, run: _SubRun) -> None:
        """The run leaves its current solution: calls nobody else needs and that have not started are dropped."""
        user = (run.sub.id, run.rank)
        for node_id in run.nodes.values():
            node = self._nodes[node_id]
            node.users.discard(user)
            if not node.users and node.state in _OPEN:
                node.state = _State.CANCELLED
                self._emit(EventKind.ACTION_CANCELLED, node=node, message="no longer needed")
        run.nodes, run.pending = {}, []

    # --- calls ------------------------------------------------------------------------------------------

    def _slot(self, tool: str) -> str:
        slot, capacity = self.backend.slot(self.tools[tool])
        self._capacity[slot] = capacity
        return slot

    def _make_ready(self, node: _Node) -> None:
        node.state = _State.READY
        heapq.heappush(self._ready, (node.seq, node.id))

    def _dispatch(self) -> None:
        blocked: list[tuple[int, str]] = []
        while self._ready:
            seq, node_id = heapq.heappop(self._ready)
            node = self._nodes[node_id]
            if node.state is not _State.READY:
                continue
            limit = self.config.tool_concurrency.get(node.tool)
            if self._running.get(node.slot, 0) >= self._capacity[node.slot] or (
                limit is not None and self._running_tool.get(node.tool, 0) >= limit
            ):
                blocked.append((seq, node_id))
                continue
            self._start(node)
        for item in blocked:
            heapq.heappush(self._ready, item)

    def _start(self, node: _Node) -> None:
        node.attempt += 1
        node.call_id = f"{self.run_id}:{node.id}#{node.attempt}"
        node.state = _State.RUNNING
        timeout = self.config.timeout_for(node.tool)
        node.deadline = time.time() + timeout if timeout is not None else None
        self._calls[node.call_id] = node.id
        self._live.add(node.id)
        self._running[node.slot] = self._running.get(node.slot, 0) + 1
        self._running_tool[node.tool] = self._running_tool.get(node.tool, 0) + 1
        args = {
            name: Produced(self._nodes[a.node].handle, a.name) if isinstance(a, _FromNode) else Value(a.value)
            for name, a in node.args.items()
        }
        self._emit(EventKind.ACTION_STARTED, node=node)
        try:
            self.backend.submit(ActionCall(node.call_id, node.id, node.tool, args), self.inbox.put)
        except Exception as exc:  # a backend that cannot take the call: the call fails, the run goes on
            self._stop_running(node)
            self._failed(node, Failure(kind="internal", type=type(exc).__name__, message=str(exc)))

    def _stop_running(self, node: _Node) -> None:
        self._running[node.slot] -= 1
        self._running_tool[node.tool] -= 1
        self._calls.pop(node.call_id or "", None)
        self._live.discard(node.id)
        node.deadline = None

    def _on_outcome(self, outcome: Outcome) -> None:
        node = self._nodes.get(self._calls.get(outcome.call_id, ""))
        if node is None or node.call_id != outcome.call_id or node.state is not _State.RUNNING:
            return  # a late report of a call that timed out or was cancelled
        self._stop_running(node)
        node.started_at, node.ended_at, node.worker = outcome.started_at, outcome.ended_at, outcome.worker
        if outcome.ok:
            self._succeeded(node, outcome.handle)
        elif outcome.transient_infra and node.infra_retries < self.config.ray.max_worker_restarts:
            node.infra_retries += 1
            node.attempt -= 1  # a lost worker is not the tool's attempt
            self._retry(node, outcome.failure, delay=0.0)
        else:
            assert outcome.failure is not None
            self._failed(node, outcome.failure)

    def _succeeded(self, node: _Node, handle: Any) -> None:
        node.state, node.handle = _State.SUCCEEDED, handle
        self._emit(EventKind.ACTION_FINISHED, node=node, status="succeeded")
        for dep_id in sorted(node.dependents, key=lambda n: self._nodes[n].seq):
            dependent = self._nodes[dep_id]
            if dependent.state is _State.PENDING and all(
                self._nodes[d].state is _State.SUCCEEDED for d in dependent.deps
            ):
                self._make_ready(dependent)
        for sid, rank in sorted(node.users):
            run = self._subruns[sid]
            if run.rank == rank:
                self._check_complete(run)

    def _failed(self, node: _Node, failure: Failure) -> None:
        if failure.retryable and node.attempt <= self.config.retries_for(node.tool):
            self._retry(node, failure, delay=self.config.backoff(node.attempt))
            return
        node.state, node.failure = _State.FAILED, failure
        self._emit(EventKind.ACTION_FAILED, node=node, error=failure.model_dump(), status="failed")
        for sid, rank in sorted(node.users):
            run = self._subruns[sid]
            if run.rank == rank and run.status is SubtaskStatus.RUNNING:
                self._fall_back(run, failure, node)

    def _retry(self, node: _Node, failure: Failure | None, delay: float) -> None:
        node.state = _State.DELAYED
        heapq.heappush(self._delayed, (time.time() + delay, node.seq, node.id))
        self._emit(
            EventKind.ACTION_RETRIED,
            node=node,
            error=failure.model_dump() if failure else None,
            message=f"retry in {delay:.2f} s",
        )

    def _expire(self, now: float) -> None:
        for node in [self._nodes[n] for n in sorted(self._live, key=lambda n: self._nodes[n].seq)]:
            if node.deadline is not None and now >= node.deadline:
                timeout = self.config.timeout_for(node.tool)
                self.backend.cancel(node.call_id or "")
                self._stop_running(node)
                self._failed(
                    node,
                    Failure(
                        kind="timeout",
                        type="TimeoutError",
                        retryable=self.config.retry_timeouts,
                        message=f"tool {node.tool!r} did not finish within {timeout:g} s",
                    ),
                )

    def _promote(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, _, node_id = heapq.heappop(self._delayed)
            node = self._nodes[node_id]
            if node.state is _State.DELAYED:
                self._make_ready(node)

    def _cancel_all(self) -> None:
        self._cancelled = True
        for node in self._nodes.values():
            if node.state is _State.RUNNING:
                self.backend.cancel(node.call_id or "")
                self._stop_running(node)
            if node.state in (*_OPEN, _State.RUNNING):
                node.state = _State.CANCELLED
                self._emit(EventKind.ACTION_CANCELLED, node=node, message="run cancelled")
        for run in self._subruns.values():
            if not run.done:
                run.status = SubtaskStatus.CANCELLED
                run.error = {"code": "cancelled", "message": "the run was cancelled"}

    def _abandon_orphans(self) -> None:
        """Calls still running that no subtask needs any more (a solution was left while they ran)."""
        for node in self._nodes.values():
            if node.state is _State.RUNNING:
                self.backend.cancel(node.call_id or "")
                self._stop_running(node)
                node.state = _State.CANCELLED
                self._emit(EventKind.ACTION_CANCELLED, node=node, message="no longer needed")

    # --- results ----------------------------------------------------------------------------------------

    def _result(self, started: float) -> ExecutionResult:
        subtasks = {}
        for sid, run in sorted(self._subruns.items()):
            outputs = []
            if run.status is SubtaskStatus.SUCCEEDED:
                outputs = [self._value(arg) for arg in run.outputs]
            subtasks[sid] = SubtaskResult(
                id=sid,
                status=run.status,
                solution=run.rank if run.status is SubtaskStatus.SUCCEEDED else None,
                tools=list(run.sub.solutions[run.rank].tools) if run.sub.solutions else [],
                outputs=outputs,
                error=run.error,
                fallbacks=run.fallbacks,
            )
        statuses = {s.status for s in subtasks.values()}
        if self._cancelled:
            status = RunStatus.CANCELLED
        elif statuses == {SubtaskStatus.SUCCEEDED}:
            status = RunStatus.SUCCEEDED
        elif SubtaskStatus.SUCCEEDED in statuses:
            status = RunStatus.PARTIAL
        else:
            status = RunStatus.FAILED
        self._emit(EventKind.RUN_FINISHED, status=status.value)
        actions = [
            ActionRecord(
                node=n.id,
                tool=n.tool,
                subtask=n.owner[0],
                solution=n.owner[1],
                action=n.owner[2],
                status=n.state.value,
                attempts=n.attempt,
                started_at=n.started_at,
                ended_at=n.ended_at,
                worker=n.worker,
                error=n.failure.model_dump() if n.failure else None,
            )
            for n in self._nodes.values()
        ]
        return ExecutionResult(
            run_id=self.run_id,
            status=status,
            subtasks=subtasks,
            actions=actions,
            events=list(self._events),
            started_at=started,
            ended_at=time.time(),
        )

    def _value(self, arg: _Arg) -> Any:
        if isinstance(arg, _FromValue):
            return arg.value
        return self.backend.fetch(self._nodes[arg.node].handle, arg.name)

    # --- helpers ----------------------------------------------------------------------------------------

    def _key(self, tool: str, args: dict[str, _Arg]) -> str:
        parts = [tool]
        for name in sorted(args):
            arg = args[name]
            if isinstance(arg, _FromNode):
                parts.append(f"{name}=@{self._nodes[arg.node].key}.{arg.name}")
            else:
                parts.append(f"{name}={_fingerprint(arg.value)}")
        return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]

    def _emit(self, kind: EventKind, node: _Node | None = None, **fields: Any) -> None:
        if node is not None:
            subtask, solution, action = node.owner
            fields.setdefault("subtask", subtask)
            fields.setdefault("solution", solution)
            fields.setdefault("action", action)
            fields.update(node=node.id, tool=node.tool, attempt=node.attempt or None)
            if kind is EventKind.ACTION_FINISHED or kind is EventKind.ACTION_FAILED:
                fields.update(started_at=node.started_at, ended_at=node.ended_at, worker=node.worker)
        event = EngineEvent(run_id=self.run_id, seq=next(self._seq), kind=kind, time=time.time(), **fields)
        self._events.append(event)
        if self._on_event is not None:
            self._on_event(event)


def _fingerprint(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=_default)
    except (TypeError, ValueError):
        return f"obj:{id(value)}"
    return "v:" + hashlib.sha1(text.encode()).hexdigest()[:16]


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(type(value).__name__)


def _error(failure: Failure | None, node: _Node) -> dict[str, Any]:
    if failure is None:
        return {"code": "failed", "message": f"{node.tool} failed", "tool": node.tool}
    return {"code": failure.kind, "message": failure.message, "tool": node.tool, "type": failure.type}

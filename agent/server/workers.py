"""The bounded task queue and the worker threads that run tasks through the :class:`~agent.api.Agent`.

Requests never run a task themselves: ``submit`` records it and queues its id, or raises
:class:`QueueFullError` (429 + Retry-After) when ``queue_size`` tasks already wait. Each worker relays
the agent's events into the task store as they happen.

Restart policy: when the runner starts, tasks still ``queued`` from a previous server are queued again
(they never started, so running them is safe), and tasks still ``running`` are marked ``interrupted``
with a message (the process died under them; re-running tool calls behind the client's back could
repeat side effects).

Shutdown (:meth:`TaskRunner.drain` on SIGTERM, then :meth:`TaskRunner.stop`): no task starts once the
drain began; running tasks get until ``grace_s`` after it to finish, then they are cancelled and end
``interrupted``; tasks that never started stay ``queued`` in the store, so the next server runs them.

Faults: a worker survives every exception. A task whose run fails is recorded ``failed`` with the
reason; one the agent refuses before any tool runs (:class:`~agent.outcomes.UnsupportedRequestError`)
``unsupported``, with the error's code, message and details (what is missing, the nearest tools, how to
enable an unavailable one); when the store itself cannot be written, the task goes back to the queue (it
had not started) or its end is written once the store takes writes again (probing it with backoff); if the server
stops first, the next start marks it by the restart policy. Nothing recorded names a server path.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.api import Agent
from agent.decompose.base import Resource
from agent.outcomes import UnsupportedRequestError
from agent.result import AgentEvent
from agent.server.errors import (
    QueueFullError,
    Redactor,
    ShuttingDownError,
    StorageError,
    TaskFinishedError,
    storage_error,
)
from agent.server.metrics import Metrics
from agent.server.models import FINAL_STATUSES, CancelResult, TaskStatus
from agent.server.tasks import TaskRecord, TaskStore
from graph.errors import ToGError

logger = logging.getLogger(__name__)

CRASHED = (
    "the server stopped while this task was running; it was not resumed (tool calls are not repeated "
    "behind your back). Finished stages are in the result; submit the request again to run it anew"
)
SHUT_DOWN = "the server was shut down while this task was running; submit the request again to run it anew"
STORE_FAILED = (
    "the server could not record this task's progress (its storage failed), so the task was stopped; "
    "submit the request again"
)
#: How long :meth:`TaskRunner.stop` waits for cancelled tasks to end before it marks them itself.
CANCEL_WAIT_S = 5.0
#: Backoff between probes of a store that cannot be written.
PROBE_FIRST_S, PROBE_MAX_S = 0.1, 2.0


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as it will be recorded."""

    status: TaskStatus
    message: str | None = None
    error: dict[str, Any] | None = None


class TaskRunner:
    """``workers`` threads over one queue holding at most ``queue_size`` waiting tasks."""

    def __init__(
        self,
        agent: Agent,
        store: TaskStore,
        *,
        workers: int,
        queue_size: int,
        retry_after_s: int,
        grace_s: float = 30.0,
        metrics: Metrics | None = None,
        redact: Iterable[str | Path] = (),
    ) -> None:
        self.agent = agent
        self.store = store
        self.workers = workers
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self.grace_s = grace_s
        self.metrics = metrics or Metrics()
        self._redact = Redactor(redact)
        #: Guards the queue, the running set and a task's move to ``running`` (so a cancel cannot slip between).
        self._cond = threading.Condition()
        self._pending: deque[str] = deque()
        self._running: set[str] = set()
        self._interrupting: set[str] = set()
        self._busy = 0  # workers between taking a task and recording its end
        self._threads: list[threading.Thread] = []
        self._draining = threading.Event()
        self._stopping = threading.Event()
        self._drained_at: float | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self.recover()
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"tog-task-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def recover(self) -> None:
        """Apply the restart policy to the tasks a previous server left unfinished."""
        for record in self.store.with_status("running"):
            self._interrupt(record.id, CRASHED)
        queued = [record.id for record in self.store.with_status("queued")]
        with self._cond:
            self._pending.extend(queued)
            self._cond.notify_all()

    def drain(self) -> None:
        """Take no more tasks from now on (SIGTERM): idle workers exit, busy ones after their task."""
        with self._cond:
            if self._draining.is_set():
                return
            self._drained_at = time.monotonic()
            self._draining.set()
            self._cond.notify_all()
            running, waiting = len(self._running), len(self._pending)
        logger.info(
            "draining: %d tasks running get up to %.0f s; %d queued wait for the next start",
            running,
            self.grace_s,
            waiting,
        )

    def stop(self) -> None:
        """Drain, let running tasks finish until ``grace_s`` after the drain began, then interrupt the rest."""
        self.drain()
        deadline = (self._drained_at or time.monotonic()) + self.grace_s
        with self._cond:
            self._cond.wait_for(lambda: not self._running, timeout=max(0.0, deadline - time.monotonic()))
            late = sorted(self._running)
            self._interrupting.update(late)
        for task_id in late:
            self.agent.cancel(task_id)
        with self._cond:
            self._cond.wait_for(lambda: self._busy == 0, timeout=CANCEL_WAIT_S if late else 0.5)
            hung = sorted(self._running)
        self._stopping.set()  # workers still waiting for the store give up: the next start marks their tasks
        for task_id in hung:  # a tool that ignores cancellation: the process is about to exit under it
            try:
                self._interrupt(task_id, SHUT_DOWN)
            except StorageError:
                logger.warning("task %s left running in the store; the next start marks it interrupted", task_id)
        for thread in self._threads:
            thread.join(0.5)

    @property
    def alive(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    @property
    def waiting(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    # --- requests ----------------------------------------------------------------------------------------

    def check_capacity(self) -> None:
        """Raise :class:`ShuttingDownError` (503) once draining, :class:`QueueFullError` (429) when full."""
        if self._draining.is_set():
            raise ShuttingDownError(
                f"the server is shutting down and takes no new tasks; retry in {self.retry_after_s} s",
                self.retry_after_s,
            )
        waiting = len(self._pending)
        if waiting >= self.queue_size:
            raise QueueFullError(
                f"{waiting} tasks are waiting (the limit is {self.queue_size}); retry in {self.retry_after_s} s",
                self.retry_after_s,
                queued=waiting,
            )

    def submit(self, create: Callable[[], TaskRecord]) -> TaskRecord:
        """Record a task with ``create`` and queue it, unless the queue is full (nothing is recorded then)."""
        with self._cond:
            self.check_capacity()
            record = create()
            self._pending.append(record.id)
            self._cond.notify()
        self.metrics.submitted()
        return record

    def cancel(self, task_id: str) -> CancelResult:
        """Cancel a queued task at once, or ask a running one to stop; a finished task is a 409."""
        record = self.store.get(task_id)
        if record.status == "queued" and self._finish(
            task_id, ("queued",), Outcome("cancelled", "cancelled before it started")
        ):
            with self._cond:
                if task_id in self._pending:
                    self._pending.remove(task_id)
            return CancelResult(id=task_id, status="cancelled", cancel_requested=False)
        with self._cond:  # a worker leaves _running under this lock before it writes task_finished
            if task_id in self._running:
                self.agent.cancel(task_id)
                self.store.add_event(task_id, "server", "cancel_requested")
                return CancelResult(id=task_id, status="running", cancel_requested=True)
        record = self.store.get(task_id)
        if record.status in ("running", "cancelled"):  # running: it is finishing right now
            return CancelResult(id=task_id, status=record.status, cancel_requested=False)
        raise TaskFinishedError(
            f"task {task_id!r} already finished ({record.status}); nothing to cancel",
            task_id=task_id,
            status=record.status,
        )

    # --- work --------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending) or self._draining.is_set())
                if self._draining.is_set():
                    return  # what is still queued stays queued: the next server runs it
                task_id = self._pending.popleft()
                self._busy += 1
            try:
                self._run(task_id)
            except Exception:  # a bug in the relay itself: the task must still end, the worker go on
                logger.exception("task %s failed in the server", task_id)
                try:
                    self._record(
                        task_id,
                        Outcome(
                            "failed",
                            "the server failed running the task; the error is logged",
                            {"code": "internal_error", "message": "the server failed running the task", "details": {}},
                        ),
                    )
                except Exception:
                    logger.exception("task %s: its failure could not be recorded", task_id)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _run(self, task_id: str) -> None:
        with self._cond:
            if self._draining.is_set():
                self._pending.appendleft(task_id)  # never started: it stays queued
                return
            try:
                started: bool | None = self.store.transition(task_id, ("queued",), "running", started=time.time())
            except StorageError as exc:
                logger.warning("task %s stays queued: %s", task_id, exc.message)
                self._pending.appendleft(task_id)
                started = None
            if started:
                self._running.add(task_id)
        if started is None:
            self._await_store()  # then this worker takes it again (or the drain leaves it queued)
            return
        if not started:
            return  # cancelled while it waited
        try:
            outcome = self._drive(task_id)
        finally:
            with self._cond:
                self._running.discard(task_id)
                interrupted = task_id in self._interrupting
                self._interrupting.discard(task_id)
                self._cond.notify_all()
        if interrupted and outcome.status == "cancelled":
            outcome = Outcome("interrupted", SHUT_DOWN)
        self._record(task_id, outcome)

    def _drive(self, task_id: str) -> Outcome:
        """Run the agent, relaying its events; how it ended."""
        events: Iterator[AgentEvent] | None = None
        try:
            self.store.add_event(task_id, "server", "task_started")
            record = self.store.get(task_id)
            resources = [Resource.model_validate(r) for r in record.resources]
            events = self.agent.stream(record.request, resources=resources, run_id=record.id)
            for event in events:
                self.store.add_event(record.id, event.stage, event.kind, self._clean(event.data), event.time)
                if event.kind == "stage_started":  # the previous stage's checkpoint: plan, outcomes so far
                    self._save_result(record.id)
        except StorageError as exc:
            logger.error("task %s stopped: the store failed (%s)", task_id, exc.message)
            self.agent.cancel(task_id)
            _drain(events)
            return Outcome("failed", STORE_FAILED, {"code": exc.code, "message": exc.message, "details": {}})
        except UnsupportedRequestError as exc:  # refused before any tool ran: what is missing, how to enable it
            return Outcome("unsupported", self._redact.text(exc.message), self._redact.value(exc.to_dict()))
        except ToGError as exc:
            return Outcome("failed", self._redact.text(exc.message), self._redact.value(exc.to_dict()))
        except (OSError, sqlite3.Error) as exc:  # the agent's own storage: its checkpoints, the artifacts
            logger.error("task %s failed on storage: %s", task_id, exc)
            error = storage_error(exc, "the task's results")
            return Outcome("failed", error.message, error.to_dict())
        except Exception as exc:
            logger.exception("task %s failed", task_id)
            return Outcome(
                "failed",
                "the agent failed unexpectedly; the error is logged",
                {"code": "internal_error", "message": self._redact.text(f"{type(exc).__name__}: {exc}"), "details": {}},
            )
        result = self._result(task_id) or {}
        status = result.get("status")  # "planned" (the run stopped before executing) is no final status
        return Outcome(status if status in FINAL_STATUSES else "failed")

    def _clean(self, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data as stored: JSON, with the server's directories redacted."""
        value = self._redact.value(json.loads(json.dumps(data, default=str)))
        return value if isinstance(value, dict) else {}

    def _result(self, task_id: str) -> dict[str, Any] | None:
        """The agent's result so far, from its checkpoint (None before the first one, or if it cannot be read)."""
        try:
            return self.agent.result(task_id).model_dump(mode="json")
        except ToGError:
            return None  # failed before the first checkpoint
        except Exception:  # its checkpoint store failed too: the task still ends
            logger.exception("task %s: its result could not be read", task_id)
            return None

    def _save_result(self, task_id: str) -> None:
        result = self._result(task_id)
        if result is not None:
            self.store.save_result(task_id, result)

    def _record(self, task_id: str, outcome: Outcome) -> None:
        """Write how a task ended, waiting for the store if it cannot be written now (the worker stays alive)."""
        while True:
            try:
                self._finish(task_id, ("running",), outcome)
                return
            except StorageError as exc:
                logger.warning("task %s: its end cannot be recorded yet (%s)", task_id, exc.message)
                if not self._await_store():
                    return  # stopping: the next start marks it by the restart policy

    def _await_store(self) -> bool:
        """Wait, probing with backoff, until the store takes writes again; False if the runner stops first."""
        delay = PROBE_FIRST_S
        while not self._stopping.wait(delay):
            if self.store.probe():
                return True
            delay = min(delay * 2, PROBE_MAX_S)
        return False

    def _interrupt(self, task_id: str, message: str) -> None:
        self._finish(task_id, ("running",), Outcome("interrupted", message))

    def _finish(self, task_id: str, expected: tuple[str, ...], outcome: Outcome) -> bool:
        changed = self.store.finish(
            task_id,
            expected,
            outcome.status,
            message=outcome.message,
            error=outcome.error,
            result=self._result(task_id) if "running" in expected else None,
        )
        if changed:
            self.metrics.finished(outcome.status)
        return changed


def _drain(events: Iterator[AgentEvent] | None) -> None:
    """Let a cancelled run wind down (its remaining events are dropped: the store cannot take them)."""
    if events is None:
        return
    try:
        for _ in events:
            pass
    except Exception:
        logger.exception("a cancelled run failed while winding down")

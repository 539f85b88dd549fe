"""The bounded task queue and the worker threads that run tasks through the :class:`~agent.api.Agent`.

Requests never run a task themselves: ``submit`` records it and queues its id, or raises
:class:`QueueFullError` (429 + Retry-After) when ``queue_size`` tasks already wait. Each worker relays
the agent's events into the task store as they happen.

Restart policy: when the runner starts, tasks still ``queued`` from a previous server are queued again
(they never started, so running them is safe), and tasks still ``running`` are marked ``interrupted``
with a message (the process died under them; re-running tool calls behind the client's back could
repeat side effects). Stopping the runner cleanly does the same to the tasks it is running.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.api import Agent
from agent.decompose.base import Resource
from agent.server.errors import QueueFullError, TaskFinishedError
from agent.server.metrics import Metrics
from agent.server.models import FINAL_STATUSES, TASK_FINISHED, CancelResult, TaskStatus
from agent.server.tasks import TaskRecord, TaskStore
from graph.errors import ToGError

logger = logging.getLogger(__name__)

CRASHED = (
    "the server stopped while this task was running; it was not resumed (tool calls are not repeated "
    "behind your back). Finished stages are in the result; submit the request again to run it anew"
)
SHUT_DOWN = "the server was shut down while this task was running; submit the request again to run it anew"


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
        metrics: Metrics | None = None,
    ) -> None:
        self.agent = agent
        self.store = store
        self.workers = workers
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self.metrics = metrics or Metrics()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._running: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

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
        for record in self.store.with_status("queued"):
            with self._lock:
                self._waiting += 1
            self._queue.put(record.id)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking tasks, cancel the running ones (they end ``interrupted``) and wait for the workers."""
        self._stopping.set()
        with self._lock:
            running = list(self._running)
        for task_id in running:
            self.agent.cancel(task_id)
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return len(self._running)

    # --- requests ----------------------------------------------------------------------------------------

    def check_capacity(self) -> None:
        """Raise :class:`QueueFullError` (429) when no more tasks may wait."""
        if self._stopping.is_set() or self._waiting >= self.queue_size:
            self.metrics.rejected()
            raise QueueFullError(
                f"{self._waiting} tasks are waiting (the limit is {self.queue_size}); retry in {self.retry_after_s} s",
                self.retry_after_s,
                queued=self._waiting,
            )

    def submit(self, create: Callable[[], TaskRecord]) -> TaskRecord:
        """Record a task with ``create`` and queue it, unless the queue is full (nothing is recorded then)."""
        with self._lock:
            self.check_capacity()
            record = create()
            self._waiting += 1
        self._queue.put(record.id)
        self.metrics.submitted()
        return record

    def cancel(self, task_id: str) -> CancelResult:
        """Cancel a queued task at once, or ask a running one to stop; a finished task is a 409."""
        record = self.store.get(task_id)
        if record.status == "queued" and self._finish(task_id, ("queued",), "cancelled", "cancelled before it started"):
            return CancelResult(id=task_id, status="cancelled", cancel_requested=False)
        with self._lock:  # a worker leaves _running under this lock before it writes task_finished
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
            task_id = self._queue.get()
            if task_id is None:
                return
            with self._lock:
                self._waiting -= 1
            if self._stopping.is_set():
                continue  # stays queued: the next server runs it
            try:
                self._run(task_id)
            except Exception:  # a bug in the relay itself: the task must still end
                logger.exception("task %s failed in the server", task_id)
                self._finish(
                    task_id,
                    ("running",),
                    "failed",
                    error={"code": "internal_error", "message": "the server failed running the task"},
                )

    def _run(self, task_id: str) -> None:
        with self._lock:
            if not self.store.transition(task_id, ("queued",), "running", started=time.time()):
                return  # cancelled while it waited
            self._running.add(task_id)
        try:
            self.store.add_event(task_id, "server", "task_started")
            record = self.store.get(task_id)
            status, message, error = self._drive(record)
        finally:
            with self._lock:
                self._running.discard(task_id)
        self._finish(task_id, ("running",), status, message, error=error)

    def _drive(self, record: TaskRecord) -> tuple[TaskStatus, str | None, dict[str, Any] | None]:
        """Run the agent, relaying its events; the final status, message and error."""
        resources = [Resource.model_validate(r) for r in record.resources]
        try:
            for event in self.agent.stream(record.request, resources=resources, run_id=record.id):
                self.store.add_event(record.id, event.stage, event.kind, event.data, event.time)
                if event.kind == "stage_started":  # the previous stage's checkpoint: plan, outcomes so far
                    self._save_result(record.id)
        except ToGError as exc:
            self._save_result(record.id)
            return "failed", exc.message, exc.to_dict()
        except Exception as exc:
            logger.exception("task %s failed", record.id)
            self._save_result(record.id)
            return (
                "failed",
                "the agent failed unexpectedly; the error is logged",
                {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}", "details": {}},
            )
        result = self._save_result(record.id)
        status: TaskStatus = result.get("status", "failed") if result else "failed"
        if status == "planned" or status not in FINAL_STATUSES:
            status = "failed"
        if status == "cancelled" and self._stopping.is_set():
            return "interrupted", SHUT_DOWN, None
        return status, None, None

    def _save_result(self, task_id: str) -> dict[str, Any] | None:
        try:
            result = self.agent.result(task_id).model_dump(mode="json")
        except ToGError:
            return None  # failed before the first checkpoint
        self.store.save_result(task_id, result)
        return result

    def _interrupt(self, task_id: str, message: str) -> None:
        self._save_result(task_id)
        self._finish(task_id, ("running",), "interrupted", message)

    def _finish(
        self,
        task_id: str,
        expected: tuple[str, ...],
        status: TaskStatus,
        message: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        if not self.store.transition(task_id, expected, status, finished=time.time(), message=message, error=error):
            return False
        self.store.add_event(task_id, "server", TASK_FINISHED, {"status": status, "message": message})
        self.metrics.finished(status)
        return True

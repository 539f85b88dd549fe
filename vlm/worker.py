"""A model host that owns one backend (one model on one device) and batches concurrent requests.

Callers submit requests from any thread; one worker thread collects them for up to ``max_wait_ms`` or
until ``max_batch_size`` are waiting, answers them with a single ``batch_chat`` call, and hands every
caller its own answer. The queue is bounded: when it is full, :meth:`ModelWorker.submit` raises
:class:`BackendOverloadedError` at once (backpressure) instead of letting latency grow without bound.

If a batch runs out of device memory it is split in halves and retried, down to single requests; if a
batch fails for another reason, its requests are answered one by one so that one bad request fails
alone. The worker holds no Ray state, so the execution engine can wrap it in a Ray actor unchanged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vlm.backends.base import ChatRequest, Turn, VLMBackend, make_request
from vlm.errors import BackendError, BackendOverloadedError

logger = logging.getLogger(__name__)


class WorkerConfig(BaseModel):
    """How a worker batches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_size: int = Field(default=8, ge=1, le=256)
    max_wait_ms: float = Field(default=5.0, ge=0.0, le=10_000.0)
    max_queue: int = Field(default=64, ge=1)


@dataclass(slots=True)
class _Job:
    request: ChatRequest
    future: Future[str] = field(default_factory=Future)


@dataclass(slots=True)
class WorkerStats:
    """Counters for monitoring and benchmarks."""

    requests: int = 0
    batches: int = 0
    largest_batch: int = 0
    oom_splits: int = 0
    rejected: int = 0


_STOP = object()


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception means the device ran out of memory (CUDA or otherwise)."""
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


class ModelWorker:
    """Batch concurrent chat requests onto one backend.

    >>> from vlm.backends.base import VLMBackend
    >>> class Echo(VLMBackend):
    ...     def batch_chat(self, requests): return [r.question.upper() for r in requests]
    ...     def stream(self, request): yield self.batch_chat([request])[0]
    >>> with ModelWorker(Echo()) as worker:
    ...     worker.chat([], "hello")
    'HELLO'
    """

    def __init__(self, backend: VLMBackend, config: WorkerConfig | None = None, **overrides: Any) -> None:
        base = config or WorkerConfig()
        self.config = WorkerConfig.model_validate({**base.model_dump(), **overrides}) if overrides else base
        self.backend = backend
        self.stats = WorkerStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.config.max_queue)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vlm-worker-{backend.name}", daemon=True)
        self._thread.start()

    # --- submitting -----------------------------------------------------------------------------

    def submit(self, request: ChatRequest) -> Future[str]:
        """Queue one request; the future resolves to its answer or raises its error."""
        if self._closed.is_set():
            raise BackendError("the model worker is closed", retryable=False)
        job = _Job(request)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.stats.rejected += 1
            raise BackendOverloadedError(
                f"model worker queue is full ({self.config.max_queue} waiting); try again shortly",
                queue_size=self.config.max_queue,
            ) from None
        return job.future

    def chat(
        self,
        images: Sequence[Any] | None,
        question: str,
        history: Sequence[Turn | tuple[str, str]] = (),
        timeout: float | None = None,
        **options: Any,
    ) -> str:
        """Blocking convenience: submit one request and wait for its answer."""
        return self.submit(make_request(images, question, history, **options)).result(timeout)

    def batch_chat(self, requests: Sequence[ChatRequest], timeout: float | None = None) -> list[str]:
        """Submit several requests at once (they may share batches with other callers)."""
        futures = [self.submit(r) for r in requests]
        return [f.result(timeout) for f in futures]

    # --- the worker thread ----------------------------------------------------------------------

    def _collect(self, first: _Job) -> list[_Job]:
        batch = [first]
        deadline = time.monotonic() + self.config.max_wait_ms / 1000
        while len(batch) < self.config.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # let the outer loop see it after this batch
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [job for job in self._collect(item) if job.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            self.stats.batches += 1
            self.stats.requests += len(batch)
            self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
            self._answer(batch)

    def _answer(self, batch: list[_Job]) -> None:
        try:
            answers = self.backend.batch_chat([job.request for job in batch])
            if len(answers) != len(batch):
                raise BackendError(f"backend returned {len(answers)} answers for {len(batch)} requests")
        except Exception as exc:
            if len(batch) > 1 and is_out_of_memory(exc):
                self.stats.oom_splits += 1
                logger.warning("out of memory on a batch of %d; splitting it", len(batch))
                middle = len(batch) // 2
                self._answer(batch[:middle])
                self._answer(batch[middle:])
            elif len(batch) > 1:
                for job in batch:  # find which request failed; the others still get answers
                    self._answer([job])
            else:
                batch[0].future.set_exception(_as_backend_error(exc))
            return
        for job, answer in zip(batch, answers):
            job.future.set_result(answer)

    # --- lifecycle ------------------------------------------------------------------------------

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish queued requests, stop the thread, and close the backend."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self.backend.close()

    def __enter__(self) -> ModelWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_backend_error(exc: BaseException) -> BaseException:
    """Typed errors pass through; anything unexpected becomes a non-retryable BackendError."""
    from graph.errors import ToGError

    if isinstance(exc, ToGError):
        return exc
    if is_out_of_memory(exc):
        return BackendError(f"out of memory even for a single request: {exc}", retryable=False)
    error = BackendError(f"{type(exc).__name__}: {exc}", retryable=False)
    error.__cause__ = exc
    return error

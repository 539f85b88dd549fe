from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from vlm.backends.base import ChatRequest, VLMBackend
from vlm.errors import BackendError, BackendOverloadedError, ImageInputError
from vlm.worker import ModelWorker


class Scripted(VLMBackend):
    """Answers 'answer:<question>' after a fixed per-call delay; records the batches it saw."""

    name = "scripted"

    def __init__(self, delay: float = 0.01, oom_above: int | None = None, bad: str | None = None) -> None:
        self.delay = delay
        self.oom_above = oom_above
        self.bad = bad
        self.batches: list[list[str]] = []
        self.answered: list[list[str]] = []
        self.lock = threading.Lock()
        self.closed = False

    def batch_chat(self, requests):
        questions = [r.question for r in requests]
        with self.lock:
            self.batches.append(questions)
        if self.oom_above is not None and len(requests) > self.oom_above:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.bad is not None and self.bad in questions:
            raise ImageInputError(f"cannot read the image of {self.bad!r}")
        time.sleep(self.delay)
        with self.lock:
            self.answered.append(questions)
        return [f"answer:{q}" for q in questions]

    def stream(self, request):
        yield from self.batch_chat([request])

    def close(self):
        self.closed = True


def ask_concurrently(worker: ModelWorker, questions: list[str]) -> list[str]:
    with ThreadPoolExecutor(len(questions)) as pool:
        return list(pool.map(lambda q: worker.chat([], q, timeout=10), questions))


def test_each_caller_gets_its_own_answer_under_concurrency():
    backend = Scripted(delay=0.02)
    questions = [f"q{i}" for i in range(24)]
    with ModelWorker(backend, max_batch_size=8, max_wait_ms=20) as worker:
        answers = ask_concurrently(worker, questions)
    assert answers == [f"answer:{q}" for q in questions]
    assert max(len(b) for b in backend.batches) > 1  # requests were really batched
    assert all(len(b) <= 8 for b in backend.batches)
    assert sum(len(b) for b in backend.batches) == 24


def test_batch_chat_keeps_order():
    with ModelWorker(Scripted(), max_batch_size=4) as worker:
        requests = [ChatRequest(question=f"x{i}") for i in range(10)]
        assert worker.batch_chat(requests, timeout=10) == [f"answer:x{i}" for i in range(10)]


def test_out_of_memory_splits_the_batch_until_it_fits():
    backend = Scripted(delay=0.0, oom_above=2)
    with ModelWorker(backend, max_batch_size=8, max_wait_ms=50) as worker:
        answers = worker.batch_chat([ChatRequest(question=f"q{i}") for i in range(8)], timeout=10)
        assert answers == [f"answer:q{i}" for i in range(8)]
        assert worker.stats.oom_splits >= 1
    assert any(len(b) > 2 for b in backend.batches)  # a too-large batch was tried and split
    assert all(len(b) <= 2 for b in backend.answered)


def test_one_bad_request_fails_alone():
    backend = Scripted(delay=0.0, bad="q3")
    with ModelWorker(backend, max_batch_size=8, max_wait_ms=50) as worker:
        futures = [worker.submit(ChatRequest(question=f"q{i}")) for i in range(6)]
        for i, future in enumerate(futures):
            if i == 3:
                with pytest.raises(ImageInputError, match="q3"):
                    future.result(10)
            else:
                assert future.result(10) == f"answer:q{i}"


def test_unexpected_errors_become_backend_errors():
    class Broken(Scripted):
        def batch_chat(self, requests):
            raise ZeroDivisionError("boom")

    with ModelWorker(Broken()) as worker, pytest.raises(BackendError, match="ZeroDivisionError: boom") as info:
        worker.chat([], "x", timeout=10)
    assert info.value.retryable is False


def test_full_queue_pushes_back_at_once():
    gate = threading.Event()

    class Slow(Scripted):
        def batch_chat(self, requests):
            gate.wait(10)
            return super().batch_chat(requests)

    worker = ModelWorker(Slow(delay=0.0), max_batch_size=1, max_queue=2, max_wait_ms=0)
    try:
        first = worker.submit(ChatRequest(question="running"))
        time.sleep(0.05)  # the worker thread now holds "running"
        queued = [worker.submit(ChatRequest(question=f"w{i}")) for i in range(2)]
        with pytest.raises(BackendOverloadedError) as info:
            worker.submit(ChatRequest(question="one too many"))
        assert info.value.retryable is True
        assert worker.stats.rejected == 1
    finally:
        gate.set()
        worker.close()
    assert first.result(5) == "answer:running"
    assert [f.result(5) for f in queued] == ["answer:w0", "answer:w1"]


def test_close_finishes_queued_work_and_closes_the_backend():
    backend = Scripted(delay=0.01)
    worker = ModelWorker(backend, max_batch_size=2)
    futures = [worker.submit(ChatRequest(question=f"q{i}")) for i in range(5)]
    worker.close()
    assert [f.result(1) for f in futures] == [f"answer:q{i}" for i in range(5)]
    assert backend.closed
    with pytest.raises(BackendError, match="closed"):
        worker.submit(ChatRequest(question="late"))

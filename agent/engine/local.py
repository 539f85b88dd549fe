"""Run tool calls on local threads: CPU tools side by side, GPU-hinted tools one per device.

Threads cannot be killed, so a call that times out is *abandoned*: its report is dropped and a fresh
thread takes its place, keeping the pool at full strength while the stuck one finishes on its own
(worker threads are daemons, so a hung tool never blocks interpreter exit).

    >>> from tools.base import tool
    >>> @tool
    ... def shout(text: str) -> str:
    ...     "Upper-case a text."
    ...     return text.upper()
    >>> backend = LocalBackend()
    >>> backend.start({"shout": shout})
    >>> backend.slot(shout)
    ('cpu', 8)
    >>> backend.close()
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from agent.engine.backend import ActionCall, CallTable, ExecutionBackend, Produced, Report, Value, invoke
from agent.engine.config import EngineConfig
from graph.spec import Device
from tools.base import Tool
from tools.devices import use_device

_QUEUED = "queued"


class _Worker:
    def __init__(self, pool: _ThreadPool, index: int) -> None:
        self.retired = False
        self.thread = threading.Thread(target=pool._loop, args=(self,), name=f"tog-local-{index}", daemon=True)


class _ThreadPool:
    """A fixed number of daemon threads; an abandoned one is replaced, not waited for."""

    def __init__(self, size: int) -> None:
        self._jobs: queue.SimpleQueue[Callable[[_Worker], None] | None] = queue.SimpleQueue()
        self._count = 0
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            self._count += 1
            worker = _Worker(self, self._count)
            self._workers.add(worker)
        worker.thread.start()

    def _loop(self, worker: _Worker) -> None:
        while not worker.retired:
            job = self._jobs.get()
            if job is None:
                break
            job(worker)
        with self._lock:
            self._workers.discard(worker)

    def submit(self, job: Callable[[_Worker], None]) -> None:
        self._jobs.put(job)

    def abandon(self, worker: _Worker) -> None:
        """``worker`` is stuck in a call nobody waits for: let it exit when done and start a replacement."""
        if not worker.retired:
            worker.retired = True
            self._spawn()

    def close(self) -> None:
        with self._lock:
            alive = [w for w in self._workers if not w.retired]
        for _ in alive:
            self._jobs.put(None)


class LocalBackend(ExecutionBackend):
    """Thread-pool backend. GPU-hinted tools share one slot per device unless they declare batching.

    A tool declares batching with a class attribute ``batching = N`` (it coalesces up to N concurrent
    calls itself, like the vlm worker); then N of its calls may run at once on one device.
    """

    name = "local"

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self._pool: _ThreadPool | None = None
        self._calls = CallTable()
        self._devices: list[str] = list(self.config.devices)
        self._device_load: dict[str, int] = {}
        self._device_lock = threading.Lock()
        self._tools: dict[str, Tool] = {}

    def start(self, tools: Mapping[str, Tool]) -> None:
        self._tools.update(tools)
        if self._pool is None:
            self._pool = _ThreadPool(self.config.max_workers)
        if not self._devices and any(t.spec.device == Device.GPU for t in tools.values()):
            self._devices = _cuda_devices()
        for device in self._devices:
            self._device_load.setdefault(device, 0)

    @property
    def devices(self) -> list[str]:
        return list(self._devices) or ["cpu"]

    def slot(self, tool: Tool) -> tuple[str, int]:
        batching = int(getattr(tool, "batching", 0) or 0)
        if tool.spec.device == Device.GPU:
            if batching > 1:
                return f"batch:{tool.spec.name}", batching * len(self.devices)
            return "gpu", len(self.devices)
        return "cpu", self.config.max_workers

    def submit(self, call: ActionCall, report: Report) -> None:
        if self._pool is None:
            raise RuntimeError("LocalBackend.start() was not called")
        tool = self._tools[call.tool]
        arguments = {name: _resolve(b) for name, b in call.args.items()}
        gpu = tool.spec.device == Device.GPU
        self._calls.add(call.call_id, _QUEUED)

        def job(worker: _Worker) -> None:
            if not self._calls.replace(call.call_id, worker):
                return  # cancelled before it started
            device = self._take_device() if gpu else "cpu"
            try:
                with use_device(device):
                    outcome, outputs = invoke(tool, arguments, call.call_id, f"{worker.thread.name}@{device}")
            finally:
                if gpu:
                    self._give_device(device)
            outcome.handle = outputs
            live, _ = self._calls.pop(call.call_id)
            if live:
                report(outcome)

        self._pool.submit(job)

    def cancel(self, call_id: str) -> None:
        live, worker = self._calls.pop(call_id)
        if live and isinstance(worker, _Worker) and self._pool is not None:
            self._pool.abandon(worker)

    def fetch(self, handle: Any, name: str) -> Any:
        return handle[name]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # --- devices --------------------------------------------------------------------------------------

    def _take_device(self) -> str:
        with self._device_lock:
            if not self._device_load:
                return "cpu"
            device = min(self._device_load, key=lambda d: (self._device_load[d], self._devices.index(d)))
            self._device_load[device] += 1
            return device

    def _give_device(self, device: str) -> None:
        with self._device_lock:
            if device in self._device_load:
                self._device_load[device] -= 1


def _resolve(binding: Produced | Value) -> Any:
    return binding.handle[binding.name] if isinstance(binding, Produced) else binding.value


def _cuda_devices() -> list[str]:
    try:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except Exception:  # no torch or a broken CUDA: GPU-hinted tools run on the CPU
        return []

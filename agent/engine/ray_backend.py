"""Run tool calls on a Ray cluster: GPU-hinted tools on actor pools, one per tool family; the rest as tasks.

* **GPU tools** run on Ray actors holding ``num_gpus`` (a share: 0.5 puts two actors on a GPU) and an
  explicit ``num_cpus``. Tools of one *family* (``tool.family``, default the tool's name) share a pool, so
  one loaded model serves all of them. An actor runs one call at a time and keeps the tools it served
  (their ``setup`` runs once per actor). Ray sets each actor's ``CUDA_VISIBLE_DEVICES``, so inside it
  the tool's device is ``cuda:0``. A pool grows on demand up to its size (``workers``, else as many as
  the cluster's GPUs allow at that share) and gives idle actors back when another family needs the
  room, so two families on a small cluster take turns instead of one starving the other. The backend
  counts only its own actors against the cluster's resources, and leaves one task's CPUs to tasks.
* **CPU tools** run as Ray tasks of ``cpus_per_task`` CPUs (worker processes keep unpickled tools too).
* **Values stay in the Ray object store.** A call returns two objects: a small status record (read here
  to report the outcome) and its outputs dict, whose ref is the call's handle. A later call gets that ref
  as a top-level argument, so Ray moves the value straight to the worker that needs it, node to node,
  never through the driver; the driver reads a value only when a result asks for it (:meth:`fetch`).
  The object store, not the shared artifact store, because it needs no filesystem shared by the nodes
  and works on any cluster Ray can join; the agent still persists final outputs in its artifact store.
* Completion is pushed, never polled: each status ref's future hands its result to one completion
  thread, which frees the actor, then reports. A timed-out task is force-cancelled; a timed-out actor
  call kills its actor (a hung model must not keep its GPU) and a fresh actor takes its place. An actor
  or worker that dies mid-call is replaced and the call reported as ``worker_lost`` (infrastructure, not
  the tool), so the scheduler runs it again elsewhere without counting an attempt.

With no ``address`` a local cluster is started (and shut down by :meth:`RayBackend.close`), and its task
workers are started before the first run; with one, or when Ray is already initialised in this
process, that cluster is used and left running (close() then only kills this backend's actors).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import exceptions as ray_errors
from ray.actor import ActorHandle

from agent.engine.backend import ActionCall, CallTable, ExecutionBackend, Failure, Outcome, Produced, Report, invoke
from agent.engine.config import EngineConfig
from agent.engine.errors import BackendUnavailableError
from graph.spec import Device
from tools.base import Tool
from tools.devices import use_device

log = logging.getLogger(__name__)

#: Object store of a locally started cluster: values are images and texts, not datasets.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
#: How long each warm-up task holds its worker, so the warm-up tasks land on distinct workers.
_WARM_HOLD_S = 0.5
#: The longest a freshly started cluster's first start() waits for its task workers.
WARM_UP_TIMEOUT_S = 60.0
#: Errors that mean the process running a call went away: the call is not at fault.
_LOST = (
    ray_errors.RayActorError,
    ray_errors.WorkerCrashedError,
    ray_errors.NodeDiedError,
    ray_errors.LocalRayletDiedError,
    ray_errors.OutOfMemoryError,
)
_EPS = 1e-9

# --- inside Ray workers ---------------------------------------------------------------------------------

#: (argument name, index into the upstream refs, output name): how a call's outputs feed the next call.
Wiring = tuple[tuple[str, int, str], ...]


@dataclass(frozen=True)
class _ToolBox:
    """A tool as calls carry it: its object-store ref inside a plain object, so Ray does not resolve
    (and unpickle) it on every call; the worker's :class:`_ToolCache` does, once."""

    name: str
    ref: ray.ObjectRef[Any]


class _ToolCache:
    """The unpickled tools of one worker process, one instance per tool name (a newer object replaces
    an older one), so a tool's ``setup`` (a model load) runs once per worker, not once per call."""

    def __init__(self) -> None:
        self._tools: dict[str, tuple[str, Tool]] = {}

    def get(self, box: _ToolBox) -> Tool:
        key = box.ref.hex()
        held = self._tools.get(box.name)
        if held is None or held[0] != key:
            held = self._tools[box.name] = (key, ray.get(box.ref))
        return held[1]


_TASK_TOOLS = _ToolCache()


def _execute(
    cache: _ToolCache,
    box: _ToolBox,
    call_id: str,
    worker: str,
    device: str,
    literals: dict[str, Any],
    wiring: Wiring,
    upstream: tuple[dict[str, Any], ...],
) -> tuple[Outcome, dict[str, Any] | None]:
    """Resolve the call's arguments here, in the worker, and run the tool; failures become records."""
    try:
        tool = cache.get(box)
        arguments = dict(literals)
        for name, index, output in wiring:
            arguments[name] = upstream[index][output]
    except Exception as exc:  # an input that cannot be read here is this call's failure, not the worker's
        now = time.time()
        return Outcome(
            call_id, False, failure=Failure.from_exception(exc), started_at=now, ended_at=now, worker=worker
        ), None
    with use_device(device):
        return invoke(tool, arguments, call_id, worker)


@ray.remote(num_returns=2, max_retries=0)
def _run_task(
    box: _ToolBox, call_id: str, literals: dict[str, Any], wiring: Wiring, *upstream: dict[str, Any]
) -> tuple[Outcome, dict[str, Any] | None]:
    return _execute(_TASK_TOOLS, box, call_id, f"ray-task@{os.getpid()}", "cpu", literals, wiring, upstream)


@ray.remote(max_retries=0)
def _warm(boxes: list[_ToolBox], hold_s: float) -> int:
    for box in boxes:
        _TASK_TOOLS.get(box)
    time.sleep(hold_s)
    return os.getpid()


class _GpuWorker:
    """Body of a pool actor: one call at a time on the GPU (share) Ray gave it."""

    def __init__(self, name: str) -> None:
        self.name = f"{name}@{os.getpid()}"
        # Ray narrows CUDA_VISIBLE_DEVICES to the assigned GPU(s), so the first visible one is ours.
        self.device = "cuda:0" if ray.get_gpu_ids() else "cpu"
        self.tools = _ToolCache()

    @ray.method(num_returns=2)
    def run(
        self, box: _ToolBox, call_id: str, literals: dict[str, Any], wiring: Wiring, *upstream: dict[str, Any]
    ) -> tuple[Outcome, dict[str, Any] | None]:
        return _execute(self.tools, box, call_id, self.name, self.device, literals, wiring, upstream)

    def ping(self) -> str:
        return self.name


_GpuActor = ray.remote(_GpuWorker)

# --- in the driver --------------------------------------------------------------------------------------


@dataclass(eq=False)
class RayWorker:
    """One actor of a family's pool as the backend tracks it; ``calls`` are those sent to it, not done."""

    family: str
    name: str
    handle: ActorHandle[Any]
    demand: dict[str, float]
    calls: set[str] = field(default_factory=set)
    alive: bool = True


@dataclass(eq=False)
class _Job:
    call: ActionCall
    report: Report
    family: str | None
    payload: tuple[Any, ...]
    worker: RayWorker | None = None
    status: ray.ObjectRef[Any] | None = None
    outputs: ray.ObjectRef[Any] | None = None


class _Budget:
    """Cluster resources this backend's actors hold, so pools never ask Ray for more than exists."""

    def __init__(self) -> None:
        self.capacity: dict[str, float] = {}
        self.used: collections.Counter[str] = collections.Counter()

    def fits(self, demand: Mapping[str, float], freed: Mapping[str, float] | None = None) -> bool:
        freed = freed or {}
        return all(
            self.used[r] - freed.get(r, 0.0) + a <= self.capacity.get(r, 0.0) + _EPS for r, a in demand.items() if a > 0
        )

    def take(self, demand: Mapping[str, float]) -> None:
        self.used.update(demand)

    def give(self, demand: Mapping[str, float]) -> None:
        self.used.subtract(demand)


class RayBackend(ExecutionBackend):
    """Ray backend: GPU tools on per-family actor pools, CPU tools as tasks, values in the object store."""

    name = "ray"

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig(backend="ray")
        self._lock = threading.RLock()
        self._calls = CallTable()
        self._tools: dict[str, Tool] = {}
        self._boxes: dict[str, tuple[Tool, _ToolBox]] = {}
        self._pools: dict[str, list[RayWorker]] = {}
        self._waiting: dict[str, collections.deque[_Job]] = collections.defaultdict(collections.deque)
        self._budget = _Budget()
        self._numbers = itertools.count()
        self._done: queue.SimpleQueue[tuple[_Job, Future[Any]] | None] = queue.SimpleQueue()
        self._completer: threading.Thread | None = None
        self._connected = False
        self._owns_cluster = False

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self, tools: Mapping[str, Tool]) -> None:
        with self._lock:
            fresh = not self._connected
            if fresh:
                self._connect()
            self._measure_cluster()
            for name, tool in tools.items():
                self._tools[name] = tool
                if name not in self._boxes or self._boxes[name][0] is not tool:
                    self._boxes[name] = (tool, _ToolBox(name, ray.put(tool)))  # once, not once per call
            if self._completer is None:
                self._completer = threading.Thread(target=self._complete_loop, name="tog-ray-done", daemon=True)
                self._completer.start()
        if fresh and self._owns_cluster:
            self._warm_up([self._boxes[n][1] for n, t in tools.items() if t.spec.device != Device.GPU])

    @property
    def started_cluster(self) -> bool:
        """Whether this backend started the cluster it uses (and so shuts it down in :meth:`close`)."""
        return self._owns_cluster

    def _connect(self) -> None:
        settings = self.config.ray
        if ray.is_initialized():
            self._owns_cluster = False
        else:
            common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
            try:
                if settings.address:
                    ray.init(address=settings.address, **common)
                else:
                    ray.init(
                        num_cpus=settings.num_cpus,
                        num_gpus=settings.num_gpus,
                        include_dashboard=False,
                        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                        **common,
                    )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BackendUnavailableError(
                    f"cannot start or join a Ray cluster: {exc}", address=settings.address
                ) from exc
            self._owns_cluster = settings.address is None
        self._connected = True

    def _measure_cluster(self) -> None:
        # ray.cluster_resources is unannotated.
        total = {k: float(v) for k, v in ray.cluster_resources().items()}  # type: ignore[no-untyped-call]
        # Actors never take the CPUs of the last task slot: CPU tools must always be able to run.
        reserve = self.config.ray.cpus_per_task
        total["CPU"] = max(total.get("CPU", 0.0) - reserve, self.config.ray.cpus_per_actor)
        self._budget.capacity = total

    def _warm_up(self, boxes: list[_ToolBox]) -> None:
        """Start one task worker per CPU slot, with these tools loaded, before the first run: on a fresh
        cluster the first wave of parallel CPU calls would otherwise wait seconds for worker processes
        to start and import, one or two at a time. Bounded by :data:`WARM_UP_TIMEOUT_S`."""
        options = _warm.options(num_cpus=self.config.ray.cpus_per_task)
        slots = self._cpu_slots()
        deadline = time.monotonic() + WARM_UP_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:  # until one wave ran on `slots` workers at once
            wave = [options.remote(boxes, _WARM_HOLD_S) for _ in range(slots)]
            done, _ = ray.wait(wave, num_returns=slots, timeout=left)
            if len(done) < slots or len(set(ray.get(done))) == slots:
                return

    def close(self) -> None:
        with self._lock:
            for pool in list(self._pools.values()):
                for worker in list(pool):
                    self._retire(worker)
            self._pools.clear()
            self._waiting.clear()
            self._boxes.clear()
            completer, self._completer = self._completer, None
        if completer is not None:
            self._done.put(None)
            completer.join(timeout=5)
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()
        self._connected = self._owns_cluster = False

    # --- the interface --------------------------------------------------------------------------------

    def slot(self, tool: Tool) -> tuple[str, int]:
        if tool.spec.device == Device.GPU:
            family = self.family(tool)
            return f"ray:{family}", self._pool_size(family)
        return "ray:cpu", self._cpu_slots()

    def submit(self, call: ActionCall, report: Report) -> None:
        if not self._connected:
            raise RuntimeError("RayBackend.start() was not called")
        tool = self._tools[call.tool]
        literals: dict[str, Any] = {}
        wiring: list[tuple[str, int, str]] = []
        upstream: dict[ray.ObjectRef[Any], int] = {}
        for name, binding in call.args.items():
            if isinstance(binding, Produced):
                index = upstream.setdefault(binding.handle, len(upstream))
                wiring.append((name, index, binding.name))
            else:
                literals[name] = binding.value
        payload = (self._boxes[call.tool][1], call.call_id, literals, tuple(wiring), *upstream)
        family = self.family(tool) if tool.spec.device == Device.GPU else None
        job = _Job(call, report, family, payload)
        if family is not None:
            self._check_fits(family)
        self._calls.add(call.call_id, job)  # before Ray can complete it
        try:
            if family is None:
                job.status, job.outputs = _run_task.options(num_cpus=self.config.ray.cpus_per_task).remote(*payload)
                self._watch(job)
            else:
                with self._lock:
                    self._place(job)
        except BaseException:
            self._calls.pop(call.call_id)  # the scheduler records the failure; nothing will report
            raise

    def cancel(self, call_id: str) -> None:
        live, job = self._calls.pop(call_id)
        if not live:
            return
        if job.family is None:
            assert job.status is not None  # a task is sent by submit itself
            try:
                ray.cancel(job.status, force=True)
            except ray_errors.RayError as exc:  # it ended meanwhile
                log.debug("cancel of %s: %s", call_id, exc)
            return
        with self._lock:
            worker = job.worker
            if worker is None:
                waiting = self._waiting[job.family]
                if job in waiting:
                    waiting.remove(job)
            elif worker.alive:
                log.info("killing %s: call %s was cancelled while it ran", worker.name, call_id)
                self._replace(worker)

    def fetch(self, handle: Any, name: str) -> Any:
        return ray.get(handle)[name]

    # --- pools ----------------------------------------------------------------------------------------

    @staticmethod
    def family(tool: Tool) -> str:
        """The pool a GPU tool runs in: its ``family`` attribute, or its own name."""
        return str(getattr(tool, "family", None) or tool.spec.name)

    def actors(self, family: str) -> list[RayWorker]:
        """The live actors of ``family``'s pool (a snapshot)."""
        with self._lock:
            return [w for w in self._pools.get(family, []) if w.alive]

    def release_idle(self) -> int:
        """Kill every actor with no call, freeing its GPU share (for other clients of the cluster)."""
        with self._lock:
            idle = [w for pool in self._pools.values() for w in pool if not w.calls]
            for worker in idle:
                self._retire(worker)
            return len(idle)

    def _cpu_slots(self) -> int:
        settings = self.config.ray
        free = self._budget.capacity.get("CPU", 0.0) + settings.cpus_per_task - self._budget.used["CPU"]
        return max(1, int(free / settings.cpus_per_task + _EPS))

    def _demand(self, family: str) -> dict[str, float]:
        settings = self.config.ray
        has_gpus = self._budget.capacity.get("GPU", 0.0) > 0
        demand = {"CPU": settings.cpus_per_actor, "GPU": settings.gpus_per_worker.get(family, 1.0) if has_gpus else 0.0}
        demand.update(settings.placement.get(family, {}))
        return demand

    def _pool_size(self, family: str) -> int:
        if family in self.config.ray.workers:
            return self.config.ray.workers[family]
        limits = [
            self._budget.capacity.get(r, 0.0) / a for r, a in self._demand(family).items() if r != "CPU" and a > 0
        ]
        return max(1, int(min(limits) + _EPS)) if limits else 1

    def _check_fits(self, family: str) -> None:
        demand = self._demand(family)
        missing = {r: a for r, a in demand.items() if a > self._budget.capacity.get(r, 0.0) + _EPS}
        if missing:
            raise BackendUnavailableError(
                f"the Ray cluster cannot hold a {family!r} actor: it needs "
                f"{missing}, the cluster has {self._budget.capacity}",
                family=family,
            )

    def _place(self, job: _Job) -> None:
        """Send ``job`` to an actor of its family, or keep it until one can be had (lock held)."""
        assert job.family is not None
        worker = self._pick(job.family)
        if worker is None:
            self._waiting[job.family].append(job)
        else:
            self._send(worker, job)

    def _pick(self, family: str) -> RayWorker | None:
        """An idle actor, else a new one, else (pool at full size) the least busy one; None: wait for room.

        A call waits here rather than queue behind a busy actor while the pool could still grow: it takes
        the next actor to finish anywhere (one of another family is retired to make room).
        """
        pool = self._pools.setdefault(family, [])
        idle = [w for w in pool if not w.calls]
        if idle:
            return idle[0]
        grown = self._grow(family)
        if grown is not None:
            return grown
        if pool and len(pool) >= self._pool_size(family):
            return min(pool, key=lambda w: len(w.calls))
        return None

    def _grow(self, family: str, evict: bool = True) -> RayWorker | None:
        pool = self._pools.setdefault(family, [])
        if len(pool) >= self._pool_size(family):
            return None
        demand = self._demand(family)
        if not self._budget.fits(demand) and evict:
            self._make_room(family, demand)
        if not self._budget.fits(demand):
            return None
        self._budget.take(demand)
        name = f"{family}-actor-{next(self._numbers)}"
        custom = {r: a for r, a in demand.items() if r not in ("CPU", "GPU")}
        handle = _GpuActor.options(
            num_gpus=demand["GPU"], num_cpus=demand["CPU"], resources=custom or None, max_restarts=0, max_task_retries=0
        ).remote(name)
        # ray types .remote() as ActorHandle[T] | type[T] (its ActorProxy, for editors); it returns the handle.
        worker = RayWorker(family, name, handle, demand)  # type: ignore[arg-type]
        pool.append(worker)
        return worker

    def _make_room(self, family: str, demand: dict[str, float]) -> None:
        """Retire idle actors of other families until ``demand`` fits; none if it would not fit anyway."""
        idle = [w for f, pool in self._pools.items() if f != family for w in pool if not w.calls]
        freed: collections.Counter[str] = collections.Counter()
        victims = []
        for worker in idle:
            if self._budget.fits(demand, freed):
                break
            victims.append(worker)
            freed.update(worker.demand)
        if self._budget.fits(demand, freed):
            for worker in victims:
                log.info("retiring idle %s to make room for %s", worker.name, family)
                self._retire(worker)

    def _send(self, worker: RayWorker, job: _Job) -> None:
        worker.calls.add(job.call.call_id)
        job.worker = worker
        job.status, job.outputs = worker.handle.run.remote(*job.payload)
        self._watch(job)

    def _retire(self, worker: RayWorker) -> None:
        if not worker.alive:
            return
        worker.alive = False
        self._pools[worker.family].remove(worker)
        self._budget.give(worker.demand)
        try:
            ray.kill(worker.handle)
        except ray_errors.RayError as exc:  # already gone
            log.debug("kill of %s: %s", worker.name, exc)

    def _replace(self, worker: RayWorker) -> None:
        """Kill ``worker`` (its other calls fail as worker_lost and are retried) and start a fresh one."""
        self._retire(worker)
        self._grow(worker.family, evict=False)
        self._serve_waiting()

    def _serve_waiting(self) -> None:
        for family, jobs in self._waiting.items():
            while jobs:
                job = jobs[0]
                if not self._calls.replace(job.call.call_id, job):  # cancelled while it waited
                    jobs.popleft()
                    continue
                worker = self._pick(family)
                if worker is None:
                    break
                jobs.popleft()
                self._send(worker, job)

    # --- completion -----------------------------------------------------------------------------------

    def _watch(self, job: _Job) -> None:
        assert job.status is not None
        job.status.future().add_done_callback(lambda future: self._done.put((job, future)))

    def _complete_loop(self) -> None:
        """Ray calls future callbacks on its own threads: the work (Ray calls, reports) is done here."""
        while True:
            item = self._done.get()
            if item is None:
                return
            try:
                self._complete(*item)
            except Exception:  # never let one bad completion stop every later report
                log.exception("completing call %s failed", item[0].call.call_id)

    def _complete(self, job: _Job, future: Future[Any]) -> None:
        call_id = job.call.call_id
        lost = False
        try:
            outcome: Outcome = future.result()
        except _LOST as exc:
            lost = True
            now = time.time()
            where = job.worker.name if job.worker else "ray-task"
            outcome = Outcome(
                call_id,
                False,
                started_at=now,
                ended_at=now,
                worker=where,
                transient_infra=True,
                failure=Failure(
                    kind="worker_lost",
                    type=type(exc).__name__,
                    retryable=True,
                    message=f"the Ray worker running {job.call.tool!r} died: {exc}",
                ),
            )
        except ray_errors.RayError as exc:
            now = time.time()
            outcome = Outcome(
                call_id,
                False,
                failure=Failure.from_exception(exc),
                started_at=now,
                ended_at=now,
                worker=job.worker.name if job.worker else "ray-task",
            )
        if job.worker is not None:
            with self._lock:
                job.worker.calls.discard(call_id)
                if lost and job.worker.alive:
                    log.warning("%s died running %s; replacing it", job.worker.name, call_id)
                    self._replace(job.worker)
                else:
                    self._serve_waiting()
        live, _ = self._calls.pop(call_id)
        if live:
            if outcome.ok:
                outcome.handle = job.outputs
            job.report(outcome)

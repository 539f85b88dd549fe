"""What only the Ray backend does: actors on logical GPUs, fractional shares, dead actors replaced,
values in the object store, joining a running cluster. Uses the session's one cluster (conftest)."""

from __future__ import annotations

import json
import os
import queue
import time
from collections import Counter, defaultdict

import pytest

ray = pytest.importorskip("ray")

from agent.engine import Engine, EngineConfig, EventKind, RayConfig, RunStatus, SubtaskStatus  # noqa: E402
from agent.engine.backend import ActionCall, Outcome, Produced, Value  # noqa: E402
from agent.engine.testing import TOOLS, plan, registry, solution, step, subtask  # noqa: E402

TOOLS_BY_NAME = {t.spec.name: t for t in TOOLS}


@pytest.fixture
def gpus(ray_backend) -> int:
    """The session cluster's logical GPUs (connecting it if no test has yet)."""
    ray_backend.start({})
    return int(ray.cluster_resources()["GPU"])


def engine_on(backend) -> Engine:
    return Engine(registry(), EngineConfig(retry_backoff_s=0.01), backend=backend)


def parallel(tool: str | list[str], n: int, seconds: float):
    """n independent calls of (text, seconds) tools, each with its own text so none is deduplicated."""
    tools = [tool] * n if isinstance(tool, str) else tool
    p = plan(*[subtask(i, f"{t} {i}", ("text", str(i)), ("number", seconds)) for i, t in enumerate(tools)])
    sols = {i: [solution(i, step("a0", t, text="input:0", seconds="input:1"))] for i, t in enumerate(tools)}
    return p, sols


def reports(result, n: int) -> list[dict]:
    return [json.loads(result.outputs(i)[0]) for i in range(n)]


def most_at_once(spans: list[tuple[float, float]]) -> int:
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


def dies(worker, timeout: float = 30.0) -> bool:
    """Whether the actor is (soon) gone: a kill takes effect asynchronously, so a call sent just after
    it may still be answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.get(worker.handle.ping.remote(), timeout=timeout)
        except ray.exceptions.RayActorError:
            return True
        time.sleep(0.05)
    return False


def test_gpu_actors_get_distinct_cuda_visible_devices(ray_backend, gpus):
    result = engine_on(ray_backend).run(*parallel("where_am_i", 8, 0.3))
    assert result.status is RunStatus.SUCCEEDED
    seen = defaultdict(set)
    for report in reports(result, 8):
        seen[report["pid"]].add(report["cuda_visible_devices"])
        assert report["device"] == "cuda:0"  # Ray narrowed the actor to its GPU: the first visible one
    assert len(seen) == gpus  # one actor per logical GPU, all of them used
    assert all(len(values) == 1 for values in seen.values())
    devices = sorted(next(iter(values)) for values in seen.values())
    assert devices == [str(i) for i in range(gpus)]  # a single, distinct GPU id each
    assert os.getpid() not in seen
    names = {w.name for w in ray_backend.actors("where_am_i")}
    workers = {a.worker for a in result.actions}
    assert {w.split("@")[0] for w in workers} <= names
    assert {int(w.split("@")[1]) for w in workers} == set(seen)


def test_an_actor_killed_mid_action_is_replaced_and_the_call_retried(ray_backend):
    engine = engine_on(ray_backend)
    assert engine.run(*parallel("gpu_wait", 1, 0.0)).status is RunStatus.SUCCEEDED  # an actor is up and warm
    p = plan(subtask(0, "long", ("text", "x"), ("number", 2.0)))
    handle = engine.submit(p, {0: [solution(0, step("a0", "gpu_wait", text="input:0", seconds="input:1"))]})
    next(e for e in handle.events(timeout=30) if e.kind is EventKind.ACTION_STARTED)
    victim = wait_for(lambda: next((w for w in ray_backend.actors("gpu_wait") if w.calls), None))
    time.sleep(0.5)  # the call is running in the actor now
    ray.kill(victim.handle)
    result = handle.result(timeout=60)
    assert result.status is RunStatus.SUCCEEDED and result.outputs(0) == ["x!"]
    retried = [e for e in result.events if e.kind is EventKind.ACTION_RETRIED]
    assert len(retried) == 1 and retried[0].error["kind"] == "worker_lost"
    finished = [e for e in result.events if e.kind is EventKind.ACTION_FINISHED]
    assert len(finished) == 1 and not finished[0].worker.startswith(victim.name + "@")
    assert finished[0].attempt == 1  # a lost worker is not the tool's attempt
    pool = ray_backend.actors("gpu_wait")
    assert victim not in pool and pool
    assert all(
        name.startswith("gpu_wait-actor-") for name in ray.get([w.handle.ping.remote() for w in pool], timeout=30)
    )


def test_a_timed_out_gpu_call_kills_its_actor_and_a_fresh_one_takes_its_place(ray_backend):
    ray_backend.release_idle()  # the hung call gets the family's only actor
    engine = Engine(
        registry(), EngineConfig(tool_timeouts={"gpu_wait": 1.0}, retry_backoff_s=0.01), backend=ray_backend
    )
    p = plan(subtask(0, "hangs on the GPU", ("text", "x"), ("number", 60)))
    sols = {
        0: [
            solution(0, step("a0", "gpu_wait", text="input:0", seconds="input:1")),
            solution(0, step("a0", "append", text="input:0")),
        ]
    }
    handle = engine.submit(p, sols)
    hung = wait_for(lambda: next((w for w in ray_backend.actors("gpu_wait") if w.calls), None))
    result = handle.result(timeout=60)
    sub = result.subtasks[0]
    assert sub.status is SubtaskStatus.SUCCEEDED and sub.solution == 1 and sub.outputs == ["x"]
    assert sub.fallbacks[0]["code"] == "timeout"
    assert dies(hung)
    fresh = ray_backend.actors("gpu_wait")
    assert hung not in fresh and len(fresh) == 1
    assert ray.get(fresh[0].handle.ping.remote(), timeout=30).startswith(fresh[0].name + "@")


def test_two_gpu_families_bigger_than_the_cluster_take_turns(ray_backend, gpus):
    ray_backend.release_idle()
    n = 2 * gpus  # where_am_i takes every GPU first; gpu_wait's calls wait and get the actors it retires
    result = engine_on(ray_backend).run(*parallel(["where_am_i"] * gpus + ["gpu_wait"] * gpus, n, 0.4))
    assert result.status is RunStatus.SUCCEEDED, [s.error for s in result.subtasks.values()]
    spans = [(e.started_at, e.ended_at) for e in result.events if e.kind is EventKind.ACTION_FINISHED]
    assert len(spans) == n and most_at_once(spans) <= gpus  # never more actors than GPUs
    kept, made = len(ray_backend.actors("where_am_i")), len(ray_backend.actors("gpu_wait"))
    assert kept < gpus and made >= 1 and kept + made <= gpus  # where_am_i actors were retired for gpu_wait


def test_fractional_gpus_put_two_actors_on_each_gpu(ray_backend, gpus):
    from agent.engine.ray_backend import RayBackend

    ray_backend.release_idle()  # the session backend's actors hold every GPU
    config = EngineConfig(backend="ray", ray=RayConfig(gpus_per_worker={"where_am_i": 0.5}, cpus_per_actor=0.25))
    halves = RayBackend(config)
    try:
        result = engine_on(halves).run(*parallel("where_am_i", 2 * gpus, 0.2))
        assert not halves.started_cluster
        assert halves.slot(TOOLS_BY_NAME["where_am_i"]) == ("ray:where_am_i", 2 * gpus)
        assert result.status is RunStatus.SUCCEEDED
        found = reports(result, 2 * gpus)
        assert len({r["pid"] for r in found}) == 2 * gpus
        assert Counter(r["cuda_visible_devices"] for r in found) == {str(i): 2 for i in range(gpus)}
        actors = halves.actors("where_am_i")
        assert len(actors) == 2 * gpus
    finally:
        halves.close()
    assert ray.is_initialized()  # it joined the session's cluster: closing it leaves the cluster up
    assert all(dies(actor) for actor in actors)


def test_a_backend_with_an_address_joins_the_running_cluster(ray_backend):
    from agent.engine.ray_backend import RayBackend

    job = ray.get_runtime_context().get_job_id()
    joined = RayBackend(EngineConfig(backend="ray", ray=RayConfig(address="auto")))
    p = plan(subtask(0, "append", ("text", "a")))
    try:
        result = engine_on(joined).run(p, {0: [solution(0, step("a0", "append", text="input:0"))]})
        assert result.outputs(0) == ["a"]
        assert not joined.started_cluster
        assert ray.get_runtime_context().get_job_id() == job
    finally:
        joined.close()
    assert ray.is_initialized()
    assert engine_on(ray_backend).run(p, {0: [solution(0, step("a0", "append", text="input:0"))]}).outputs(0) == ["a"]


def test_a_cpu_tool_runs_as_a_task_in_another_process(ray_backend):
    p = plan(subtask(0, "wait", ("text", "t"), ("number", 0.05)))
    result = engine_on(ray_backend).run(p, {0: [solution(0, step("a0", "wait", text="input:0", seconds="input:1"))]})
    assert result.outputs(0) == ["t."]
    worker = result.actions[0].worker
    assert worker.startswith("ray-task@")
    assert int(worker.split("@")[1]) != os.getpid()
    assert ray_backend.slot(TOOLS_BY_NAME["wait"])[0] == "ray:cpu"


def test_outputs_stay_in_the_object_store_and_feed_later_calls_there(ray_backend):
    ray_backend.start(TOOLS_BY_NAME)
    got: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
    ray_backend.submit(ActionCall("direct:1", "n1", "append", {"text": Value("a"), "suffix": Value("b")}), got.put)
    first = got.get(timeout=30)
    assert first.ok and isinstance(first.handle, ray.ObjectRef)
    assert ray_backend.fetch(first.handle, "result") == "ab"
    made = Produced(first.handle, "result")
    ray_backend.submit(ActionCall("direct:2", "n2", "join_texts", {"first": made, "second": made}), got.put)
    ray_backend.submit(ActionCall("direct:3", "n3", "gpu_wait", {"text": made}), got.put)
    ray_backend.submit(ActionCall("direct:4", "n4", "append", {"text": Produced(first.handle, "nope")}), got.put)
    outcomes = {o.call_id: o for o in (got.get(timeout=60) for _ in range(3))}
    assert ray_backend.fetch(outcomes["direct:2"].handle, "result") == "ab+ab"
    assert ray_backend.fetch(outcomes["direct:3"].handle, "result") == "ab!"  # a ref into an actor too
    bad = outcomes["direct:4"]
    assert not bad.ok and bad.failure.kind == "internal" and "nope" in bad.failure.message
    assert not bad.transient_infra

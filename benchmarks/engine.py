"""Engine benchmark: scheduling overhead, parallel efficiency and fallback recovery, local and Ray, in one run.

(a) **Overhead**: a chain of no-op calls (each needs the previous result, so nothing overlaps) run by the
    engine against the same calls made directly in a loop; overhead = (engine − direct) / calls.
(b) **Parallelism**: 16 independent 200 ms "GPU" calls (``gpu_wait``) on 4 logical GPU workers; wall time
    against the ideal 0.8 s (efficiency) and against running them one after another as ControlLLM's
    released code does (speedup).
(c) **Fallback**: a 3-subtask plan whose middle subtask's best solution fails; recovery = time from the
    failure to that subtask finishing on its next solution (which reuses the call that had succeeded).

Run ``python benchmarks/engine.py [--quick] [--repeat N] [--no-ray]``; the last stdout line is JSON with
``overhead_local_ms``, ``overhead_ray_ms``, ``efficiency_local``, ``efficiency_ray``,
``speedup_vs_sequential`` (local), ``speedup_vs_sequential_ray`` and ``fallback_recovery_ms``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.engine import Engine, EngineConfig, EventKind
from agent.engine.backend import ExecutionBackend
from agent.engine.local import LocalBackend
from agent.engine.testing import append, gpu_wait, plan, registry, solution, step, subtask
from benchmarks._common import emit_json, fmt, machine, median, print_table

GPUS = 4
PARALLEL_CALLS = 16
CALL_SECONDS = 0.2
IDEAL_S = PARALLEL_CALLS * CALL_SECONDS / GPUS


def chain_plan(n: int) -> tuple[Any, dict[int, list[Any]]]:
    steps = [step(f"a{k}", "append", text="input:0" if k == 0 else f"a{k - 1}.result") for k in range(n)]
    return plan(subtask(0, f"{n} no-op calls in a chain", ("text", "x"))), {0: [solution(0, *steps)]}


def overhead_ms(engine: Engine, calls: int, repeat: int) -> tuple[float, float, float]:
    """(overhead per call, engine ms per call, direct ms per call), medians over ``repeat`` runs."""
    p, sols = chain_plan(calls)
    engine.run(p, sols)  # warm up: worker start, tool shipping
    per_engine, per_direct = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        text = "x"
        for _ in range(calls):
            text = append(text=text)["result"]
        per_direct.append((time.perf_counter() - started) * 1000 / calls)
        started = time.perf_counter()
        result = engine.run(p, sols)
        per_engine.append((time.perf_counter() - started) * 1000 / calls)
        assert result.status.value == "succeeded", result.subtasks
    e, d = median(per_engine), median(per_direct)
    return e - d, e, d


def parallel_plan() -> tuple[Any, dict[int, list[Any]]]:
    subtasks = [subtask(i, f"gpu call {i}", ("text", str(i)), ("number", CALL_SECONDS)) for i in range(PARALLEL_CALLS)]
    sols = {i: [solution(i, step("a0", "gpu_wait", text="input:0", seconds="input:1"))] for i in range(PARALLEL_CALLS)}
    return plan(*subtasks), sols


def parallel_s(engine: Engine, repeat: int) -> float:
    p, sols = parallel_plan()
    engine.run(p, sols)  # warm up the GPU workers
    walls = []
    for _ in range(repeat):
        result = engine.run(p, sols)
        assert result.status.value == "succeeded", result.subtasks
        walls.append(result.wall_s)
    return median(walls)


def sequential_s(repeat: int) -> float:
    """The 16 calls one after another, as a sequential executor runs them."""
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        for i in range(PARALLEL_CALLS):
            gpu_wait(text=str(i), seconds=CALL_SECONDS)
        walls.append(time.perf_counter() - started)
    return median(walls)


def fallback_plan() -> tuple[Any, dict[int, list[Any]]]:
    p = plan(
        subtask(0, "prepare", ("text", "x"), ("number", 0.05)),
        subtask(1, "fragile step", ("text", "<GENERATED>-0"), ("number", 0.05), deps=[0]),
        subtask(2, "finish", ("text", "<GENERATED>-1"), deps=[1]),
    )
    sols = {
        0: [solution(0, step("a0", "wait", text="input:0", seconds="input:1"))],
        1: [
            solution(
                1, step("a0", "wait", text="input:0", seconds="input:1"), step("a1", "always_fail", text="a0.result")
            ),
            solution(1, step("a0", "wait", text="input:0", seconds="input:1"), step("a1", "append", text="a0.result")),
        ],
        2: [solution(2, step("a0", "append", text="input:0"))],
    }
    return p, sols


def fallback_ms(engine: Engine, repeat: int) -> tuple[float, float]:
    """(recovery ms: failure -> subtask 1 finished, whole run ms), medians."""
    p, sols = fallback_plan()
    recoveries, walls = [], []
    for _ in range(repeat + 1):
        result = engine.run(p, sols)
        assert result.status.value == "succeeded" and result.subtasks[1].solution == 1, result.subtasks
        failed = next(e for e in result.events if e.kind is EventKind.ACTION_FAILED)
        done = next(e for e in result.events if e.kind is EventKind.SUBTASK_FINISHED and e.subtask == 1)
        recoveries.append((done.time - failed.time) * 1000)
        walls.append(result.wall_s * 1000)
    return median(recoveries[1:]), median(walls[1:])


def ray_backend() -> ExecutionBackend | None:
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("agent.engine.ray_backend") is None:
        return None
    from agent.engine.ray_backend import RayBackend

    config = EngineConfig(backend="ray")
    config.ray.num_cpus = 8
    config.ray.num_gpus = GPUS
    return RayBackend(config)


def measure(name: str, backend: ExecutionBackend, calls: int, repeat: int) -> dict[str, float]:
    engine = Engine(registry(), EngineConfig(retry_backoff_s=0.01), backend=backend)
    over, per_engine, per_direct = overhead_ms(engine, calls, repeat)
    wall = parallel_s(engine, repeat)
    recovery, fallback_wall = fallback_ms(engine, repeat)
    return {
        "overhead_ms": over,
        "engine_ms_per_call": per_engine,
        "direct_ms_per_call": per_direct,
        "parallel_s": wall,
        "efficiency": IDEAL_S / wall,
        "recovery_ms": recovery,
        "fallback_run_ms": fallback_wall,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and calls (under a minute)")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-ray", action="store_true", help="measure the local backend only")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    calls = 100 if args.quick else 300

    print(f"machine: {machine()}")
    figures: dict[str, dict[str, float]] = {}
    local = LocalBackend(EngineConfig(max_workers=PARALLEL_CALLS, devices=[f"cuda:{i}" for i in range(GPUS)]))
    try:
        figures["local"] = measure("local", local, calls, repeat)
    finally:
        local.close()
    ray = None if args.no_ray else ray_backend()
    if ray is not None:
        try:
            figures["ray"] = measure("ray", ray, max(20, calls // 5), repeat)
        finally:
            ray.close()
    sequential = sequential_s(1 if args.quick else 3)

    rows = []
    for name, f in figures.items():
        rows.append(
            [
                name,
                fmt(f["overhead_ms"], 3),
                fmt(f["direct_ms_per_call"], 4),
                fmt(f["parallel_s"], 3),
                fmt(f["efficiency"]),
                fmt(sequential / f["parallel_s"]),
                fmt(f["recovery_ms"]),
                fmt(f["fallback_run_ms"]),
            ]
        )
    print_table(
        f"engine: {PARALLEL_CALLS} x {CALL_SECONDS * 1000:.0f} ms GPU calls on {GPUS} logical GPUs "
        f"(ideal {IDEAL_S:.2f} s, sequential {sequential:.2f} s), medians of {repeat}",
        [
            "backend",
            "overhead ms/call",
            "direct ms/call",
            "parallel s",
            "efficiency",
            "vs sequential",
            "fallback recovery ms",
            "fallback run ms",
        ],
        rows,
    )
    get = lambda backend, key: figures[backend][key] if backend in figures else None  # noqa: E731
    result = {
        "overhead_local_ms": get("local", "overhead_ms"),
        "overhead_ray_ms": get("ray", "overhead_ms"),
        "efficiency_local": get("local", "efficiency"),
        "efficiency_ray": get("ray", "efficiency"),
        "speedup_vs_sequential": sequential / figures["local"]["parallel_s"],
        "speedup_vs_sequential_ray": sequential / figures["ray"]["parallel_s"] if "ray" in figures else None,
        "fallback_recovery_ms": get("local", "recovery_ms"),
        "fallback_recovery_ray_ms": get("ray", "recovery_ms"),
        "sequential_s": sequential,
        "repeat": repeat,
    }
    emit_json(result)
    return result


if __name__ == "__main__":
    main()

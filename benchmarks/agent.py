"""Agent benchmark: end-to-end latency of short offline requests, cold (a new ``tog ask`` process each) and
warm (an open :class:`~agent.api.Agent`), per stage, beside the cost of importing torch and transformers.

Three short requests on the photo ``tog demo`` makes (scikit-image's astronaut with a sign pasted in),
planned by the offline decomposer (no VLM or LLM: ``TOG_VLM_*``/``TOG_LLM_*`` are cleared), each one or
two cheap image tools, so the figures are the agent's own cost rather than a tool's:

(a) **Warm**: one ``Agent`` in this process; ``Agent.warm()`` (what ``tog serve`` does at start-up), one
    untimed run of each request, then ``--repeat`` timed ``Agent.run`` calls per request.
(b) **Cold**: ``tog ask REQUEST --image photo --json`` in a new process per run, wall clock from start to
    exit, with the stage timings the agent records (``result.timings``: decompose, plan, execute,
    respond); ``startup`` is the rest (interpreter, imports, building the agent, saving the results).
    The embedding cache is the one the warm phase filled, as it is on a machine where ``tog`` has run
    before. A full run also times one request with an empty cache (``cold_empty_cache_ms``).
(c) **Import baseline**: a new process that only imports torch and transformers, run right before each
    cold run, so both see the same load on a shared machine.

Run ``python -m benchmarks.agent [--quick] [--repeat N]``. The last stdout line is JSON with ``cold_ms``,
``import_baseline_ms``, ``warm_ms`` (medians over every request and repeat), ``cold_minus_baseline_ms``,
``cold_<stage>_ms`` and ``warm_<stage>_ms`` (stage medians) and the rest of the figures. Targets:
``cold_ms - import_baseline_ms <= 3000`` and ``warm_ms <= 300``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit_json, fmt, machine, median, print_table

#: One- and two-step requests whose tools cost milliseconds.
REQUESTS = (
    "make the photo black and white",
    "rotate the photo by 90 degrees, then flip it",
    "how big is the photo?",
)
STAGES = ("decompose", "plan", "execute", "respond")
#: Variables that would put a model in the loop; the benchmark measures the offline agent.
MODEL_VARIABLES = ("TOG_VLM_MODEL", "TOG_VLM_URL", "TOG_LLM_URL", "TOG_LLM_MODEL", "TOG_CONFIG")
COLD_TARGET_MS = 3000.0
WARM_TARGET_MS = 300.0
RUN_TIMEOUT_S = 300.0
REPO_ROOT = Path(__file__).resolve().parents[1]


def child_env(cache_dir: Path, data_dir: Path) -> dict[str, str]:
    """The environment of every child process: offline, one torch thread, the benchmark's own dirs."""
    env = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        TOG_AGENT_DECOMPOSER="offline",
        TOG_AGENT_ASSESSOR="embedding",
        TOG_AGENT_CACHE_DIR=str(cache_dir),
        TOG_AGENT_DATA_DIR=str(data_dir),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
    )
    return env


def tog_command() -> list[str]:
    """The installed ``tog`` script next to this interpreter (what a user runs), else ``python -m agent.cli``."""
    script = Path(sys.executable).with_name("tog")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "agent.cli"]


def run_process(command: Sequence[str], env: Mapping[str, str]) -> tuple[float, str]:
    """Wall milliseconds of one child process and its stdout; a failure stops the benchmark with its stderr."""
    started = time.perf_counter()
    done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    ms = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return ms, done.stdout


def import_baseline_ms(env: Mapping[str, str]) -> float:
    return run_process([sys.executable, "-c", "import torch, transformers"], env)[0]


def cold_run(request: str, photo: Path, env: Mapping[str, str], out: Path) -> dict[str, float]:
    """One ``tog ask`` process: its wall time and the stage timings it reports."""
    ms, stdout = run_process([*tog_command(), "ask", request, "--image", str(photo), "--json", "--out", str(out)], env)
    result = json.loads(stdout)
    if result["status"] != "succeeded":
        raise RuntimeError(f"{request!r} ended {result['status']}: {result.get('answer')}")
    timings = {k: float(v) for k, v in result["timings"].items()}
    return {"total": ms, **stage_split(timings), "startup": ms - sum(timings.values())}


def stage_split(timings: Mapping[str, float]) -> dict[str, float]:
    """The four main stages; a replan and the executions after it count as ``replan``."""
    split = {stage: float(timings.get(stage, 0.0)) for stage in STAGES}
    split["replan"] = sum(v for k, v in timings.items() if k not in STAGES)
    return split


def warm_runs(photo: Path, cache_dir: Path, data_dir: Path, repeat: int) -> tuple[list[dict[str, float]], float, float]:
    """Timed ``Agent.run`` calls on one open agent, after ``warm()`` and one untimed run per request;
    with the milliseconds building the agent and warming it took."""
    from agent.api import Agent
    from agent.config import ToGSettings

    settings = ToGSettings(
        agent={"data_dir": data_dir, "cache_dir": cache_dir, "decomposer": "offline", "assessor": "embedding"}
    )
    started = time.perf_counter()
    with Agent(settings) as agent:
        setup_ms = (time.perf_counter() - started) * 1000
        warm_up_ms = agent.warm()
        for request in REQUESTS:
            agent.run(request, files=[photo])
        runs = []
        for _ in range(repeat):
            for request in REQUESTS:
                started = time.perf_counter()
                result = agent.run(request, files=[photo])
                ms = (time.perf_counter() - started) * 1000
                if result.status != "succeeded":
                    raise RuntimeError(f"{request!r} ended {result.status}: {result.answer}")
                outside = ms - sum(result.timings.values())  # LangGraph, checkpoints, storing the input
                runs.append({"request": float(REQUESTS.index(request)), "total": ms, **stage_split(result.timings)})
                runs[-1]["startup"] = outside
    return runs, setup_ms, warm_up_ms


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, no empty-cache run (under a minute)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per request, cold and warm (default 3)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    for name in MODEL_VARIABLES:
        os.environ.pop(name, None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(f"machine: {machine()}")

    from agent.samples import make_demo_photo

    with tempfile.TemporaryDirectory(prefix="tog-agent-bench-") as tmp:
        root = Path(tmp)
        photo = make_demo_photo(root / "photo.png")
        cache_dir, data_dir = root / "cache", root / "data"
        env = child_env(cache_dir, data_dir)
        startup_ms = median(run_process([sys.executable, "-c", "pass"], env)[0] for _ in range(3))

        warm, setup_ms, warm_up_ms = warm_runs(photo, cache_dir, data_dir, repeat)

        cold: list[dict[str, float]] = []
        baselines: list[float] = []
        for rep in range(repeat):
            for i, request in enumerate(REQUESTS):
                baselines.append(import_baseline_ms(env))
                run = cold_run(request, photo, env, root / "out" / f"{rep}-{i}")
                cold.append({"request": float(i), **run})
        empty_cache_ms = None
        if not args.quick:
            empty = child_env(root / "empty-cache", data_dir)
            empty_cache_ms = cold_run(REQUESTS[0], photo, empty, root / "out" / "empty")["total"]

    columns = ["total", "startup", *STAGES, "replan"]
    headers = ["total", "outside", *STAGES, "replan"]
    rows = []
    for i, request in enumerate(REQUESTS):
        for label, runs in (("cold", cold), ("warm", warm)):
            mine = [r for r in runs if r["request"] == i]
            rows.append(
                [f"{label}: {request}", *(fmt(median(r.get(c, float("nan")) for r in mine), 1) for c in columns)]
            )
    for label, runs in (("cold", cold), ("warm", warm)):
        rows.append(
            [f"{label}: all (median)", *(fmt(median(r.get(c, float("nan")) for r in runs), 1) for c in columns)]
        )
    print_table(
        f"agent latency, ms (medians of {repeat} per request; 'outside': cold, the process start-up, imports "
        "and agent set-up; warm, the pipeline's own work between stages)",
        ["run", *headers],
        rows,
    )

    cold_ms, baseline_ms, warm_ms = (
        median(r["total"] for r in cold),
        median(baselines),
        median(r["total"] for r in warm),
    )
    print_table(
        "cold start against its import baseline, ms",
        ["figure", "ms", "target"],
        [
            ["python -c pass", fmt(startup_ms, 1), ""],
            ["import torch, transformers (baseline)", fmt(baseline_ms, 1), ""],
            ["tog ask (cold, disk cache filled)", fmt(cold_ms, 1), ""],
            ["cold - baseline", fmt(cold_ms - baseline_ms, 1), f"<= {COLD_TARGET_MS:.0f}"],
            ["tog ask (cold, empty cache)", fmt(empty_cache_ms, 1), ""],
            ["Agent() in process", fmt(setup_ms, 1), ""],
            ["Agent.warm()", fmt(warm_up_ms, 1), ""],
            ["Agent.run (warm)", fmt(warm_ms, 1), f"<= {WARM_TARGET_MS:.0f}"],
        ],
    )
    figures: dict[str, Any] = {
        "cold_ms": cold_ms,
        "import_baseline_ms": baseline_ms,
        "warm_ms": warm_ms,
        "cold_minus_baseline_ms": cold_ms - baseline_ms,
        "cold_target_met": cold_ms - baseline_ms <= COLD_TARGET_MS,
        "warm_target_met": warm_ms <= WARM_TARGET_MS,
        "cold_empty_cache_ms": empty_cache_ms,
        "python_startup_ms": startup_ms,
        "agent_setup_ms": setup_ms,
        "warm_up_ms": warm_up_ms,
        "requests": list(REQUESTS),
        "repeat": repeat,
        "machine": machine(),
    }
    for stage in ("startup", *STAGES, "replan"):
        figures[f"cold_{stage}_ms"] = median(r[stage] for r in cold)
    for stage in (*STAGES, "replan"):
        figures[f"warm_{stage}_ms"] = median(r[stage] for r in warm)
    figures["warm_overhead_ms"] = median(r["startup"] for r in warm)
    figures = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
    emit_json(figures)
    return figures


if __name__ == "__main__":
    main()

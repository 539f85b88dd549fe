"""``tog demo``: an agent task on generated sample inputs, offline: plan every subtask with ToG, then run
the plan with the execution engine (independent subtasks in parallel, one chained on another's result,
ranked alternatives kept for fallback).

It writes the sample inputs, the tool graph (PNG + mermaid), one picture per planned subtask, the results
(``results/subtask-<id>.png|json``) and a ``summary.json``; the terminal shows the ranked solutions as
trees and the run's progress.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from agent.config import ToGSettings
from agent.planning import build_planner
from agent.present import result_tree
from agent.samples import SAMPLE_REGIONS, make_sample_photo
from graph.plan import Plan, ResourceRef, Solution, Subtask
from graph.render import render_solutions


def demo_subtasks(photo: Path) -> list[Subtask]:
    image = ResourceRef(type="image", value=str(photo))
    regions = ResourceRef(type="bboxes", value=[b.model_dump() for b in SAMPLE_REGIONS])
    return [
        Subtask(id=0, description="blur the faces in the photo so nobody can be recognised",
                args=[image, regions], returns=[{"type": "image"}]),
        Subtask(id=1, description="how many regions are marked in the photo?",
                args=[regions], returns=[{"type": "number"}]),
        Subtask(id=2, description="highlight the marked regions with labelled boxes",
                args=[image, regions], returns=[{"type": "image"}]),
        Subtask(id=3, description="rotate the photo by 90 degrees",
                args=[image, ResourceRef(type="number", value=90)], returns=[{"type": "image"}]),
        Subtask(id=4, description="make the photo black and white",
                args=[image], returns=[{"type": "image"}]),
        Subtask(id=5, description="convert the blurred photo to grayscale", dep=[0],
                args=[ResourceRef(type="image", value="<GENERATED>-0")], returns=[{"type": "image"}]),
    ]


def run_demo(out: Path, console: Console) -> dict[str, object]:
    from tools.registry import default_registry

    out.mkdir(parents=True, exist_ok=True)
    photo = make_sample_photo(out / "inputs" / "street.png")
    (out / "inputs" / "regions.json").write_text(json.dumps([b.model_dump() for b in SAMPLE_REGIONS], indent=2))
    console.print(f"[bold]sample inputs[/] in {out / 'inputs'}")

    tool_graph = default_registry().tool_graph()
    graph_png = tool_graph.render(out / "tool-graph.png")
    (out / "tool-graph.mmd").write_text(tool_graph.to_mermaid())
    console.print(f"[bold]tool graph[/]: {len(tool_graph)} tools over {len(tool_graph.types)} types -> {graph_png}")

    planner = build_planner(tool_graph, ToGSettings())
    started = time.perf_counter()
    planner.assessor.score("warm up", tool_graph.specs)  # load the embedding model once, outside the timings
    console.print(f"[dim]embedding model ready in {time.perf_counter() - started:.1f} s[/]")

    summary: dict[str, object] = {"tools": len(tool_graph), "subtasks": []}
    plan = Plan(request="blur the faces, count and highlight the regions, rotate the photo, make it black "
                "and white, and convert the blurred photo to grayscale", subtasks=demo_subtasks(photo))
    ranked: dict[int, list[Solution]] = {}
    for sub in plan.subtasks:
        result = planner.search(sub)
        ranked[sub.id] = result.solutions
        console.print(result_tree(sub, result))
        picture = render_solutions(result.solutions, out / f"plan-{sub.id}.png", subtask=sub)
        summary["subtasks"].append(  # type: ignore[union-attr]
            {
                "description": sub.description,
                "best": result.solutions[0].tools,
                "solutions": len(result.solutions),
                "states": result.expanded,
                "ms": round(result.elapsed_ms, 2),
                "picture": str(picture),
            }
        )
    summary["run"] = execute(plan, ranked, out / "results", console)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    console.print(f"[bold green]done[/]: pictures and summary.json in {out}")
    return summary


def execute(plan: Plan, ranked: dict[int, list[Solution]], results: Path, console: Console) -> dict[str, object]:
    """Run the planned solutions with the engine; save each subtask's outputs; return what happened."""
    from agent.engine import Engine
    from agent.outputs import save_value
    from agent.progress import RunProgress
    from tools.registry import default_registry

    settings = ToGSettings()
    with Engine(default_registry(), settings.engine) as engine, RunProgress(console, "executing") as progress:
        run = engine.run(plan, ranked, on_event=progress)
    saved: dict[str, object] = {}
    for sid, sub in run.subtasks.items():
        targets = plan.subtask(sid).outputs
        files = [str(save_value(v, t.type, results / f"subtask-{sid}" if len(targets) == 1 else
                                results / f"subtask-{sid}-{i}"))
                 for i, (v, t) in enumerate(zip(sub.outputs, targets))]
        saved[str(sid)] = {"status": sub.status.value, "tools": sub.tools, "solution": sub.solution, "files": files,
                           "error": sub.error}
    console.print(f"[bold]executed[/] {len(run.actions)} tool calls in {run.wall_s * 1000:.0f} ms: {run.status.value}")
    return {"status": run.status.value, "wall_ms": round(run.wall_s * 1000, 1), "subtasks": saved}

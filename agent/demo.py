"""``tog demo``: one agent task on a generated sample photo, end to end and offline.

The request is decomposed (the offline decomposer: no model), each subtask planned with ToG, the plan run
by the execution engine (independent subtasks in parallel, ranked alternatives kept for fallback) and the
answer composed. With ``TOG_VLM_MODEL`` (or ``TOG_VLM_URL``) set, the request also asks InternVL to
describe the photo. It writes the input, the tool graph (PNG + mermaid), one picture per planned subtask,
the results (``results/``: ``subtask-<id>.png|json``, ``answer.txt``, ``result.json``) and
``summary.json`` with the stage timings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from agent.config import ToGSettings
from agent.present import planned_tree
from agent.samples import make_demo_photo

REQUEST = (
    "find the faces and blur them, read the text in the photo, then find the text lines and draw boxes around them"
)
VLM_EXTRA = ", and describe the photo"


def demo_request() -> str:
    """The demo's request; it asks InternVL too when a model is configured."""
    from tools.models import vlm_status

    return REQUEST + (VLM_EXTRA if vlm_status()[0] else "")


def run_demo(out: Path, console: Console, settings: ToGSettings | None = None) -> dict[str, object]:
    from agent.api import Agent
    from agent.progress import AgentProgress
    from graph.render import render_solutions

    # A partial section as a mapping: pydantic-settings merges it with the environment (typed as the model).
    settings = settings or ToGSettings(agent={"data_dir": out / ".tog"})  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    photo = make_demo_photo(out / "inputs" / "photo.png")
    request = demo_request()
    console.print(f"[bold]request[/]: {request}\n[bold]input[/]: {photo}")

    started = time.perf_counter()
    with Agent(settings) as agent:
        setup_ms = (time.perf_counter() - started) * 1000
        tool_graph = agent.planner.graph
        graph_png = tool_graph.render(out / "tool-graph.png")
        (out / "tool-graph.mmd").write_text(tool_graph.to_mermaid())
        console.print(f"[bold]tool graph[/]: {len(tool_graph)} tools over {len(tool_graph.types)} types -> {graph_png}")
        with AgentProgress(console) as progress:
            for event in agent.stream(request, files=[photo]):
                progress.agent_event(event)
        result = agent.result(event.run_id)
        assert result.plan is not None
        pictures = []
        for sub in result.plan.subtasks:
            solutions = result.solutions.get(sub.id, [])
            console.print(planned_tree(sub, solutions, settings.agent.strategy))
            if solutions:
                pictures.append(str(render_solutions(solutions, out / f"plan-{sub.id}.png", subtask=sub)))
        folder = result.save_to(out / "results", agent.store)
    console.print(f"\n[bold]answer[/]:\n{result.answer}")
    timings = {"setup": round(setup_ms, 1), **result.timings}
    console.print("[dim]" + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items()) + "[/]")
    summary: dict[str, object] = {
        "request": request,
        "status": result.status,
        "answer": result.answer,
        "subtasks": [
            {"id": s.id, "description": s.description, "tools": s.tools, "status": s.status, "solution": s.solution}
            for s in result.subtasks
        ],
        "parameters": result.parameters,
        "timings_ms": timings,
        "results": str(folder),
        "pictures": pictures,
        "tools": len(tool_graph),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    console.print(f"[bold green]{result.status}[/]: results in {folder}, summary in {out / 'summary.json'}")
    return summary

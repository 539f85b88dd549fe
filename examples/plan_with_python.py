"""Plan a subtask from Python with the built-in tools, then plan over your own tool catalogue.

    .venv/bin/python examples/plan_with_python.py [path/to/tools.json]

With no argument the second part plans over a tiny inline catalogue written in TaskBench's shape.
Set TOG_AGENT_ASSESSOR=uniform to skip loading the embedding model.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from agent.config import ToGSettings
from agent.planning import build_planner
from graph.catalogue import load_catalogue
from graph.plan import Subtask
from graph.toolgraph import ToolGraph
from tools.registry import default_registry

INLINE_CATALOGUE = {
    "nodes": [
        {
            "id": "Image Captioner",
            "desc": "Writes a caption describing an image.",
            "input-type": ["image"],
            "output-type": ["text"],
        },
        {
            "id": "Translator",
            "desc": "Translates a text into another language.",
            "input-type": ["text"],
            "output-type": ["text"],
        },
        {
            "id": "Speaker",
            "desc": "Reads a text aloud as speech audio.",
            "input-type": ["text"],
            "output-type": ["audio"],
        },
    ]
}


def main(catalogue_path: str | None = None) -> list[list[str]]:
    settings = ToGSettings()
    chains: list[list[str]] = []

    # 1. The built-in tools: redact marked regions of a photo.
    planner = build_planner(default_registry().tool_graph(), settings)
    redact = Subtask(
        id=0,
        description="blur the marked regions of the photo",
        args=[
            {"type": "image", "value": "photo.jpg"},
            {"type": "bboxes", "value": [{"x1": 10, "y1": 10, "x2": 80, "y2": 90, "label": "face"}]},
        ],
        returns=[{"type": "image"}],
    )
    # exhaustive: with a uniform assessor (TOG_AGENT_ASSESSOR=uniform) beam would keep the first tools by name
    result = planner.search(redact, strategy="exhaustive", top_k=3)
    for rank, solution in enumerate(result.solutions, 1):
        print(f"built-in #{rank} score={solution.score:.3f}: {' -> '.join(solution.tools)}")
        chains.append(solution.tools)

    # 2. Your own catalogue (ControlLLM, TaskBench or ToG JSON shape).
    if catalogue_path is None:
        path = Path(tempfile.mkdtemp()) / "tools.json"
        path.write_text(json.dumps(INLINE_CATALOGUE))
    else:
        path = Path(catalogue_path)
    graph = ToolGraph(load_catalogue(path))
    speak = Subtask(
        id=1,
        description="describe the picture out loud",
        args=[{"type": "image", "value": "photo.jpg"}],
        returns=[{"type": "audio"}],
    )
    result = build_planner(graph, settings).search(speak, strategy="exhaustive", top_k=3)
    for rank, solution in enumerate(result.solutions, 1):
        print(f"catalogue #{rank} score={solution.score:.3f}: {' -> '.join(solution.tools)}")
        chains.append(solution.tools)
    return chains


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

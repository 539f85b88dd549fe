"""What the agent returns and streams: typed results that hold artifact ids, and progress events.

Everything here is JSON-able (the LangGraph state and the REST API carry it); values live in the
:class:`~graph.artifacts.ArtifactStore` and are loaded on demand with :meth:`AgentResult.load`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from graph.artifacts import ArtifactStore
from graph.plan import Plan, Solution
from graph.types import ResourceType


class Artifact(BaseModel):
    """One result value (or an input) in the store."""

    id: str
    type: ResourceType
    mime: str
    subtask: int | None = None
    index: int = 0
    role: str = Field(default="output", description="output (a subtask result) or input (given by the user)")
    name: str | None = None


class SubtaskOutcome(BaseModel):
    id: int
    description: str
    status: str
    tools: list[str] = Field(default_factory=list)
    solution: int | None = None
    outputs: list[Artifact] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    fallbacks: list[dict[str, Any]] = Field(default_factory=list)


class AgentResult(BaseModel):
    """The outcome of one request: ``answer``, ``artifacts``, ``plan``, chosen ``solutions``, ``timings`` (ms).

    ``status``: succeeded (answered), partial, failed, cancelled, interrupted, planned (plan only), or — see
    :mod:`agent.outcomes` — unsupported (refused, nothing ran) and empty (the asked-for result is empty).
    """

    run_id: str
    request: str
    status: str
    answer: str = ""
    plan: Plan | None = None
    solutions: dict[int, list[Solution]] = Field(default_factory=dict)
    subtasks: list[SubtaskOutcome] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    parameters: list[dict[str, Any]] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def outputs(self, subtask: int) -> list[Artifact]:
        return [a for a in self.artifacts if a.subtask == subtask and a.role == "output"]

    def load(self, artifact: Artifact | str, store: ArtifactStore) -> Any:
        """The Python value of an artifact (a PIL image, boxes as dicts, a number, a Path)."""
        return store.load(artifact.id if isinstance(artifact, Artifact) else artifact)

    def save_to(self, folder: str | Path, store: ArtifactStore) -> Path:
        """Write ``result.json``, ``answer.txt`` and every output artifact (``subtask-<id>[-<i>].<ext>``)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for artifact in self.artifacts:
            if artifact.role != "output":
                continue
            source = store.path(artifact.id)
            stem = f"subtask-{artifact.subtask}" + (
                f"-{artifact.index}" if len(self.outputs(artifact.subtask or 0)) > 1 else ""
            )
            shutil.copyfile(source, out / f"{stem}{source.suffix}")
        (out / "answer.txt").write_text(self.answer + "\n", encoding="utf-8")
        (out / "result.json").write_text(
            json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        return out


class AgentEvent(BaseModel):
    """A progress event of the pipeline: a stage starting or ending, or an engine event (``kind`` action_*)."""

    run_id: str
    seq: int
    stage: str
    kind: str
    time: float
    data: dict[str, Any] = Field(default_factory=dict)

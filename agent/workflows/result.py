"""What a workflow run returns and streams: typed outputs, one record per step, and progress events.

Output values are Python values of their resource type (a PIL image, a list of :class:`~graph.types.BBox`,
a number); :meth:`WorkflowResult.save_to` writes them as files people can open (images as PNG, other
values as JSON, one file per item of a foreach output) next to a ``result.json`` describing the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.engine.events import EngineEvent
from agent.outputs import jsonable, save_value
from graph.types import FILE_TYPES, ResourceType

if TYPE_CHECKING:
    from graph.artifacts import ArtifactStore

StepStatus = Literal["succeeded", "failed", "skipped", "cancelled", "not_run"]
SkipCause = Literal["condition", "failure"]
RunStatus = Literal["succeeded", "partial", "failed"]


class StepRecord(BaseModel):
    """How one step went. ``items`` is the number of foreach items (None for a plain step)."""

    id: str
    tool: str
    status: StepStatus = "not_run"
    reason: str = Field(default="", description="why it was skipped, failed or not run")
    skipped_by: SkipCause | None = Field(
        default=None, description="a skip's cause: a false when: (its own or upstream), or a failed step upstream"
    )
    error: dict[str, Any] | None = None
    items: int | None = None
    wave: int | None = Field(default=None, description="which engine run (0-based) executed it")
    started_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


class OutputValue(BaseModel):
    """One declared output: its type, whether it is a list (from a foreach step), and its value."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    type: ResourceType
    many: bool = False
    value: Any = None
    status: Literal["ok", "skipped", "missing"] = "ok"
    reason: str = ""


class WorkflowEvent(BaseModel):
    """A progress event: an engine event of a step (``engine``), or the workflow's own (a wave starting,
    a step skipped by its condition)."""

    kind: str
    time: float
    run: int | None = Field(default=None, description="which run of a batch (None: the wave as a whole)")
    wave: int | None = None
    step: str | None = None
    item: int | None = None
    message: str = ""
    engine: EngineEvent | None = None


class WorkflowResult(BaseModel):
    """The outcome of one run. ``status``: succeeded (every step that ran succeeded), partial (some failed,
    partial results were asked for), failed."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    workflow: str
    status: RunStatus
    inputs: dict[str, Any] = Field(default_factory=dict, description="what was given, as JSON (files as paths)")
    outputs: dict[str, OutputValue] = Field(default_factory=dict)
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    events: list[WorkflowEvent] = Field(default_factory=list)
    waves: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    label: str = Field(default="", description="which item of a batch (the input file's stem)")

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def wall_s(self) -> float:
        return self.ended_at - self.started_at

    def value(self, name: str) -> Any:
        """An output's value (a list for a foreach output; None when its step was skipped)."""
        return self.outputs[name].value

    def summary(self) -> dict[str, Any]:
        """``result.json`` without the files: statuses, timings, JSON-valued outputs inline."""
        data = self.model_dump(mode="json", exclude={"events", "outputs"})
        data["outputs"] = {
            name: {"type": o.type.value, "many": o.many, "status": o.status, "reason": o.reason}
            for name, o in self.outputs.items()
        }
        return data

    def store_outputs(self, store: ArtifactStore) -> dict[str, str | list[str] | None]:
        """Put every output into ``store``: name -> artifact id (a list for a foreach output, None when
        missing), the form REST responses and agent results carry."""
        from agent.pipeline import store_value

        ids: dict[str, str | list[str] | None] = {}
        for name, output in self.outputs.items():
            if output.status != "ok":
                ids[name] = None
            elif output.many:
                ids[name] = [store_value(store, v, output.type).id for v in output.value]
            else:
                ids[name] = store_value(store, output.value, output.type).id
        return ids

    def save_to(self, folder: str | Path) -> Path:
        """Write every output (``<name>.png``/``.json``, or ``<name>/<i>.<ext>`` for a list) and ``result.json``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        data = self.summary()
        for name, output in self.outputs.items():
            entry = data["outputs"][name]
            if output.status != "ok":
                continue
            if output.many:
                entry["files"] = [
                    str(save_value(v, output.type, out / name / f"{i:03d}").relative_to(out))
                    for i, v in enumerate(output.value)
                ]
            else:
                entry["file"] = str(save_value(output.value, output.type, out / name).relative_to(out))
            if output.type not in FILE_TYPES:
                entry["value"] = jsonable(output.value)
        (out / "result.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return out

"""False refusals: the planning set's requests run end to end on real inputs, counting every "cannot".

Refusing what cannot be done must not turn into refusing what can. Each record of a planning set
(``tests/data/plans.jsonl``) names its resources by name and type; real inputs of those types are made
(:mod:`agent.evaluation.trial_inputs`: a photo with a face and a sign for images, a receipt or a page of
text for document-like names, spoken English for audio, a clip for video, JSON values for boxes, labels
and tags) and the request is run through the offline agent.

A refusal (status ``unsupported``) of a record whose gold plan uses a tool that is unavailable here (no
VLM or LLM configured) is *expected*; any other refusal is a **false refusal**. The false-refusal rate is
false refusals over the records whose gold tools are all available. Crashes (anything but a typed error)
are counted too, as are answers "succeeded" for records whose gold needs an unavailable tool — each of
those answered without the tool a careful person would use, so it deserves a look.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from agent.decompose.base import Resource
from agent.evaluation.dataset import PlanSample
from agent.evaluation.outcomes import CRASHED, SUCCEEDED, observe, trial_agent
from agent.evaluation.trial_inputs import SampleMaker, SampleUnavailableError
from agent.outcomes import EMPTY, UNSUPPORTED
from graph.types import FILE_TYPES, ResourceType

if TYPE_CHECKING:
    from agent.api import Agent

#: Image names that call for a document rather than a photo.
_RECEIPT = re.compile(r"receipt|invoice|bill", re.IGNORECASE)
_DOCUMENT = re.compile(r"doc|scan|page|letter|note|form|menu|sign|poster|screenshot|slide|text|label", re.IGNORECASE)
_AUDIO_BY_SUFFIX = {".mp3": "speech_mp3", ".m4a": "speech_m4a"}


def sample_for(resource: Resource) -> str:
    """The generated sample that stands for a file resource of a planning record."""
    suffix = Path(resource.name).suffix.lower()
    if resource.type == ResourceType.AUDIO:
        return _AUDIO_BY_SUFFIX.get(suffix, "speech")
    if resource.type == ResourceType.VIDEO:
        return "clip"
    if resource.type == ResourceType.MASK:
        return "mask"
    if resource.type == ResourceType.IMAGE:
        if _RECEIPT.search(resource.name):
            return "receipt"
        if _DOCUMENT.search(resource.name):
            return "notes"
        return "photo"
    raise SampleUnavailableError(f"no generated sample of type {resource.type.value}", type=resource.type.value)


class PlanRun(BaseModel):
    """One record's run: its status, and whether its gold plan needs a tool that is unavailable here."""

    id: str
    request: str
    status: str
    gold_unavailable: list[str] = Field(default_factory=list)
    error_code: str | None = None
    message: str = Field(default="", description="the error's message, else the start of the answer")
    seconds: float = 0.0

    @property
    def refused(self) -> bool:
        return self.status == UNSUPPORTED

    @property
    def false_refusal(self) -> bool:
        return self.refused and not self.gold_unavailable


class PlansOutcomeReport(BaseModel):
    runs: list[PlanRun] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict, description="record id -> why its inputs could not be made")

    def summary(self) -> dict[str, Any]:
        runs = self.runs
        answerable = [r for r in runs if not r.gold_unavailable]
        refused = [r for r in runs if r.refused]
        false = [r for r in runs if r.false_refusal]
        seconds = sorted(r.seconds for r in runs)
        return {
            "n": len(runs),
            "succeeded": sum(r.status == SUCCEEDED for r in runs),
            "empty": sum(r.status == EMPTY for r in runs),
            "refused": len(refused),
            "refusal_rate": round(len(refused) / len(runs), 4) if runs else 0.0,
            "refused_gold_unavailable": len(refused) - len(false),
            "answerable": len(answerable),
            "false_refusals": len(false),
            "false_refusal_rate": round(len(false) / len(answerable), 4) if answerable else 0.0,
            "succeeded_gold_unavailable": sum(r.status == SUCCEEDED and bool(r.gold_unavailable) for r in runs),
            "failed": sum(r.status not in (SUCCEEDED, EMPTY, UNSUPPORTED, CRASHED) for r in runs),
            "crashed": sum(r.status == CRASHED for r in runs),
            "skipped": len(self.skipped),
            "seconds": round(sum(seconds), 2),
            "max_seconds": round(seconds[-1], 3) if seconds else 0.0,
        }


def record_inputs(sample: PlanSample, maker: SampleMaker) -> list[tuple[Path, ResourceType]]:
    """Real files for the record's resources, under the names the record gives (its request names them)."""
    files: list[tuple[Path, ResourceType]] = []
    for resource in sample.resources:
        if resource.type in FILE_TYPES:
            files.append((maker.file(sample_for(resource), resource.name), resource.type))
        else:
            files.append((maker.value_file(resource.type, resource.name), resource.type))
    return files


def run_plans(
    samples: Sequence[PlanSample],
    *,
    agent: Agent | None = None,
    folder: Path | None = None,
    progress: Callable[[PlanRun], None] | None = None,
) -> PlansOutcomeReport:
    """Run every record's request on real inputs through one offline agent; count refusals and crashes."""
    with trial_agent("tog-plans-", agent, folder) as (running, work):
        unavailable = set(running.registry.unavailable())
        maker = SampleMaker(work / "inputs")
        report = PlansOutcomeReport()
        for sample in samples:
            try:
                files = record_inputs(sample, maker)
            except SampleUnavailableError as exc:
                report.skipped[sample.id] = exc.message
                continue
            started = time.perf_counter()
            observed = observe(running, sample.request, files)
            error = observed.error or {}
            run = PlanRun(
                id=sample.id,
                request=sample.request,
                status=observed.status,
                gold_unavailable=sorted(set(sample.gold.nodes) & unavailable),
                error_code=error.get("code"),
                message=" ".join(str(error.get("message") or observed.answer).split())[:500],
                seconds=round(time.perf_counter() - started, 3),
            )
            report.runs.append(run)
            if progress is not None:
                progress(run)
        return report

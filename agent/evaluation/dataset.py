"""The planning evaluation set: one JSON object per line, a request with its resources and gold graph.

    {"id": "faces-blur-1", "request": "...", "lang": "en", "kind": "chain",
     "resources": [{"name": "photo.jpg", "type": "image"}],
     "gold": {"nodes": ["detect_faces", "blur_regions"], "edges": [["detect_faces", "blur_regions"]]}}

Loading checks every line and reports every problem at once, each with its line number, so a
dataset is fixed in one pass. Whether the gold tools exist depends on the tool set planned over, so
that is a separate check (:func:`check_tools`) against the specs actually used.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.decompose.base import Resource
from agent.evaluation.callgraph import CallGraph, Kind
from graph.errors import ProblemsError
from graph.plan import format_validation_errors
from graph.spec import ToolSpec
from graph.types import ResourceType


class DatasetError(ProblemsError, ValueError):
    """An evaluation file that cannot be used; ``problems`` names each bad line."""

    code = "invalid_dataset"


class PlanSample(BaseModel):
    """One evaluation request; ``kind`` must be what the gold graph's shape says it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    request: str = Field(min_length=1)
    lang: Literal["en", "zh"]
    kind: Kind
    resources: list[Resource] = Field(default_factory=list)
    gold: CallGraph

    @model_validator(mode="after")
    def _consistent(self) -> PlanSample:
        if not self.gold.nodes:
            raise ValueError("the gold graph has no tools")
        if any(a == b for a, b in self.gold.edges):
            raise ValueError("the gold graph has an edge from a tool to itself")
        if not self.gold.is_acyclic():
            raise ValueError("the gold graph has a cycle")
        shape = self.gold.kind()
        if shape != self.kind:
            raise ValueError(f"kind is {self.kind!r} but the gold graph is a {shape}")
        names = [r.name for r in self.resources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"resources named twice: {', '.join(dupes)}")
        return self

    def request_resources(self) -> list[Resource]:
        return list(self.resources)


def parse_samples(lines: Iterable[str], source: str = "dataset") -> list[PlanSample]:
    """Validate JSON lines (blank lines and ``#`` comments skipped); ids must be unique."""
    samples: list[PlanSample] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        try:
            sample = PlanSample.model_validate(data)
        except ValidationError as exc:
            problems.extend(f"line {number}: {p}" for p in format_validation_errors(exc))
            continue
        if sample.id in first_line:
            problems.append(f"line {number}: id {sample.id!r} already used on line {first_line[sample.id]}")
            continue
        first_line[sample.id] = number
        samples.append(sample)
    if problems:
        raise DatasetError(f"{source} has {len(problems)} problem(s)", problems=problems)
    if not samples:
        raise DatasetError(f"{source} holds no samples")
    return samples


def load_samples(path: str | Path) -> list[PlanSample]:
    """Read a ``.jsonl`` evaluation file; every bad line is reported with its number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"no dataset at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the dataset {path}: {exc}") from None
    return parse_samples(text.splitlines(), source=str(path))


def unknown_tool_samples(samples: Sequence[PlanSample], specs: Sequence[ToolSpec]) -> list[PlanSample]:
    """The samples whose gold graph names a tool that ``specs`` lacks."""
    known = {s.name for s in specs}
    return [sample for sample in samples if any(name not in known for name in sample.gold.nodes)]


def check_tools(samples: Sequence[PlanSample], specs: Sequence[ToolSpec]) -> None:
    """Every gold tool must be one of ``specs`` (the tool set being planned over), or :class:`DatasetError`
    lists each sample naming an unknown tool, with the closest real names."""
    known = {s.name for s in specs}
    problems = []
    for sample in samples:
        for name in sample.gold.nodes:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=2)
                hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
                problems.append(f"{sample.id}: unknown tool {name!r}{hint}")
    if problems:
        raise DatasetError(
            f"the gold graphs name tools the {len(known)}-tool catalogue lacks (evaluate the rest with --skip-unknown)",
            problems=problems,
        )


def type_problems(sample: PlanSample, specs: Sequence[ToolSpec]) -> list[str]:
    """Annotation mistakes the tool types reveal: an edge between tools whose types do not connect, a
    required non-text input that neither a given resource nor a feeding tool provides, and a given
    resource no gold tool takes. (Text inputs may be literals from the request, so they are not checked.)"""
    by_name = {s.name: s for s in specs}
    given = {r.type for r in sample.resources}
    problems = []
    for source, target in sample.gold.edges:
        made = by_name[source].output_types
        if not made & by_name[target].input_types:
            kinds = sorted(t.value for t in made)
            problems.append(f"{sample.id}: {source} makes {kinds}, which {target} does not take")
    for name in sample.gold.nodes:
        fed = given | {t for s, d in sample.gold.edges if d == name for t in by_name[s].output_types}
        for inp in by_name[name].required_inputs:
            if inp.type is not ResourceType.TEXT and inp.type not in fed:
                problems.append(f"{sample.id}: {name} needs {inp.name} ({inp.type.value}) and nothing provides it")
    taken = {t for name in sample.gold.nodes for t in by_name[name].input_types}
    for resource in sample.resources:
        if resource.type not in taken:
            problems.append(f"{sample.id}: no gold tool takes {resource.name} ({resource.type.value})")
    return problems

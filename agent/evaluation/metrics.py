"""Planning metrics: TaskBench's node and edge F1, ControlLLM's NR, IR, HR and CR. Pure functions.

**Node and edge F1 (TaskBench).** Per sample, the predicted tool set is compared with the gold tool
set (nodes), and the predicted ``(producer, consumer)`` links with the gold links (edges). Across a
dataset the headline figure is **micro**-averaged: true positives, false positives and false negatives
are pooled over all samples before computing one F1. TaskBench's own evaluation does exactly this
(it flattens every sample's union of names into one binary problem), so our figures can sit next to
its published ones; and macro over samples would let the many single-tool requests, whose edge sets
are empty on both sides, inflate edge F1 with free 1.0s. The sample mean (macro) is reported too.

Conventions for empty sets: F1 of two empty sets is 1.0 (nothing to find, nothing wrongly claimed);
F1 with exactly one side empty is 0.0.

**ControlLLM's rates**, per sample, then averaged over samples (each request weighs the same):

* NR, necessary tools included (higher is better): the share of gold tools that the prediction has,
  ``|gold ∩ predicted| / |gold|`` (node recall).
* IR, irrelevant tools (lower is better): the share of predicted tools not in the gold graph,
  ``|predicted − gold| / |predicted|``; 0.0 for an empty prediction (it claims no tool).
* HR, hallucinated resources (lower is better): of the plan's *resource references* (below), the
  share that name a resource which was neither given with the request nor produced by a subtask the
  referring subtask (transitively) depends on.
* CR, resource type consistency (higher is better): of the references that do resolve, the share
  whose declared type equals the type of the resource they resolve to: the given resource's type, or
  for ``<GENERATED>-k`` one of subtask k's output types.

A subtask input is a *resource reference* when it is a ``<GENERATED>-k`` reference, when its value
equals the name or value of a given resource, or when its type is one only a resource can have
(anything outside :data:`LITERAL_TYPES`: an image, boxes, a mask...). Other inputs are literals from the
request (a question, a number, a target language) and are not resources. HR and CR are undefined
(``None``) for a plan with no reference, and for a request that could not be decomposed; averages skip
them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import networkx as nx

from agent.decompose.base import Resource
from graph.plan import Plan, ResourceRef
from graph.types import ResourceType

#: Types a user writes inline in a request: values of these types are literals unless they name a resource.
LITERAL_TYPES: frozenset[ResourceType] = frozenset(
    {
        ResourceType.TEXT,
        ResourceType.NUMBER,
        ResourceType.BOOLEAN,
        ResourceType.LANGUAGE,
        ResourceType.TITLE,
        ResourceType.TIME,
        ResourceType.LOCATION,
        ResourceType.URL,
    }
)


@dataclass(frozen=True, slots=True)
class Match:
    """How a predicted set compares with a gold set."""

    tp: int
    fp: int
    fn: int

    def __add__(self, other: Match) -> Match:
        return Match(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else (1.0 if not self.fn else 0.0)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else (1.0 if not self.fp else 0.0)

    @property
    def f1(self) -> float:
        """``2tp / (2tp + fp + fn)``; 1.0 when both sets are empty.

        >>> Match(tp=2, fp=0, fn=1).f1
        0.8
        """
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 1.0


def match(predicted: Iterable[Hashable], gold: Iterable[Hashable]) -> Match:
    """Set comparison (duplicates count once)."""
    pred, want = set(predicted), set(gold)
    return Match(tp=len(pred & want), fp=len(pred - want), fn=len(want - pred))


def f1(predicted: Iterable[Hashable], gold: Iterable[Hashable]) -> float:
    """One sample's F1 of two sets.

    >>> f1({"detect_faces", "blur_regions"}, {"detect_faces"})
    0.6666666666666666
    """
    return match(predicted, gold).f1


def micro_f1(matches: Iterable[Match]) -> float:
    """F1 of the pooled counts of many samples (TaskBench's average)."""
    return sum(matches, Match(0, 0, 0)).f1


def mean(values: Iterable[float | None]) -> float | None:
    """Average of the defined values; ``None`` when there are none."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def necessary_rate(predicted: Iterable[str], gold: Iterable[str]) -> float:
    """NR: the share of gold tools present in the prediction (1.0 if the gold set is empty)."""
    pred, want = set(predicted), set(gold)
    return len(pred & want) / len(want) if want else 1.0


def irrelevant_rate(predicted: Iterable[str], gold: Iterable[str]) -> float:
    """IR: the share of predicted tools the gold graph does not have (0.0 for an empty prediction)."""
    pred, want = set(predicted), set(gold)
    return len(pred - want) / len(pred) if pred else 0.0


@dataclass(frozen=True, slots=True)
class ResourceCheck:
    """A plan's resource references: how many, how many hallucinated, how many of the rest type-consistent."""

    references: int
    hallucinated: int
    consistent: int

    @property
    def resolved(self) -> int:
        return self.references - self.hallucinated

    @property
    def hallucination_rate(self) -> float | None:
        """HR; ``None`` without references."""
        return self.hallucinated / self.references if self.references else None

    @property
    def consistency_rate(self) -> float | None:
        """CR over the references that resolve; ``None`` if none does."""
        return self.consistent / self.resolved if self.resolved else None


def check_resources(plan: Plan, resources: Sequence[Resource]) -> ResourceCheck:
    """Classify every subtask input of ``plan`` (see the module docstring for the definitions)."""
    given: dict[str, ResourceType] = {}
    for resource in resources:
        for key in (resource.name, resource.value):
            if isinstance(key, str):
                given.setdefault(key, resource.type)
    outputs = {sub.id: {o.type for o in sub.outputs} for sub in plan.subtasks}
    graph = plan.dependency_graph()
    references = hallucinated = consistent = 0
    for sub in plan.subtasks:
        earlier = nx.ancestors(graph, sub.id)
        for ref in sub.inputs:
            resolved = _resolve(ref, given, outputs, earlier)
            if resolved == "literal":
                continue
            references += 1
            if resolved is None:
                hallucinated += 1
            elif ref.type in resolved:
                consistent += 1
    return ResourceCheck(references=references, hallucinated=hallucinated, consistent=consistent)


def _resolve(
    ref: ResourceRef,
    given: dict[str, ResourceType],
    outputs: dict[int, set[ResourceType]],
    earlier: set[int],
) -> frozenset[ResourceType] | Literal["literal"] | None:
    """The types the referenced resource may have, ``None`` if it does not exist, ``"literal"`` if the
    input is not a reference."""
    producer = ref.generated_by
    if producer is not None:
        return frozenset(outputs[producer]) if producer in earlier else None
    if isinstance(ref.value, str) and ref.value in given:
        return frozenset({given[ref.value]})
    return "literal" if ref.type in LITERAL_TYPES else None

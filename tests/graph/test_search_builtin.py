"""Exhaustive search on the built-in catalogue stays small: a CI gate on counts, never on times.

It once hit its cap (300 states in the quick benchmark) on 13 of 16 requests, because text -> text,
image -> image and boxes -> boxes tools multiply chains; the bound that keeps it small is the planner's
rules (no detours, no chain containing a solution, the tools' own rules), not a bigger cap. The requests
are the planner benchmark's; scores come from a seeded hash, so the counts depend on nothing but code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from search_oracle import valid

from benchmarks.planner import fixed_subtasks
from graph.assessors import Assessor
from graph.errors import NoSolutionError
from graph.plan import Subtask
from graph.search import SearchConfig, SearchResult, Strategy, ToGPlanner
from graph.spec import ToolSpec
from graph.toolgraph import ToolGraph

QUICK_CAP = 300  # the quick benchmark's max_expansions
ENUMERATION_CAP = 10_000  # every valid chain, no bound; up to 397,472 states per request before the rules


class HashAssessor(Assessor):
    """A deterministic stand-in for a model: the score of (task, tool) is a hash, spread over [0, 1]."""

    def score(self, task: str, candidates: Sequence[ToolSpec]) -> dict[str, float]:
        return {
            spec.name: int.from_bytes(hashlib.blake2b(f"{task}\x00{spec.name}".encode(), digest_size=4).digest())
            / 2**32
            for spec in candidates
        }


@pytest.fixture(scope="module")
def builtin() -> tuple[ToGPlanner, list[Subtask], dict[str, ToolSpec]]:
    from tools.registry import default_registry

    specs = default_registry().specs()
    graph = ToolGraph(specs)
    subtasks, _ = fixed_subtasks(graph)
    assert len(subtasks) >= 12  # the catalogue can plan most of the benchmark's requests
    return ToGPlanner(graph, assessor=HashAssessor()), subtasks, {s.name: s for s in specs}


def search(planner: ToGPlanner, subtask: Subtask, config: SearchConfig) -> SearchResult | None:
    try:
        return planner.search(subtask, config)
    except NoSolutionError as exc:
        assert not exc.details["truncated"], f"{subtask.description!r} hit the cap and found nothing"
        return None


def test_exhaustive_search_never_hits_the_quick_benchmark_cap(builtin):
    planner, subtasks, _ = builtin
    config = SearchConfig(strategy=Strategy.EXHAUSTIVE, max_expansions=QUICK_CAP)
    counts = {}
    for subtask in subtasks:
        result = search(planner, subtask, config)
        assert result is not None, subtask.description  # every benchmark request has a solution
        assert not result.truncated, f"{subtask.description!r}: {result.expanded} states, capped"
        counts[subtask.description] = result.expanded
    assert sum(counts.values()) < len(subtasks) * QUICK_CAP / 4, counts  # 498 states in all when this was written


def test_every_valid_chain_fits_in_a_small_search(builtin):
    # without the weakest-link bound exhaustive search enumerates every valid chain of up to 5 tools
    planner, subtasks, specs = builtin
    config = SearchConfig(strategy=Strategy.EXHAUSTIVE, bound=False, top_k=10**6, max_expansions=ENUMERATION_CAP)
    total = 0
    for subtask in subtasks:
        result = search(planner, subtask, config)
        assert result is not None and not result.truncated, subtask.description
        total += result.found
        for solution in result.solutions[:60]:  # the oracle is slow; the best-ranked are checked
            assert valid(subtask, solution, specs), (subtask.description, solution.tools)
    assert total < 5_000, total  # 2,666 valid chains (11,174 states) over the 16 requests when this was written

"""The planner benchmark's inputs are sound and its output is machine-readable (timings are not asserted)."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from graph.search import ToGPlanner
from graph.spec import ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import ResourceType

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO_ROOT))
        return importlib.import_module("benchmarks.planner")


@pytest.fixture(scope="module")
def catalogue(bench: ModuleType) -> list[ToolSpec]:
    return bench.synthetic_catalogue(1000, seed=0)


def test_synthetic_catalogue_has_1000_valid_tools_over_every_type(catalogue: list[ToolSpec]) -> None:
    assert len(catalogue) == 1000
    assert all(isinstance(spec, ToolSpec) for spec in catalogue)
    graph = ToolGraph(catalogue)  # raises on duplicate names
    assert set(graph.types) == set(ResourceType)
    for spec in catalogue:
        assert 1 <= len(spec.required_inputs) <= 3
        assert 1 <= len(spec.outputs) <= 2
        assert len(spec.inputs) - len(spec.required_inputs) <= 1


def test_synthetic_catalogue_is_shaped_like_a_real_one(catalogue: list[ToolSpec]) -> None:
    inputs = Counter(len(s.required_inputs) for s in catalogue)
    assert inputs[1] > inputs[2] > inputs[3] > 0  # skewed to one or two inputs
    assert sum(len(s.outputs) == 1 for s in catalogue) > 800
    assert 0 < sum(len(s.inputs) > len(s.required_inputs) for s in catalogue) < 400
    domains = Counter(d for s in catalogue for d in s.domains)
    assert len(domains) == 11 and 30 < domains["general"] < 150  # ten domains plus a few general tools
    popular = [t for t, _ in Counter(i.type for s in catalogue for i in s.inputs).most_common(2)]
    assert set(popular) == {ResourceType.TEXT, ResourceType.IMAGE}


def test_synthetic_catalogue_depends_only_on_the_seed(bench: ModuleType, catalogue: list[ToolSpec]) -> None:
    assert bench.synthetic_catalogue(1000, seed=0) == catalogue
    assert bench.synthetic_catalogue(1000, seed=1) != catalogue


def test_type_count_is_bounded_by_the_closed_type_set(bench: ModuleType) -> None:
    assert len(bench.synthetic_types()) == len(ResourceType)
    small = bench.synthetic_catalogue(200, n_types=6, seed=0)
    assert len(ToolGraph(small).types) <= 6
    with pytest.raises(ValueError, match="resource types"):
        bench.synthetic_types(len(ResourceType) + 1)


@pytest.mark.parametrize("with_domains", [False, True])
def test_synthetic_subtasks_are_distinct_reachable_and_seeded(
    bench: ModuleType, catalogue: list[ToolSpec], with_domains: bool
) -> None:
    graph = ToolGraph(catalogue)
    subtasks = bench.synthetic_subtasks(graph, 8, seed=3, with_domains=with_domains)
    assert subtasks == bench.synthetic_subtasks(graph, 8, seed=3, with_domains=with_domains)
    assert len({(s.description, tuple(s.domains)) for s in subtasks}) == 8
    for sub in subtasks:
        assert 1 <= len(sub.inputs) <= 2 and 1 <= len(sub.outputs) <= 2
        assert len(sub.domains) == (1 if with_domains else 0)
        scope = graph.subgraph(sub.domains) if sub.domains else graph
        inputs = [r.type for r in sub.inputs]
        assert all(scope.can_reach(inputs, t) for t in sub.target_types)


def test_synthetic_assessor_is_deterministic_and_favours_relevant_tools(
    bench: ModuleType, catalogue: list[ToolSpec]
) -> None:
    sub = bench.make_subtask(0, "turn the image into bboxes", [ResourceType.IMAGE], [ResourceType.BBOXES])
    assessor = bench.SyntheticAssessor.for_subtasks([sub])
    scores = assessor.score(sub.description, catalogue)
    assert scores == assessor.score(sub.description, catalogue)
    producers = [scores[s.name] for s in catalogue if ResourceType.BBOXES in s.output_types]
    unrelated = [
        scores[s.name]
        for s in catalogue
        if ResourceType.BBOXES not in s.output_types and ResourceType.IMAGE not in s.input_types
    ]
    assert min(producers) > 0.3 and sorted(unrelated)[len(unrelated) // 2] < 0.1
    assert sum(v >= 0.25 for v in unrelated) < 0.1 * len(unrelated)  # few irrelevant tools pass the threshold
    # the planner accepts it like any assessor
    ToGPlanner(ToolGraph(catalogue), assessor).search(sub, strategy="beam")


def test_a_minimal_run_ends_with_the_json_summary(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--quick", "--no-model", "--catalogues", "builtin", "synthetic", "--tools", "150", "--subtasks", "2"]
    returned = bench.main([*argv, "--cap", "40"])
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures == json.loads(json.dumps(returned))
    for key in ("exhaustive_builtin_ms", "beam_1000_ms", "adaptive_1000_ms", "pruning_ratio_1000", "targets"):
        assert key in figures
    assert figures["150_tools"] == 150 and figures["150_subtasks"] == 2
    for strategy in ("greedy", "beam", "adaptive", "exhaustive"):
        assert figures[f"{strategy}_150_ms"] > 0
        assert figures[f"{strategy}_150_expanded"] <= 40 and figures[f"{strategy}_150_expanded_unpruned"] <= 40
    assert any("synthetic-150" in line for line in lines[:-1])  # the human table comes first
    # the complete-search pruning study: exact where both searches finish, and pruning lost nothing
    assert figures["pruning_ratio_150_exhaustive_d2_kind"] in {"exact", "lower bound", "capped"}
    assert figures["pruning_ratio_150_exhaustive_d2"] >= 1.0
    assert figures["pruning_same_found_150_d2"] is True

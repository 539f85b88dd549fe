from __future__ import annotations

from collections.abc import Sequence

import pytest

from graph.assessors import Assessor, UniformAssessor
from graph.errors import NoSolutionError
from graph.plan import Subtask
from graph.search import SearchConfig, Strategy, ToGPlanner
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph


def make_tool(name: str, inputs: list[str], output: str, domain: str = "general", optional: list[str] = ()) -> ToolSpec:
    ins = [InputSpec(name=f"{t}_{i}", type=t) for i, t in enumerate(inputs)]
    ins += [InputSpec(name=f"opt_{t}", type=t, required=False, default=None) for t in optional]
    return ToolSpec(
        name=name,
        description=name.replace("_", " "),
        domains=[domain],
        inputs=ins,
        outputs=[OutputSpec(name="out", type=output)],
    )


def subtask(inputs: list[tuple[str, object]], targets: list[str], description: str = "do it", domains=()) -> Subtask:
    return Subtask(
        id=0,
        description=description,
        task=list(domains),
        args=[{"type": t, "value": v} for t, v in inputs],
        returns=[{"type": t} for t in targets],
    )


class FixedScores(Assessor):
    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.calls = 0

    def score(self, task: str, candidates: Sequence[ToolSpec]) -> dict[str, float]:
        self.calls += 1
        return {c.name: self.scores.get(c.name, 0.0) for c in candidates}


# A: image -> bboxes          (detect)
# B: image, text -> bboxes    (ground)
# C: bboxes -> number         (count)
# D: image -> text            (caption)
# E: text -> text             (rewrite; lets a chain loop through text once)
HAND = [
    make_tool("A", ["image"], "bboxes"),
    make_tool("B", ["image", "text"], "bboxes"),
    make_tool("C", ["bboxes"], "number"),
    make_tool("D", ["image"], "text"),
    make_tool("E", ["text"], "text"),
]
COUNT = subtask([("image", "photo.png")], ["number"])


def tool_sets(result) -> set[tuple[str, ...]]:
    return {tuple(s.tools) for s in result.solutions}


def test_exhaustive_finds_exactly_the_hand_enumerated_solutions():
    # By hand, from one image to a number with every output used and the image consumed:
    #   A->C;  D->B->C;  D->E->B->C.   (A->... then anything else leaves A's boxes or D's text unused;
    #   E cannot start because there is no text; no tool may appear twice, so E->E is out.)
    # D->E->B->C is a detour: with E bypassed, B takes D's caption and D->B->C is a solution.
    planner = ToGPlanner(ToolGraph(HAND))
    result = planner.search(COUNT, strategy="exhaustive", top_k=100)
    assert tool_sets(result) == {("A", "C"), ("D", "B", "C")}
    assert result.found == 2
    padded = planner.search(COUNT, strategy="exhaustive", top_k=100, minimal=False)
    assert tool_sets(padded) == {("A", "C"), ("D", "B", "C"), ("D", "E", "B", "C")}
    # Data flow of the 3-step chain: B takes the original image and D's caption.
    chain = next(s for s in result.solutions if s.tools == ["D", "B", "C"])
    assert chain.actions[1].args == {"image_0": "input:0", "text_1": "a1.out"}
    assert chain.outputs == ["a3.out"]
    assert chain.to_dag().number_of_edges() == 2


def test_depth_limit_cuts_longer_chains():
    planner = ToGPlanner(ToolGraph(HAND))
    assert tool_sets(planner.search(COUNT, strategy="exhaustive", max_depth=3)) == {("A", "C"), ("D", "B", "C")}
    assert tool_sets(planner.search(COUNT, strategy="exhaustive", max_depth=2)) == {("A", "C")}


def test_pruning_does_not_change_the_exhaustive_answer_and_expands_less():
    planner = ToGPlanner(ToolGraph(HAND))
    pruned = planner.search(COUNT, strategy="exhaustive", top_k=100)
    unpruned = planner.search(COUNT, strategy="exhaustive", top_k=100, prune=False)
    assert {s.signature() for s in pruned.solutions} == {s.signature() for s in unpruned.solutions}
    assert pruned.expanded < unpruned.expanded


def test_greedy_follows_the_best_scored_tool_and_returns_one_solution():
    scores = {"A": 0.2, "B": 0.9, "C": 0.8, "D": 0.7, "E": 0.1}
    planner = ToGPlanner(ToolGraph(HAND), assessor=FixedScores(scores))
    result = planner.search(COUNT, strategy="greedy")
    assert len(result.solutions) == 1
    assert result.solutions[0].tools == ["D", "B", "C"]  # B is not applicable first; D is the best that is


def test_greedy_with_uniform_scores_still_finds_one():
    result = ToGPlanner(ToolGraph(HAND)).search(COUNT, strategy="greedy")
    assert [s.tools for s in result.solutions] == [["A", "C"]]


def test_beam_returns_at_most_k_and_adaptive_respects_threshold():
    scores = {"A": 0.9, "B": 0.5, "C": 0.9, "D": 0.5, "E": 0.1}
    planner = ToGPlanner(ToolGraph(HAND), assessor=FixedScores(scores))
    for k in (1, 2, 3):
        assert len(planner.search(COUNT, strategy="beam", beam_width=k).solutions) <= k
    # threshold 0.3 drops E, so the 4-step chain through E is never expanded
    assert tool_sets(planner.search(COUNT, strategy="adaptive", threshold=0.3)) == {("A", "C"), ("D", "B", "C")}
    # a threshold above every score keeps only the best tool at each step (never nothing)
    assert tool_sets(planner.search(COUNT, strategy="adaptive", threshold=0.99)) == {("A", "C")}


def test_solutions_are_ranked_by_score_then_length():
    scores = {"A": 0.1, "B": 0.9, "C": 0.9, "D": 0.9, "E": 0.9}
    planner = ToGPlanner(ToolGraph(HAND), assessor=FixedScores(scores))
    ranked = [s.tools for s in planner.search(COUNT, strategy="exhaustive").solutions]
    assert ranked == [["D", "B", "C"], ["A", "C"]]
    padded = [s.tools for s in planner.search(COUNT, strategy="exhaustive", minimal=False).solutions]
    assert padded == [["D", "B", "C"], ["D", "E", "B", "C"], ["A", "C"]]
    uniform = ToGPlanner(ToolGraph(HAND)).search(COUNT, strategy="exhaustive").solutions
    assert [s.length for s in uniform] == sorted(s.length for s in uniform)


def test_assessor_is_called_once_per_subtask_not_per_tool():
    assessor = FixedScores({})
    ToGPlanner(ToolGraph(HAND), assessor=assessor).search(COUNT, strategy="exhaustive")
    assert assessor.calls == 1


def test_search_is_deterministic_and_independent_of_catalogue_order():
    a = ToGPlanner(ToolGraph(HAND)).search(COUNT, strategy="exhaustive")
    b = ToGPlanner(ToolGraph(list(reversed(HAND)))).search(COUNT, strategy="exhaustive")
    assert [s.model_dump() for s in a.solutions] == [s.model_dump() for s in b.solutions]


def test_every_input_must_be_consumed():
    # With an image and a question, A->C leaves the question unused; only chains through B use both.
    sub = subtask([("image", "p.png"), ("text", "dogs")], ["number"])
    result = ToGPlanner(ToolGraph(HAND)).search(sub, strategy="exhaustive", top_k=100)
    assert all("B" in s.tools for s in result.solutions)
    assert ("B", "C") in tool_sets(result)


def test_ambiguous_bindings_are_recorded_for_parameter_inference():
    stitch = ToolSpec(
        name="stitch",
        description="stitch two images",
        inputs=[InputSpec(name="left", type="image"), InputSpec(name="right", type="image")],
        outputs=[OutputSpec(name="out", type="image")],
    )
    sub = subtask([("image", "a.png"), ("image", "b.png")], ["image"])
    result = ToGPlanner(ToolGraph([stitch])).search(sub)
    action = result.solutions[0].actions[0]
    assert set(action.args.values()) == {"input:0", "input:1"}  # two distinct images, both consumed
    assert action.ambiguous["left"] == ["input:1", "input:0"]


def test_optional_inputs_bind_only_when_a_spare_resource_exists():
    rotate = make_tool("rotate", ["image"], "image", optional=["number"])
    graph = ToolGraph([rotate])
    plain = ToGPlanner(graph).search(subtask([("image", "a.png")], ["image"])).solutions[0].actions[0]
    assert plain.defaulted == ["opt_number"] and "opt_number" not in plain.args
    angled = ToGPlanner(graph).search(subtask([("image", "a.png"), ("number", 45)], ["image"]))
    assert angled.solutions[0].actions[0].args["opt_number"] == "input:1"


def test_domain_filter_keeps_general_tools_and_matching_domains():
    tools = [
        make_tool("paint", ["text"], "image", domain="image-generation"),
        make_tool("search", ["text"], "image", domain="web"),
        make_tool("copy", ["text"], "text", domain="general"),
    ]
    sub = subtask([("text", "a cat")], ["image"], domains=["image-generation"])
    result = ToGPlanner(ToolGraph(tools)).search(sub, strategy="exhaustive", minimal=False)  # copy: a detour
    assert tool_sets(result) == {("paint",), ("copy", "paint")}


def test_unreachable_target_is_a_clear_error():
    with pytest.raises(NoSolutionError, match=r"target audio unreachable from \{image\}"):
        ToGPlanner(ToolGraph(HAND)).search(subtask([("image", "a")], ["audio"]))


def test_target_outside_the_domain_filter_is_explained():
    tools = [make_tool("paint", ["text"], "image", domain="image-generation")]
    with pytest.raises(NoSolutionError, match="only with tools outside the domains"):
        ToGPlanner(ToolGraph(tools)).search(subtask([("text", "cat")], ["image"], domains=["audio"]))


def test_depth_too_small_is_explained():
    with pytest.raises(NoSolutionError, match="needs at least 2 tool steps"):
        ToGPlanner(ToolGraph(HAND)).search(COUNT, max_depth=1)


def test_unusable_input_is_explained():
    with pytest.raises(NoSolutionError, match=r"input audio \('x.wav'\) cannot be used"):
        ToGPlanner(ToolGraph(HAND)).search(subtask([("image", "a"), ("audio", "x.wav")], ["number"]))


def test_expansion_budget_marks_the_result_truncated():
    tools = [make_tool(f"t{i}", ["text"], "text") for i in range(8)]
    planner = ToGPlanner(ToolGraph(tools), config=SearchConfig(strategy=Strategy.EXHAUSTIVE, max_expansions=5))
    result = planner.search(subtask([("text", "x")], ["text"]))
    assert result.truncated and result.expanded == 5


def test_search_types_convenience_and_uniform_default():
    planner = ToGPlanner(ToolGraph(HAND))
    assert isinstance(planner.assessor, UniformAssessor)
    result = planner.search_types(["image"], ["bboxes"], strategy="exhaustive")
    assert tool_sets(result) == {("A",), ("D", "B")}


# --- widening ----------------------------------------------------------------------------------------

# A high-scored dead end: "guess" makes a text, and "tally" needs a second text the subtask must give
# (a question), so nothing after "guess" can finish. Reachability cannot see it (a made text can feed
# tally's first input); only search can. The low-scored detect -> count chain is the one solution.
DEAD_END = [
    make_tool("guess", ["image"], "text"),
    ToolSpec(
        name="tally",
        description="tally",
        inputs=[InputSpec(name="text", type="text"), InputSpec(name="question", type="text", from_subtask=True)],
        outputs=[OutputSpec(name="out", type="number")],
    ),
    make_tool("detect", ["image"], "bboxes"),
    make_tool("count", ["bboxes"], "number"),
]
DEAD_END_SCORES = {"guess": 0.9, "tally": 0.9, "detect": 0.1, "count": 0.1}


def test_a_strategy_that_finds_nothing_widens_and_says_so():
    planner = ToGPlanner(ToolGraph(DEAD_END), assessor=FixedScores(DEAD_END_SCORES))
    for strategy, tried in (
        ("greedy", ["greedy", "beam", "adaptive"]),
        ("beam", ["beam", "adaptive"]),
        ("adaptive", ["adaptive"]),
    ):
        result = planner.search(COUNT, strategy=strategy, beam_width=1, threshold=0.5)
        assert [s.tools for s in result.solutions] == [["detect", "count"]], strategy
        assert [s.value for s in result.widened_from] == tried and result.widened
        assert result.strategy is Strategy.EXHAUSTIVE
        assert result.model_dump(mode="json")["widened_from"] == tried  # callers and the REST layer see it
    direct = planner.search(COUNT, strategy="exhaustive")
    assert not direct.widened and direct.strategy is Strategy.EXHAUSTIVE


def test_widening_asks_the_assessor_once_and_can_be_turned_off():
    assessor = FixedScores(DEAD_END_SCORES)
    planner = ToGPlanner(ToolGraph(DEAD_END), assessor=assessor)
    planner.search(COUNT, strategy="greedy")
    assert assessor.calls == 1
    with pytest.raises(NoSolutionError, match="the beam strategy found no chain") as caught:
        planner.search(COUNT, strategy="beam", beam_width=1, widen=False)
    assert caught.value.details["strategies"] == ["beam"]


def test_no_solution_after_widening_is_still_an_error_and_a_hopeless_graph_is_not_searched_four_times():
    tools = [make_tool("guess", ["image"], "text"), DEAD_END[1]]  # only the dead end
    planner = ToGPlanner(ToolGraph(tools))
    with pytest.raises(NoSolutionError, match="no chain of at most 5 tools") as caught:
        planner.search(COUNT, strategy="greedy")
    assert caught.value.details["strategies"] == ["greedy", "beam", "adaptive", "exhaustive"]
    with pytest.raises(NoSolutionError, match="unreachable") as unreachable:
        ToGPlanner(ToolGraph(HAND)).search(subtask([("image", "a")], ["audio"]), strategy="greedy")
    assert unreachable.value.details["strategies"] == ["greedy"]

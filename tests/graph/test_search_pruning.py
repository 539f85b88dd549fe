"""Pruning must never lose a solution, nor let a wrong one through: compare the planner with its unpruned
self and with an independent statement of the rules (``search_oracle``) on random graphs.

What is compared: reachability pruning, the rule checks made as tools are added, the detour and
"contains a solution" proofs, the loose-end counting, and the dedupe of equivalent partial chains
(``prune=False`` turns all of them off); the weakest-link bound (``bound=False``); and widening.
Solutions are compared by signature (tools and data flow), so two orders of one DAG are one solution.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_oracle import valid

from graph.assessors import Assessor
from graph.errors import NoSolutionError
from graph.plan import Subtask
from graph.search import ToGPlanner
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph

TYPES = ["text", "image", "bboxes", "mask", "number", "audio"]
GROUPS = ["g0", "g1"]


@st.composite
def random_rules(draw, name: str, others: list[str]) -> dict[str, list[str]]:
    """Plausibility rules naming other tools and groups (never the tool itself, never contradictory)."""
    names = [n for n in [*others, *GROUPS] if n != name]
    groups = draw(st.lists(st.sampled_from(GROUPS), max_size=1))
    if not names or not draw(st.booleans()):
        return {"groups": groups}
    conflicts = draw(st.lists(st.sampled_from(names), max_size=1))
    rest = [n for n in names if n not in conflicts]
    after = draw(st.lists(st.sampled_from(rest), max_size=1)) if rest else []
    before = draw(st.lists(st.sampled_from(rest), max_size=1)) if rest else []
    return {"groups": groups, "conflicts_with": conflicts, "not_after": after, "not_before": before}


@st.composite
def random_problem(draw):
    n_types = draw(st.integers(min_value=2, max_value=len(TYPES)))
    types = TYPES[:n_types]
    n_tools = draw(st.integers(min_value=1, max_value=9))
    names = [f"t{i}" for i in range(n_tools)]
    tools = []
    for name in names:
        inputs = draw(st.lists(st.sampled_from(types), min_size=1, max_size=3))
        given = draw(st.lists(st.booleans(), min_size=len(inputs), max_size=len(inputs)))
        optional = draw(st.lists(st.sampled_from(types), max_size=1))
        outputs = draw(st.lists(st.sampled_from(types), min_size=1, max_size=2))
        tools.append(
            ToolSpec(
                name=name,
                description=f"tool {name}",
                inputs=[InputSpec(name=f"in{j}", type=t, from_subtask=given[j] and j > 0) for j, t in enumerate(inputs)]
                + [InputSpec(name=f"opt{j}", type=t, required=False) for j, t in enumerate(optional)],
                outputs=[OutputSpec(name=f"out{j}", type=t) for j, t in enumerate(outputs)],
                **draw(random_rules(name, names)),
            )
        )
    given_types = draw(st.lists(st.sampled_from(types), min_size=1, max_size=3))
    targets = draw(st.lists(st.sampled_from(types), min_size=1, max_size=2))
    depth = draw(st.integers(min_value=1, max_value=4))
    sub = Subtask(
        id=0,
        description="random",
        args=[{"type": t, "value": f"r{i}"} for i, t in enumerate(given_types)],
        returns=[{"type": t} for t in targets],
    )
    return tools, sub, depth


def signatures(planner: ToGPlanner, sub: Subtask, **kw) -> tuple[set[str], int]:
    try:
        result = planner.search(sub, strategy="exhaustive", top_k=10**6, widen=False, **kw)
    except NoSolutionError:
        return set(), -1
    found = {s.signature() for s in result.solutions}
    assert len(found) == len(result.solutions) == result.found  # one solution per DAG
    return found, result.expanded


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_problem())
def test_pruned_search_finds_exactly_what_unpruned_search_finds(problem):
    tools, sub, depth = problem
    planner = ToGPlanner(ToolGraph(tools))
    pruned, pruned_expanded = signatures(planner, sub, max_depth=depth)
    unpruned, unpruned_expanded = signatures(planner, sub, max_depth=depth, prune=False)
    assert pruned == unpruned
    if pruned:
        assert pruned_expanded <= unpruned_expanded


def without_rules(tools: list[ToolSpec]) -> list[ToolSpec]:
    return [t.model_copy(update={"groups": (), "conflicts_with": (), "not_after": (), "not_before": ()}) for t in tools]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_problem())
def test_solutions_are_exactly_the_valid_chains_of_the_oracle(problem):
    # every complete chain, found with no rule, no minimality and no pruning, then judged by the oracle
    tools, sub, depth = problem
    specs = {t.name: t for t in tools}
    try:
        everything = ToGPlanner(ToolGraph(without_rules(tools))).search(
            sub, strategy="exhaustive", top_k=10**6, widen=False, max_depth=depth, prune=False, minimal=False
        )
        expected = {s.signature() for s in everything.solutions if valid(sub, s, specs)}
    except NoSolutionError:
        expected = set()
    found, _ = signatures(ToGPlanner(ToolGraph(tools)), sub, max_depth=depth)
    assert found == expected


class SeededAssessor(Assessor):
    """Scores drawn by hypothesis, so the bound meets ties, zeros and every ordering of tools."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def score(self, task: str, candidates) -> dict[str, float]:
        return {spec.name: self.scores.get(spec.name, 0.0) for spec in candidates}


def ranked(planner: ToGPlanner, sub: Subtask, **kw) -> list[tuple[str, float]]:
    try:
        result = planner.search(sub, max_expansions=10**6, widen=False, **kw)
    except NoSolutionError:
        return []
    assert not result.truncated
    return [(s.signature(), s.score) for s in result.solutions]


@st.composite
def planted_problem(draw):
    """A problem with several solutions: chains from the input to the target through random types,
    plus random tools that make detours and dead ends. (``random_problem`` is mostly unsolvable.)"""
    tools: list[ToolSpec] = []

    def add(inputs: list[str], outputs: list[str]) -> None:
        i = len(tools)
        tools.append(
            ToolSpec(
                name=f"t{i}",
                description=f"tool {i}",
                inputs=[InputSpec(name=f"in{j}", type=t) for j, t in enumerate(inputs)],
                outputs=[OutputSpec(name=f"out{j}", type=t) for j, t in enumerate(outputs)],
            )
        )

    for _ in range(draw(st.integers(min_value=2, max_value=4))):
        path = ["image", *draw(st.lists(st.sampled_from(TYPES[2:]), max_size=2)), "number"]
        for a, b in zip(path, path[1:]):
            add([a], [b])
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        add(
            draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=2)),
            draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=2)),
        )
    sub = Subtask(id=0, description="planted", args=[{"type": "image", "value": "a.png"}], returns=[{"type": "number"}])
    scores = draw(
        st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0]), min_size=len(tools), max_size=len(tools))
    )
    return tools, sub, {f"t{i}": s for i, s in enumerate(scores)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    planted_problem(),
    st.sampled_from(["greedy", "beam", "adaptive", "exhaustive"]),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=2, max_value=5),
)
def test_weakest_link_bound_returns_exactly_the_unbounded_ranking(problem, strategy, top_k, depth):
    # for exhaustive search this says: the bound returns the top_k of every valid chain
    tools, sub, scores = problem
    planner = ToGPlanner(ToolGraph(tools), assessor=SeededAssessor(scores))
    options = dict(strategy=strategy, max_depth=depth, top_k=top_k, beam_width=3, threshold=0.25)
    assert ranked(planner, sub, **options) == ranked(planner, sub, bound=False, **options)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    planted_problem(),
    st.sampled_from(["greedy", "beam", "adaptive"]),
    st.integers(min_value=1, max_value=2),
    st.integers(min_value=2, max_value=5),
)
def test_widening_finds_a_solution_whenever_exhaustive_search_does(problem, strategy, beam_width, depth):
    tools, sub, scores = problem
    planner = ToGPlanner(ToolGraph(tools), assessor=SeededAssessor(scores))
    options = dict(max_depth=depth, beam_width=beam_width, threshold=0.5)
    exhaustive = ranked(planner, sub, strategy="exhaustive", **options)
    alone = ranked(planner, sub, strategy=strategy, **options)
    try:
        result = planner.search(sub, strategy=strategy, max_expansions=10**6, **options)
    except NoSolutionError as exc:
        assert not exhaustive
        assert exc.details["strategies"][-1] == "exhaustive" or not alone
        return
    assert exhaustive  # widening never invents a solution
    if alone:
        assert not result.widened_from and [(s.signature(), s.score) for s in result.solutions] == alone
    else:
        assert result.widened_from and result.widened_from[0].value == strategy
        assert result.strategy.value != strategy


def test_bound_saves_work_when_good_solutions_exist():
    # one direct tool scoring 1.0, and a swarm of low-scored detours the bound never needs to enter
    tools = [
        ToolSpec(
            name="direct",
            description="d",
            inputs=[InputSpec(name="i", type="image")],
            outputs=[OutputSpec(name="o", type="number")],
        ),
    ] + [
        ToolSpec(
            name=f"detour{i}",
            description="d",
            inputs=[InputSpec(name="i", type=a)],
            outputs=[OutputSpec(name="o", type=b)],
        )
        for i, (a, b) in enumerate(
            [
                ("image", "text"),
                ("text", "mask"),
                ("mask", "number"),
                ("image", "mask"),
                ("text", "bboxes"),
                ("bboxes", "number"),
                ("mask", "text"),
            ]
        )
    ]
    scores = {"direct": 1.0, **{f"detour{i}": 0.6 for i in range(7)}}
    planner = ToGPlanner(ToolGraph(tools), assessor=SeededAssessor(scores))
    sub = Subtask(id=0, description="count", args=[{"type": "image", "value": "a.png"}], returns=[{"type": "number"}])
    for strategy in ("adaptive", "exhaustive"):
        bounded = planner.search(sub, strategy=strategy, top_k=1)
        unbounded = planner.search(sub, strategy=strategy, top_k=1, bound=False)
        assert [s.tools for s in bounded.solutions] == [s.tools for s in unbounded.solutions] == [["direct"]]
        assert bounded.expanded < unbounded.expanded


def test_bound_keeps_a_tie_on_the_weakest_link_that_wins_on_the_mean():
    # p->q is found first (names sort p before x) and ties x->y on weakest score and length; x->y must
    # still be explored, because its mean (0.7 vs 0.55) ranks it first.
    def spec(name: str, a: str, b: str) -> ToolSpec:
        return ToolSpec(
            name=name, description=name, inputs=[InputSpec(name="i", type=a)], outputs=[OutputSpec(name="o", type=b)]
        )

    tools = [
        spec("p", "image", "mask"),
        spec("q", "mask", "number"),
        spec("x", "image", "text"),
        spec("y", "text", "number"),
    ]
    planner = ToGPlanner(ToolGraph(tools), assessor=SeededAssessor({"p": 0.5, "q": 0.6, "x": 0.5, "y": 0.9}))
    sub = Subtask(id=0, description="count", args=[{"type": "image", "value": "a.png"}], returns=[{"type": "number"}])
    for strategy in ("beam", "adaptive", "exhaustive"):
        result = planner.search(sub, strategy=strategy, top_k=1, threshold=0.0)
        assert [s.tools for s in result.solutions] == [["x", "y"]], strategy

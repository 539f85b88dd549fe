"""Reachability pruning must never lose a solution: compare with the unpruned search on random graphs."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.errors import NoSolutionError
from graph.plan import Subtask
from graph.search import ToGPlanner
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph

TYPES = ["text", "image", "bboxes", "mask", "number", "audio"]


@st.composite
def random_problem(draw):
    n_types = draw(st.integers(min_value=2, max_value=len(TYPES)))
    types = TYPES[:n_types]
    n_tools = draw(st.integers(min_value=1, max_value=9))
    tools = []
    for i in range(n_tools):
        inputs = draw(st.lists(st.sampled_from(types), min_size=1, max_size=3))
        optional = draw(st.lists(st.sampled_from(types), max_size=1))
        outputs = draw(st.lists(st.sampled_from(types), min_size=1, max_size=2))
        tools.append(
            ToolSpec(
                name=f"t{i}",
                description=f"tool {i}",
                inputs=[InputSpec(name=f"in{j}", type=t) for j, t in enumerate(inputs)]
                + [InputSpec(name=f"opt{j}", type=t, required=False) for j, t in enumerate(optional)],
                outputs=[OutputSpec(name=f"out{j}", type=t) for j, t in enumerate(outputs)],
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
        result = planner.search(sub, strategy="exhaustive", top_k=10**6, **kw)
    except NoSolutionError:
        return set(), -1
    return {s.signature() for s in result.solutions}, result.expanded


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

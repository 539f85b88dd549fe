"""Thoughts-on-Graph search: find tool chains that turn a subtask's typed inputs into its target types.

The search runs over *states* (the actions taken so far and the resources they made), best first by an
upper bound on the score a state can still reach (depth first when exhaustive search enumerates every
chain, ``bound=False``). At each state the applicable tools are those not yet on the path whose required
inputs can all be bound by type to distinct available resources. A strategy decides which to expand:

* ``greedy``  — the best-scored tool only (finds at most one solution);
* ``beam``    — the ``beam_width`` best (returns at most ``beam_width`` solutions);
* ``adaptive``— every tool scoring at least ``threshold`` (always at least the best one);
* ``exhaustive`` — all of them (scores only rank the results and bound the search, see below).

A state is a solution when every subtask input has been consumed and the produced resources nobody
consumed ("sinks") are exactly the target types: nothing is left dangling, nothing is missing.

**Reachability pruning.** For each target type ``t`` the search computes ``steps_t[x]``, a lower bound
on the tool steps needed to produce a new ``t`` starting from a value of type ``x`` (as
:meth:`graph.toolgraph.ToolGraph.steps_to` does, in two tables: a value another tool made can only feed
required inputs that are not ``from_subtask``, a subtask input any input of its type). With ``r`` steps
left, a tool is expanded only if one of its outputs is a target or can reach one in ``r - 1`` steps, and
a state is kept only if every missing target, every unconsumed input and every dangling non-target
output can still reach a target in the remaining steps. Every bound is a relaxation, so pruning never
removes a solution; the property test in ``tests/graph/test_search_pruning.py`` checks this against the
unpruned search on random graphs.

**Weakest-link bound.** Adding a tool never raises a chain's lowest score nor shortens it, so once
``top_k`` solutions are in hand a state that cannot beat the worst of them is not expanded. Greedy, beam
and adaptive search best first with it; so does exhaustive search, which keeps every applicable tool and
therefore returns exactly the ``top_k`` that enumerating every chain and ranking them would (``bound=False``
enumerates them all; ``found`` then counts every valid chain).

**Binding.** A required input binds to an available resource of its type, preferring one nobody has
consumed yet, then the most recent; an optional input binds only to an unconsumed *subtask input* of its
type (options such as an angle come from the user, not from another tool) and otherwise keeps its default.
When several resources fit, the candidates are recorded on the action
(``Action.ambiguous``) for parameter inference to revisit. "Most recent" is a property of the data flow,
not of the order the search happened to apply tools in: the value made by the longest chain of tools
first (then the later subtask input, or the canonical name), so every order of the same DAG binds alike
and equivalent partial chains can be searched once (:attr:`_Run.seen`).

**Valid solutions.** Besides the typing rules above, a solution

* breaks no rule its tools declare (:attr:`~graph.spec.ToolSpec.conflicts_with`,
  :attr:`~graph.spec.ToolSpec.not_after`, :attr:`~graph.spec.ToolSpec.not_before`; see
  :mod:`graph.constraints`; a ``from_subtask`` input binds subtask inputs only),
* contains no solution: no proper part of it (some of its tools, each with every tool that feeds it) is
  complete by itself — a caption merged with a second description does more than a caption, and
* has no *detour*: a tool with one output whose type is that of an input it took (``text -> text``,
  ``image -> image``, ``boxes -> boxes``) is a detour when the chain is still a solution with the tool
  bypassed, its consumers taking its input instead. A summary of a caption, when the caption alone is a
  text, adds nothing the types ask for; ranking could never prefer it (a tool added to a chain never
  raises its weakest score and makes it longer), so listing it only multiplies the search — on the
  built-in catalogue image edits before any perception tool made up to 88,875 "solutions" per request.
  The tool is needed, and kept, when its output is a target its input cannot stand in for, when it
  alone uses some other value (the angle of a rotation, the boxes a crop cuts out), or when a later
  tool takes both its input and its output (a photo beside its grey copy).

``minimal=False`` drops the last two rules (only to measure what they remove). A state that satisfies
the typing rules is complete: it is a leaf, recorded when valid.

**Detour pruning.** Both rules can be proved early. A state containing a complete part stays so. Once a
pass-through tool's output has been consumed, it can only be justified by a later tool binding its input
and output together — which binding order rules out as soon as enough made values of that type outrank
its input, unless its input is a subtask input that a ``from_subtask`` input can take — or by an input
only it uses, which no later step can restore. States with such a tool, or with more unjustified ones
than steps left can serve, are not expanded; nor are states with more loose ends than the steps left can
merge. With ``prune=False`` nothing is cut and the same rules filter complete states (the property tests
compare the two, and both with an independent oracle of the rules).

**Widening.** A strategy that finds nothing hands over to the next wider one (:data:`WIDENING`), so a
subtask that exhaustive search can solve always gets a solution; the result records it.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from graph.assessors import Assessor, UniformAssessor
from graph.constraints import Constraints, resolve_constraints
from graph.errors import NoSolutionError
from graph.plan import Action, ResourceRef, Solution, Subtask, input_key
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import ResourceType

INF = math.inf

#: A bit per resource type, for the type sets the search tests per tool and state.
_TYPE_BIT: dict[ResourceType, int] = {rtype: 1 << i for i, rtype in enumerate(ResourceType)}


def _type_mask(types: Iterable[ResourceType]) -> int:
    mask = 0
    for rtype in types:
        mask |= _TYPE_BIT[rtype]
    return mask


class Strategy(StrEnum):
    GREEDY = "greedy"
    BEAM = "beam"
    ADAPTIVE = "adaptive"
    EXHAUSTIVE = "exhaustive"


#: Each strategy keeps every branch the one before it keeps and more, so a search that found nothing
#: widens along this order (from the configured strategy on) before it gives up.
WIDENING: tuple[Strategy, ...] = (Strategy.GREEDY, Strategy.BEAM, Strategy.ADAPTIVE, Strategy.EXHAUSTIVE)


class SearchConfig(BaseModel):
    """Knobs of one search. Defaults follow ControlLLM (depth 5, adaptive) with a safety budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = Strategy.ADAPTIVE
    max_depth: int = Field(default=5, ge=1, le=12)
    beam_width: int = Field(default=3, ge=1)
    threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    top_k: int = Field(default=5, ge=1)
    prune: bool = True
    """Cut the search space: reachability bounds, rule checks as tools are added, detour proofs and the
    dedupe of equivalent partial chains. Never changes the solutions; off only to measure what it saves."""
    bound: bool = True
    """Weakest-link branch and bound (never changes the returned solutions; off, exhaustive search
    enumerates every valid chain and ``found`` counts them all)."""
    widen: bool = True
    """When the strategy finds nothing, try the next wider one (greedy -> beam -> adaptive -> exhaustive)
    before raising :class:`NoSolutionError`, so a solvable subtask always gets a solution; the result
    says so (:attr:`SearchResult.widened_from`)."""
    minimal: bool = True
    """Accept only minimal solutions: no part of the chain is a solution by itself and no pass-through
    tool can be bypassed (module docs). Off only to measure what the rule removes: exhaustive search then
    lists every padded chain again (tens of thousands per subtask on the built-in catalogue)."""
    max_expansions: int = Field(default=200_000, ge=1)
    """Stop a strategy after creating this many search states; the result is then marked ``truncated``.
    Widening gives each strategy it tries its own budget, so one call costs at most four budgets."""


class SearchResult(BaseModel):
    """Ranked solutions plus what the search cost."""

    solutions: list[Solution]
    strategy: Strategy
    """The strategy that found the solutions: the configured one, or a wider one (``widened_from``)."""
    widened_from: list[Strategy] = Field(default_factory=list)
    """Strategies tried first that found nothing, in order; empty when the configured one found these."""
    expanded: int
    """Search states created (each is one tool applied to a state), summed over every strategy tried."""
    candidates: int
    """Tool applications considered: tools bound to a state before the strategy had what it keeps."""
    found: int
    """Distinct valid solutions found before ranking and truncation to ``top_k``."""
    truncated: bool
    elapsed_ms: float

    @property
    def widened(self) -> bool:
        return bool(self.widened_from)


Rank = tuple[int, int, str]
"""Recency of a value, from the data flow alone: (longest tool chain that made it, subtask input
index, canonical name). Higher is more recent."""


# _Step, _State and _Binding are never changed after they are made, but are not declared frozen: a
# frozen dataclass sets every field through object.__setattr__, which made creating them about a third
# of the cost of a child state. eq=False keeps identity hashing and equality (nothing compares them).


@dataclass(slots=True, eq=False)
class _Step:
    """One tool applied during the search. Only recorded solutions become pydantic :class:`Action` s:
    the search creates thousands of steps per subtask and throws most of them away."""

    tool: str
    args: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, ResourceType], ...]
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...]
    defaulted: tuple[str, ...]
    score: float
    name: str
    """Canonical name: the tool and its arguments resolved to the producing tools (no action ids), so
    two search orders that build the same DAG give the same names."""
    depth: int
    """Tools on the longest chain ending here (1: it took subtask inputs only); its outputs' recency."""
    upstream: frozenset[str]
    """Tools whose output reaches this one, directly or through others (for ``not_after``)."""
    through: tuple[str, ...]
    """Keys it took that its single output could stand in for (required inputs of the output's type):
    bypassing it through one of them is the detour test. Empty for every other tool."""
    needs: int
    """Bit mask of the positions of the steps whose output reaches this one (its ancestors)."""
    consumes: int
    """Bit mask of the state's resources it took (bit i: ``resources[i]``)."""
    makes: int
    """Bit mask of the resources it made."""

    def action(self, position: int) -> Action:
        return Action(
            id=f"a{position + 1}",
            tool=self.tool,
            args=dict(self.args),
            outputs=dict(self.outputs),
            ambiguous={k: list(v) for k, v in self.ambiguous},
            defaulted=list(self.defaulted),
        )


_Resource = tuple[str, ResourceType, Rank]  # key, type, recency


@dataclass(slots=True, eq=False)
class _State:
    steps: tuple[_Step, ...]
    resources: tuple[_Resource, ...]  # in order of appearance: inputs, then outputs
    consumed: frozenset[str]
    used_tools: frozenset[str]
    names: frozenset[str]  # canonical names of the steps: identifies the DAG (no tool twice on a path)
    weakest: float  # lowest assessor score among the steps (INF at the root)
    taken: int = 0
    """Bit mask of the resources some step took (bit i: ``resources[i]``)."""
    once: int = 0
    """Bit mask of the resources exactly one step took."""
    open: tuple[tuple[int, int], ...] = ()
    """(step, bit of the value it passes through) pairs no later step has justified by taking that value
    and the step's output together: the pass-through tools that may still turn out to be detours."""


_Child = tuple[_State, list[str] | None]
"""A child state and its solution outputs when it is complete (None otherwise)."""


def _root(subtask: Subtask) -> _State:
    return _State(
        steps=(),
        resources=tuple((input_key(i), ref.type, (0, i, "")) for i, ref in enumerate(subtask.inputs)),
        consumed=frozenset(),
        used_tools=frozenset(),
        names=frozenset(),
        weakest=INF,
    )


@dataclass(frozen=True, slots=True)
class _Fragile:
    """A pass-through tool a next step may doom (:meth:`ToGPlanner._fragile`)."""

    output: str
    passed: str
    rtype: ResourceType
    headroom: float  # how many more values of the type may outrank the passed one before no tool can reach it
    waiting: bool  # its output can no longer be a target: only a later tool taking both can justify it
    depth: int  # the passed value's depth (0: a subtask input); a deeper made value outranks it

    def exposed(self, taken: frozenset[str]) -> bool:
        """Whether a step taking ``taken`` leaves the tool needing a later tool to justify it: the step
        does not take its output and passed value together, and its output is consumed or no target.
        An exposed tool is doomed when the step completes the chain (no later tool comes) or
        :meth:`outnumbered` says so; one that is not exposed never is, so the caller only asks those
        two questions, the first of which costs most, when some tool is exposed."""
        takes_output = self.output in taken
        if takes_output and self.passed in taken:
            return False  # justified by this very step
        return self.waiting or takes_output  # else its output may still be a target

    def outnumbered(self, outputs: Sequence[OutputSpec], depth: int) -> bool:
        """Whether a step making ``outputs`` at ``depth`` adds more values of the type outranking the passed
        one than any later tool taking both could reach past."""
        added = sum(1 for o in outputs if o.type is self.rtype) if depth > self.depth else 0
        return added > self.headroom


_Steps = tuple[dict[ResourceType, int], dict[ResourceType, int]]
"""Fewest tool steps to a newly made target from a subtask input of each type, and from a made value."""


@dataclass(frozen=True, slots=True)
class _Bounds:
    tool_bound: list[float]  # per tool: fewest steps from its outputs to a target (0 = produces one)
    tool_worst: list[float]  # per tool: most steps one of its non-target outputs needs to reach a target
    given: dict[ResourceType, float]  # per type: fewest steps from a subtask input to any target
    made: dict[ResourceType, float]  # per type: fewest steps from a value a tool made to any target


def _feeds(spec: ToolSpec) -> list[ResourceType]:
    """The types of the inputs a made value can bind (required, not ``from_subtask``)."""
    return [inp.type for inp in spec.inputs if inp.required and not inp.from_subtask]


def _join_steps(specs: Sequence[ToolSpec]) -> dict[ResourceType, int]:
    """:attr:`_Index.join_steps`: 1 for the types a joining tool (two or more made inputs) takes, then
    one more per tool step back from them."""
    steps: dict[ResourceType, int] = {}
    for spec in specs:
        feeds = _feeds(spec)
        if len(feeds) >= 2:
            for rtype in feeds:
                steps[rtype] = 1
    changed = True
    while changed:
        changed = False
        for spec in specs:
            after = min((steps[o.type] for o in spec.outputs if o.type in steps), default=None)
            if after is None:
                continue
            for rtype in _feeds(spec):
                if steps.get(rtype, after + 2) > after + 1:
                    steps[rtype] = after + 1
                    changed = True
    return steps


def _combiner(spec: ToolSpec, rtype: ResourceType) -> tuple[int, bool] | None:
    """:attr:`_Index.combiners` entry of a tool for a type, without the index (None: not a combiner).

    The reach: one place per required input a made value can bind, plus one per other input of the type
    declared before the last of them (an option or a ``from_subtask`` input takes a subtask input, which
    the next required input then skips); 0 with fewer than two such inputs."""
    kinds = [inp.required and not inp.from_subtask for inp in spec.inputs if inp.type is rtype]
    made = sum(kinds)
    takes_given = any(inp.required and inp.from_subtask for inp in spec.inputs if inp.type is rtype)
    if made == 0 or (made == 1 and not takes_given):
        return None
    reach = max(i for i, kind in enumerate(kinds) if kind) + 1 if made >= 2 else 0
    return reach, takes_given


def _steps_to(specs: Sequence[ToolSpec], target: ResourceType) -> _Steps:
    """:meth:`ToolGraph.steps_to` for the search: the same relaxation (a tool applies as soon as one of its
    inputs is there), told apart by where a value comes from. A value a tool made binds only required
    inputs that are not ``from_subtask`` (options and questions come from the subtask), so those are the
    only edges after the first step; a subtask input may take any input of its type."""
    producing: dict[ResourceType, list[ToolSpec]] = {}
    for spec in specs:
        for rtype in spec.output_types:
            producing.setdefault(rtype, []).append(spec)
    dist = {target: 0}  # steps from a made value of each type to some value of the target type
    queue = deque([target])
    while queue:
        current = queue.popleft()
        for spec in producing.get(current, ()):
            for inp in spec.inputs:
                if inp.required and not inp.from_subtask and inp.type not in dist:
                    dist[inp.type] = dist[current] + 1
                    queue.append(inp.type)
    given: dict[ResourceType, int] = {}
    made: dict[ResourceType, int] = {}
    for spec in specs:
        best = min((dist[o.type] for o in spec.outputs if o.type in dist), default=None)
        if best is None:
            continue
        for inp in spec.inputs:
            given[inp.type] = min(given.get(inp.type, best + 1), best + 1)
            if inp.required and not inp.from_subtask:
                made[inp.type] = min(made.get(inp.type, best + 1), best + 1)
    return given, made


@dataclass(slots=True)
class _Index:
    """Per domain filter: the tools, who accepts what, rules and reachability tables (built once, reused)."""

    graph: ToolGraph
    specs: list[ToolSpec]
    names: list[str]
    by_input_type: dict[ResourceType, list[int]]
    no_input: list[int]
    input_types: list[frozenset[ResourceType]]
    input_mask: list[int]  # per tool: ``input_types`` as a type mask (:data:`_TYPE_BIT`)
    need_mask: list[int]  # per tool: the types of its required inputs, as a type mask
    need_more: list[tuple[tuple[ResourceType, int], ...]]  # per tool: required types it takes more than once
    outputs: list[tuple[tuple[str, ResourceType], ...]]  # per tool: (name, type) of each output
    feeds: list[frozenset[ResourceType]]  # per tool: the types of the inputs a made value can bind
    through: list[frozenset[str]]  # per tool: required inputs its single output could stand in for
    plans: list[tuple[tuple[str, ResourceType, int], ...]]
    """Per tool, what :func:`_bind` reads of each input, in declaration order: its name, type and which
    binding pool it draws from (:data:`_REQUIRED`, :data:`_OPTIONAL` or :data:`_GIVEN`)."""
    rules: Constraints
    conflicts: list[frozenset[str]]  # per tool: tools it must not share a solution with
    banned: list[frozenset[str]]  # per tool: tools whose output must not reach it
    combiners: dict[ResourceType, list[tuple[int, bool, int]]]
    """Per type: the tools that can take a pass-through tool's output and passed value together, the
    only ones that can justify it once its output is consumed (module docs): two or more made values of
    the type, or one and a ``from_subtask`` one (for a passed subtask input). As (how deep into the
    binding order of made values they reach, 0 if they take one; whether they take a subtask input of
    the type, tool index)."""
    pair_capacity: int  # most pass-through tools one step can justify (0: none)
    mergers: list[int]
    """Tools taking more made values (required inputs that are not ``from_subtask``) than they make: the
    only ones that can bring several loose ends together into fewer."""
    merge_depth: int  # the most loose ends one step can remove (0: none)
    net_loose: list[int]  # per tool: outputs minus the made values it can take (the least it adds)
    join_steps: dict[ResourceType, int]
    """Per type: fewest steps until a made value of it is taken by a tool that also takes another made
    value (types that never meet one are absent). A made value that cannot meet one in time ends in a
    sink no other made value flows into."""
    steps: dict[ResourceType, _Steps] = field(default_factory=dict)
    bounds: dict[tuple[ResourceType, ...], _Bounds] = field(default_factory=dict)
    useless: dict[tuple[tuple[ResourceType, ...], frozenset[ResourceType]], frozenset[int]] = field(
        default_factory=dict
    )

    def steps_to(self, target: ResourceType) -> _Steps:
        if target not in self.steps:
            self.steps[target] = _steps_to(self.specs, target)
        return self.steps[target]

    def bounds_for(self, targets: Iterable[ResourceType]) -> _Bounds:
        """Per tool, the fewest steps from its outputs to a target (0 = produces one) and the most steps
        one of its non-target outputs needs to reach one; per type, the fewest steps from a subtask input
        and from a made value of that type to any target."""
        key = tuple(sorted(set(targets)))
        if key not in self.bounds:
            given: dict[ResourceType, float] = {}
            made: dict[ResourceType, float] = {}
            for target in key:
                from_given, from_made = self.steps_to(target)
                for table, steps in ((given, from_given), (made, from_made)):
                    for rtype, n in steps.items():
                        table[rtype] = min(table.get(rtype, INF), n)
            tool_bound: list[float] = []
            tool_worst: list[float] = []
            for spec in self.specs:
                others = [made.get(o.type, INF) for o in spec.outputs if o.type not in key]
                tool_bound.append(0 if len(others) < len(spec.outputs) else min(others))
                tool_worst.append(max(others, default=0))
            self.bounds[key] = _Bounds(tool_bound, tool_worst, given, made)
        return self.bounds[key]

    def combiner_reach(self, rtype: ResourceType, used: frozenset[str], fit: set[int], given: bool) -> float:
        """How deep into the binding order of made ``rtype`` values a tool not yet used, among ``fit``, can
        reach while also taking a pass-through tool's output (0: no such tool). ``given``: the passed
        value is a subtask input, which a ``from_subtask`` input takes whatever outranks it (INF)."""
        best: float = 0
        for reach, takes_given, tool_i in self.combiners.get(rtype, ()):
            if tool_i in fit and self.names[tool_i] not in used:
                if given and takes_given:
                    return INF
                best = max(best, reach)
        return best


@dataclass(slots=True)
class _Run:
    """Mutable bookkeeping of one search call."""

    subtask: Subtask
    config: SearchConfig
    index: _Index
    scores: list[float]  # per tool index
    order: list[int]  # tool indices, best score first, then by name
    fits: dict[int, tuple[list[int], set[int]]]  # per steps left after a tool: tools whose outputs can all be used
    accepting: dict[ResourceType, list[int]]  # per type: the tools taking it (any input), in ``order``
    best_producer: dict[ResourceType, float]  # per type: the highest score of a tool producing it
    merger_scores: list[float]  # the scores of the merging tools (``_Index.mergers``), best first
    best_combiner: dict[ResourceType, float]  # per type: the highest score of a tool taking two of it
    targets: Counter[ResourceType]
    target_counts: dict[ResourceType, int]
    """``targets`` as a plain dict, for the equality tests of the inner loop (a Counter compares in Python)."""
    input_keys: frozenset[str]
    tool_bound: list[float]  # per tool: fewest steps from its outputs to a target (0 = produces one)
    tool_worst: list[float]  # per tool: most steps one of its non-target outputs needs to reach a target
    given_bound: dict[ResourceType, float]  # per type: fewest steps from a subtask input to any target
    made_bound: dict[ResourceType, float]  # per type: fewest steps from a made value to any target
    target_steps: dict[ResourceType, _Steps]
    wanted: int  # how many targets (with repeats)
    limit: int  # how many solutions the caller gets back
    widest: dict[tuple[ResourceType, int, bool], float] = field(default_factory=dict)  # see _widest
    useless: frozenset[int] = frozenset()
    """Pass-through tools every use of which is a detour for this subtask: their output type is no
    target, nothing but the passed value can feed them, and no tool takes two values of that type."""
    solutions: dict[str, _Found] = field(default_factory=dict)  # by signature
    best: list[tuple[float, int]] = field(default_factory=list)  # (-score, length) of the `limit` best
    seen: set[frozenset[str]] = field(default_factory=set)
    """DAGs already searched: binding depends on the data flow only, so a DAG reached again in another
    order has the same future, and searching it once loses nothing (checked by the property tests)."""
    expanded: int = 0
    candidates: int = 0
    truncated: bool = False
    hopeless: bool = False  # the root itself cannot lead to a solution: no strategy can find one


class ToGPlanner:
    """Plans one subtask at a time over a :class:`ToolGraph`.

    >>> from graph.spec import InputSpec, OutputSpec
    >>> from graph.plan import Subtask
    >>> tools = [
    ...     ToolSpec(name="detect", description="detect objects", inputs=[InputSpec(name="image", type="image")],
    ...              outputs=[OutputSpec(name="boxes", type="bboxes")]),
    ...     ToolSpec(name="count", description="count boxes", inputs=[InputSpec(name="boxes", type="bboxes")],
    ...              outputs=[OutputSpec(name="n", type="number")]),
    ... ]
    >>> planner = ToGPlanner(ToolGraph(tools))
    >>> sub = Subtask(id=0, description="how many objects?", args=[{"type": "image", "value": "a.png"}],
    ...               returns=[{"type": "number"}])
    >>> [s.tools for s in planner.search(sub).solutions]
    [['detect', 'count']]
    """

    def __init__(self, graph: ToolGraph, assessor: Assessor | None = None, config: SearchConfig | None = None) -> None:
        self.graph = graph
        self.assessor = assessor or UniformAssessor()
        self.config = config or SearchConfig()
        self._indexes: dict[tuple[str, ...], _Index] = {}

    # --- public ---------------------------------------------------------------------------------

    def search(self, subtask: Subtask, config: SearchConfig | None = None, **overrides: object) -> SearchResult:
        """Ranked solutions for ``subtask``; raises :class:`NoSolutionError` (with the reason) if none.

        ``overrides`` replace fields of the config for this call, e.g. ``strategy="beam", beam_width=2``.
        With ``widen`` (the default) a strategy that finds nothing hands over to the next wider one; the
        assessor is still asked once per call.
        """
        cfg = config or self.config
        if overrides:
            cfg = SearchConfig.model_validate({**cfg.model_dump(), **overrides})
        started = time.perf_counter()
        index = self._index(subtask.domains)
        by_name = self.assessor.score(subtask.description, index.specs) if index.specs else {}
        scores = [round(by_name.get(spec.name, 0.0), 6) for spec in index.specs]  # ties compare exactly
        strategies = WIDENING[WIDENING.index(cfg.strategy) :] if cfg.widen else (cfg.strategy,)
        tried: list[Strategy] = []
        expanded = candidates = 0
        truncated = False
        for strategy in strategies:
            attempt = cfg if strategy is cfg.strategy else cfg.model_copy(update={"strategy": strategy})
            run = self._run(subtask, attempt, index, scores)
            expanded += run.expanded
            candidates += run.candidates
            truncated = truncated or run.truncated
            if run.solutions:
                best = sorted(run.solutions.values(), key=_Found.rank)[: run.limit]
                return SearchResult(
                    solutions=[found.solution(subtask.id) for found in best],  # pydantic for the returned only
                    strategy=strategy,
                    widened_from=tried,
                    expanded=expanded,
                    candidates=candidates,
                    found=len(run.solutions),
                    truncated=run.truncated,
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                )
            tried.append(strategy)
            if run.hopeless or self._structural_failure(subtask, attempt, run) is not None:
                break  # the graph itself rules every chain out: a wider strategy cannot help
        raise NoSolutionError(
            self._explain_failure(subtask, attempt, run),
            subtask=subtask.id,
            expanded=expanded,
            candidates=candidates,
            truncated=truncated,
            strategies=[s.value for s in tried],
        )

    def search_types(
        self,
        inputs: Sequence[ResourceType | str],
        targets: Sequence[ResourceType | str],
        description: str = "plan",
        domains: Iterable[str] = (),
        *,
        config: SearchConfig | None = None,
        **overrides: object,
    ) -> SearchResult:
        """Convenience: search from bare input types to target types (type names are resolved)."""
        subtask = Subtask(
            id=0,
            description=description,
            task=list(domains),
            args=[ResourceRef.model_validate({"type": t, "value": None}) for t in inputs],
            returns=[ResourceRef.model_validate({"type": t, "value": None}) for t in targets],
        )
        return self.search(subtask, config, **overrides)

    # --- preparation ----------------------------------------------------------------------------

    def _index(self, domains: Sequence[str]) -> _Index:
        key = tuple(sorted(d.strip().lower() for d in domains if d.strip()))
        if key not in self._indexes:
            graph = self.graph.subgraph(key) if key else self.graph
            specs = graph.specs
            by_type: dict[ResourceType, list[int]] = {}
            no_input: list[int] = []
            required: list[Counter[ResourceType]] = []
            through: list[frozenset[str]] = []
            combiners: dict[ResourceType, list[tuple[int, bool, int]]] = {}
            pair_capacity = 0
            mergers: list[int] = []
            merge_depth = 0
            net_loose: list[int] = []
            for i, spec in enumerate(specs):
                req = Counter(inp.type for inp in spec.required_inputs)
                required.append(req)
                if not req:
                    no_input.append(i)
                for rtype in req:
                    by_type.setdefault(rtype, []).append(i)
                single_out = spec.outputs[0].type if len(spec.outputs) == 1 else None
                through.append(frozenset(inp.name for inp in spec.required_inputs if inp.type is single_out))
                for rtype in req:
                    entry = _combiner(spec, rtype)
                    if entry is not None:
                        combiners.setdefault(rtype, []).append((*entry, i))
                        # each tool it justifies has its output among the made values it takes
                        pair_capacity = max(pair_capacity, len(_feeds(spec)))
                merges = sum(1 for inp in spec.required_inputs if not inp.from_subtask) - len(spec.outputs)
                net_loose.append(-merges)
                if merges > 0:
                    mergers.append(i)
                    merge_depth = max(merge_depth, merges)
            rules = resolve_constraints(specs)
            self._indexes[key] = _Index(
                graph=graph,
                specs=specs,
                names=[spec.name for spec in specs],
                by_input_type=by_type,
                no_input=no_input,
                input_types=[spec.input_types for spec in specs],
                input_mask=[_type_mask(spec.input_types) for spec in specs],
                need_mask=[_type_mask(req) for req in required],
                need_more=[tuple((t, n) for t, n in req.items() if n > 1) for req in required],
                outputs=[tuple((o.name, o.type) for o in spec.outputs) for spec in specs],
                feeds=[frozenset(_feeds(spec)) for spec in specs],
                through=through,
                plans=[tuple((inp.name, inp.type, _pool_kind(inp)) for inp in spec.inputs) for spec in specs],
                rules=rules,
                conflicts=[rules.conflicts.get(spec.name, frozenset()) for spec in specs],
                banned=[rules.banned_upstream.get(spec.name, frozenset()) for spec in specs],
                combiners=combiners,
                pair_capacity=pair_capacity,
                mergers=mergers,
                merge_depth=merge_depth,
                net_loose=net_loose,
                join_steps=_join_steps(specs),
            )
        return self._indexes[key]

    def _prepare(self, subtask: Subtask, cfg: SearchConfig, index: _Index, scores: list[float]) -> _Run:
        names = index.names
        order = sorted(range(len(index.specs)), key=lambda i: (-scores[i], names[i]))
        targets = Counter(subtask.target_types)
        best_producer = {
            target: next((scores[i] for i in order if target in index.specs[i].output_types), 0.0) for target in targets
        }
        best_combiner = {
            rtype: max(scores[tool_i] for _, _, tool_i in entries) for rtype, entries in index.combiners.items()
        }
        target_steps = {t: index.steps_to(t) for t in targets}
        bounds = index.bounds_for(targets)
        return _Run(
            subtask=subtask,
            config=cfg,
            index=index,
            scores=scores,
            order=order,
            fits={},
            accepting={},
            best_producer=best_producer,
            merger_scores=sorted((scores[i] for i in index.mergers), reverse=True),
            best_combiner=best_combiner,
            targets=targets,
            target_counts=dict(targets),
            input_keys=frozenset(input_key(i) for i in range(len(subtask.inputs))),
            tool_bound=bounds.tool_bound,
            tool_worst=bounds.tool_worst,
            given_bound=bounds.given,
            made_bound=bounds.made,
            target_steps=target_steps,
            wanted=targets.total(),
            limit=min(cfg.top_k, cfg.beam_width) if cfg.strategy is Strategy.BEAM else cfg.top_k,
            useless=_useless(index, subtask, targets) if cfg.prune and cfg.minimal else frozenset(),
        )

    # --- search ---------------------------------------------------------------------------------

    def _run(self, subtask: Subtask, cfg: SearchConfig, index: _Index, scores: list[float]) -> _Run:
        """One strategy's search from the subtask's inputs."""
        run = self._prepare(subtask, cfg, index, scores)
        root = _root(subtask)
        if cfg.prune and not self._viable(run, root.resources, (), root.taken, cfg.max_depth):
            run.hopeless = True
        elif cfg.strategy is Strategy.EXHAUSTIVE and not cfg.bound:
            self._dfs(run, root)  # every chain: depth first, the cheapest order
        else:
            self._best_first(run, root)
        return run

    def _dfs(self, run: _Run, state: _State) -> None:
        """Depth-first, for unbounded exhaustive search: it visits every chain, so the order only has to
        be cheap."""
        remaining = run.config.max_depth - len(state.steps)
        if remaining <= 0:
            return
        for child, outputs in self._children(run, state, remaining):
            if run.expanded >= run.config.max_expansions:
                run.truncated = True
                return
            if self._accept(run, child, outputs):
                self._dfs(run, child)
                if run.truncated:
                    return

    def _best_first(self, run: _Run, root: _State) -> None:
        """Best first by score potential, then length, for every strategy but unbounded exhaustive search.

        A state's *potential* (:func:`_potential`) bounds the score of every solution below it, so
        states leave the queue in the order solutions are ranked: the best solutions are found first
        and the weakest-link bound tightens early; once ``limit`` solutions are in hand, the first entry
        that cannot beat them ends the search (every entry after it has no higher potential). Children
        are made one at a time: after each, the parent goes back in the queue with the next child's
        bound (tools come in score order), so a state with many applicable tools does not make them all
        before its best child is explored. The states that can be reached are those of depth-first
        search: each strategy picks the same children.
        """
        cfg = run.config
        queue: list[tuple[float, int, int, _State, Iterator[_Child] | None]] = [
            (-_potential(run, root), 0, 0, root, None)
        ]
        pushed = 0
        while queue:
            negative, depth, _, state, children = heapq.heappop(queue)
            if _outranked(run, -negative, depth):
                return
            if children is None:
                if depth >= cfg.max_depth:
                    continue
                children = self._children(run, state, cfg.max_depth - depth)
            made = next(children, None)
            if made is None:
                continue
            child, outputs = made
            if run.expanded >= cfg.max_expansions:
                run.truncated = True
                return
            pushed += 1  # the parent's later children come from tools scoring no higher than this one
            later = min(-negative, child.steps[-1].score)
            heapq.heappush(queue, (-later, depth, pushed, state, children))
            if self._accept(run, child, outputs):
                potential = _potential(run, child)
                if not _outranked(run, potential, depth + 1):
                    pushed += 1
                    heapq.heappush(queue, (-potential, depth + 1, pushed, child, None))
            elif cfg.strategy is Strategy.GREEDY and run.solutions:
                return

    def _accept(self, run: _Run, child: _State, outputs: list[str] | None) -> bool:
        """Count a new child; record it if it is a valid solution. True when it is worth expanding further.

        A complete state (every input consumed, the sinks exactly the targets) is a leaf even when a rule
        rejects it: nothing added to it is needed for the types. ``outputs``: its solution outputs when it
        is complete (:meth:`_children` found them; with pruning it has also dropped invalid ones).
        """
        if _outranked(run, child.weakest, len(child.steps)):
            return False
        if run.config.prune:
            if child.names in run.seen:
                return False
            run.seen.add(child.names)
        run.expanded += 1
        if outputs is not None:
            if run.config.prune or self._valid(run, child):
                self._record(run, child, outputs)
            return False
        return True

    def _children(self, run: _Run, state: _State, remaining: int) -> Iterator[_Child]:
        """The children the strategy expands, best-scored first, produced lazily, each with its solution
        outputs if it is complete (:meth:`_solution_outputs`, asked once per child).

        Tools are tried in score order and stop being tried as soon as the strategy has what it keeps
        (the best one, the ``beam_width`` best, those above the threshold), so the cost of a step does
        not grow with the number of applicable tools the strategy would drop anyway. Children are made
        while the caller searches their elder siblings, so the weakest-link bound those searches
        tighten already applies to them. With pruning, cheap per-tool tests run before binding; each is
        implied by :meth:`_viable` on the child; then the tools' rules and the detour proof
        (:meth:`_doomed`) drop children no completion of which could be valid.
        """
        cfg = run.config
        strategy = cfg.strategy
        index = run.index
        wanted = 1 if strategy is Strategy.GREEDY else cfg.beam_width if strategy is Strategy.BEAM else None
        depth = len(state.steps) + 1
        left = remaining - 1  # steps left after this one
        stranded: frozenset[ResourceType] = frozenset()
        if cfg.prune:
            # resources that could not be used after one more step unless this very step consumes them
            stranded = frozenset(
                rtype
                for key, rtype, _ in state.resources
                if key not in state.consumed and _to_target(run, key, rtype) > left
            )
        pools = _binding_pools(state)
        track = bool(index.rules.banned_upstream)
        bits = {key: bit for bit, (key, _, _) in enumerate(state.resources)}
        fragile = self._fragile(run, state, left) if cfg.prune and cfg.minimal and state.open else ()
        first_made = len(run.input_keys)
        # loose made values beyond the targets that the steps after this one could still merge
        slack = (
            left * index.merge_depth
            + run.wanted
            - sum(1 for bit in range(first_made, len(state.resources)) if not state.taken >> bit & 1)
        )
        kept = 0
        for tool_i in self._applicable(run, state, left, stranded):
            if wanted is not None and kept >= wanted:
                return
            score = run.scores[tool_i]
            if strategy is Strategy.ADAPTIVE and kept and score < cfg.threshold:
                return
            weakest = min(state.weakest, score)
            if _outranked(run, weakest, depth):
                return  # later tools score no higher, so they are outranked too
            if cfg.prune and (
                index.net_loose[tool_i] > slack or not index.conflicts[tool_i].isdisjoint(state.used_tools)
            ):
                continue  # leaves more loose ends than can be merged in time (see _viable), or breaks a rule
            spec = index.specs[tool_i]
            binding = _bind(index.plans[tool_i], pools)
            if binding is None:
                continue
            run.candidates += 1
            used = state.taken  # the resources taken once this step is applied, as a bit mask
            for key in binding.taken:
                used |= 1 << bits[key]
            if fragile:
                exposed = [pair for pair in fragile if pair.exposed(binding.taken)]
                if exposed and (
                    _completes(run, state, used, spec.outputs)
                    or any(pair.outnumbered(spec.outputs, _depth(state.steps, binding)) for pair in exposed)
                ):
                    continue  # a pass-through tool that nothing could justify after this step
            name = _canonical(state.resources, bits, spec.name, binding.args)
            names = state.names | {name}
            if cfg.prune:
                if names in run.seen:
                    continue  # the same DAG, reached before in another order
                if not self._viable(run, state.resources, spec.outputs, used, left):
                    continue
            child = _extend(
                state, spec, index.outputs[tool_i], score, binding, name, names, index.through[tool_i], track, bits
            )
            if cfg.prune and (
                not index.banned[tool_i].isdisjoint(child.steps[-1].upstream)
                or (cfg.minimal and (_contains_solution(run, child, depth - 1) or self._doomed(run, child, left)))
            ):
                continue  # no completion could be valid
            outputs = self._solution_outputs(run, child)
            if cfg.prune and outputs is not None and not self._valid(run, child):
                continue  # an invalid complete child (a leaf)
            kept += 1
            yield child, outputs

    def _applicable(self, run: _Run, state: _State, left: int, stranded: frozenset[ResourceType]) -> Iterator[int]:
        """Tools not yet on the path whose required inputs the state can feed, best-scored first.

        With pruning, only tools whose outputs can all still be used with ``left`` steps to go, and that
        take every ``stranded`` type (resources this step must consume), are considered. Lazily: a
        strategy often stops after its first few tools, and a catalogue may have a thousand.
        """
        pool: Sequence[int] = run.order
        if run.config.prune:
            pool, fit = _fitting(run, left)
            if stranded:
                narrow = min((_accepting(run, t) for t in stranded), key=len)
                if len(narrow) < len(pool):
                    pool = [i for i in narrow if i in fit]
        have: dict[ResourceType, int] = {}
        for _, rtype, _ in state.resources:
            have[rtype] = have.get(rtype, 0) + 1
        have_mask = _type_mask(have)
        stranded_mask = _type_mask(stranded)
        index = run.index
        names, need_mask, need_more, used = index.names, index.need_mask, index.need_more, state.used_tools
        input_mask = index.input_mask
        for tool_i in pool:
            if need_mask[tool_i] & ~have_mask or stranded_mask & ~input_mask[tool_i] or names[tool_i] in used:
                continue  # a required type missing, a stranded type it does not take, or already used
            more = need_more[tool_i]
            if more and any(have[t] < n for t, n in more):
                continue
            yield tool_i

    @staticmethod
    def _viable(
        run: _Run,
        resources: Sequence[_Resource],
        outputs: Sequence[OutputSpec],
        used: int,
        remaining: int,
    ) -> bool:
        """Necessary conditions for a state (``resources`` plus the new ``outputs`` of its last tool) to
        still lead to a solution (admissible bounds): every missing target, unconsumed input and dangling
        non-target output can reach a target in time; there are no more loose made values than the steps
        left can merge; and every made value that can meet no other in time has a target of its own.
        ``used``: bit mask of the ``resources`` some step took."""
        inputs = run.input_keys
        first_made = len(inputs)
        targets = run.targets
        made_bound = run.made_bound
        join = run.index.join_steps
        sinks: dict[ResourceType, int] = {}
        loose = alone = 0
        made_types = [o.type for o in outputs]
        for bit, (_, rtype, _) in enumerate(resources):
            if used >> bit & 1:
                continue
            if bit < first_made:  # a subtask input
                if run.given_bound.get(rtype, INF) > remaining:
                    return False
                continue
            made_types.append(rtype)
        for rtype in made_types:  # the new outputs, then the unconsumed values tools made, as before
            loose += 1
            if join.get(rtype, INF) > remaining:
                alone += 1
            if rtype in targets:
                sinks[rtype] = sinks.get(rtype, 0) + 1
            elif made_bound.get(rtype, INF) > remaining:
                return False
        wanted = run.wanted
        if loose - wanted > remaining * run.index.merge_depth:
            return False  # each step brings at most merge_depth loose ends together
        if alone + (alone < loose) > wanted:
            return False  # each value that can meet no other ends in a sink of its own
        for target, needed in targets.items():
            if sinks.get(target, 0) >= needed:
                continue
            given, made = run.target_steps[target]
            if not any(made.get(o.type, INF) <= remaining for o in outputs) and not any(
                (given if k in inputs else made).get(t, INF) <= remaining for k, t, _ in resources
            ):
                return False
        return True

    @staticmethod
    def _fragile(run: _Run, state: _State, left: int) -> tuple[_Fragile, ...]:
        """The state's pass-through tools a next step could doom (:meth:`_doomed` on that child), so such a
        step is not even built. A tool whose output is no target (or is consumed) and whose other inputs
        others use too waits for a later tool taking its passed value and output together; that tool
        must reach past every value of the type that outranks the passed one, and the step adds such
        values when it takes the output (its own are deeper) or when the passed value is a subtask input
        (every made value outranks those). ``left``: steps left after the next one."""
        pairs = []
        fit = _fitting(run, left - 1)[1] if left >= 1 else set()
        for position, passed in state.open:
            step = state.steps[position]
            if step.consumes & state.once & ~(1 << passed):
                continue
            rtype = step.outputs[0][1]
            rank = state.resources[passed][2]
            above = sum(1 for _, t, r in state.resources if t is rtype and r > rank)
            given = passed < len(run.input_keys)
            reach = run.index.combiner_reach(rtype, state.used_tools, fit, given) if left >= 1 else 0
            output = state.resources[(step.makes & -step.makes).bit_length() - 1][0]
            waiting = bool(step.makes & state.taken) or rtype not in run.targets
            passed_key = state.resources[passed][0]
            depth = rank[0]
            pairs.append(_Fragile(output, passed_key, rtype, reach - above - 1, waiting, depth))
        return tuple(pairs)

    @staticmethod
    def _doomed(run: _Run, state: _State, left: int) -> bool:
        """Whether a pass-through tool of ``state`` is a detour in every completion (an admissible proof).

        Its output, once consumed, is no target; an input only it uses stays so only until another tool
        takes it too; a later tool binding the passed value and the output together must reach the passed
        value in the binding order, and values of that type that outrank it never go away. Each tool
        waiting for such a later tool needs a step of its own (up to ``pair_capacity`` per step).
        """
        if not state.open:
            return False
        waiting: set[int] = set()
        for position, passed in state.open:
            step = state.steps[position]
            rtype = step.outputs[0][1]
            if not step.makes & state.taken and rtype in run.targets:
                continue  # may stay a target the passed value cannot be
            if step.consumes & state.once & ~(1 << passed):
                continue  # uses a value nothing else does (yet)
            if left < 1:
                return True
            rank = state.resources[passed][2]
            above = sum(1 for _, t, r in state.resources if t is rtype and r > rank)
            given = passed < len(run.input_keys)
            if run.index.combiner_reach(rtype, state.used_tools, _fitting(run, left - 1)[1], given) < above + 1:
                return True
            waiting.add(position)
        return bool(waiting) and -(-len(waiting) // max(run.index.pair_capacity, 1)) > left

    def _valid(self, run: _Run, state: _State) -> bool:
        """A complete state is a solution unless a tool's rule or a detour rules it out (module docs)."""
        index = run.index
        if index.rules:
            for step in state.steps:
                if not index.rules.conflicts.get(step.tool, frozenset()).isdisjoint(state.used_tools):
                    return False
                if not index.rules.banned_upstream.get(step.tool, frozenset()).isdisjoint(step.upstream):
                    return False
        if not run.config.minimal:
            return True
        # pruned searches tested every part as its last step was added; unpruned ones test it here
        return not ((not run.config.prune and _contains_solution(run, state)) or _has_detour(run, state))

    @staticmethod
    def _solution_outputs(run: _Run, state: _State) -> list[str] | None:
        """The sink keys that satisfy the targets in order, if this state is complete (oldest sink first
        among several of one type, by data-flow recency, so every order of one DAG agrees)."""
        first_made = len(run.input_keys)
        if state.taken & ((1 << first_made) - 1) != (1 << first_made) - 1:
            return None  # an input nobody took
        free = ~state.taken & ((1 << len(state.resources)) - 1)  # every untaken value is a made one here
        if free.bit_count() != run.wanted:
            return None  # too many or too few sinks
        if _type_counts(state.resources, free) != run.target_counts:
            return None
        sinks = [
            (rank, key, rtype)
            for bit, (key, rtype, rank) in enumerate(state.resources)
            if bit >= first_made and not state.taken >> bit & 1
        ]
        sinks.sort()
        outputs: list[str] = []
        used: set[str] = set()
        for target in run.subtask.target_types:
            key = next(k for _, k, t in sinks if t is target and k not in used)
            used.add(key)
            outputs.append(key)
        return outputs

    @staticmethod
    def _record(run: _Run, state: _State, outputs: list[str]) -> None:
        """Keep a solution: plain data until it is among those returned (most never are)."""
        steps = state.steps
        resolved = ",".join(_resolve(steps, key) for key in outputs)
        signature = " | ".join(sorted(state.names)) + " => " + resolved  # canonical_signature, from names
        if signature in run.solutions:
            return
        run.solutions[signature] = _Found(signature, state, tuple(outputs))
        if run.config.bound:
            run.best.append((-state.weakest, len(steps)))
            run.best.sort()
            del run.best[run.limit :]

    # --- diagnostics ----------------------------------------------------------------------------

    def _structural_failure(self, subtask: Subtask, cfg: SearchConfig, run: _Run) -> str | None:
        """Why no chain can exist at all, whatever the strategy (None: the graph allows one)."""
        have = sorted({r.type.value for r in subtask.inputs})
        have_text = "{" + ", ".join(have) + "}"
        for target in sorted(run.targets):
            if not self.graph.can_reach(have, target):
                return f"no solution: target {target.value} unreachable from {have_text} with any tool"
            if not run.index.graph.can_reach(have, target):
                return (
                    f"no solution: target {target.value} is reachable from {have_text} only with tools outside "
                    f"the domains {sorted(subtask.domains)}"
                )
            steps = min((run.target_steps[target][0].get(ResourceType(x), INF) for x in have), default=INF)
            if steps > cfg.max_depth:
                return (
                    f"no solution: target {target.value} needs at least {steps} tool steps from {have_text}, "
                    f"more than max_depth={cfg.max_depth}"
                )
        for ref in subtask.inputs:
            if run.given_bound.get(ref.type, INF) > cfg.max_depth:
                wanted = ", ".join(sorted(t.value for t in run.targets))
                return (
                    f"no solution: input {ref.type.value} ({ref.value!r}) cannot be used by any chain of at most "
                    f"{cfg.max_depth} tools that produces {wanted}; every input must be consumed"
                )
        return None

    def _explain_failure(self, subtask: Subtask, cfg: SearchConfig, run: _Run) -> str:
        structural = self._structural_failure(subtask, cfg, run)
        if structural is not None:
            return structural
        have_text = "{" + ", ".join(sorted({r.type.value for r in subtask.inputs})) + "}"
        if run.truncated:
            return f"no solution found within max_expansions={cfg.max_expansions}; the search was cut short"
        if cfg.strategy in (Strategy.GREEDY, Strategy.BEAM, Strategy.ADAPTIVE):
            return (
                f"no solution: the {cfg.strategy.value} strategy found no chain that consumes every input "
                f"{have_text} and produces exactly {sorted(t.value for t in run.targets.elements())}; "
                "try strategy 'exhaustive'"
            )
        return (
            f"no solution: no chain of at most {cfg.max_depth} tools consumes every input {have_text} and "
            f"produces exactly {sorted(t.value for t in run.targets.elements())} with nothing left unused "
            "(and no tool a detour or against a rule of the catalogue)"
        )


def _contains_solution(run: _Run, state: _State, newest: int | None = None) -> bool:
    """Whether a proper part of the chain is complete by itself: some of its steps, each with every step
    that feeds it, bindings unchanged, consume every subtask input and leave exactly the targets.

    Such a chain does everything the subtask asks and then more (a caption, then a second description
    merged into it). Any chain extending it still contains that part, so the search stops there.
    ``newest``: only parts containing this step (the others were checked when it was added).
    """
    steps = state.steps
    count = len(steps)
    if newest is not None:
        # every part holding the newest step keeps its outputs as sinks (nothing has consumed them)
        outputs = steps[newest].outputs
        if len(outputs) > run.wanted or any(rtype not in run.targets for _, rtype in outputs):
            return False
    everything = (1 << count) - 1
    core = 0 if newest is None else steps[newest].needs | 1 << newest
    free = [q for q in range(count) if not core >> q & 1]
    inputs = (1 << len(run.input_keys)) - 1
    wanted = run.wanted
    for mask in range(1 << len(free)):
        part = core
        for i, q in enumerate(free):
            if mask >> i & 1:
                part |= 1 << q
        if part in (0, everything):
            continue
        consumed = made = 0
        closed = True
        for q in range(count):
            if part >> q & 1:
                step = steps[q]
                if step.needs & ~part:
                    closed = False
                    break
                consumed |= step.consumes
                made |= step.makes
        if not closed or consumed & inputs != inputs:
            continue
        sinks = made & ~consumed
        if sinks.bit_count() != wanted:
            continue
        if _type_counts(state.resources, sinks) == run.target_counts:
            return True
    return False


def _has_detour(run: _Run, state: _State) -> bool:
    """Whether some pass-through tool of a complete state can be bypassed, the chain staying a solution.

    Bypassing tool P (passed value r, output o) rewires o's consumers to r. That breaks the chain exactly
    when o is a target that r cannot be (r is a subtask input, or something else consumes r); when P
    uses some other value nothing else does (it would be left unused); or when one tool takes both r and
    o (it would take r twice). Rules only forbid tools and data flow, so removing a tool breaks none.
    """
    uses = Counter(key for step in state.steps for _, key in step.args)
    for position, step in enumerate(state.steps):
        if not step.through:
            continue
        output = f"a{position + 1}.{step.outputs[0][0]}"
        for passed in step.through:
            if output not in state.consumed and (passed in run.input_keys or uses[passed] > 1):
                continue
            if any(uses[key] == 1 for _, key in step.args if key != passed):
                continue
            if any(
                i != position and any(k == output for _, k in other.args) and any(k == passed for _, k in other.args)
                for i, other in enumerate(state.steps)
            ):
                continue
            return True
    return False


def _outranked(run: _Run, weakest: float, length: int) -> bool:
    """Branch and bound on the weakest link: adding tools never raises a chain's lowest score nor
    shortens it, so once ``limit`` solutions are in hand, a state whose weakest score is already below
    the worst of them (or equal, and longer) cannot reach the results. Every strategy uses it; exhaustive
    search still returns the ``top_k`` of all chains, as it keeps every tool the others would drop."""
    if not run.config.bound or len(run.best) < run.limit:
        return False
    worst_score, worst_length = run.best[-1]
    score = -weakest
    return score > worst_score or (score == worst_score and length > worst_length)


def _potential(run: _Run, state: _State) -> float:
    """An upper bound on the score of any solution that extends ``state`` (admissible, so the bound
    stays exact): its weakest tool so far, and for every missing target the best-scored tool that
    produces that type, for every resource still to be used the widest path from it to a target in the
    steps left (:func:`_widest`), for more made values than targets the k-th best merging tool (k
    merges are needed, no tool twice), and for a pass-through tool that only a later tool taking its
    input and output can justify, the best such tool."""
    bound = state.weakest
    steps_left = run.config.max_depth - len(state.steps)
    first_made = len(run.input_keys)
    sinks: dict[ResourceType, int] = {}
    loose = 0
    widest = run.widest
    for bit, (_, rtype, _) in enumerate(state.resources):
        if state.taken >> bit & 1:
            continue
        made = bit >= first_made
        if made:
            loose += 1
            if rtype in run.targets:
                sinks[rtype] = sinks.get(rtype, 0) + 1
                continue
        # an input, or a made value that is no target: some tool must still take it to a target
        width = widest.get((rtype, steps_left, made))  # _widest's memo, read here: this loop is hot
        if width is None:
            width = _widest(run, rtype, steps_left, made)
        if width < bound:
            bound = width
    for target, needed in run.targets.items():
        if sinks.get(target, 0) < needed:
            bound = min(bound, run.best_producer.get(target, 0.0))
    if loose > run.wanted:  # more made values than targets: that many merges, by distinct tools
        needed = -(-(loose - run.wanted) // max(run.index.merge_depth, 1))
        mergers = run.merger_scores
        bound = min(bound, mergers[needed - 1] if needed <= len(mergers) else 0.0)
    for position, passed in state.open:
        step = state.steps[position]
        if step.makes & state.taken and not step.consumes & state.once & ~(1 << passed):
            # only a later tool taking its input and output together can justify this pass-through tool
            bound = min(bound, run.best_combiner.get(step.outputs[0][1], 0.0))
    return bound


def _to_target(run: _Run, key: str, rtype: ResourceType) -> float:
    """Fewest steps before an unconsumed value stops being a loose end: 0 for a made value of a target
    type (it may be one), else the steps from it to a target."""
    if key in run.input_keys:
        return run.given_bound.get(rtype, INF)
    return 0 if rtype in run.targets else run.made_bound.get(rtype, INF)


def _useless(index: _Index, subtask: Subtask, targets: Counter[ResourceType]) -> frozenset[int]:
    """:attr:`_Run.useless`: what :meth:`ToGPlanner._doomed` would say of every child such a tool makes
    (cached per index by target and input types, all it depends on)."""
    given = frozenset(ref.type for ref in subtask.inputs)
    key = (tuple(sorted(targets)), given)
    if key not in index.useless:
        index.useless[key] = _find_useless(index, given, targets)
    return index.useless[key]


def _find_useless(index: _Index, given: frozenset[ResourceType], targets: Counter[ResourceType]) -> frozenset[int]:
    useless = set()
    for tool_i, spec in enumerate(index.specs):
        through = index.through[tool_i]
        if len(through) != 1:
            continue  # not a pass-through tool, or one taking two values of the type (they may differ)
        rtype = spec.outputs[0].type
        others = [inp for inp in spec.inputs if inp.name not in through]
        if rtype in targets or index.combiners.get(rtype) or any(i.required or i.type in given for i in others):
            continue
        useless.add(tool_i)
    return frozenset(useless)


def _widest(run: _Run, rtype: ResourceType, steps: int, made: bool) -> float:
    """The best weakest score of a chain of tools taking a value of ``rtype`` to a target within ``steps``
    (the widest path; 0 when there is none): a relaxation, since the value's consumer and one of its
    outputs' consumers, and so on, are all in any solution that uses it. ``made``: a value a tool made,
    which binds only required inputs that are not ``from_subtask``; a subtask input binds any."""
    key = (rtype, steps, made)
    if key not in run.widest:
        best = 0.0
        if steps > 0:
            feeds = run.index.feeds if made else run.index.input_types
            for tool_i in run.order:  # best first: nothing after a tool scoring at most `best` can beat it
                score = run.scores[tool_i]
                if score <= best:
                    break
                if rtype not in feeds[tool_i]:
                    continue
                onward = max(
                    INF if o.type in run.targets else _widest(run, o.type, steps - 1, True)
                    for o in run.index.specs[tool_i].outputs
                )
                best = max(best, min(score, onward))
        run.widest[key] = best
    return run.widest[key]


def _fitting(run: _Run, left: int) -> tuple[list[int], set[int]]:
    """Tools (in score order, and as a set) whose every output can still be used with ``left`` steps
    to go after them: one reaches a target in time and none would be left dangling."""
    if left not in run.fits:
        fit = [i for i in run.order if run.tool_bound[i] <= left and run.tool_worst[i] <= left and i not in run.useless]
        run.fits[left] = (fit, set(fit))
    return run.fits[left]


def _accepting(run: _Run, rtype: ResourceType) -> list[int]:
    """Tools taking ``rtype`` as any input, in score order."""
    if rtype not in run.accepting:
        run.accepting[rtype] = [i for i in run.order if rtype in run.index.input_types[i]]
    return run.accepting[rtype]


_Pool = tuple[list[str], list[str], list[str]]


def _binding_pools(state: _State) -> dict[ResourceType, _Pool]:
    """Per type, the keys a required input may bind to (unconsumed first, each most recent first), those
    an optional input may bind to (unconsumed subtask inputs only) and those a ``from_subtask`` input may
    bind to (subtask inputs, unconsumed first). Recency is the data-flow rank, so the pools do not depend
    on the order the state's tools were applied in."""
    pools: dict[ResourceType, _Pool] = {}
    ordered = sorted(state.resources, key=lambda r: r[2], reverse=True)
    for key, rtype, _ in ordered:
        required, optional, given = pools.setdefault(rtype, ([], [], []))
        if key not in state.consumed:
            required.append(key)
            if key.startswith("input:"):
                optional.append(key)
                given.append(key)
    for key, rtype, _ in ordered:
        if key in state.consumed:
            pools[rtype][0].append(key)
            if key.startswith("input:"):
                pools[rtype][2].append(key)
    return pools


@dataclass(slots=True, eq=False)
class _Binding:
    args: tuple[tuple[str, str], ...]  # sorted by argument name
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...]
    defaulted: tuple[str, ...]
    taken: frozenset[str]


_NO_POOL: _Pool = ([], [], [])

# Which of a type's pools (:func:`_binding_pools`) an input draws from: its position in the pool tuple.
_REQUIRED, _OPTIONAL, _GIVEN = 0, 1, 2


def _pool_kind(inp: InputSpec) -> int:
    """:attr:`_Index.plans` entry: an option binds like :data:`_OPTIONAL`, a required ``from_subtask``
    input like :data:`_GIVEN`, every other required input like :data:`_REQUIRED`."""
    return _OPTIONAL if not inp.required else _GIVEN if inp.from_subtask else _REQUIRED


def _bind(plan: tuple[tuple[str, ResourceType, int], ...], pools: dict[ResourceType, _Pool]) -> _Binding | None:
    """Bind a tool's inputs (``plan``: :attr:`_Index.plans`) by type (``None`` if a required one cannot be bound).

    A required input prefers a resource nobody consumed yet, then the most recent; an option (an angle,
    a strength) binds only to an unconsumed subtask input, never to another tool's output; a required
    ``from_subtask`` input (a question) binds to a subtask input, preferring one nobody consumed yet.
    """
    args: list[tuple[str, str]] = []
    ambiguous: list[tuple[str, tuple[str, ...]]] = []
    defaulted: list[str] = []
    taken: set[str] = set()
    for name, rtype, kind in plan:
        pool = pools.get(rtype, _NO_POOL)[kind]
        ranked = [k for k in pool if k not in taken] if taken else pool
        if not ranked:
            if kind != _OPTIONAL:
                return None
            defaulted.append(name)
            continue
        args.append((name, ranked[0]))
        taken.add(ranked[0])
        if len(ranked) > 1:
            ambiguous.append((name, tuple(ranked)))
    return _Binding(tuple(sorted(args)), tuple(ambiguous), tuple(defaulted), frozenset(taken))


def _completes(run: _Run, state: _State, used: int, outputs: Sequence[OutputSpec]) -> bool:
    """Whether applying a tool that makes ``outputs`` leaves a complete state (a leaf); ``used``: bit mask of
    the state's resources taken once it is applied. Counts first: most steps leave the wrong number of sinks."""
    free = ~used & ((1 << len(state.resources)) - 1)
    if free & ((1 << len(run.input_keys)) - 1):
        return False  # a subtask input nobody takes
    if free.bit_count() + len(outputs) != run.wanted:
        return False
    sinks = _type_counts(state.resources, free)
    for o in outputs:
        sinks[o.type] = sinks.get(o.type, 0) + 1
    return sinks == run.target_counts


def _type_counts(resources: Sequence[_Resource], mask: int) -> dict[ResourceType, int]:
    """How many of the resources in the bit ``mask`` have each type (no zero counts, so two of these
    compare as Counters would)."""
    counts: dict[ResourceType, int] = {}
    while mask:
        low = mask & -mask
        rtype = resources[low.bit_length() - 1][1]
        counts[rtype] = counts.get(rtype, 0) + 1
        mask ^= low
    return counts


def _depth(steps: tuple[_Step, ...], binding: _Binding) -> int:
    """The depth of a step with this binding: one more than its deepest producer (1: subtask inputs only)."""
    return 1 + max(
        (steps[int(key[1 : key.index(".")]) - 1].depth for _, key in binding.args if key[0] == "a"), default=0
    )


def _canonical(
    resources: tuple[_Resource, ...], bits: dict[str, int], tool: str, args: tuple[tuple[str, str], ...]
) -> str:
    """The canonical name of a step: the tool and its arguments resolved to the producing steps' names.
    A made value's rank already holds its resolved name (what :func:`_resolve` gives), a subtask input's
    is empty and the key stands for itself; ``bits``: each resource key's position."""
    return f"{tool}({','.join(f'{name}={resources[bits[key]][2][2] or key}' for name, key in args)})"


def _extend(
    state: _State,
    spec: ToolSpec,
    outputs: tuple[tuple[str, ResourceType], ...],
    score: float,
    binding: _Binding,
    name: str,
    names: frozenset[str],
    through: frozenset[str],
    track_upstream: bool,
    bits: dict[str, int],
) -> _State:
    """The state after applying ``spec`` with ``binding`` (``outputs``: its outputs' names and types;
    ``name``: its canonical name; ``names``: the state's names with it; ``through``: its pass-through
    argument names; ``track_upstream``: the catalogue has ``not_after`` rules to test; ``bits``: each
    resource key's position)."""
    steps = state.steps
    resources = state.resources
    depth = 1
    upstream: set[str] = set()
    needs = 0
    consumes = 0
    for _, key in binding.args:
        consumes |= 1 << bits[key]
        if key[0] == "a":
            position = int(key[1 : key.index(".")]) - 1
            producer = steps[position]
            if producer.depth >= depth:
                depth = producer.depth + 1
            needs |= producer.needs | 1 << position
            if track_upstream:
                upstream |= producer.upstream
                upstream.add(producer.tool)
    first = len(resources)
    passed = tuple(key for arg, key in binding.args if arg in through) if through else ()
    step = _Step(
        tool=spec.name,
        args=binding.args,
        outputs=outputs,
        ambiguous=binding.ambiguous,
        defaulted=binding.defaulted,
        score=score,
        name=name,
        depth=depth,
        upstream=frozenset(upstream),
        through=passed,
        needs=needs,
        consumes=consumes,
        makes=((1 << len(outputs)) - 1) << first,
    )
    position = len(steps)
    action_id = f"a{position + 1}"
    still_open = state.open
    if still_open:
        still_open = tuple((p, bit) for p, bit in still_open if not (consumes >> bit & 1 and steps[p].makes & consumes))
    if passed:
        still_open += tuple((position, bits[key]) for key in passed)
    taken = state.taken
    return _State(
        steps=(*steps, step),
        resources=(
            *resources,
            *[(f"{action_id}.{out}", rtype, (depth, 0, f"{name}.{out}")) for out, rtype in outputs],
        ),
        consumed=state.consumed | binding.taken,
        used_tools=state.used_tools | {spec.name},
        names=names,
        weakest=min(state.weakest, score),
        taken=taken | consumes,
        once=(state.once & ~consumes) | (consumes & ~taken),
        open=still_open,
    )


def _resolve(steps: tuple[_Step, ...], key: str) -> str:
    """A resource key with the action id replaced by the producing step's canonical name."""
    if key.startswith("input:"):
        return key
    action_id, out = key.split(".", 1)
    return f"{steps[int(action_id[1:]) - 1].name}.{out}"


@dataclass(frozen=True, slots=True)
class _Found:
    """A recorded solution before it becomes a pydantic :class:`Solution` (only the returned ones do)."""

    signature: str  # what :meth:`Solution.signature` gives for it
    state: _State
    outputs: tuple[str, ...]

    def rank(self) -> tuple[float, int, float, str]:
        """Weakest link first, then fewer tools, then mean relevance, then a stable tie-break.

        Ranking by mean relevance alone rewards padding a chain with relevant-sounding but needless tools
        (caption -> text_to_image -> VQA -> speech beat caption -> speech on ControlLLM's catalogue);
        the weakest tool's score never rises when a tool is added, so a padded chain cannot win.
        """
        scores = [step.score for step in self.state.steps]
        return (-self.state.weakest, len(scores), -sum(scores) / len(scores), self.signature)

    def solution(self, subtask_id: int) -> Solution:
        steps = self.state.steps
        return Solution(
            subtask_id=subtask_id,
            actions=[step.action(i) for i, step in enumerate(steps)],
            outputs=list(self.outputs),
            score=self.state.weakest,
            tool_scores={step.tool: step.score for step in steps},
        )

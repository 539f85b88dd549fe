"""Thoughts-on-Graph search: find tool chains that turn a subtask's typed inputs into its target types.

The search is depth-first over *states* (the actions taken so far and the resources they made). At each
state the applicable tools are those not yet on the path whose required inputs can all be bound by type
to distinct available resources. A strategy decides which of them to expand:

* ``greedy``  — the best-scored tool only (finds at most one solution);
* ``beam``    — the ``beam_width`` best (returns at most ``beam_width`` solutions);
* ``adaptive``— every tool scoring at least ``threshold`` (always at least the best one);
* ``exhaustive`` — all of them (scores only rank the results).

A state is a solution when every subtask input has been consumed and the produced resources nobody
consumed ("sinks") are exactly the target types: nothing is left dangling, nothing is missing.

**Reachability pruning.** For each target type ``t`` the tool graph gives ``steps_t[x]``, a lower bound
on the tool steps needed to produce a new ``t`` starting from type ``x`` (see
:meth:`graph.toolgraph.ToolGraph.steps_to`). With ``r`` steps left, a tool is expanded only if one of
its outputs is a target or can reach one in ``r - 1`` steps, and a state is kept only if every missing
target, every unconsumed input and every dangling non-target output can still reach a target in the
remaining steps. Every bound is a relaxation, so pruning never removes a solution; the property test
in ``tests/graph/test_search_pruning.py`` checks this against the unpruned search on random graphs.

**Binding.** A required input binds to an available resource of its type, preferring one nobody has
consumed yet, then the most recent; an optional input binds only to an unconsumed *subtask input* of its
type (options such as an angle come from the user, not from another tool) and otherwise keeps its default.
When several resources fit, the candidates are recorded on the action
(``Action.ambiguous``) for parameter inference to revisit.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from graph.assessors import Assessor, UniformAssessor
from graph.errors import NoSolutionError
from graph.plan import Action, ResourceRef, Solution, Subtask, canonical_signature, input_key
from graph.spec import ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import ResourceType

INF = math.inf


class Strategy(StrEnum):
    GREEDY = "greedy"
    BEAM = "beam"
    ADAPTIVE = "adaptive"
    EXHAUSTIVE = "exhaustive"


class SearchConfig(BaseModel):
    """Knobs of one search. Defaults follow ControlLLM (depth 5, adaptive) with a safety budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = Strategy.ADAPTIVE
    max_depth: int = Field(default=5, ge=1, le=12)
    beam_width: int = Field(default=3, ge=1)
    threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    top_k: int = Field(default=5, ge=1)
    prune: bool = True
    """Reachability pruning (never changes the solutions; off only to measure what it saves)."""
    bound: bool = True
    """Weakest-link branch and bound for greedy/beam/adaptive (never changes the returned solutions)."""
    max_expansions: int = Field(default=200_000, ge=1)
    """Stop after creating this many search states; the result is then marked ``truncated``."""


class SearchResult(BaseModel):
    """Ranked solutions plus what the search cost."""

    solutions: list[Solution]
    strategy: Strategy
    expanded: int
    """Search states created (each is one tool applied to a state)."""
    candidates: int
    """Tool applications considered: tools bound to a state before the strategy had what it keeps."""
    found: int
    """Distinct valid solutions found before ranking and truncation to ``top_k``."""
    truncated: bool
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
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

    def action(self, position: int) -> Action:
        return Action(
            id=f"a{position + 1}",
            tool=self.tool,
            args=dict(self.args),
            outputs=dict(self.outputs),
            ambiguous={k: list(v) for k, v in self.ambiguous},
            defaulted=list(self.defaulted),
        )


@dataclass(frozen=True, slots=True)
class _State:
    steps: tuple[_Step, ...]
    resources: tuple[tuple[str, ResourceType], ...]  # in order of appearance: inputs, then outputs
    consumed: frozenset[str]
    used_tools: frozenset[str]
    names: frozenset[str]  # canonical names of the steps: identifies the DAG (no tool twice on a path)
    weakest: float  # lowest assessor score among the steps (INF at the root)


def _root(subtask: Subtask) -> _State:
    return _State(
        steps=(),
        resources=tuple((input_key(i), ref.type) for i, ref in enumerate(subtask.inputs)),
        consumed=frozenset(),
        used_tools=frozenset(),
        names=frozenset(),
        weakest=INF,
    )


@dataclass(slots=True)
class _Index:
    """Per domain filter: the tools, who accepts what, and reachability tables (built once, reused)."""

    graph: ToolGraph
    specs: list[ToolSpec]
    names: list[str]
    by_input_type: dict[ResourceType, list[int]]
    no_input: list[int]
    required: list[Counter[ResourceType]]
    single: list[ResourceType | None]  # the type of a tool's only required input (taken once), if so
    input_types: list[frozenset[ResourceType]]
    steps: dict[ResourceType, dict[ResourceType, int]] = field(default_factory=dict)
    bounds: dict[tuple[ResourceType, ...], tuple[list[float], list[float], dict[ResourceType, float]]] = field(
        default_factory=dict
    )

    def steps_to(self, target: ResourceType) -> dict[ResourceType, int]:
        if target not in self.steps:
            self.steps[target] = self.graph.steps_to(target)
        return self.steps[target]

    def bounds_for(self, targets: Iterable[ResourceType]) -> tuple[list[float], list[float], dict[ResourceType, float]]:
        """Per tool, the fewest steps from its outputs to a target (0 = produces one) and the most steps
        one of its non-target outputs needs to reach one; per type, the fewest steps to any target."""
        key = tuple(sorted(set(targets)))
        if key not in self.bounds:
            type_bound: dict[ResourceType, float] = {}
            for target in key:
                for rtype, n in self.steps_to(target).items():
                    type_bound[rtype] = min(type_bound.get(rtype, INF), n)
            tool_bound: list[float] = []
            tool_worst: list[float] = []
            for spec in self.specs:
                others = [type_bound.get(o.type, INF) for o in spec.outputs if o.type not in key]
                tool_bound.append(0 if len(others) < len(spec.outputs) else min(others))
                tool_worst.append(max(others, default=0))
            self.bounds[key] = (tool_bound, tool_worst, type_bound)
        return self.bounds[key]


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
    best_consumer: dict[ResourceType, float]  # per type: the highest score of a tool taking it
    targets: Counter[ResourceType]
    input_keys: frozenset[str]
    tool_bound: list[float]  # per tool: fewest steps from its outputs to a target (0 = produces one)
    tool_worst: list[float]  # per tool: most steps one of its non-target outputs needs to reach a target
    type_bound: dict[ResourceType, float]  # per type: fewest steps to any target
    target_steps: dict[ResourceType, dict[ResourceType, int]]
    limit: int  # how many solutions the caller gets back
    solutions: dict[str, Solution] = field(default_factory=dict)
    best: list[tuple[float, int]] = field(default_factory=list)  # (-score, length) of the `limit` best
    seen: set[frozenset[str]] = field(default_factory=set)
    expanded: int = 0
    candidates: int = 0
    truncated: bool = False


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
        """
        cfg = config or self.config
        if overrides:
            cfg = SearchConfig.model_validate({**cfg.model_dump(), **overrides})
        started = time.perf_counter()
        run = self._prepare(subtask, cfg)
        root = _root(subtask)
        if not cfg.prune or self._viable(run, root.resources, root.consumed, cfg.max_depth):
            if cfg.strategy is Strategy.EXHAUSTIVE:
                self._dfs(run, root)
            else:
                self._best_first(run, root)
        ranked = sorted(run.solutions.values(), key=_rank_key)
        result = SearchResult(
            solutions=ranked[: run.limit],
            strategy=cfg.strategy,
            expanded=run.expanded,
            candidates=run.candidates,
            found=len(run.solutions),
            truncated=run.truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
        if not result.solutions:
            raise NoSolutionError(
                self._explain_failure(subtask, cfg, run),
                subtask=subtask.id,
                expanded=run.expanded,
                candidates=run.candidates,
                truncated=run.truncated,
            )
        return result

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
            for i, spec in enumerate(specs):
                req = Counter(inp.type for inp in spec.required_inputs)
                required.append(req)
                if not req:
                    no_input.append(i)
                for rtype in req:
                    by_type.setdefault(rtype, []).append(i)
            self._indexes[key] = _Index(
                graph=graph,
                specs=specs,
                names=[spec.name for spec in specs],
                by_input_type=by_type,
                no_input=no_input,
                required=required,
                single=[next(iter(req)) if sum(req.values()) == 1 else None for req in required],
                input_types=[spec.input_types for spec in specs],
            )
        return self._indexes[key]

    def _prepare(self, subtask: Subtask, cfg: SearchConfig) -> _Run:
        index = self._index(subtask.domains)
        by_name = self.assessor.score(subtask.description, index.specs) if index.specs else {}
        scores = [by_name.get(spec.name, 0.0) for spec in index.specs]
        order = sorted(range(len(index.specs)), key=lambda i: (-scores[i], index.specs[i].name))
        best_producer: dict[ResourceType, float] = {}
        best_consumer: dict[ResourceType, float] = {}
        for tool_i in reversed(order):  # ascending score: the last write per type is the highest
            for rtype in index.specs[tool_i].output_types:
                best_producer[rtype] = scores[tool_i]
            for rtype in index.input_types[tool_i]:
                best_consumer[rtype] = scores[tool_i]
        targets = Counter(subtask.target_types)
        target_steps = {t: index.steps_to(t) for t in targets}
        tool_bound, tool_worst, type_bound = index.bounds_for(targets)
        return _Run(
            subtask=subtask,
            config=cfg,
            index=index,
            scores=scores,
            order=order,
            fits={},
            accepting={},
            best_producer=best_producer,
            best_consumer=best_consumer,
            targets=targets,
            input_keys=frozenset(input_key(i) for i in range(len(subtask.inputs))),
            tool_bound=tool_bound,
            tool_worst=tool_worst,
            type_bound=type_bound,
            target_steps=target_steps,
            limit=min(cfg.top_k, cfg.beam_width) if cfg.strategy is Strategy.BEAM else cfg.top_k,
        )

    # --- search ---------------------------------------------------------------------------------

    def _dfs(self, run: _Run, state: _State) -> None:
        """Depth-first, for exhaustive search: it visits every chain, so the order only has to be cheap."""
        remaining = run.config.max_depth - len(state.steps)
        if remaining <= 0:
            return
        for child in self._children(run, state, remaining):
            if run.expanded >= run.config.max_expansions:
                run.truncated = True
                return
            if self._accept(run, child):
                self._dfs(run, child)
                if run.truncated:
                    return

    def _best_first(self, run: _Run, root: _State) -> None:
        """Best first by score potential, then length, for greedy, beam and adaptive search.

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
        queue: list[tuple[float, int, int, _State, Iterator[_State] | None]] = [
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
            child = next(children, None)
            if child is None:
                continue
            if run.expanded >= cfg.max_expansions:
                run.truncated = True
                return
            pushed += 1  # the parent's later children come from tools scoring no higher than this one
            later = min(-negative, child.steps[-1].score)
            heapq.heappush(queue, (-round(later, 6), depth, pushed, state, children))
            if self._accept(run, child):
                potential = _potential(run, child)
                if not _outranked(run, potential, depth + 1):
                    pushed += 1
                    heapq.heappush(queue, (-round(potential, 6), depth + 1, pushed, child, None))
            elif cfg.strategy is Strategy.GREEDY and run.solutions:
                return

    def _accept(self, run: _Run, child: _State) -> bool:
        """Count a new child; record it if it is a solution. True when it is worth expanding further."""
        if child.names in run.seen or _outranked(run, child.weakest, len(child.steps)):
            return False
        run.seen.add(child.names)
        run.expanded += 1
        outputs = self._solution_outputs(run, child)
        if outputs is not None:
            self._record(run, child, outputs)
            return False
        return True

    def _children(self, run: _Run, state: _State, remaining: int) -> Iterator[_State]:
        """The children the strategy expands, best-scored first, produced lazily.

        Tools are tried in score order and stop being tried as soon as the strategy has what it keeps
        (the best one, the ``beam_width`` best, those above the threshold), so the cost of a step does
        not grow with the number of applicable tools the strategy would drop anyway. Children are made
        while the caller searches their elder siblings, so the weakest-link bound those searches
        tighten already applies to them. With pruning, cheap per-tool tests run before binding; each is
        implied by :meth:`_viable` on the child.
        """
        cfg = run.config
        strategy = cfg.strategy
        wanted = 1 if strategy is Strategy.GREEDY else cfg.beam_width if strategy is Strategy.BEAM else None
        depth = len(state.steps) + 1
        left = remaining - 1  # steps left after this one
        stranded: frozenset[ResourceType] = frozenset()
        if cfg.prune:
            # resources that could not be used after one more step unless this very step consumes them
            stranded = frozenset(
                rtype
                for key, rtype in state.resources
                if key not in state.consumed
                and (key in run.input_keys or rtype not in run.targets)
                and run.type_bound.get(rtype, INF) > left
            )
        pools = _binding_pools(state)
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
            spec = run.index.specs[tool_i]
            binding = _bind(spec, pools)
            if binding is None:
                continue
            run.candidates += 1
            if cfg.prune:
                resources = (*state.resources, *((f"a{depth}.{o.name}", o.type) for o in spec.outputs))
                if not self._viable(run, resources, state.consumed | binding.taken, left):
                    continue
            kept += 1
            yield _extend(state, spec, score, binding)

    def _applicable(self, run: _Run, state: _State, left: int, stranded: frozenset[ResourceType]) -> Iterator[int]:
        """Tools not yet on the path whose required inputs the state can feed, best-scored first.

        With pruning, only tools whose outputs can all still be used with ``left`` steps to go, and that
        take every ``stranded`` type (resources this step must consume), are considered.
        """
        pool: Sequence[int] = run.order
        if run.config.prune:
            pool, fit = _fitting(run, left)
            if stranded:
                narrow = min((_accepting(run, t) for t in stranded), key=len)
                if len(narrow) < len(pool):
                    pool = [i for i in narrow if i in fit]
        have = Counter(t for _, t in state.resources)
        index = run.index
        names, single, required, used = index.names, index.single, index.required, state.used_tools
        input_types = index.input_types
        for tool_i in pool:
            if names[tool_i] in used or (stranded and not stranded <= input_types[tool_i]):
                continue
            only = single[tool_i]
            if only is not None:
                if only in have:
                    yield tool_i
            elif all(have[t] >= n for t, n in required[tool_i].items()):
                yield tool_i

    def _viable(
        self, run: _Run, resources: Sequence[tuple[str, ResourceType]], consumed: frozenset[str], remaining: int
    ) -> bool:
        """Necessary conditions for a state to still lead to a solution (admissible bounds): every
        missing target, unconsumed input and dangling non-target output can reach a target in time."""
        types_here = {t for _, t in resources}
        sinks = Counter(t for k, t in resources if k not in consumed and k not in run.input_keys)
        for target, needed in run.targets.items():
            if sinks[target] >= needed:
                continue
            steps = run.target_steps[target]
            if not any(steps.get(x, INF) <= remaining for x in types_here):
                return False
        for key, rtype in resources:
            if key in consumed:
                continue
            if (key in run.input_keys or rtype not in run.targets) and run.type_bound.get(rtype, INF) > remaining:
                return False
        return True

    @staticmethod
    def _solution_outputs(run: _Run, state: _State) -> list[str] | None:
        """The sink keys that satisfy the targets in order, if this state is a valid solution."""
        if not run.input_keys <= state.consumed:
            return None
        sinks = [(k, t) for k, t in state.resources if k not in state.consumed and k not in run.input_keys]
        if Counter(t for _, t in sinks) != run.targets:
            return None
        outputs: list[str] = []
        used: set[str] = set()
        for target in run.subtask.target_types:
            key = next(k for k, t in sinks if t is target and k not in used)
            used.add(key)
            outputs.append(key)
        return outputs

    @staticmethod
    def _record(run: _Run, state: _State, outputs: list[str]) -> None:
        actions = [step.action(i) for i, step in enumerate(state.steps)]
        signature = canonical_signature(actions, outputs)
        if signature in run.solutions:
            return
        tool_scores = {step.tool: step.score for step in state.steps}
        solution = Solution(
            subtask_id=run.subtask.id,
            actions=actions,
            outputs=outputs,
            score=round(min(tool_scores.values()), 6),
            tool_scores=tool_scores,
        )
        run.solutions[signature] = solution
        if run.config.strategy is not Strategy.EXHAUSTIVE:
            run.best.append((-solution.score, solution.length))
            run.best.sort()
            del run.best[run.limit :]

    # --- diagnostics ----------------------------------------------------------------------------

    def _explain_failure(self, subtask: Subtask, cfg: SearchConfig, run: _Run) -> str:
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
            steps = min((run.target_steps[target].get(ResourceType(x), INF) for x in have), default=INF)
            if steps > cfg.max_depth:
                return (
                    f"no solution: target {target.value} needs at least {steps} tool steps from {have_text}, "
                    f"more than max_depth={cfg.max_depth}"
                )
        for ref in subtask.inputs:
            if run.type_bound.get(ref.type, INF) > cfg.max_depth:
                wanted = ", ".join(sorted(t.value for t in run.targets))
                return (
                    f"no solution: input {ref.type.value} ({ref.value!r}) cannot be used by any chain of at most "
                    f"{cfg.max_depth} tools that produces {wanted}; every input must be consumed"
                )
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
            f"produces exactly {sorted(t.value for t in run.targets.elements())} with nothing left unused"
        )


def _outranked(run: _Run, weakest: float, length: int) -> bool:
    """Branch and bound on the weakest link: adding tools never raises a chain's lowest score nor
    shortens it, so once ``limit`` solutions are in hand, a state whose weakest score is already below
    the worst of them (or equal, and longer) cannot reach the results. Exhaustive search is exempt: it
    enumerates every chain."""
    if not run.config.bound or run.config.strategy is Strategy.EXHAUSTIVE or len(run.best) < run.limit:
        return False
    worst_score, worst_length = run.best[-1]
    score = -round(weakest, 6)
    return score > worst_score or (score == worst_score and length > worst_length)


def _potential(run: _Run, state: _State) -> float:
    """An upper bound on the score of any solution that extends ``state`` (admissible, so the bound
    stays exact): its weakest tool so far, and for every missing target the best-scored tool that
    produces that type, and for every resource still to be used the best-scored tool that takes it."""
    bound = state.weakest
    sinks = Counter(t for k, t in state.resources if k not in state.consumed and k not in run.input_keys)
    for target, needed in run.targets.items():
        if sinks[target] < needed:
            bound = min(bound, run.best_producer.get(target, 0.0))
    for key, rtype in state.resources:
        if key not in state.consumed and (key in run.input_keys or rtype not in run.targets):
            bound = min(bound, run.best_consumer.get(rtype, 0.0))
    return bound


def _fitting(run: _Run, left: int) -> tuple[list[int], set[int]]:
    """Tools (in score order, and as a set) whose every output can still be used with ``left`` steps
    to go after them: one reaches a target in time and none would be left dangling."""
    if left not in run.fits:
        fit = [i for i in run.order if run.tool_bound[i] <= left and run.tool_worst[i] <= left]
        run.fits[left] = (fit, set(fit))
    return run.fits[left]


def _accepting(run: _Run, rtype: ResourceType) -> list[int]:
    """Tools taking ``rtype`` as any input, in score order."""
    if rtype not in run.accepting:
        run.accepting[rtype] = [i for i in run.order if rtype in run.index.input_types[i]]
    return run.accepting[rtype]


def _binding_pools(state: _State) -> dict[ResourceType, tuple[list[str], list[str]]]:
    """Per type, the keys a required input may bind to (unconsumed first, each most recent first) and
    those an optional input may bind to (unconsumed subtask inputs only)."""
    pools: dict[ResourceType, tuple[list[str], list[str]]] = {}
    for key, rtype in reversed(state.resources):
        required, optional = pools.setdefault(rtype, ([], []))
        if key not in state.consumed:
            required.append(key)
            if key.startswith("input:"):
                optional.append(key)
    for key, rtype in reversed(state.resources):
        if key in state.consumed:
            pools[rtype][0].append(key)
    return pools


@dataclass(frozen=True, slots=True)
class _Binding:
    args: tuple[tuple[str, str], ...]  # sorted by argument name
    ambiguous: tuple[tuple[str, tuple[str, ...]], ...]
    defaulted: tuple[str, ...]
    taken: frozenset[str]


def _bind(spec: ToolSpec, pools: dict[ResourceType, tuple[list[str], list[str]]]) -> _Binding | None:
    """Bind the tool's inputs by type (``None`` if a required one cannot be bound).

    A required input prefers a resource nobody consumed yet, then the most recent; an option (an angle,
    a strength) binds only to an unconsumed subtask input, never to another tool's output.
    """
    args: list[tuple[str, str]] = []
    ambiguous: list[tuple[str, tuple[str, ...]]] = []
    defaulted: list[str] = []
    taken: set[str] = set()
    for inp in spec.inputs:
        required, optional = pools.get(inp.type, ((), ()))
        ranked = [k for k in (required if inp.required else optional) if k not in taken]
        if not ranked:
            if inp.required:
                return None
            defaulted.append(inp.name)
            continue
        args.append((inp.name, ranked[0]))
        taken.add(ranked[0])
        if len(ranked) > 1:
            ambiguous.append((inp.name, tuple(ranked)))
    return _Binding(tuple(sorted(args)), tuple(ambiguous), tuple(defaulted), frozenset(taken))


def _extend(state: _State, spec: ToolSpec, score: float, binding: _Binding) -> _State:
    """The state after applying ``spec`` with ``binding``."""
    resolved = ",".join(f"{name}={_resolve(state.steps, key)}" for name, key in binding.args)
    step = _Step(
        tool=spec.name,
        args=binding.args,
        outputs=tuple((o.name, o.type) for o in spec.outputs),
        ambiguous=binding.ambiguous,
        defaulted=binding.defaulted,
        score=score,
        name=f"{spec.name}({resolved})",
    )
    action_id = f"a{len(state.steps) + 1}"
    return _State(
        steps=(*state.steps, step),
        resources=(*state.resources, *((f"{action_id}.{o.name}", o.type) for o in spec.outputs)),
        consumed=state.consumed | binding.taken,
        used_tools=state.used_tools | {spec.name},
        names=state.names | {step.name},
        weakest=min(state.weakest, score),
    )


def _resolve(steps: tuple[_Step, ...], key: str) -> str:
    """A resource key with the action id replaced by the producing step's canonical name."""
    if key.startswith("input:"):
        return key
    action_id, out = key.split(".", 1)
    return f"{steps[int(action_id[1:]) - 1].name}.{out}"


def _rank_key(solution: Solution) -> tuple[float, int, float, str]:
    """Weakest link first, then fewer tools, then mean relevance, then a stable tie-break.

    Ranking by mean relevance alone rewards padding a chain with relevant-sounding but needless tools
    (caption -> text_to_image -> VQA -> speech beat caption -> speech on ControlLLM's catalogue);
    the weakest tool's score never rises when a tool is added, so a padded chain cannot win.
    """
    mean = sum(solution.tool_scores.values()) / max(len(solution.tool_scores), 1)
    return (-solution.score, solution.length, -mean, solution.signature())

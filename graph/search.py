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
type (options such as an angle come from the user, not from another tool) and otherwise keeps its default. When several resources fit, the candidates are recorded on the action
(``Action.ambiguous``) for parameter inference to revisit.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Iterable, Sequence

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
    max_expansions: int = Field(default=200_000, ge=1)
    """Stop after creating this many search states; the result is then marked ``truncated``."""


class SearchResult(BaseModel):
    """Ranked solutions plus what the search cost."""

    solutions: list[Solution]
    strategy: Strategy
    expanded: int
    """Search states created (each is one tool applied to a state)."""
    candidates: int
    """Tool applications considered (applicable tools before strategy selection)."""
    found: int
    """Distinct valid solutions found before ranking and truncation to ``top_k``."""
    truncated: bool
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class _State:
    actions: tuple[Action, ...]
    resources: tuple[tuple[str, ResourceType], ...]  # in order of appearance: inputs, then outputs
    consumed: frozenset[str]
    used_tools: frozenset[str]


@dataclass(slots=True)
class _Index:
    """Per domain filter: the tools, who accepts what, and reachability tables."""

    graph: ToolGraph
    specs: list[ToolSpec]
    by_input_type: dict[ResourceType, list[int]]
    no_input: list[int]
    required: list[Counter[ResourceType]]
    steps: dict[ResourceType, dict[ResourceType, int]] = field(default_factory=dict)

    def steps_to(self, target: ResourceType) -> dict[ResourceType, int]:
        if target not in self.steps:
            self.steps[target] = self.graph.steps_to(target)
        return self.steps[target]


@dataclass(slots=True)
class _Run:
    """Mutable bookkeeping of one search call."""

    subtask: Subtask
    config: SearchConfig
    index: _Index
    scores: dict[str, float]
    targets: Counter[ResourceType]
    input_keys: frozenset[str]
    tool_bound: list[float]  # per tool: fewest steps from its outputs to a target (0 = produces one)
    type_bound: dict[ResourceType, float]  # per type: fewest steps to any target
    target_steps: dict[ResourceType, dict[ResourceType, int]]
    solutions: dict[str, Solution] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
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

    def __init__(
        self, graph: ToolGraph, assessor: Assessor | None = None, config: SearchConfig | None = None
    ) -> None:
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
        root = _State(
            actions=(),
            resources=tuple((input_key(i), ref.type) for i, ref in enumerate(subtask.inputs)),
            consumed=frozenset(),
            used_tools=frozenset(),
        )
        if not cfg.prune or self._viable(run, root):
            self._dfs(run, root)
        ranked = sorted(run.solutions.values(), key=_rank_key)
        limit = min(cfg.top_k, cfg.beam_width) if cfg.strategy is Strategy.BEAM else cfg.top_k
        result = SearchResult(
            solutions=ranked[:limit],
            strategy=cfg.strategy,
            expanded=run.expanded,
            candidates=run.candidates,
            found=len(run.solutions),
            truncated=run.truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
        if not result.solutions:
            raise NoSolutionError(self._explain_failure(subtask, cfg, run), subtask=subtask.id)
        return result

    def search_types(
        self,
        inputs: Sequence[ResourceType | str],
        targets: Sequence[ResourceType | str],
        description: str = "plan",
        domains: Iterable[str] = (),
        **overrides: object,
    ) -> SearchResult:
        """Convenience: search from bare input types to target types."""
        subtask = Subtask(
            id=0,
            description=description,
            task=list(domains),
            args=[ResourceRef(type=t, value=None) for t in inputs],
            returns=[ResourceRef(type=t, value=None) for t in targets],
        )
        return self.search(subtask, **overrides)

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
            self._indexes[key] = _Index(graph, specs, by_type, no_input, required)
        return self._indexes[key]

    def _prepare(self, subtask: Subtask, cfg: SearchConfig) -> _Run:
        index = self._index(subtask.domains)
        scores = self.assessor.score(subtask.description, index.specs) if index.specs else {}
        targets = Counter(subtask.target_types)
        target_steps = {t: index.steps_to(t) for t in targets}
        type_bound: dict[ResourceType, float] = {}
        for steps in target_steps.values():
            for rtype, n in steps.items():
                type_bound[rtype] = min(type_bound.get(rtype, INF), n)
        tool_bound = []
        for spec in index.specs:
            best = INF
            for out in spec.outputs:
                if out.type in targets:
                    best = 0
                    break
                best = min(best, type_bound.get(out.type, INF))
            tool_bound.append(best)
        return _Run(
            subtask=subtask,
            config=cfg,
            index=index,
            scores=scores,
            targets=targets,
            input_keys=frozenset(input_key(i) for i in range(len(subtask.inputs))),
            tool_bound=tool_bound,
            type_bound=type_bound,
            target_steps=target_steps,
        )

    # --- search ---------------------------------------------------------------------------------

    def _dfs(self, run: _Run, state: _State) -> None:
        cfg = run.config
        remaining = cfg.max_depth - len(state.actions)
        if remaining <= 0 or run.truncated:
            return
        children: list[tuple[float, str, _State]] = []
        for tool_i in self._applicable(run, state):
            spec = run.index.specs[tool_i]
            if cfg.prune and run.tool_bound[tool_i] > remaining - 1:
                continue
            child = self._apply(state, spec)
            if child is None:
                continue
            run.candidates += 1
            if cfg.prune and not self._viable(run, child):
                continue
            children.append((run.scores.get(spec.name, 0.0), spec.name, child))
        children.sort(key=lambda c: (-c[0], c[1]))
        for _, _, child in self._select(cfg, children):
            if run.expanded >= cfg.max_expansions:
                run.truncated = True
                return
            key = canonical_signature(list(child.actions), [])
            if key in run.seen:
                continue
            run.seen.add(key)
            run.expanded += 1
            outputs = self._solution_outputs(run, child)
            if outputs is not None:
                self._record(run, child, outputs)
                if cfg.strategy is Strategy.GREEDY:
                    return
                continue
            self._dfs(run, child)
            if cfg.strategy is Strategy.GREEDY and run.solutions:
                return

    @staticmethod
    def _select(
        cfg: SearchConfig, children: list[tuple[float, str, _State]]
    ) -> list[tuple[float, str, _State]]:
        if not children:
            return children
        if cfg.strategy is Strategy.GREEDY:
            return children[:1]
        if cfg.strategy is Strategy.BEAM:
            return children[: cfg.beam_width]
        if cfg.strategy is Strategy.ADAPTIVE:
            kept = [c for c in children if c[0] >= cfg.threshold]
            return kept or children[:1]
        return children

    def _applicable(self, run: _Run, state: _State) -> list[int]:
        have = Counter(t for _, t in state.resources)
        index = run.index
        seen: set[int] = set(index.no_input)
        for rtype in have:
            seen.update(index.by_input_type.get(rtype, ()))
        out = []
        for tool_i in sorted(seen):
            if index.specs[tool_i].name in state.used_tools:
                continue
            if all(have[t] >= n for t, n in index.required[tool_i].items()):
                out.append(tool_i)
        return out

    @staticmethod
    def _apply(state: _State, spec: ToolSpec) -> _State | None:
        """Bind the tool's inputs by type and return the new state (``None`` if it cannot bind)."""
        action_id = f"a{len(state.actions) + 1}"
        recency = {key: pos for pos, (key, _) in enumerate(state.resources)}
        args: dict[str, str] = {}
        ambiguous: dict[str, list[str]] = {}
        defaulted: list[str] = []
        taken: set[str] = set()
        for inp in spec.inputs:
            pool = [k for k, t in state.resources if t is inp.type and k not in taken]
            fresh = [k for k in pool if k not in state.consumed]
            if inp.required:
                ranked = sorted(fresh, key=recency.__getitem__, reverse=True) + sorted(
                    (k for k in pool if k in state.consumed), key=recency.__getitem__, reverse=True
                )
            else:  # options (an angle, a strength) come from the user, never from another tool's output
                ranked = sorted((k for k in fresh if k.startswith("input:")), key=recency.__getitem__, reverse=True)
            if not ranked:
                if inp.required:
                    return None
                defaulted.append(inp.name)
                continue
            args[inp.name] = ranked[0]
            taken.add(ranked[0])
            if len(ranked) > 1:
                ambiguous[inp.name] = ranked
        action = Action(
            id=action_id,
            tool=spec.name,
            args=args,
            outputs={o.name: o.type for o in spec.outputs},
            ambiguous=ambiguous,
            defaulted=defaulted,
        )
        return _State(
            actions=(*state.actions, action),
            resources=(*state.resources, *((action.output_key(o.name), o.type) for o in spec.outputs)),
            consumed=state.consumed | frozenset(args.values()),
            used_tools=state.used_tools | {spec.name},
        )

    def _viable(self, run: _Run, state: _State) -> bool:
        """Necessary conditions for the state to still lead to a solution (admissible bounds)."""
        remaining = run.config.max_depth - len(state.actions)
        types_here = {t for _, t in state.resources}
        sinks = Counter(t for k, t in state.resources if k not in state.consumed and k not in run.input_keys)
        for target, needed in run.targets.items():
            if sinks[target] >= needed:
                continue
            steps = run.target_steps[target]
            if not any(steps.get(x, INF) <= remaining for x in types_here):
                return False
        for key, rtype in state.resources:
            if key in state.consumed:
                continue
            if key in run.input_keys or rtype not in run.targets:
                if run.type_bound.get(rtype, INF) > remaining:
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
        actions = list(state.actions)
        signature = canonical_signature(actions, outputs)
        if signature in run.solutions:
            return
        tool_scores = {a.tool: run.scores.get(a.tool, 0.0) for a in actions}
        score = min(tool_scores.values())
        run.solutions[signature] = Solution(
            subtask_id=run.subtask.id,
            actions=actions,
            outputs=outputs,
            score=round(score, 6),
            tool_scores=tool_scores,
        )

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


def _rank_key(solution: Solution) -> tuple[float, int, float, str]:
    """Weakest link first, then fewer tools, then mean relevance, then a stable tie-break.

    Ranking by mean relevance alone rewards padding a chain with relevant-sounding but needless tools
    (caption -> text_to_image -> VQA -> speech beat caption -> speech on ControlLLM's catalogue);
    the weakest tool's score never rises when a tool is added, so a padded chain cannot win.
    """
    mean = sum(solution.tool_scores.values()) / max(len(solution.tool_scores), 1)
    return (-solution.score, solution.length, -mean, solution.signature())

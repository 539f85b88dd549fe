"""The execution graph: a plan's subtasks with their ranked solutions, compiled and checked before a run.

Each action argument becomes a :data:`Source`: a literal resource of the request, an output of an
earlier action of the same solution, or an output of another subtask (``<GENERATED>-k`` inputs), which
is bound to whichever solution of that subtask succeeds. Every problem in every solution is collected
and raised at once as :class:`ExecutionGraphError`, so nothing runs on a graph that cannot.

    >>> from graph.plan import Plan, Solution, Action
    >>> from tools.registry import default_registry
    >>> plan = Plan.parse({"request": "grey", "subtasks": [{"id": 0, "description": "make it grey",
    ...     "args": [{"type": "image", "value": "photo.png"}], "returns": [{"type": "image"}]}]})
    >>> sol = Solution(subtask_id=0, actions=[Action(id="a0", tool="grayscale_image",
    ...     args={"image": "input:0"}, outputs={"image": "image"})], outputs=["a0.image"])
    >>> compile_graph(plan, {0: [sol]}, default_registry()).subtasks[0].solutions[0].actions[0].tool
    'grayscale_image'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from agent.engine.errors import ExecutionGraphError
from agent.engine.resources import ResourceLoader
from graph.errors import ToGError
from graph.plan import Plan, Solution, Subtask, input_key
from graph.types import ResourceType
from tools.registry import ToolRegistry


@dataclass(frozen=True)
class Literal:
    """A value given with the request (a path, artifact id, text, number, boxes)."""

    value: Any
    type: ResourceType


@dataclass(frozen=True)
class Local:
    """Output ``name`` of action ``action`` of the same solution."""

    action: str
    name: str


@dataclass(frozen=True)
class Upstream:
    """Output ``index`` of subtask ``subtask``, whichever of its solutions produces it."""

    subtask: int
    index: int


Source = Literal | Local | Upstream


@dataclass(frozen=True)
class ActionTemplate:
    id: str
    tool: str
    args: dict[str, Source]
    outputs: tuple[str, ...]

    @property
    def local_deps(self) -> set[str]:
        return {s.action for s in self.args.values() if isinstance(s, Local)}


@dataclass(frozen=True)
class CompiledSolution:
    rank: int
    actions: tuple[ActionTemplate, ...]
    """In a topological order of their data flow."""
    outputs: tuple[Local | Literal | Upstream, ...]
    """What satisfies the subtask's i-th target type."""
    score: float
    tools: tuple[str, ...]


@dataclass(frozen=True)
class CompiledSubtask:
    id: int
    description: str
    solutions: tuple[CompiledSolution, ...]
    upstream: frozenset[int]
    output_types: tuple[ResourceType, ...]


@dataclass
class ExecutionGraph:
    plan: Plan
    subtasks: dict[int, CompiledSubtask] = field(default_factory=dict)

    @property
    def order(self) -> list[int]:
        return self.plan.order()

    def action_count(self, rank: int = 0) -> int:
        return sum(len(s.solutions[rank].actions) for s in self.subtasks.values() if len(s.solutions) > rank)


def compile_graph(
    plan: Plan,
    solutions: Mapping[int, Sequence[Solution]],
    registry: ToolRegistry,
    loader: ResourceLoader | None = None,
) -> ExecutionGraph:
    """Check and compile ``solutions`` (ranked, best first, per subtask id) of ``plan`` against ``registry``.

    The request's resources are loaded here with ``loader`` (default: files and images only, no store),
    so a bad input file is one more listed problem and nothing runs.
    """
    problems: list[str] = []
    loaded = _load_inputs(plan, loader or ResourceLoader(), problems)
    graph = ExecutionGraph(plan=plan)
    known = {s.id for s in plan.subtasks}
    for extra in sorted(set(solutions) - known):
        problems.append(f"solutions given for subtask {extra}, which the plan does not have")
    for sub in plan.subtasks:
        ranked = list(solutions.get(sub.id, ()))
        if not ranked:
            problems.append(f"subtask {sub.id} ({sub.description!r}) has no solution to run")
            continue
        upstream = _check_upstream(plan, sub, problems)
        compiled = []
        for rank, sol in enumerate(ranked):
            where = f"subtask {sub.id}, solution {rank}"
            result = _compile_solution(plan, loaded, sub, sol, rank, registry, where, problems)
            if result is not None:
                compiled.append(result)
        graph.subtasks[sub.id] = CompiledSubtask(
            id=sub.id,
            description=sub.description,
            solutions=tuple(compiled),
            upstream=frozenset(upstream),
            output_types=tuple(o.type for o in sub.outputs),
        )
    if problems:
        raise ExecutionGraphError(
            f"the execution graph has {len(problems)} problem{'s' if len(problems) != 1 else ''}; nothing was run",
            problems,
        )
    return graph


def _check_upstream(plan: Plan, sub: Subtask, problems: list[str]) -> set[int]:
    upstream = set()
    for i, ref in enumerate(sub.inputs):
        k = ref.generated_by
        if k is None:
            continue
        upstream.add(k)
        producer = next((s for s in plan.subtasks if s.id == k), None)
        if producer is not None and ref.type not in {o.type for o in producer.outputs}:
            made = ", ".join(o.type.value for o in producer.outputs) or "nothing"
            problems.append(
                f"subtask {sub.id}, input {i}: wants {ref.type.value} from subtask {k}, which returns {made}"
            )
    return upstream


def upstream_index(plan: Plan, producer: int, rtype: ResourceType) -> int:
    """Which output of subtask ``producer`` a ``<GENERATED>-producer`` input of type ``rtype`` means."""
    outputs = plan.subtask(producer).outputs
    return next(i for i, o in enumerate(outputs) if o.type == rtype)


def _load_inputs(plan: Plan, loader: ResourceLoader, problems: list[str]) -> dict[tuple[int, int], Any]:
    loaded: dict[tuple[int, int], Any] = {}
    for sub in plan.subtasks:
        for i, ref in enumerate(sub.inputs):
            if ref.generated_by is not None:
                continue
            try:
                loaded[(sub.id, i)] = loader.load(ref.value, ref.type)
            except ToGError as exc:
                problems.append(f"subtask {sub.id}, input {i} ({ref.type.value}): {exc.message}")
    return loaded


def _compile_solution(
    plan: Plan,
    loaded: dict[tuple[int, int], Any],
    sub: Subtask,
    sol: Solution,
    rank: int,
    registry: ToolRegistry,
    where: str,
    problems: list[str],
) -> CompiledSolution | None:
    before = len(problems)
    if sol.subtask_id != sub.id:
        problems.append(f"{where}: it says it solves subtask {sol.subtask_id}")
    produced: dict[str, ResourceType] = {}  # "action.output" -> type, as declared by the tools
    ids = [a.id for a in sol.actions]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{where}: action id {dup!r} is used twice")
    order = _topological(sol, where, problems)
    if order is None:
        return None
    templates: list[ActionTemplate] = []
    by_id = {a.id: a for a in sol.actions}
    for action_id in order:
        action = by_id[action_id]
        at = f"{where}, action {action.id!r} ({action.tool})"
        if action.tool not in registry:
            problems.append(f"{at}: unknown tool {action.tool!r}")
            continue
        spec = registry.get(action.tool).spec
        inputs = {i.name: i for i in spec.inputs}
        args: dict[str, Source] = {}
        for name, key in action.args.items():
            if name not in inputs:
                problems.append(f"{at}: the tool has no argument {name!r} (it takes {', '.join(inputs) or 'none'})")
                continue
            source, rtype = _source(plan, loaded, sub, key, produced, by_id, at, problems)
            if source is None:
                continue
            if rtype is not None and rtype != inputs[name].type:
                problems.append(
                    f"{at}: argument {name!r} takes {inputs[name].type.value}, but {key!r} is {rtype.value}"
                )
                continue
            args[name] = source
        for inp in spec.required_inputs:
            if inp.name not in action.args:
                problems.append(f"{at}: required argument {inp.name!r} ({inp.type.value}) is not bound")
        declared = {o.name: o.type for o in spec.outputs}
        for name, rtype in action.outputs.items():
            if name not in declared:
                problems.append(f"{at}: the tool has no output {name!r}")
            elif declared[name] != rtype:
                problems.append(f"{at}: output {name!r} is {declared[name].value}, not {rtype.value}")
        for name, rtype in declared.items():
            produced[action.output_key(name)] = rtype
        templates.append(ActionTemplate(id=action.id, tool=action.tool, args=args, outputs=tuple(declared)))
    outputs: list[Source] = []
    if len(sol.outputs) != len(sub.outputs):
        problems.append(f"{where}: gives {len(sol.outputs)} outputs for {len(sub.outputs)} target types")
    for i, (key, target) in enumerate(zip(sol.outputs, sub.outputs)):
        source, rtype = _source(plan, loaded, sub, key, produced, by_id, f"{where}, output {i}", problems)
        if source is None:
            continue
        if rtype is not None and rtype != target.type:
            problems.append(f"{where}, output {i}: {key!r} is {rtype.value}, the subtask wants {target.type.value}")
        outputs.append(source)
    if len(problems) > before:
        return None
    return CompiledSolution(
        rank=rank, actions=tuple(templates), outputs=tuple(outputs), score=sol.score, tools=tuple(sol.tools)
    )


def _source(
    plan: Plan,
    loaded: dict[tuple[int, int], Any],
    sub: Subtask,
    key: str,
    produced: dict[str, ResourceType],
    by_id: dict[str, Any],
    at: str,
    problems: list[str],
) -> tuple[Source | None, ResourceType | None]:
    if key.startswith("input:"):
        try:
            index = int(key.split(":", 1)[1])
        except ValueError:
            index = -1
        if not 0 <= index < len(sub.inputs) or key != input_key(index):
            problems.append(f"{at}: {key!r} is not an input of the subtask (it has {len(sub.inputs)})")
            return None, None
        ref = sub.inputs[index]
        if ref.generated_by is not None:
            try:
                return Upstream(ref.generated_by, upstream_index(plan, ref.generated_by, ref.type)), ref.type
            except (StopIteration, KeyError, ValueError):
                return None, None  # the mismatch is reported once, by _check_upstream
        if (sub.id, index) not in loaded:
            return None, None  # it failed to load: reported once, by _load_inputs
        return Literal(loaded[(sub.id, index)], ref.type), ref.type
    action_id, _, name = key.partition(".")
    if action_id not in by_id:
        problems.append(f"{at}: {key!r} refers to no action of this solution")
        return None, None
    if key not in produced:
        problems.append(f"{at}: action {action_id!r} has no output {name!r}")
        return None, None
    return Local(action_id, name), produced[key]


def _topological(sol: Solution, where: str, problems: list[str]) -> list[str] | None:
    dag = nx.DiGraph()
    ids = {a.id for a in sol.actions}
    for action in sol.actions:
        dag.add_node(action.id)
        for dep in action.deps:
            if dep in ids:
                dag.add_edge(dep, action.id)
    try:
        return list(nx.lexicographical_topological_sort(dag, key=[a.id for a in sol.actions].index))
    except nx.NetworkXUnfeasible:
        cycle = " -> ".join(edge[0] for edge in nx.find_cycle(dag))
        problems.append(f"{where}: its actions form a cycle ({cycle})")
        return None

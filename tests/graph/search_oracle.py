"""An independent, slow statement of what a valid solution is, for checking the planner's fast rules.

It works on finished :class:`~graph.plan.Solution` objects, knows nothing of the search's bit masks,
ranks or pruning, and follows the definitions in :mod:`graph.search`'s module docs word for word:
every input consumed, the unconsumed outputs exactly the targets, no proper part of the chain a
solution by itself, no pass-through tool that can be bypassed, no rule of the catalogue broken.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations

from graph.constraints import resolve_constraints, violations
from graph.plan import Action, Solution, Subtask, input_key
from graph.spec import ToolSpec
from graph.types import ResourceType


def _types(subtask: Subtask, actions: Sequence[Action], specs: dict[str, ToolSpec]) -> dict[str, ResourceType]:
    types = {input_key(i): ref.type for i, ref in enumerate(subtask.inputs)}
    for action in actions:
        for output in specs[action.tool].outputs:
            types[f"{action.id}.{output.name}"] = output.type
    return types


def complete(subtask: Subtask, actions: Sequence[Action], specs: dict[str, ToolSpec]) -> bool:
    """Every subtask input taken, the values nobody took exactly the targets, no tool taking one value twice."""
    types = _types(subtask, actions, specs)
    taken = [key for action in actions for key in action.args.values()]
    if any(len(set(a.args.values())) != len(a.args) for a in actions):
        return False
    if not all(input_key(i) in taken for i in range(len(subtask.inputs))):
        return False
    made = [key for key in types if not key.startswith("input:")]
    sinks = Counter(types[key] for key in made if key not in taken)
    return sinks == Counter(subtask.target_types)


def _ancestors(actions: Sequence[Action]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for action in actions:  # actions come in a topological order
        mine: set[str] = set()
        for key in action.args.values():
            if not key.startswith("input:"):
                producer = key.split(".", 1)[0]
                mine |= {producer} | result[producer]
        result[action.id] = mine
    return result


def contains_solution(subtask: Subtask, solution: Solution, specs: dict[str, ToolSpec]) -> bool:
    """Some proper part of the chain, closed under 'what feeds it', is complete by itself."""
    ancestors = _ancestors(solution.actions)
    ids = [a.id for a in solution.actions]
    for size in range(1, len(ids)):
        for part in combinations(ids, size):
            chosen = set(part)
            closed = all(ancestors[i] <= chosen for i in chosen)
            if closed and complete(subtask, [a for a in solution.actions if a.id in chosen], specs):
                return True
    return False


def has_detour(subtask: Subtask, solution: Solution, specs: dict[str, ToolSpec]) -> bool:
    """Some single-output tool whose output type is that of a required input it took can be removed,
    its consumers taking that input instead, with the chain still complete."""
    for action in solution.actions:
        spec = specs[action.tool]
        if len(spec.outputs) != 1:
            continue
        output = f"{action.id}.{spec.outputs[0].name}"
        for inp in spec.required_inputs:
            if inp.type is not spec.outputs[0].type or inp.name not in action.args:
                continue
            passed = action.args[inp.name]
            rest = [
                a.model_copy(update={"args": {k: passed if v == output else v for k, v in a.args.items()}})
                for a in solution.actions
                if a.id != action.id
            ]
            if complete(subtask, rest, specs):
                return True
    return False


def breaks_rules(solution: Solution, specs: dict[str, ToolSpec]) -> bool:
    ancestors = _ancestors(solution.actions)
    tools = {a.id: a.tool for a in solution.actions}
    steps = [(a.tool, frozenset(tools[i] for i in ancestors[a.id])) for a in solution.actions]
    return bool(violations(steps, resolve_constraints(list(specs.values()))))


def valid(subtask: Subtask, solution: Solution, specs: dict[str, ToolSpec], *, minimal: bool = True) -> bool:
    """Whether the planner should return ``solution`` for ``subtask`` over ``specs``."""
    if not complete(subtask, solution.actions, specs) or breaks_rules(solution, specs):
        return False
    return not minimal or not (contains_solution(subtask, solution, specs) or has_detour(subtask, solution, specs))

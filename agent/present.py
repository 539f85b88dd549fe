"""Terminal views of tool catalogues and ToG results (rich tables and trees)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from graph.plan import Solution, Subtask
from graph.search import SearchResult, Strategy
from graph.spec import ToolSpec


def tools_table(specs: Iterable[ToolSpec], title: str = "Tools", unavailable: Mapping[str, str] | None = None) -> Table:
    """The tools and their typed signatures; with ``unavailable`` (name -> reason), a status column
    saying which tools the planner leaves out and why."""
    table = Table(title=title, show_lines=False)
    table.add_column("tool", no_wrap=True)
    if unavailable is not None:
        table.add_column("status", overflow="fold")
    for column in ("inputs", "outputs", "domains", "device", "description"):
        table.add_column(column, overflow="fold")
    for spec in specs:
        inputs = ", ".join(f"{i.name}:{i.type.value}{'' if i.required else '?'}" for i in spec.inputs)
        outputs = ", ".join(f"{o.name}:{o.type.value}" for o in spec.outputs)
        status = []
        if unavailable is not None:
            reason = unavailable.get(spec.name)
            status = ["[green]available[/]" if reason is None else f"[red]unavailable[/]: {escape(reason)}"]
        row = [spec.name, *status, inputs, outputs, ", ".join(spec.domains), spec.device.value, spec.description]
        table.add_row(*row)
    return table


def _resource_label(key: str, subtask: Subtask) -> str:
    if key.startswith("input:"):
        ref = subtask.inputs[int(key.split(":", 1)[1])]
        value = "" if ref.value is None else " " + _short(repr(ref.value))
        return escape(f"{key} [{ref.type.value}{value}]")
    return escape(key)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def solution_tree(rank: int, solution: Solution, subtask: Subtask) -> Tree:
    """One ranked solution: each action with its bindings; outputs that satisfy targets are marked."""
    tree = Tree(f"[bold]#{rank}[/] score {solution.score:.3f}  " + " → ".join(solution.tools))
    final = set(solution.outputs)
    for action in solution.actions:
        args = ", ".join(f"{name}={_resource_label(key, subtask)}" for name, key in action.args.items())
        outs = ", ".join(
            f"{key}: {rtype.value}" + (" [green]⇒ result[/]" if key in final else "")
            for key, rtype in action.output_keys.items()
        )
        node = tree.add(f"{action.id} [cyan]{action.tool}[/]({args}) → {outs}")
        for name, candidates in action.ambiguous.items():
            node.add(f"[yellow]ambiguous[/] {name}: candidates {', '.join(candidates)}")
        if action.defaulted:
            node.add(f"[dim]defaults kept: {', '.join(action.defaulted)}[/]")
    return tree


def result_tree(subtask: Subtask, result: SearchResult) -> Tree:
    inputs = ", ".join(r.type.value for r in subtask.inputs) or "nothing"
    targets = ", ".join(t.value for t in subtask.target_types)
    root = Tree(
        f"[bold]Subtask {subtask.id}[/]: {escape(repr(subtask.description))}  ({inputs} → {targets})\n"
        f"[dim]{result.strategy.value}: {len(result.solutions)} of {result.found} solutions, "
        f"{result.expanded} states, {result.elapsed_ms:.1f} ms{', truncated' if result.truncated else ''}[/]"
    )
    for rank, solution in enumerate(result.solutions, 1):
        root.add(solution_tree(rank, solution, subtask))
    return root


def planned_tree(subtask: Subtask, solutions: list[Solution], strategy: Strategy) -> Tree:
    """:func:`result_tree` for the ranked solutions a finished run kept (its search costs are not stored)."""
    found = SearchResult(
        solutions=solutions,
        strategy=strategy,
        expanded=0,
        candidates=0,
        found=len(solutions),
        truncated=False,
        elapsed_ms=0.0,
    )
    return result_tree(subtask, found)

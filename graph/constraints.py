"""Plausibility rules declared on tool specs, resolved against one catalogue.

A spec may say which tools (by name or :attr:`~graph.spec.ToolSpec.groups`) must not share a solution with
it (``conflicts_with``), whose output must not reach it through the data flow (``not_after``) and which
tools its own output must not reach (``not_before``, the same relation declared from the other end). Rules
name other tools, so they only mean something against a catalogue: :func:`resolve_constraints` turns them
into plain tool-name sets once per catalogue (or per domain-filtered part of one), and the planner tests
chains against those sets. A name that matches no tool in the catalogue simply constrains nothing, so a
domain-filtered subgraph that lacks the named tools stays valid.

>>> from graph.spec import InputSpec, OutputSpec, ToolSpec
>>> def tool(name, groups=(), **rules):
...     return ToolSpec(name=name, description=name, groups=groups, inputs=[InputSpec(name="t", type="text")],
...                     outputs=[OutputSpec(name="t", type="text")], **rules)
>>> rules = resolve_constraints([
...     tool("qa", ["answering"]), tool("pick", not_after=["answering"]),
...     tool("cap1", ["captioning"], conflicts_with=["captioning"]), tool("cap2", ["captioning"]),
... ])
>>> sorted(rules.conflicts["cap2"]), sorted(rules.banned_upstream["pick"])
(['cap1'], ['qa'])
>>> violations([("qa", frozenset()), ("pick", frozenset({"qa"}))], rules)
['pick takes a value that qa made (pick: not_after)']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graph.spec import ToolSpec


@dataclass(frozen=True, slots=True)
class Constraints:
    """Resolved rules of one catalogue, by tool name (tools without rules are absent)."""

    conflicts: dict[str, frozenset[str]]
    """Per tool: the other tools that must not be in the same solution (symmetric)."""
    banned_upstream: dict[str, frozenset[str]]
    """Per tool: the tools whose output must not reach it, directly or through other tools."""

    def __bool__(self) -> bool:
        return bool(self.conflicts or self.banned_upstream)


def _members(specs: Sequence[ToolSpec]) -> dict[str, set[str]]:
    """Each name a rule may use -> the tools it stands for (a tool's own name, and each of its groups)."""
    members: dict[str, set[str]] = {}
    for spec in specs:
        members.setdefault(spec.name, set()).add(spec.name)
        for group in spec.groups:
            members.setdefault(group, set()).add(spec.name)
    return members


def resolve_constraints(specs: Sequence[ToolSpec]) -> Constraints:
    """Resolve every spec's ``conflicts_with`` and ``not_after`` against ``specs`` (names, then groups)."""
    members = _members(specs)

    def expand(names: Iterable[str], me: str) -> set[str]:
        return {tool for name in names for tool in members.get(name, ()) if tool != me}

    conflicts: dict[str, set[str]] = {}
    banned: dict[str, set[str]] = {}
    for spec in specs:
        for other in expand(spec.conflicts_with, spec.name):
            conflicts.setdefault(spec.name, set()).add(other)
            conflicts.setdefault(other, set()).add(spec.name)
        for upstream in expand(spec.not_after, spec.name):
            banned.setdefault(spec.name, set()).add(upstream)
        for downstream in expand(spec.not_before, spec.name):
            banned.setdefault(downstream, set()).add(spec.name)
    return Constraints({k: frozenset(v) for k, v in conflicts.items()}, {k: frozenset(v) for k, v in banned.items()})


def violations(steps: Sequence[tuple[str, frozenset[str]]], rules: Constraints) -> list[str]:
    """What a chain breaks: ``steps`` are (tool, tools whose output reaches it) in any order.

    The planner prunes with the same two tests as it builds a chain; this form checks a finished one.
    """
    problems: list[str] = []
    used = [tool for tool, _ in steps]
    for i, tool in enumerate(used):
        for other in used[i + 1 :]:
            if other in rules.conflicts.get(tool, ()):
                problems.append(f"{tool} and {other} conflict (conflicts_with)")
    for tool, upstream in steps:
        for bad in sorted(upstream & rules.banned_upstream.get(tool, frozenset())):
            problems.append(f"{tool} takes a value that {bad} made ({tool}: not_after)")
    return problems

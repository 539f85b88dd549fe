"""The tool graph: resource-type nodes and tool nodes in one networkx DiGraph.

Edges ``type -> tool`` mean the tool accepts that type; ``tool -> type`` means it produces it. The
planner searches this graph; people look at it (:mod:`graph.render`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path

import networkx as nx

from graph.errors import DuplicateToolError, UnknownToolError
from graph.spec import ToolSpec
from graph.types import ResourceType, resolve_type


def type_node(rtype: ResourceType) -> str:
    return f"type:{rtype.value}"


def tool_node(name: str) -> str:
    return f"tool:{name}"


class ToolGraph:
    """An immutable graph over a set of tool specs.

    >>> from graph.spec import InputSpec, OutputSpec
    >>> g = ToolGraph([ToolSpec(name="ocr", description="read text in an image",
    ...     inputs=[InputSpec(name="image", type="image")], outputs=[OutputSpec(name="text", type="text")])])
    >>> [s.name for s in g.tools_accepting("image")], g.can_reach({"image"}, "text")
    (['ocr'], True)
    """

    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise DuplicateToolError(f"two tools are named {spec.name!r}", tool=spec.name)
            self._specs[spec.name] = spec
        self._reachable: dict[frozenset[ResourceType], frozenset[ResourceType]] = {}
        self.graph = nx.DiGraph()
        for spec in self._specs.values():
            node = tool_node(spec.name)
            self.graph.add_node(node, kind="tool", name=spec.name, spec=spec)
            for inp in spec.inputs:
                self.graph.add_node(type_node(inp.type), kind="type", type=inp.type)
                self.graph.add_edge(type_node(inp.type), node, relation="accepts", arg=inp.name, required=inp.required)
            for out in spec.outputs:
                self.graph.add_node(type_node(out.type), kind="type", type=out.type)
                self.graph.add_edge(node, type_node(out.type), relation="produces", arg=out.name)

    # --- lookups --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    @cached_property
    def specs(self) -> list[ToolSpec]:
        """All specs sorted by name (the deterministic order every search uses)."""
        return [self._specs[n] for n in sorted(self._specs)]

    def spec(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownToolError(f"unknown tool {name!r}", tool=name) from None

    @cached_property
    def types(self) -> list[ResourceType]:
        """Resource types that at least one tool accepts or produces."""
        return sorted({d["type"] for _, d in self.graph.nodes(data=True) if d["kind"] == "type"})

    def tools_accepting(self, rtype: ResourceType | str, required_only: bool = False) -> list[ToolSpec]:
        node = type_node(resolve_type(rtype))
        if node not in self.graph:
            return []
        edges = self.graph.out_edges(node, data=True)
        names = {self.graph.nodes[v]["name"] for _, v, d in edges if d["required"] or not required_only}
        return [self._specs[n] for n in sorted(names)]

    def tools_producing(self, rtype: ResourceType | str) -> list[ToolSpec]:
        node = type_node(resolve_type(rtype))
        if node not in self.graph:
            return []
        return [self._specs[self.graph.nodes[u]["name"]] for u in sorted(self.graph.predecessors(node))]

    def subgraph(self, domains: Iterable[str]) -> ToolGraph:
        """The tools that pass ControlLLM's domain filter for these domains."""
        wanted = tuple(domains)
        return ToolGraph(s for s in self.specs if s.matches_domains(wanted))

    # --- reachability ---------------------------------------------------------------------------

    def reachable_types(self, available: Iterable[ResourceType | str]) -> set[ResourceType]:
        """Every type obtainable from ``available`` by applying tools whose required inputs are all present."""
        start = frozenset(resolve_type(t) for t in available)
        if start not in self._reachable:  # the graph is immutable, so the closure of a type set is too
            self._reachable[start] = frozenset(self._closure(set(start)))
        return set(self._reachable[start])

    def _closure(self, have: set[ResourceType]) -> set[ResourceType]:
        pending = list(self.specs)
        changed = True
        while changed:
            changed = False
            remaining = []
            for spec in pending:
                if all(i.type in have for i in spec.required_inputs):
                    new = spec.output_types - have
                    if new:
                        have |= new
                        changed = True
                else:
                    remaining.append(spec)
            pending = remaining
        return have

    def can_reach(self, available: Iterable[ResourceType | str], target: ResourceType | str) -> bool:
        """Whether some sequence of tools turns ``available`` into a newly produced ``target``."""
        target_t = resolve_type(target)
        have = {resolve_type(t) for t in available}
        produced = self.reachable_types(have)
        if target_t not in have:
            return target_t in produced
        return any(all(i.type in produced for i in spec.required_inputs) for spec in self.tools_producing(target_t))

    def steps_to(self, target: ResourceType | str) -> dict[ResourceType, int]:
        """Fewest tool steps from each type to a *newly produced* ``target``, ignoring other inputs.

        This relaxation (a tool applies as soon as one of its inputs is there) never overestimates, so
        the planner may prune with it without losing solutions. Types that cannot reach are absent.
        """
        target_t = resolve_type(target)
        # dist[x]: tool steps from x to *some* value of type target (0 when x is the target already).
        dist: dict[ResourceType, int] = {target_t: 0}
        queue = deque([target_t])
        while queue:
            current = queue.popleft()
            for spec in self.tools_producing(current):
                for inp in spec.inputs:
                    if inp.type not in dist:
                        dist[inp.type] = dist[current] + 1
                        queue.append(inp.type)
        # steps[x] = 1 + min over tools T accepting x, outputs o of T: dist[o]; always at least one step.
        steps: dict[ResourceType, int] = {}
        for rtype in self.types:
            best = min(
                (dist[o.type] for spec in self.tools_accepting(rtype) for o in spec.outputs if o.type in dist),
                default=None,
            )
            if best is not None:
                steps[rtype] = best + 1
        return steps

    # --- pictures -------------------------------------------------------------------------------

    def to_mermaid(self) -> str:
        from graph.render import graph_to_mermaid

        return graph_to_mermaid(self)

    def render(self, path: str | Path) -> Path:
        """Draw the graph to ``.png`` or ``.svg`` (chosen by the suffix)."""
        from graph.render import render_graph

        return render_graph(self, Path(path))

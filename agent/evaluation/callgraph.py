"""A tool invocation graph, TaskBench's unit of comparison: which tools run and which feed which.

Nodes are tool names, edges ``(producer, consumer)`` data-flow links between tools. Resources the
user gave are not nodes, so "blur the faces in photo.jpg" is ``detect_faces -> blur_regions``. A tool
is a node once: like TaskBench we compare sets of names, so a tool used twice counts once.
"""

from __future__ import annotations

from typing import Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Kind = Literal["single", "chain", "dag"]


class CallGraph(BaseModel):
    """Tools and the data-flow links between them.

    >>> CallGraph(nodes=["detect_faces", "blur_regions"], edges=[("detect_faces", "blur_regions")]).kind()
    'chain'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: list[str] = Field(default_factory=list)
    edges: list[tuple[str, str]] = Field(default_factory=list)

    @field_validator("nodes")
    @classmethod
    def _unique_nodes(cls, nodes: list[str]) -> list[str]:
        dupes = sorted({n for n in nodes if nodes.count(n) > 1})
        if dupes:
            raise ValueError(f"tools listed twice: {', '.join(dupes)} (a tool is one node)")
        if any(not n.strip() for n in nodes):
            raise ValueError("a tool name is empty")
        return nodes

    @model_validator(mode="after")
    def _edges_join_nodes(self) -> CallGraph:
        known = set(self.nodes)
        for source, target in self.edges:
            missing = [n for n in (source, target) if n not in known]
            if missing:
                raise ValueError(f"edge {source} -> {target} names {', '.join(missing)}, not among the nodes")
        if len(set(self.edges)) != len(self.edges):
            raise ValueError("an edge is listed twice")
        return self

    @property
    def node_set(self) -> frozenset[str]:
        return frozenset(self.nodes)

    @property
    def edge_set(self) -> frozenset[tuple[str, str]]:
        return frozenset(self.edges)

    def to_networkx(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(self.edges)
        return graph

    def kind(self) -> Kind | None:
        """``single`` (one tool), ``chain`` (one path through every tool) or ``dag`` (anything else:
        branches, joins or independent parts); ``None`` for an empty graph."""
        if not self.nodes:
            return None
        if len(self.nodes) == 1:
            return "single"
        graph = self.to_networkx()
        path_like = (
            graph.number_of_edges() == len(self.nodes) - 1
            and nx.is_weakly_connected(graph)
            and all(graph.in_degree(n) <= 1 and graph.out_degree(n) <= 1 for n in graph)
        )
        return "chain" if path_like else "dag"

    def is_acyclic(self) -> bool:
        acyclic: bool = nx.is_directed_acyclic_graph(self.to_networkx())
        return acyclic

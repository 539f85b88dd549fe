"""Build a ToG planner from settings: the one place that decides which assessor backs the search."""

from __future__ import annotations

from agent.config import ToGSettings
from graph.assessors import Assessor, EmbeddingAssessor, UniformAssessor
from graph.search import ToGPlanner
from graph.toolgraph import ToolGraph


def make_assessor(settings: ToGSettings) -> Assessor:
    if settings.assessor == "uniform":
        return UniformAssessor()
    return EmbeddingAssessor()


def build_planner(graph: ToolGraph, settings: ToGSettings | None = None) -> ToGPlanner:
    """A planner over ``graph`` with the configured assessor and search defaults.

    >>> from graph.toolgraph import ToolGraph
    >>> build_planner(ToolGraph([]), ToGSettings(assessor="uniform")).config.max_depth
    5
    """
    settings = settings or ToGSettings()
    return ToGPlanner(graph, assessor=make_assessor(settings), config=settings.search_config())

"""Decomposers: a user request plus its resources -> a validated :class:`~graph.plan.Plan` of typed subtasks."""

from __future__ import annotations

from agent.decompose.base import Decomposer, DecompositionError, Resource

__all__ = ["Decomposer", "DecompositionError", "Resource"]

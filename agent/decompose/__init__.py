"""Decomposers: a user request plus its resources -> a validated :class:`~graph.plan.Plan` of typed subtasks."""

from __future__ import annotations

from agent.decompose.base import Decomposer, DecompositionError, Resource

__all__ = ["Decomposer", "DecompositionError", "LLMDecomposer", "OfflineDecomposer", "Resource"]


def __getattr__(name: str) -> object:  # the decomposers load models and lexicons: import them on first use
    if name == "LLMDecomposer":
        from agent.decompose.llm import LLMDecomposer

        return LLMDecomposer
    if name == "OfflineDecomposer":
        from agent.decompose.offline import OfflineDecomposer

        return OfflineDecomposer
    raise AttributeError(name)

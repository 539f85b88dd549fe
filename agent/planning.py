"""Build a ToG planner from settings: the one place that decides which assessor backs the search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.config import ToGSettings
from graph.assessors import Assessor, EmbeddingAssessor, LLMAssessor, UniformAssessor
from graph.errors import ToGError
from graph.search import ToGPlanner
from graph.toolgraph import ToolGraph

if TYPE_CHECKING:
    from vlm.backends.base import VLMBackend

#: The variable that chooses the assessor (read as :func:`assessor_setting`), for messages.
ASSESSOR_VARIABLE = "TOG_AGENT_ASSESSOR"


class AssessorConfigError(ToGError, ValueError):
    """The configured assessor cannot be built: the ``llm`` assessor without a usable text model."""

    code = "assessor_not_configured"


def assessor_setting(settings: ToGSettings) -> str:
    """Which assessor the settings choose; the one place that knows where that setting lives."""
    return settings.agent.assessor


def make_assessor(settings: ToGSettings) -> Assessor:
    """The assessor the settings name; ``llm`` asks the configured text model (``TOG_LLM_URL``, else
    InternVL through ``TOG_VLM_*``), one call per subtask, and fails here if there is none."""
    name = assessor_setting(settings)
    if name == "uniform":
        return UniformAssessor()
    if name == "llm":
        from agent.llm_scorer import LLMScorer

        return LLMAssessor(LLMScorer(_text_model()))
    return EmbeddingAssessor()


def _text_model() -> VLMBackend:
    from tools.errors import ToolUnavailableError
    from tools.models import LLM_UNCONFIGURED, get_llm

    try:
        return get_llm()
    except ToolUnavailableError as exc:
        if exc.reason == LLM_UNCONFIGURED:
            raise AssessorConfigError(
                f"{ASSESSOR_VARIABLE}=llm needs a text model, and none is configured: set TOG_LLM_URL (an "
                "OpenAI-compatible server), or TOG_VLM_MODEL / TOG_VLM_URL to rate tools with InternVL; "
                f"or choose another assessor ({ASSESSOR_VARIABLE}=embedding)",
                variables=["TOG_LLM_URL", "TOG_VLM_MODEL", "TOG_VLM_URL"],
            ) from None
        raise AssessorConfigError(f"{ASSESSOR_VARIABLE}=llm cannot use its text model: {exc.reason}") from exc


def build_planner(graph: ToolGraph, settings: ToGSettings | None = None) -> ToGPlanner:
    """A planner over ``graph`` with the configured assessor and search defaults.

    >>> from graph.toolgraph import ToolGraph
    >>> build_planner(ToolGraph([]), ToGSettings(agent={"assessor": "uniform"})).config.max_depth
    5
    """
    settings = settings or ToGSettings()
    return ToGPlanner(graph, assessor=make_assessor(settings), config=settings.agent.search_config())

"""Decomposers by name, so ``tog eval plans --decomposer NAME`` can pick one and tests can add their own.

A factory receives what the evaluation plans with (:class:`EvalContext`) and returns a
:class:`~agent.decompose.base.Decomposer`. Built-in entries import their module only when chosen, so a
decomposer still being written (or with a missing dependency) fails with a clear message, not at import.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.decompose.base import Decomposer
from graph.errors import ToGError
from graph.search import ToGPlanner
from graph.spec import ToolSpec


class UnknownDecomposerError(ToGError, KeyError):
    """No decomposer is registered under that name, or its module cannot be imported."""

    code = "unknown_decomposer"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


@dataclass(frozen=True)
class EvalContext:
    """What a decomposer may need: the tool set and the planner its plans go to."""

    specs: Sequence[ToolSpec]
    planner: ToGPlanner


DecomposerFactory = Callable[[EvalContext], Decomposer]

_FACTORIES: dict[str, DecomposerFactory] = {}
_LOCK = threading.Lock()


def register_decomposer(name: str, factory: DecomposerFactory, *, replace: bool = False) -> None:
    """Make ``factory`` available as ``--decomposer NAME``."""
    with _LOCK:
        if name in _FACTORIES and not replace:
            raise ValueError(f"a decomposer named {name!r} is already registered")
        _FACTORIES[name] = factory


def unregister_decomposer(name: str) -> None:
    with _LOCK:
        _FACTORIES.pop(name, None)


def decomposer_names() -> list[str]:
    with _LOCK:
        return sorted(_FACTORIES)


def make_decomposer(name: str, context: EvalContext) -> Decomposer:
    with _LOCK:
        factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownDecomposerError(
            f"unknown decomposer {name!r}; choose one of {', '.join(decomposer_names())}", decomposer=name
        )
    return factory(context)


def imported(module: str, attribute: str) -> type[Decomposer]:
    """``module.attribute``, or :class:`UnknownDecomposerError` saying what is missing."""
    try:
        found = getattr(importlib.import_module(module), attribute)
    except ImportError as exc:
        raise UnknownDecomposerError(
            f"decomposer {module}.{attribute} cannot be imported: {exc}", decomposer=attribute
        ) from None
    except AttributeError:
        raise UnknownDecomposerError(f"{module} has no {attribute}", decomposer=attribute) from None
    if not (isinstance(found, type) and issubclass(found, Decomposer)):
        raise UnknownDecomposerError(f"{module}.{attribute} is not a Decomposer", decomposer=attribute)
    return found


def _offline(context: EvalContext) -> Decomposer:
    cls = imported("agent.decompose.offline", "OfflineDecomposer")
    return cls(specs=list(context.specs), planner=context.planner)  # type: ignore[call-arg]


register_decomposer("offline", _offline)


def _llm(context: EvalContext) -> Decomposer:
    """The LLM decomposer over the configured model (``TOG_LLM_URL``, else InternVL through ``TOG_VLM_*``),
    told the catalogue's own domains so its subtasks can be filtered by them."""
    cls = imported("agent.decompose.llm", "LLMDecomposer")
    from tools.models import get_llm

    domains = sorted({d for spec in context.specs for d in spec.domains})
    return cls(get_llm(), domains=domains)  # type: ignore[call-arg]


register_decomposer("llm", _llm)


def _retrieval(context: EvalContext) -> Decomposer:
    cls = imported("agent.decompose.retrieval", "RetrievalDecomposer")
    return cls(list(context.specs), planner=context.planner)  # type: ignore[call-arg]


register_decomposer("retrieval", _retrieval)

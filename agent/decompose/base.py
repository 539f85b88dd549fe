"""The interface every decomposer implements, and the resources a request comes with.

A request names what the user gave by *resource* — a name the user (or REST client) sees, a type and a
value (a file path or artifact id, or a literal such as boxes). A decomposer turns the request into a
:class:`~graph.plan.Plan` whose subtask inputs are those resources' values (``ResourceRef(type, value)``)
or ``<GENERATED>-k`` references to earlier subtasks, exactly ControlLLM's decomposition shape.

    >>> Resource(name="photo.png", type="image", value="/tmp/photo.png").ref().type.value
    'image'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from graph.errors import ToGError
from graph.plan import Plan, ResourceRef
from graph.types import ResourceType, resolve_type


class Resource(BaseModel):
    """Something the user gave with the request."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: ResourceType
    value: Any = None

    @field_validator("type", mode="before")
    @classmethod
    def _resolve(cls, value: Any) -> ResourceType:
        return resolve_type(value)

    def ref(self) -> ResourceRef:
        return ResourceRef(type=self.type, value=self.value if self.value is not None else self.name)


class DecompositionError(ToGError, ValueError):
    """The request could not be turned into a valid plan; ``raw`` holds the model output when there was one."""

    code = "decomposition_failed"

    def __init__(self, message: str, raw: str | None = None, **details: Any) -> None:
        super().__init__(message, raw=raw, **details)
        self.raw = raw


class Decomposer(ABC):
    """Request + resources -> Plan. Implementations: ``OfflineDecomposer`` (no LLM), ``LLMDecomposer``."""

    name: str = "decomposer"

    @abstractmethod
    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        """A validated plan; raises :class:`~graph.errors.EmptyRequestError` for an empty request and
        :class:`DecompositionError` when no valid plan can be made."""

"""Plans, subtasks, solutions and actions: the JSON-able values that travel between pipeline stages.

A :class:`Plan` is what a decomposer produces: typed subtasks with dependencies. A subtask is written as
``{id, description, domains, inputs: [{type, value}], outputs, deps}`` everywhere (Python, CLI, REST) and read
under those names or ControlLLM's (``task, args, returns, dep``), so data from either system converts both
ways (:meth:`Subtask.from_controlllm`, :meth:`Subtask.to_controlllm`).

A :class:`Solution` is what the ToG planner produces for one subtask: a small DAG of :class:`Action`
objects whose arguments refer to *resource keys* — ``input:<i>`` for the subtask's i-th input and
``<action id>.<output name>`` for an earlier action's output.
"""

from __future__ import annotations

import re
from typing import Any

import networkx as nx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graph.errors import EmptyRequestError, PlanValidationError
from graph.types import ResourceType, resolve_type

GENERATED = re.compile(r"^<GENERATED>-(\d+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResourceRef(_Model):
    """A typed value given to a subtask: an artifact id, a literal (text, number), or ``<GENERATED>-k``
    for the output of subtask k."""

    type: ResourceType
    value: Any = None

    @field_validator("type", mode="before")
    @classmethod
    def _resolve(cls, value: Any) -> ResourceType:
        return resolve_type(value)

    @property
    def generated_by(self) -> int | None:
        """The id of the subtask that produces this value, if it is a ``<GENERATED>-k`` reference."""
        match = GENERATED.match(self.value) if isinstance(self.value, str) else None
        return int(match.group(1)) if match else None


class Subtask(_Model):
    """One typed step of a request. ``inputs`` feed the ToG search; ``outputs`` are its target types."""

    id: int = Field(ge=0)
    description: str
    # Read under ToG's names or ControlLLM's (task/args/returns/dep); always written under ToG's, so the plan
    # JSON is the same from Python, the CLI and REST (FastAPI serialises by alias).
    domains: list[str] = Field(
        default_factory=list,
        alias="task",
        validation_alias=AliasChoices("domains", "task"),
        serialization_alias="domains",
    )
    inputs: list[ResourceRef] = Field(
        default_factory=list,
        alias="args",
        validation_alias=AliasChoices("inputs", "args"),
        serialization_alias="inputs",
    )
    outputs: list[ResourceRef] = Field(
        default_factory=list,
        alias="returns",
        validation_alias=AliasChoices("outputs", "returns"),
        serialization_alias="outputs",
    )
    deps: list[int] = Field(
        default_factory=list,
        alias="dep",
        validation_alias=AliasChoices("deps", "dep"),
        serialization_alias="deps",
    )

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise EmptyRequestError("a subtask needs a description of what to do")
        return value

    @field_validator("deps", mode="before")
    @classmethod
    def _no_dep_marker(cls, value: Any) -> Any:
        # ControlLLM writes [-1] for "no dependency".
        if isinstance(value, list):
            return [d for d in value if d != -1]
        return value

    @field_validator("domains", mode="before")
    @classmethod
    def _domains(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _needs_target(self) -> Subtask:
        if not self.outputs:
            raise PlanValidationError(f"subtask {self.id} declares no output types to produce")
        return self

    @property
    def target_types(self) -> list[ResourceType]:
        return [o.type for o in self.outputs]

    @classmethod
    def from_controlllm(cls, data: dict[str, Any]) -> Subtask:
        """Read one entry of ControlLLM's decomposition JSON."""
        return cls.model_validate(data)

    def to_controlllm(self) -> dict[str, Any]:
        """Write this subtask in ControlLLM's decomposition shape (``dep: [-1]`` when independent)."""
        return {
            "description": self.description,
            "task": list(self.domains),
            "id": self.id,
            "dep": list(self.deps) or [-1],
            "args": [{"type": r.type.value, "value": r.value} for r in self.inputs],
            "returns": [
                {"type": r.type.value, "value": r.value if r.value is not None else f"<GENERATED>-{self.id}"}
                for r in self.outputs
            ],
        }


class Plan(_Model):
    """A validated request decomposition: subtask ids are unique and dependencies form a DAG.

    >>> plan = Plan(request="caption the photo", subtasks=[Subtask(id=0, description="caption the photo",
    ...     args=[{"type": "image", "value": "photo.png"}], returns=[{"type": "text"}])])
    >>> plan.order()
    [0]
    """

    request: str
    subtasks: list[Subtask] = Field(min_length=1)

    @field_validator("request")
    @classmethod
    def _request(cls, value: str) -> str:
        if not value.strip():
            raise EmptyRequestError("the request is empty: say what should be done")
        return value.strip()

    @model_validator(mode="after")
    def _check_graph(self) -> Plan:
        ids = [s.id for s in self.subtasks]
        problems: list[str] = []
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"duplicate subtask ids: {dupes}")
        known = set(ids)
        for sub in self.subtasks:
            if sub.id in sub.deps:
                problems.append(f"subtask {sub.id} depends on itself")
            for dep in sub.deps:
                if dep not in known:
                    problems.append(f"subtask {sub.id} depends on unknown subtask {dep}")
            for ref in sub.inputs:
                producer = ref.generated_by
                if producer is None:
                    continue
                if producer not in known:
                    problems.append(f"subtask {sub.id} uses {ref.value} but there is no subtask {producer}")
                elif producer not in sub.deps:
                    problems.append(f"subtask {sub.id} uses {ref.value} without listing subtask {producer} in its deps")
        if not problems:
            cycle = _find_cycle(self.subtasks)
            if cycle:
                problems.append("dependency cycle: " + " -> ".join(str(i) for i in cycle) + " (each feeds the next)")
        if problems:
            raise PlanValidationError("invalid plan", problems=problems)
        return self

    def dependency_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for sub in self.subtasks:
            graph.add_node(sub.id)
            graph.add_edges_from((dep, sub.id) for dep in sub.deps)
        return graph

    def order(self) -> list[int]:
        """Subtask ids in a deterministic topological order (smallest id first among ready ones)."""
        return list(nx.lexicographical_topological_sort(self.dependency_graph()))

    def subtask(self, subtask_id: int) -> Subtask:
        for sub in self.subtasks:
            if sub.id == subtask_id:
                return sub
        raise KeyError(subtask_id)

    @classmethod
    def parse(cls, data: Any) -> Plan:
        """Validate untrusted JSON; every problem is reported in one :class:`PlanValidationError`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PlanValidationError("invalid plan", problems=format_validation_errors(exc)) from None

    @classmethod
    def from_controlllm(cls, request: str, items: list[dict[str, Any]]) -> Plan:
        """Read ControlLLM's decomposition list (``dep: [-1]`` means independent)."""
        return cls.parse({"request": request, "subtasks": items})

    def to_controlllm(self) -> list[dict[str, Any]]:
        return [s.to_controlllm() for s in self.subtasks]


def format_validation_errors(exc: ValidationError) -> list[str]:
    """One readable line per pydantic error: ``subtasks.0.args.1.type: unknown resource type ...``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "value"
        lines.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return lines


def _find_cycle(subtasks: list[Subtask]) -> list[int] | None:
    graph = nx.DiGraph()
    for sub in subtasks:
        graph.add_node(sub.id)
        graph.add_edges_from((dep, sub.id) for dep in sub.deps)
    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return None
    return [edges[0][0], *(v for _, v in edges)]


# --- ToG output ---------------------------------------------------------------------------------


def input_key(index: int) -> str:
    """Resource key of a subtask's index-th input."""
    return f"input:{index}"


class Action(_Model):
    """One tool call inside a solution. ``args`` map argument names to resource keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    tool: str
    args: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, ResourceType] = Field(default_factory=dict)
    ambiguous: dict[str, list[str]] = Field(default_factory=dict)
    """Arguments whose type matched several resources: the candidates, the chosen one first."""
    defaulted: list[str] = Field(default_factory=list)
    """Optional arguments no resource was bound to; they keep the tool's default unless inferred."""

    def output_key(self, name: str) -> str:
        return f"{self.id}.{name}"

    @property
    def output_keys(self) -> dict[str, ResourceType]:
        return {self.output_key(n): t for n, t in self.outputs.items()}

    @property
    def deps(self) -> list[str]:
        """Ids of the actions whose outputs this action consumes."""
        return sorted({key.split(".", 1)[0] for key in self.args.values() if not key.startswith("input:")})


class Solution(_Model):
    """A ranked answer of the ToG search for one subtask: actions in execution order.

    ``outputs[i]`` is the resource key that satisfies the subtask's i-th target type. ``score`` is the
    weakest link: the lowest assessor score among its tools.
    """

    subtask_id: int
    actions: list[Action]
    outputs: list[str]
    score: float = 0.0
    tool_scores: dict[str, float] = Field(default_factory=dict)

    @property
    def tools(self) -> list[str]:
        return [a.tool for a in self.actions]

    @property
    def length(self) -> int:
        return len(self.actions)

    def signature(self) -> str:
        """Canonical text of the DAG, independent of the order independent actions were found in."""
        return canonical_signature(self.actions, self.outputs)

    def to_dag(self) -> nx.DiGraph:
        """The actions as a networkx DAG (edges: producer action -> consumer action)."""
        dag = nx.DiGraph()
        for action in self.actions:
            dag.add_node(action.id, tool=action.tool)
            dag.add_edges_from((dep, action.id) for dep in action.deps)
        return dag


def canonical_signature(actions: list[Action], outputs: list[str]) -> str:
    """Describe a DAG of actions by tools and data flow only, so two search orders of the same DAG agree."""
    names: dict[str, str] = {}

    def resolve(key: str) -> str:
        if key.startswith("input:"):
            return key
        action_id, out = key.split(".", 1)
        return f"{names[action_id]}.{out}"

    for action in actions:  # actions are in a topological order, so producers are named first
        args = ",".join(f"{k}={resolve(v)}" for k, v in sorted(action.args.items()))
        names[action.id] = f"{action.tool}({args})"
    return " | ".join(sorted(names.values())) + " => " + ",".join(resolve(o) for o in outputs)

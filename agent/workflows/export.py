"""Plan -> workflow: the tool calls an agent run executed, as a parameterised, re-runnable workflow file.

Each action of each subtask's solution that ran becomes a step; arguments that were subtask inputs
become typed workflow inputs (files without a default — give another photo next time; literals the
request supplied or the parameter filler read, like an angle or a label, with their value as default),
arguments fed by another subtask become references to the step that produced them, and every subtask
result becomes a workflow output. Running the exported workflow with the same inputs makes the same
tool calls with the same arguments, so it gives the same results.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from agent.engine.graph import upstream_index
from agent.result import AgentResult
from agent.workflows.errors import WorkflowExportError
from agent.workflows.model import InputDecl, OutputDecl, StepDecl, WorkflowSpec
from agent.workflows.refs import Ref
from graph.plan import Plan, Solution
from graph.types import FILE_TYPES


class _Exporter:
    def __init__(self, result: AgentResult) -> None:
        if result.plan is None:
            raise WorkflowExportError(f"run {result.run_id} has no plan to export", run_id=result.run_id)
        self.result = result
        self.plan: Plan = result.plan
        self.ran = self._solutions_that_ran()
        self.names = {a.id: a.name for a in result.artifacts if a.role == "input" and a.name}
        self.inputs: dict[str, InputDecl] = {}
        self.input_keys: dict[str, str] = {}  # JSON of (type, value) -> input name
        self.steps: dict[tuple[int, str], StepDecl] = {}

    def _solutions_that_ran(self) -> dict[int, Solution]:
        outcomes = {o.id: o for o in self.result.subtasks}
        ran = {}
        for sub in self.plan.subtasks:
            outcome = outcomes.get(sub.id)
            if outcome is None or outcome.status != "succeeded" or outcome.solution is None:
                status = outcome.status if outcome else "not run"
                raise WorkflowExportError(
                    f"subtask {sub.id} ({sub.description!r}) is {status}: only a run whose "
                    "subtasks all succeeded can become a workflow",
                    subtask=sub.id,
                )
            ran[sub.id] = self.result.solutions[sub.id][outcome.solution]
        return ran

    def export(self, name: str | None) -> WorkflowSpec:
        for sub_id in self.plan.order():
            for action in self.ran[sub_id].actions:
                self.steps[(sub_id, action.id)] = StepDecl(
                    id=_unique(_identifier(action.tool), {s.id for s in self.steps.values()}),
                    tool=action.tool,
                    args={arg: str(self._resolve(sub_id, key, arg)) for arg, key in action.args.items()},
                    description=self.plan.subtask(sub_id).description if action is self.ran[sub_id].actions[-1] else "",
                )
        outputs: dict[str, OutputDecl] = {}
        for sub in self.plan.subtasks:
            for key in self.ran[sub.id].outputs:
                ref = self._resolve(sub.id, key, "result")
                base = ref.output if ref.kind == "step" else ref.name
                label = _unique(base if base not in outputs else f"{ref.name}_{base}", set(outputs))
                # "from" is a keyword: the field's alias can only be given in a mapping.
                outputs[label] = OutputDecl.model_validate({"from": str(ref), "description": sub.description})
        steps = self._used_steps(outputs)
        return WorkflowSpec(
            name=name or _slug(self.plan.request),
            description=self.plan.request,
            inputs=self.inputs,
            steps=steps,
            outputs=outputs,
        )

    def _resolve(self, sub_id: int, key: str, argument: str) -> Ref:
        """The workflow reference for resource ``key`` of subtask ``sub_id`` (an action output or an input)."""
        if not key.startswith("input:"):
            action_id, output = key.split(".", 1)
            return Ref("step", self.steps[(sub_id, action_id)].id, output)
        sub = self.plan.subtask(sub_id)
        ref = sub.inputs[int(key.split(":", 1)[1])]
        producer = ref.generated_by
        if producer is not None:
            index = upstream_index(self.plan, producer, ref.type)
            return self._resolve(producer, self.ran[producer].outputs[index], argument)
        return Ref("input", self._input(ref.type, ref.value, argument))

    def _input(self, rtype: Any, value: Any, argument: str) -> str:
        key = json.dumps([rtype.value, value], sort_keys=True, default=str)
        if key in self.input_keys:
            return self.input_keys[key]
        if rtype in FILE_TYPES:
            name = _unique(rtype.value, set(self.inputs))
            given = self.names.get(value) if isinstance(value, str) else None
            self.inputs[name] = InputDecl(type=rtype, description=f"was {given}" if given else "")
        else:
            name = _unique(_identifier(argument), set(self.inputs))
            self.inputs[name] = InputDecl(type=rtype, default=value)
        self.input_keys[key] = name
        return name

    def _used_steps(self, outputs: dict[str, OutputDecl]) -> list[StepDecl]:
        """Steps in plan order, without those no output depends on (they could not change a result)."""
        by_id = {s.id: s for s in self.steps.values()}
        needed: set[str] = set()
        frontier = [_step_of(o.from_) for o in outputs.values()]
        while frontier:
            step_id = frontier.pop()
            if step_id is None or step_id in needed:
                continue
            needed.add(step_id)
            frontier.extend(_step_of(v) for v in by_id[step_id].args.values())
        return [s for s in self.steps.values() if s.id in needed]


def _step_of(text: str) -> str | None:
    match = re.match(r"^\$\{steps\.([A-Za-z0-9_]+)\.", text)
    return match.group(1) if match else None


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_") or "value"
    return name if not name[0].isdigit() else f"_{name}"


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "workflow"


def export_workflow(result: AgentResult, *, name: str | None = None) -> WorkflowSpec:
    """The workflow of a finished agent run (raises :class:`WorkflowExportError` if a subtask did not succeed)."""
    return _Exporter(result).export(name)


def workflow_yaml(spec: WorkflowSpec) -> str:
    """A workflow as YAML text (what ``Workflow.load`` reads back)."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    for name, decl in spec.inputs.items():  # a default of null still makes the input optional
        if "default" in decl.model_fields_set:
            data["inputs"][name]["default"] = decl.model_dump(mode="json")["default"]
    return yaml.safe_dump({"version": spec.version, **data}, sort_keys=False, allow_unicode=True, width=110)

"""Running a checked workflow through the execution engine, in waves.

Each wave compiles every step that can be compiled now into one engine plan — one subtask per step, or
per item of a ``foreach`` step — so independent steps (and the items of a foreach) run in parallel on the
engine's backend, and a step fed by another step of the same wave starts as soon as that one finishes.
A step waits for a later wave when it needs a value that decides its shape: the list a ``foreach``
iterates, or a value its ``when:`` reads. Steps whose ``when`` is false are skipped, and so are the steps
that need their outputs.

Step settings map onto the engine's per-tool settings for that wave only (``timeout_s`` ->
``tool_timeouts``, ``retries`` -> ``tool_retries``); two steps of one tool with different settings go to
different waves.

Failures: without ``partial`` the first failed step stops the run (work in flight is cancelled, no later
wave starts) and the run is ``failed`` with no outputs; with ``partial`` the steps that do not need the
failed one go on, and what they produce is returned (status ``partial``). A batch (several input sets)
runs in the same waves; each of its runs fails or succeeds on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.engine import Engine, EngineEvent, EventKind, ExecutionResult, SubtaskStatus
from agent.engine.resources import ResourceLoader
from agent.workflows.condition import ConditionEvalError, evaluate
from agent.workflows.errors import Problem, WorkflowInputError, WorkflowUnavailableError
from agent.workflows.inputs import BoundInputs, bind_inputs, load_literals
from agent.workflows.refs import Ref
from agent.workflows.result import OutputValue, RunStatus, SkipCause, StepRecord, WorkflowEvent, WorkflowResult
from agent.workflows.validate import CheckedStep, CheckedWorkflow, Literal
from graph.plan import Action, Plan, ResourceRef, Solution, Subtask, input_key
from tools.base import availability

WorkflowSink = Callable[[WorkflowEvent], None]


@dataclass
class _Instance:
    """One run of a batch: its inputs, the values its steps made, and how each step went."""

    index: int
    label: str
    inputs: BoundInputs
    records: dict[str, StepRecord]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[WorkflowEvent] = field(default_factory=list)
    failed: bool = False


@dataclass
class _Call:
    """One engine subtask of a wave: a step of one run, for one foreach item (``item`` None: no foreach)."""

    run: _Instance
    step: CheckedStep
    item: int | None = None
    value: Any = None


class WorkflowRunner:
    """Runs one checked workflow for one or more input sets on an engine."""

    def __init__(
        self,
        workflow: CheckedWorkflow,
        engine: Engine,
        *,
        partial: bool = False,
        on_event: WorkflowSink | None = None,
        allow_paths: bool = True,
    ) -> None:
        self.workflow = workflow
        self.engine = engine
        self.partial = partial
        self.allow_paths = allow_paths
        self.on_event = on_event
        self.loader = ResourceLoader(engine.store)
        self.literals: dict[tuple[str, str], Any] = {}
        self._selected: dict[tuple[int, str], list[int]] = {}
        """(run, step) -> indices of its calls in the wave being planned or run."""

    # --- before anything runs -------------------------------------------------------------------------

    def check_tools(self) -> None:
        """Refuse to start when a step's tool cannot run here (unless partial results were asked for)."""
        if self.partial:
            return
        problems = []
        for step in self.workflow.steps:
            ok, reason = availability(self.engine.registry.get(step.tool))
            if not ok:
                problems.append(
                    self.workflow.source.problem(
                        "unavailable_tool",
                        f"step {step.id!r}: tool {step.tool!r} cannot run here: {reason}",
                        ("steps", step.index, "tool"),
                    )
                )
        if problems:
            raise WorkflowUnavailableError(f"{len(problems)} step(s) cannot run here; nothing was run", problems)

    def bind(self, batch: Sequence[dict[str, Any]], labels: Sequence[str] = ()) -> list[_Instance]:
        problems: list[Problem] = []
        self.literals = load_literals(self.workflow, self.loader, problems, self.allow_paths)
        runs = []
        for i, given in enumerate(batch):
            label = labels[i] if i < len(labels) else ""
            prefix = f"run {i + 1} ({label}): " if len(batch) > 1 else ""
            bound = bind_inputs(self.workflow, given, self.loader, problems, prefix, self.allow_paths)
            records = {s.id: StepRecord(id=s.id, tool=s.tool) for s in self.workflow.steps}
            runs.append(_Instance(index=i, label=label, inputs=bound, records=records))
        if problems:
            raise WorkflowInputError(
                f"the inputs have {len(problems)} problem{'s' if len(problems) != 1 else ''}; nothing was run", problems
            )
        return runs

    # --- running --------------------------------------------------------------------------------------

    def run(self, batch: Sequence[dict[str, Any]], labels: Sequence[str] = ()) -> list[WorkflowResult]:
        """Check tools and inputs (raising before anything runs), then run every input set to the end."""
        self.check_tools()
        runs = self.bind(batch, labels)
        started = time.time()
        wave = 0
        while True:
            calls, settings = self._plan_wave(runs, wave)
            if not calls:
                break
            self._execute(calls, settings, wave)
            wave += 1
        ended = time.time()
        return [self._result(run, wave, started, ended) for run in runs]

    def _emit(self, event: WorkflowEvent, runs: Sequence[_Instance]) -> None:
        for run in runs:
            run.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _plan_wave(self, runs: list[_Instance], wave: int) -> tuple[list[_Call], dict[str, tuple[Any, Any]]]:
        calls: list[_Call] = []
        self._selected = {}
        settings: dict[str, tuple[Any, Any]] = {}
        for run in runs:
            if run.failed and not self.partial:
                continue
            for step in self.workflow.steps:
                record = run.records[step.id]
                if record.status != "not_run" or (run.index, step.id) in self._selected:
                    continue
                state, reason = self._readiness(run, step)
                if state == "wait":
                    continue
                if state in ("condition", "failure"):
                    self._skip(run, step, reason, wave, "condition" if state == "condition" else "failure")
                    continue
                if step.condition is not None and not self._decide(run, step, wave):
                    continue
                key = (step.decl.timeout_s, step.decl.retries)
                if settings.get(step.tool, key) != key:
                    continue  # same tool, other settings: next wave
                items = self._items(run, step)
                if items is not None and not items:
                    record.status, record.items, record.wave = "succeeded", 0, wave
                    run.values[step.id] = {name: [] for name in step.outputs}
                    continue
                settings[step.tool] = key
                start = len(calls)
                if items is None:
                    calls.append(_Call(run, step))
                else:
                    calls.extend(_Call(run, step, i, value) for i, value in enumerate(items))
                self._selected[(run.index, step.id)] = list(range(start, len(calls)))
        return calls, settings

    def _readiness(self, run: _Instance, step: CheckedStep) -> tuple[str, str]:
        """``ready``, ``wait`` (for a later wave), or why a value it needs will never exist: a ``condition``
        was false upstream, or a step upstream ``failure``-d."""
        wired = {id(b) for b in step.args.values() if isinstance(b, Ref)}
        for ref in step.refs():
            if ref.kind != "step":
                continue
            producer = run.records[ref.name]
            if producer.status == "succeeded":
                continue
            if producer.status != "not_run":
                cause = producer.skipped_by if producer.status == "skipped" else "failure"
                return cause or "failure", f"needs {ref}, but step {ref.name!r} {producer.status}"
            source = self.workflow.step(ref.name)
            in_wave = (run.index, ref.name) in self._selected
            if not (id(ref) in wired and in_wave and source.foreach is None and source.first_of_type(ref.output)):
                return "wait", ""
        return "ready", ""

    def _lookup(self, run: _Instance, ref: Ref) -> Any:
        if ref.kind == "input":
            return run.inputs.values.get(ref.name)
        return run.values[ref.name][ref.output]

    def _decide(self, run: _Instance, step: CheckedStep, wave: int) -> bool:
        assert step.condition is not None
        try:
            holds = evaluate(step.condition, lambda ref: self._lookup(run, ref))
        except ConditionEvalError as exc:
            record = run.records[step.id]
            record.status, record.reason, record.wave = "failed", f"when: {exc}", wave
            record.error = {"code": "bad_condition", "message": str(exc)}
            run.failed = True
            return False
        if not holds:
            self._skip(run, step, f"when: {step.decl.when} is false", wave, "condition")
        return holds

    def _skip(self, run: _Instance, step: CheckedStep, reason: str, wave: int, cause: SkipCause) -> None:
        record = run.records[step.id]
        record.status, record.reason, record.wave, record.skipped_by = "skipped", reason, wave, cause
        self._emit(
            WorkflowEvent(
                kind="step_skipped", time=time.time(), run=run.index, wave=wave, step=step.id, message=reason
            ),
            [run],
        )

    def _items(self, run: _Instance, step: CheckedStep) -> list[Any] | None:
        if step.foreach is None:
            return None
        value = self._lookup(run, step.foreach)
        if step.foreach.kind == "step" and self.workflow.step(step.foreach.name).foreach is not None:
            return list(value)
        return [[item] for item in value or []]

    # --- one wave -------------------------------------------------------------------------------------

    def _execute(self, calls: list[_Call], settings: dict[str, tuple[Any, Any]], wave: int) -> None:
        plan, solutions = self._plan(calls, wave)
        config = self.engine.config
        timeouts = {tool: t for tool, (t, _) in settings.items() if t is not None}
        retries = {tool: r for tool, (_, r) in settings.items() if r is not None}
        if timeouts or retries:
            config = config.model_copy(
                update={
                    "tool_timeouts": {**config.tool_timeouts, **timeouts},
                    "tool_retries": {**config.tool_retries, **retries},
                }
            )
        runs = list({id(c.run): c.run for c in calls}.values())
        self._emit(
            WorkflowEvent(
                kind="wave_started",
                time=time.time(),
                wave=wave,
                message=f"{len(self._selected)} step(s), {len(calls)} call(s)",
            ),
            runs,
        )
        engine_run = None

        def relay(event: EngineEvent) -> None:
            call = calls[event.subtask] if event.subtask is not None else None
            targets = [call.run] if call is not None else runs
            self._emit(
                WorkflowEvent(
                    kind=event.kind.value,
                    time=event.time,
                    run=call.run.index if call else None,
                    wave=wave,
                    step=call.step.id if call else None,
                    item=call.item if call else None,
                    message=event.message,
                    engine=event,
                ),
                targets,
            )
            if event.kind is EventKind.SUBTASK_FAILED and call is not None:
                call.run.failed = True
                if not self.partial and engine_run is not None and all(r.failed for r in runs):
                    engine_run.cancel()

        engine_run = self.engine.prepare(plan, solutions, on_event=relay, config=config)
        result = engine_run.execute()
        self._collect(calls, result, wave)

    def _plan(self, calls: list[_Call], wave: int) -> tuple[Plan, dict[int, list[Solution]]]:
        subtasks, solutions = [], {}
        for k, call in enumerate(calls):
            step, run = call.step, call.run
            refs: list[ResourceRef] = []
            args: dict[str, str] = {}
            deps: set[int] = set()
            for inp in step.spec.inputs:
                binding = step.args.get(inp.name)
                if binding is None:
                    continue
                if isinstance(binding, Literal):
                    value = self.literals.get((step.id, inp.name), binding.value)
                elif binding.kind == "item":
                    value = call.value
                elif binding.kind == "input":
                    if binding.name not in run.inputs.values:
                        continue  # an optional input left out: the tool's default
                    value = run.inputs.values[binding.name]
                elif run.records[binding.name].status == "succeeded":
                    value = run.values[binding.name][binding.output]
                else:
                    producer = self._selected[(run.index, binding.name)][0]
                    value, deps = f"<GENERATED>-{producer}", deps | {producer}
                refs.append(ResourceRef(type=inp.type, value=value))
                args[inp.name] = input_key(len(refs) - 1)
            where = f"{run.label or run.index}: {step.id}" + (f"[{call.item}]" if call.item is not None else "")
            subtasks.append(
                Subtask(
                    id=k,
                    description=where,
                    args=refs,
                    dep=sorted(deps),
                    returns=[ResourceRef(type=o.type) for o in step.spec.outputs],
                )
            )
            action = Action(id=step.id, tool=step.tool, args=args, outputs={o.name: o.type for o in step.spec.outputs})
            solutions[k] = [
                Solution(subtask_id=k, actions=[action], outputs=[action.output_key(o.name) for o in step.spec.outputs])
            ]
        return Plan(request=f"workflow {self.workflow.name}, wave {wave}", subtasks=subtasks), solutions

    def _collect(self, calls: list[_Call], result: ExecutionResult, wave: int) -> None:
        for (_run_index, step_id), ks in self._selected.items():
            run, step = calls[ks[0]].run, calls[ks[0]].step
            record = run.records[step_id]
            record.wave = wave
            record.items = len(ks) if step.foreach is not None else None
            subs = [result.subtasks[k] for k in ks]
            actions = [a for a in result.actions if a.subtask in ks]
            starts = [a.started_at for a in actions if a.started_at is not None]
            ends = [a.ended_at for a in actions if a.ended_at is not None]
            record.started_at, record.ended_at = (min(starts) if starts else None), (max(ends) if ends else None)
            record.attempts = sum(a.attempts for a in actions)
            statuses = {s.status for s in subs}
            if statuses == {SubtaskStatus.SUCCEEDED}:
                record.status = "succeeded"
                names = [o.name for o in step.spec.outputs]
                if step.foreach is None:
                    run.values[step_id] = dict(zip(names, subs[0].outputs))
                else:
                    run.values[step_id] = {n: [s.outputs[j] for s in subs] for j, n in enumerate(names)}
            elif SubtaskStatus.FAILED in statuses:
                failed = next(s for s in subs if s.status is SubtaskStatus.FAILED)
                item = f" (item {subs.index(failed)})" if step.foreach is not None else ""
                record.status, record.error = "failed", failed.error
                record.reason = f"{step.tool} failed{item}: {(failed.error or {}).get('message', 'no reason given')}"
                run.failed = True
            elif SubtaskStatus.CANCELLED in statuses:
                record.status, record.reason = "cancelled", "stopped because another step failed"
            else:
                record.status, record.reason = "skipped", "needs the output of a step that failed"
                record.skipped_by = "failure"

    # --- results --------------------------------------------------------------------------------------

    def _result(self, run: _Instance, waves: int, started: float, ended: float) -> WorkflowResult:
        for record in run.records.values():
            if record.status == "not_run" and run.failed:
                record.reason = "not run: an earlier step failed"
        outputs = {}
        for name, (ref, vtype) in self.workflow.outputs.items():
            output = OutputValue(name=name, type=vtype.type, many=vtype.many)
            if ref.kind == "input":
                output.value = run.inputs.values.get(ref.name)
            elif run.records[ref.name].status == "succeeded":
                output.value = run.values[ref.name][ref.output]
            else:
                record = run.records[ref.name]
                output.status = "skipped" if record.skipped_by == "condition" else "missing"
                output.reason = f"step {ref.name!r} {record.status.replace('_', ' ')}: {record.reason}"
            outputs[name] = output
        status: RunStatus
        if not run.failed:
            status = "succeeded"
        elif self.partial and any(o.status == "ok" for o in outputs.values()):
            status = "partial"
        else:
            status = "failed"
        if status == "failed" and not self.partial:
            for output in outputs.values():
                if output.status == "ok":
                    output.status, output.value, output.reason = "missing", None, "the run failed"
        return WorkflowResult(
            workflow=self.workflow.name,
            status=status,
            inputs=run.inputs.summary,
            outputs=outputs,
            steps=run.records,
            events=run.events,
            waves=waves,
            started_at=started,
            ended_at=ended,
            label=run.label,
        )

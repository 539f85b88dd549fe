"""The Python entry points: ``Workflow.load(path).run(inputs)`` and ``run_workflow(spec, inputs)``.

>>> wf = Workflow.load('''
... name: count-boxes
... inputs: {boxes: {type: bboxes}}
... steps:
...   - {id: count, tool: count_boxes, args: {boxes: "${inputs.boxes}"}}
... outputs: {count: "${steps.count.outputs.count}"}
... ''')
>>> wf.run({"boxes": [{"x1": 0, "y1": 0, "x2": 2, "y2": 2}]}).value("count")
1
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.engine import Engine
from agent.workflows.errors import WorkflowFailedError
from agent.workflows.model import WorkflowSpec
from agent.workflows.parse import SourceMap, load_spec, parse_spec, read_spec
from agent.workflows.result import WorkflowResult
from agent.workflows.run import WorkflowRunner, WorkflowSink
from agent.workflows.validate import CheckedWorkflow, validate
from tools.registry import ToolRegistry, default_registry


class Workflow:
    """A validated workflow, ready to run any number of times."""

    def __init__(self, checked: CheckedWorkflow, registry: ToolRegistry) -> None:
        self.checked = checked
        self.registry = registry

    # --- loading --------------------------------------------------------------------------------------

    @classmethod
    def load(cls, source: str | Path, registry: ToolRegistry | None = None) -> Workflow:
        """Load a workflow from a file (a :class:`~pathlib.Path`, or a one-line string naming an existing
        file or ending in .yaml/.yml/.json) or from YAML text.

        Raises :class:`~agent.workflows.errors.WorkflowValidationError` listing every problem with its
        ``file:line:col``.
        """
        registry = registry or default_registry()
        if isinstance(source, Path) or (
            "\n" not in source and (Path(source).is_file() or source.endswith((".yaml", ".yml", ".json")))
        ):
            spec, where = read_spec(source)
            return cls(validate(spec, registry, where, base_dir=Path(source).resolve().parent), registry)
        spec, where = load_spec(source)
        return cls(validate(spec, registry, where, base_dir=Path.cwd()), registry)

    @classmethod
    def from_spec(
        cls,
        spec: WorkflowSpec | Mapping[str, Any],
        registry: ToolRegistry | None = None,
        base_dir: Path | None = None,
        *,
        allow_paths: bool = True,
    ) -> Workflow:
        """A workflow from a spec or its JSON form (REST bodies); problems name paths, not lines."""
        registry = registry or default_registry()
        parsed = spec if isinstance(spec, WorkflowSpec) else parse_spec(dict(spec))
        return cls(validate(parsed, registry, SourceMap(), base_dir=base_dir, allow_paths=allow_paths), registry)

    @property
    def spec(self) -> WorkflowSpec:
        return self.checked.spec

    @property
    def name(self) -> str:
        return self.checked.name

    # --- running --------------------------------------------------------------------------------------

    def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        engine: Engine | None = None,
        partial: bool = False,
        on_event: WorkflowSink | None = None,
        allow_paths: bool = True,
    ) -> WorkflowResult:
        """Run once. Bad inputs, or tools that cannot run here, raise before anything runs; a failed step
        raises :class:`WorkflowFailedError` (carrying the result) unless ``partial``. Without
        ``allow_paths`` files can only be given as artifact ids of ``engine.store``."""
        result = self.run_batch(
            [dict(inputs or {})], engine=engine, partial=partial, on_event=on_event, allow_paths=allow_paths
        )[0]
        if result.status == "failed" and not partial:
            failed = [s for s in result.steps.values() if s.status == "failed"]
            reason = "; ".join(f"step {s.id!r}: {s.reason}" for s in failed) or "a step failed"
            raise WorkflowFailedError(
                f"workflow {self.name!r} failed: {reason}", result=result, steps={s.id: s.error for s in failed}
            )
        return result

    def run_batch(
        self,
        batch: Sequence[Mapping[str, Any]],
        *,
        labels: Sequence[str] = (),
        engine: Engine | None = None,
        partial: bool = False,
        on_event: WorkflowSink | None = None,
        allow_paths: bool = True,
    ) -> list[WorkflowResult]:
        """Run once per input set, all in the same engine runs (so the runs overlap); every result is
        returned, failed ones without outputs unless ``partial``."""
        with self._engine(engine) as running:
            checked = (
                self.checked
                if running.registry is self.registry
                else validate(self.spec, running.registry, self.checked.source, self.checked.base_dir)
            )
            runner = WorkflowRunner(checked, running, partial=partial, on_event=on_event, allow_paths=allow_paths)
            return runner.run([dict(b) for b in batch], labels)

    @contextmanager
    def _engine(self, engine: Engine | None) -> Iterator[Engine]:
        if engine is not None:
            yield engine
            return
        own = Engine(self.registry)
        try:
            yield own
        finally:
            own.close()


def run_workflow(
    spec: WorkflowSpec | Mapping[str, Any] | str,
    inputs: Mapping[str, Any] | None = None,
    *,
    engine: Engine | None = None,
    registry: ToolRegistry | None = None,
    partial: bool = False,
    on_event: WorkflowSink | None = None,
    base_dir: Path | None = None,
    allow_paths: bool = True,
) -> WorkflowResult:
    """One call for services: a spec (JSON form, model or YAML text), inputs (values, file paths, or
    artifact ids of ``engine.store``) -> the result. Raises the typed workflow errors. A server taking
    workflows from clients passes ``allow_paths=False``: files only as artifact ids, no literal paths."""
    registry = registry or (engine.registry if engine is not None else default_registry())
    if isinstance(spec, str):
        spec_model, where = load_spec(spec)
        workflow = Workflow(validate(spec_model, registry, where, base_dir=base_dir, allow_paths=allow_paths), registry)
    else:
        workflow = Workflow.from_spec(spec, registry, base_dir, allow_paths=allow_paths)
    return workflow.run(inputs, engine=engine, partial=partial, on_event=on_event, allow_paths=allow_paths)

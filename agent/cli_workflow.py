"""``tog run WORKFLOW``, ``tog validate WORKFLOW`` and ``tog export-workflow RUN_ID``.

Inputs are ``--input NAME=VALUE``, converted by the type the workflow declares for NAME (a number, JSON
boxes, a file path). A folder or a glob (``--input image=photos/`` or ``image='scans/*.png'``) for a file
input runs the workflow once per file, all in the same engine runs, and saves each under
``OUT/<file stem>/``.

Exit codes: 0 done, 1 a step failed (nothing saved unless ``--partial``), 2 the workflow or its inputs
are wrong (every problem printed as ``file:line:col: message``; nothing ran).
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from agent.workflows.result import WorkflowResult
    from agent.workflows.workflow import Workflow

console = Console()
err_console = Console(stderr=True)

WorkflowArg = Annotated[Path, typer.Argument(help="The workflow file (YAML).")]
_GLOB_CHARS = frozenset("*?[")


def _fail(message: str, problems: list[Any] | None = None) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    for problem in problems or []:
        err_console.print(f"  {escape(str(problem))}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _load(path: Path) -> Workflow:
    from agent.workflows.errors import WorkflowValidationError
    from agent.workflows.workflow import Workflow

    try:
        return Workflow.load(path)
    except WorkflowValidationError as exc:
        raise _fail(exc.summary, exc.problems) from None


def validate_workflow_cmd(
    workflow: WorkflowArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
) -> None:
    """Check a workflow file without running it: every problem as file:line:col (exit 2), else exit 0."""
    from agent.workflows.errors import WorkflowValidationError
    from agent.workflows.workflow import Workflow

    try:
        loaded = Workflow.load(workflow)
    except WorkflowValidationError as exc:
        if as_json:
            print(
                json.dumps(
                    {"valid": False, "problems": [p.model_dump(exclude_none=True) for p in exc.problems]}, indent=2
                )
            )
            raise typer.Exit(2) from None
        raise _fail(exc.summary, exc.problems) from None
    warnings = loaded.checked.warnings
    if as_json:
        print(json.dumps({"valid": True, "warnings": [w.model_dump(exclude_none=True) for w in warnings]}, indent=2))
        return
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False, soft_wrap=True)
    steps = len(loaded.spec.steps)
    takes = ", ".join(f"{n} ({d.type.value})" for n, d in loaded.spec.inputs.items()) or "none"
    console.print(f"{workflow}: ok ({steps} step{'s' if steps != 1 else ''}, inputs: {takes})", soft_wrap=True)


def _batch_files(value: str) -> list[Path] | None:
    """The files a folder or glob names, or None when ``value`` is a single path."""
    path = Path(value).expanduser()
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if _GLOB_CHARS & set(value):
        return sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
    return None


def _inputs(workflow: Workflow, given: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """``NAME=VALUE`` pairs -> one input set per run (several when a file input names a folder or glob)."""
    from agent.inputs import InputSpecError, parse_input
    from graph.types import FILE_TYPES

    declared = workflow.spec.inputs
    values: dict[str, Any] = {}
    batch: tuple[str, list[Path]] | None = None
    problems = []
    for text in given:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"{text!r}: write NAME=VALUE, e.g. image=photo.jpg")
            continue
        decl = declared.get(name)
        if decl is None:
            known = ", ".join(f"{n} ({d.type.value})" for n, d in declared.items()) or "none"
            problems.append(f"{text!r}: the workflow has no input {name!r}; it takes: {known}")
            continue
        files = _batch_files(value) if decl.type in FILE_TYPES else None
        if files is not None:
            if batch is not None:
                problems.append(f"{text!r}: only one input can name a folder or glob (already {batch[0]!r})")
            elif not files:
                problems.append(f"{text!r}: no files match")
            else:
                batch = (name, files)
            continue
        try:
            values[name] = parse_input(f"{decl.type.value}={value}").value
        except InputSpecError as exc:
            problems.append(f"input {name!r}: {exc.message.split(': ', 1)[-1]}")
    if problems:
        raise _fail(f"{len(problems)} bad input{'s' if len(problems) != 1 else ''}; nothing was run", problems)
    if batch is None:
        return [values], []
    name, files = batch
    labels = _labels(files)
    return [{**values, name: str(f)} for f in files], labels


def _labels(files: list[Path]) -> list[str]:
    labels, seen = [], set()
    for i, file in enumerate(files):
        label = file.stem if file.stem not in seen else f"{file.stem}-{i}"
        seen.add(label)
        labels.append(label)
    return labels


def run_workflow_cmd(
    workflow: WorkflowArg,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="NAME=VALUE (repeatable); a folder or glob for a file input runs once per file."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the results (default tog-out/<workflow name>).")
    ] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="Keep going past a failed step and save what succeeded.")
    ] = False,
    backend: Annotated[str | None, typer.Option("--backend", help="local | ray")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result summary as JSON.")] = False,
) -> None:
    """Run a workflow file: validate it, check the inputs, run its steps in parallel, save the outputs."""
    from agent.config import ToGSettings
    from agent.engine import Engine
    from agent.workflows.errors import WorkflowInputError, WorkflowUnavailableError
    from agent.workflows.progress import WorkflowProgress
    from graph.errors import ToGError

    if backend is not None and backend not in ("local", "ray"):
        raise _fail(f"unknown backend {backend!r}; choose local or ray")
    loaded = _load(workflow)
    batch, labels = _inputs(loaded, list(inputs or []))
    settings = ToGSettings()
    if backend:
        settings.engine.backend = backend  # type: ignore[assignment]
    folder = out or Path("tog-out") / loaded.name
    try:
        with Engine(loaded.registry, settings.engine) as engine, WorkflowProgress(err_console, labels) as progress:
            results = loaded.run_batch(
                batch, labels=labels, engine=engine, partial=partial, on_event=progress.workflow_event
            )
    except (WorkflowInputError, WorkflowUnavailableError) as exc:
        raise _fail(exc.summary, exc.problems) from None
    except ToGError as exc:  # anything else the user can act on (an engine that cannot start, ...)
        raise _fail(exc.message) from None
    _report(results, folder, partial, as_json)


def _report(results: list[WorkflowResult], folder: Path, partial: bool, as_json: bool) -> None:
    batch = len(results) > 1
    saved = []
    for result in results:
        if result.status == "failed" and not partial:
            continue
        saved.append(result.save_to(folder / result.label if batch else folder))
    if batch:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "batch.json").write_text(
            json.dumps([{"label": r.label, "status": r.status} for r in results], indent=2) + "\n", encoding="utf-8"
        )
    if as_json:
        print(json.dumps([r.summary() for r in results] if batch else results[0].summary(), indent=2))
    for result in results:
        name = f"{result.label}: " if batch else ""
        for step in result.steps.values():
            if step.status in ("failed", "cancelled") or (step.status == "not_run" and step.reason):
                err_console.print(f"[red]{escape(name)}{step.id}[/]: {step.status} — {escape(step.reason)}")
        colour = {"succeeded": "green", "partial": "yellow"}.get(result.status, "red")
        err_console.print(f"[bold {colour}]{escape(name)}{result.status}[/] in {result.wall_s:.2f} s")
    if saved:
        err_console.print(f"results in {folder}")
    elif not partial:
        err_console.print("nothing saved (use --partial to keep what succeeded)")
    if any(r.status != "succeeded" for r in results):
        raise typer.Exit(1)


def export_workflow_cmd(
    run_id: Annotated[str, typer.Argument(help="The id of a finished `tog ask` run (see its result folder).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The workflow file to write.")] = Path("workflow.yaml"),
    name: Annotated[str | None, typer.Option("--name", help="Name of the workflow.")] = None,
) -> None:
    """Turn a finished `tog ask` run into a reusable workflow file (its given files become inputs)."""
    from agent.api import Agent, RunNotFoundError
    from agent.config import ToGSettings
    from agent.workflows.errors import WorkflowExportError
    from agent.workflows.export import export_workflow, workflow_yaml

    with Agent(ToGSettings()) as agent:
        try:
            spec = export_workflow(agent.result(run_id), name=name)
        except (RunNotFoundError, WorkflowExportError) as exc:
            raise _fail(exc.message) from None
    out.write_text(workflow_yaml(spec), encoding="utf-8")
    inputs = " ".join(f"--input {n}=..." for n in spec.inputs)
    err_console.print(f"wrote {out}; run it with: tog run {out} {inputs}".rstrip())

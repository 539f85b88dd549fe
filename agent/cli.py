"""The ``tog`` command line. Heavy modules load inside commands so ``tog --help`` stays instant."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from agent.cli_eval import eval_app
from agent.cli_serve import serve
from agent.cli_workflow import export_workflow_cmd, run_workflow_cmd, validate_workflow_cmd
from agent.outcomes import EMPTY, EXIT_EMPTY, EXIT_UNSUPPORTED, UNSUPPORTED, UnsupportedRequestError
from graph.errors import ToGError

if TYPE_CHECKING:
    from agent.inputs import FileArg
    from graph.spec import ToolSpec
    from graph.toolgraph import ToolGraph

app = typer.Typer(
    help="ToG: plan and run multimodal tool chains locally (Thoughts-on-Graph over a typed tool graph).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(eval_app, name="eval")
console = Console()
err_console = Console(stderr=True)

CatalogueOpt = Annotated[
    Path | None,
    typer.Option("--catalogue", "-c", help="Plan over a JSON tool catalogue (ControlLLM, TaskBench or ToG shape)."),
]


def _friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """User mistakes end with a one-line message and exit code 2, never a traceback; a request the tools here
    cannot answer is refused with exit code 3 (:data:`agent.outcomes.EXIT_UNSUPPORTED`)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UnsupportedRequestError as exc:
            err_console.print(f"[bold yellow]unsupported:[/] {exc.message}", highlight=False)
            raise typer.Exit(EXIT_UNSUPPORTED) from None
        except ToGError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            raise typer.Exit(2) from None
        except OSError as exc:  # a path the user gave that cannot be written or read
            where = f" {str(exc.filename)!r}" if exc.filename else ""
            err_console.print(f"[bold red]error:[/] cannot use{where}: {exc.strerror or exc}", highlight=False)
            raise typer.Exit(2) from None
        except ValidationError as exc:  # a bad TOG_* setting
            problems = "; ".join(
                f"{_setting_name(e['loc']) or e.get('input')}={e.get('input')!r}: {e['msg']}" for e in exc.errors()
            )
            err_console.print(f"[bold red]error:[/] invalid settings: {problems}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def _setting_name(loc: tuple[Any, ...]) -> str:
    """``TOG_AGENT_MAX_DEPTH`` for a settings error at ``("agent", "max_depth")``; else the dotted location."""
    from agent.config import ToGSettings
    from tools.model_settings import env_name

    if len(loc) >= 2 and loc[0] in ToGSettings.model_fields:
        return env_name(*loc)
    return ".".join(map(str, loc))


def _specs(catalogue: Path | None) -> list[ToolSpec]:
    if catalogue is not None:
        from graph.catalogue import load_catalogue

        return load_catalogue(catalogue)
    from tools.registry import default_registry

    return default_registry().available_specs()


def _graph(catalogue: Path | None) -> ToolGraph:
    from graph.toolgraph import ToolGraph

    return ToolGraph(_specs(catalogue))


@app.command()
@_friendly_errors
def tools(
    catalogue: CatalogueOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the specs as JSON.")] = False,
) -> None:
    """List the tools, their typed inputs and outputs, and whether each can run (and if not, why).

    ``--json`` prints the specs of the tools that can run: a catalogue ``tog plan -c`` reads back.
    """
    from agent.present import tools_table

    if catalogue is not None:
        specs = sorted(_specs(catalogue), key=lambda s: s.name)
        if as_json:
            print(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
            return
        console.print(tools_table(specs, title=f"{len(specs)} tools"))
        return
    from tools.registry import default_registry

    registry = default_registry()
    unavailable = registry.unavailable()
    if as_json:
        specs = [s for s in registry.specs() if s.name not in unavailable]
        print(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
        return
    title = f"{len(registry)} tools, {len(registry) - len(unavailable)} available"
    console.print(tools_table(registry.specs(), title=title, unavailable=unavailable))


@app.command()
@_friendly_errors
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the effective settings (TOG_<SECTION>_<FIELD>) and where each value came from."""
    from rich.table import Table

    from agent.config import unknown_variables
    from agent.settings_report import effective_settings

    try:
        rows = effective_settings()
    except ValueError as exc:  # pydantic's ValidationError is handled by _friendly_errors
        if isinstance(exc, ValidationError):
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    unknown = unknown_variables()
    if as_json:
        payload = {"settings": [row.model_dump() for row in rows], "ignored": unknown}
        console.print_json(json.dumps(payload, default=str))
        return
    table = Table(title="ToG settings")
    for column in ("variable", "value", "source"):
        table.add_column(column)
    for row in rows:
        value = row.value if isinstance(row.value, str) else json.dumps(row.value, default=str)
        table.add_row(row.name, value, row.source)
    console.print(table)  # unknown TOG_* variables were warned about when the settings were read


@app.command()
@_friendly_errors
def types() -> None:
    """List the resource types tools exchange, with the shape of their values."""
    from rich.table import Table

    from graph.types import all_type_info

    table = Table(title="Resource types")
    for column in ("type", "file", "description"):
        table.add_column(column)
    for info in all_type_info():
        table.add_row(info.type.value, "yes" if info.is_file else "", info.description)
    console.print(table)


@app.command()
@_friendly_errors
def graph(
    out: Annotated[Path, typer.Option("--out", "-o", help="Picture to write (.png or .svg).")] = Path("graph.png"),
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print mermaid text instead of drawing.")] = False,
    catalogue: CatalogueOpt = None,
) -> None:
    """Draw the tool graph (types and tools) to a PNG/SVG, or print it as mermaid."""
    if not mermaid:
        _check_picture(out)
    tool_graph = _graph(catalogue)
    if mermaid:
        print(tool_graph.to_mermaid())
        return
    path = tool_graph.render(out)
    console.print(f"wrote {path} ({len(tool_graph)} tools, {len(tool_graph.types)} types)")


InputsOpt = Annotated[
    list[str] | None,
    typer.Option("--input", "-i", help="TYPE=VALUE (image=photo.jpg, text='a dog', number=3) or a file path."),
]


def _resources(inputs: list[str] | None, files: list[Path] | None) -> tuple[list[FileArg], list[Any]]:
    """Command-line inputs as files to store (each with its declared type) and literal resources."""
    from agent.decompose.base import Resource
    from agent.inputs import parse_input
    from graph.types import FILE_TYPES

    paths: list[FileArg] = list(files or [])
    literals = []
    for i, text in enumerate(inputs or []):
        ref = parse_input(text)
        if isinstance(ref.value, str) and (ref.type in FILE_TYPES or "=" not in text):  # a file: image=p.jpg, p.txt
            paths.append((Path(ref.value), ref.type))
        else:
            literals.append(Resource(name=f"{ref.type.value}-{i}", type=ref.type, value=ref.value))
    return paths, literals


def _images(images: list[Path] | None) -> list[FileArg]:
    """``--image`` files, refused unless their name says image (``--image notes.txt`` is a mistake, not text)."""
    from agent.inputs import check_path, type_for_file
    from graph.types import IMAGE_TYPES, ResourceType

    checked: list[FileArg] = []
    for path in images or []:
        check_path(path)
        try:
            rtype = type_for_file(path)
        except ToGError:
            rtype = None
        if rtype not in IMAGE_TYPES:
            kind = f"a {rtype.value} file" if rtype else "not a known file type"
            raise _usage(f"--image {str(path)!r} is not an image ({kind}); give it with --file or -i TYPE=PATH")
        checked.append((path, ResourceType.IMAGE))
    return checked


def _check_picture(path: Path) -> None:
    if path.suffix.lower() not in (".png", ".svg"):
        raise _usage(f"cannot draw to {str(path)!r}: the file name must end in .png or .svg")


def _check_folder(folder: Path) -> None:
    """Make the results folder now, so an unusable one is an error before any work, naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _usage(f"--out {str(folder)!r} is a file, not a folder") from None
    except OSError as exc:
        raise _usage(f"cannot write results to {str(folder)!r}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _usage(f"cannot write results to {str(folder)!r}: permission denied")


@app.command()
@_friendly_errors
def ask(
    request: Annotated[str, typer.Argument(help="What you want done, in words.")],
    images: Annotated[list[Path] | None, typer.Option("--image", help="An image to work on (repeatable).")] = None,
    files: Annotated[list[Path] | None, typer.Option("--file", "-f", help="Any input file (repeatable).")] = None,
    inputs: InputsOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="InternVL checkpoint (path or hub id).")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="local | ray")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the results.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Decompose the request, plan it with ToG, run it and save the results (offline unless a model is named).

    Exit codes: 0 answered, 1 failed or partial, 2 a usage mistake, 3 refused (no tool here is meant for a
    part of the request, or the one meant for it is unavailable: the message says which and how to enable
    it), 4 the tools ran but what was asked for is empty (no text found, nothing detected).
    """
    import os

    if model:
        os.environ["TOG_VLM_MODEL"] = model
    if backend is not None and backend not in ("local", "ray"):
        raise _usage(f"unknown backend {backend!r}; choose local or ray")
    from agent.api import Agent
    from agent.config import ToGSettings
    from agent.progress import AgentProgress

    settings = ToGSettings()
    if backend:
        settings.engine.backend = backend  # type: ignore[assignment]
    paths, literals = _resources(inputs, files)
    paths = [*_images(images), *paths]
    if out is not None:
        _check_folder(out)
    with Agent(settings) as agent:
        try:
            with AgentProgress(err_console) as progress:
                for event in agent.stream(request, paths, literals):
                    progress.agent_event(event)
        except UnsupportedRequestError as exc:
            if as_json:  # scripts read the refusal as they read a result: status and error, on stdout
                print(json.dumps({"status": UNSUPPORTED, "error": exc.to_dict()}, indent=2))
            raise
        result = agent.result(event.run_id)
        target = out or Path("tog-out") / result.run_id
        try:
            folder = result.save_to(target, agent.store)
        except OSError as exc:
            raise _usage(f"cannot write results to {str(target)!r}: {exc.strerror or exc}") from None
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        console.print(result.answer or "(no answer)")
    err_console.print(f"[bold]{result.status}[/]: results in {folder}")
    if result.status == EMPTY:  # the tools ran, but what was asked for is empty: the answer says why
        raise typer.Exit(EXIT_EMPTY)
    if result.status not in ("succeeded",):
        raise typer.Exit(1)


@app.command()
@_friendly_errors
def plan(
    request: Annotated[
        str | None, typer.Argument(help="A whole request: decompose it, then plan each subtask.")
    ] = None,
    inputs: InputsOpt = None,
    targets: Annotated[
        list[str] | None, typer.Option("--target", "-t", help="Resource type to produce (repeatable).")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="What the subtask should do.")] = None,
    domain: Annotated[list[str] | None, typer.Option("--domain", help="Domain filter (repeatable).")] = None,
    strategy: Annotated[str | None, typer.Option(help="greedy | beam | adaptive | exhaustive")] = None,
    max_depth: Annotated[int | None, typer.Option(help="Longest tool chain (default 5).")] = None,
    beam_width: Annotated[int | None, typer.Option(help="k for the beam strategy.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Score threshold for the adaptive strategy.")] = None,
    top_k: Annotated[int | None, typer.Option(help="How many ranked solutions to keep.")] = None,
    assessor: Annotated[str | None, typer.Option(help="embedding | uniform | llm")] = None,
    catalogue: CatalogueOpt = None,
    render: Annotated[Path | None, typer.Option(help="Also draw the solutions to this .png/.svg.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the search result as JSON.")] = False,
) -> None:
    """Plan a whole REQUEST (decompose, then ToG per subtask), or one subtask given by --input/--target/-d."""
    from agent.config import ToGSettings
    from agent.inputs import parse_input
    from agent.planning import build_planner
    from graph.plan import ResourceRef, Subtask
    from graph.search import Strategy

    overrides = {
        k: v
        for k, v in dict(
            strategy=strategy,
            max_depth=max_depth,
            beam_width=beam_width,
            threshold=threshold,
            top_k=top_k,
            assessor=assessor,
        ).items()
        if v is not None
    }
    if "strategy" in overrides and overrides["strategy"] not in set(Strategy):
        raise _usage(f"unknown strategy {strategy!r}; choose one of {', '.join(Strategy)}")
    if "assessor" in overrides and overrides["assessor"] not in ("embedding", "uniform", "llm"):
        raise _usage(f"unknown assessor {assessor!r}; choose embedding, uniform or llm")
    # A dict section is merged over the environment's (a model instance would replace it whole).
    sections: dict[str, Any] = {"agent": overrides}
    settings = ToGSettings(**sections)
    if render is not None:
        _check_picture(render)
    if request is not None:
        _plan_request(request, inputs, settings, render, as_json)
        return
    if not targets or not description or not inputs:
        raise _usage("give a REQUEST, or plan one subtask with --input, --target and --description")
    subtask = Subtask(
        id=0,
        description=description,
        task=list(domain or []),
        args=[parse_input(text) for text in inputs],
        returns=[ResourceRef.model_validate({"type": t}) for t in targets],
    )
    planner = build_planner(_graph(catalogue), settings)
    with err_console.status("searching the tool graph…"):
        result = planner.search(subtask)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        from agent.present import result_tree

        console.print(result_tree(subtask, result))
    if render is not None:
        from graph.render import render_solutions

        path = render_solutions(result.solutions, render, subtask=subtask)
        err_console.print(f"wrote {path}")


def _plan_request(request: str, inputs: list[str] | None, settings: Any, render: Path | None, as_json: bool) -> None:
    from agent.api import Agent
    from agent.present import planned_tree
    from graph.render import render_solutions

    paths, literals = _resources(inputs, None)
    with Agent(settings) as agent, err_console.status("decomposing and planning…"):
        result = agent.plan(request, paths, literals)
    if as_json:
        print(result.model_dump_json(indent=2))
    assert result.plan is not None
    for sub in result.plan.subtasks:
        solutions = result.solutions.get(sub.id, [])
        if not as_json:
            console.print(planned_tree(sub, solutions, settings.agent.strategy))
        if render is not None and solutions:
            path = render_solutions(solutions, render.with_name(f"{render.stem}-{sub.id}{render.suffix}"), subtask=sub)
            err_console.print(f"wrote {path}")


@app.command()
@_friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the sample inputs and pictures.")] = Path(
        "demo-out"
    ),
) -> None:
    """Plan real subtasks over the built-in tools on generated sample inputs; draw the graph and plans."""
    from agent.demo import run_demo

    run_demo(out, console)


app.command()(serve)
app.command("run")(run_workflow_cmd)
app.command("validate")(validate_workflow_cmd)
app.command("export-workflow")(export_workflow_cmd)


def _usage(message: str) -> ToGError:
    from agent.inputs import InputSpecError

    return InputSpecError(message)


def main() -> None:  # console-script entry point
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()

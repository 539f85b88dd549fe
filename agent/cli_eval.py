"""``tog eval``: measure planning. ``tog eval plans DATASET`` scores a decomposer + ToG configuration.

Heavy modules load inside the command, so ``tog --help`` stays instant. The last stdout line is one
JSON object with the overall figures, for scripts and CI to read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

eval_app = typer.Typer(
    help="Evaluate planning against gold tool graphs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@eval_app.command("plans")
def plans(
    dataset: Annotated[Path, typer.Argument(help="JSON lines: request, lang, kind, resources, gold graph.")],
    decomposer: Annotated[str, typer.Option("--decomposer", "-d", help="Decomposer name (offline, ...).")] = "offline",
    catalogue: Annotated[
        Path | None,
        typer.Option(
            "--catalogue",
            "-c",
            help="Plan over this tool catalogue (ToG, ControlLLM or TaskBench JSON); "
            "the gold graphs must name its tools.",
        ),
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="greedy | beam | adaptive | exhaustive")] = None,
    assessor: Annotated[str | None, typer.Option(help="embedding | uniform | llm")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate only the first N samples.")] = None,
    rows: Annotated[bool, typer.Option("--rows", help="List every sample, not only the imperfect ones.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write the full report (every row) as JSON.")] = None,
) -> None:
    """Node/edge F1 (TaskBench, micro) and NR/IR/HR/CR (ControlLLM) of DECOMPOSER + ToG on DATASET."""
    from agent.cli import _friendly_errors

    _friendly_errors(_plans)(dataset, decomposer, catalogue, strategy, assessor, limit, rows, report)


def _plans(
    dataset: Path,
    decomposer: str,
    catalogue: Path | None,
    strategy: str | None,
    assessor: str | None,
    limit: int | None,
    rows: bool,
    report: Path | None,
) -> None:
    from agent.cli import _usage, console, err_console
    from agent.config import ToGSettings
    from agent.evaluation.dataset import check_tools, load_samples
    from agent.evaluation.decomposers import EvalContext, make_decomposer
    from agent.evaluation.run import evaluate
    from agent.evaluation.view import report_tables
    from agent.planning import build_planner
    from graph.search import Strategy
    from graph.toolgraph import ToolGraph

    if strategy is not None and strategy not in set(Strategy):
        raise _usage(f"unknown strategy {strategy!r}; choose one of {', '.join(Strategy)}")
    if assessor is not None and assessor not in ("embedding", "uniform", "llm"):
        raise _usage(f"unknown assessor {assessor!r}; choose embedding, uniform or llm")
    samples = load_samples(dataset)
    specs = _all_specs(catalogue)
    check_tools(samples, specs)  # the whole file, so --limit never hides a bad line
    samples = samples[:limit]
    overrides: dict[str, Any] = {k: v for k, v in dict(strategy=strategy, assessor=assessor).items() if v is not None}
    planner = build_planner(ToolGraph(specs), ToGSettings(agent=overrides))
    chosen = make_decomposer(decomposer, EvalContext(specs=specs, planner=planner))
    with err_console.status(f"evaluating {len(samples)} requests…") as status:
        result = evaluate(chosen, planner, samples, progress=lambda row: status.update(f"evaluating… {row.id} done"))
    for table in report_tables(result, every_row=rows):
        console.print(table)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(result.model_dump_json(indent=2), encoding="utf-8")
        err_console.print(f"wrote {report}")
    print(json.dumps(result.summary()))


def _all_specs(catalogue: Path | None):
    """Every tool planning may use: the catalogue's, or every built-in tool whether or not it can run here
    (evaluation measures planning, not what this machine has installed)."""
    if catalogue is not None:
        from graph.catalogue import load_catalogue

        return load_catalogue(catalogue)
    from tools.registry import default_registry

    return default_registry().specs()

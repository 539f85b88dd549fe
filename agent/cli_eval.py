"""``tog eval``: measure the agent. ``tog eval plans DATASET`` scores a decomposer + ToG configuration;
``tog eval outcomes [SUITE]`` runs user trials end to end and judges what each user got (right answer,
honest refusal, or a wrong answer marked succeeded); ``--plans DATASET`` counts false refusals.

Heavy modules load inside the command, so ``tog --help`` stays instant. The last stdout line is one
JSON object with the overall figures, for scripts and CI to read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from graph.spec import ToolSpec

eval_app = typer.Typer(
    help="Evaluate planning against gold tool graphs, and outcomes on user trials.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@eval_app.command("plans")
def plans(
    dataset: Annotated[Path, typer.Argument(help="JSON lines: request, lang, kind, resources, gold graph.")],
    decomposer: Annotated[
        str | None,
        typer.Option(
            "--decomposer",
            "-d",
            help="offline, retrieval, llm, ... (default: offline for the built-in tools, retrieval for a --catalogue).",
        ),
    ] = None,
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
    split: Annotated[
        str | None,
        typer.Option("--split", help="Only the dev or the test half (fixed by record id; tune on dev, report test)."),
    ] = None,
    skip_unknown: Annotated[
        bool,
        typer.Option("--skip-unknown", help="Skip (and count) records whose gold names a tool the catalogue lacks."),
    ] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Also score the retrieval baseline (top-k similar tools, k=1..3).")
    ] = False,
) -> None:
    """Node/edge F1 (TaskBench, micro) and NR/IR/HR/CR (ControlLLM) of DECOMPOSER + ToG on DATASET."""
    from agent.cli import _friendly_errors

    _friendly_errors(_plans)(
        dataset, decomposer, catalogue, strategy, assessor, limit, rows, report, split, skip_unknown, baseline
    )


def _plans(
    dataset: Path,
    decomposer: str | None,
    catalogue: Path | None,
    strategy: str | None,
    assessor: str | None,
    limit: int | None,
    rows: bool,
    report: Path | None,
    split: str | None = None,
    skip_unknown: bool = False,
    baseline: bool = False,
) -> None:
    from agent.cli import _usage, console, err_console
    from agent.config import ToGSettings
    from agent.evaluation.dataset import check_tools, load_samples, unknown_tool_samples
    from agent.evaluation.decomposers import EvalContext, make_decomposer
    from agent.evaluation.run import evaluate
    from agent.evaluation.split import Split, select_split
    from agent.evaluation.view import baseline_table, report_tables
    from agent.planning import build_planner
    from graph.search import Strategy
    from graph.toolgraph import ToolGraph

    if strategy is not None and strategy not in set(Strategy):
        raise _usage(f"unknown strategy {strategy!r}; choose one of {', '.join(Strategy)}")
    if assessor is not None and assessor not in ("embedding", "uniform", "llm"):
        raise _usage(f"unknown assessor {assessor!r}; choose embedding, uniform or llm")
    if split not in (None, "dev", "test"):
        raise _usage(f"unknown split {split!r}; choose dev or test")
    half: Split | None = "dev" if split == "dev" else "test" if split == "test" else None
    samples = load_samples(dataset)
    specs = _all_specs(catalogue)
    unknown = unknown_tool_samples(samples, specs)
    if unknown and skip_unknown:
        skipped = {s.id for s in unknown}
        err_console.print(f"skipping {len(skipped)} record(s) whose gold names a tool outside the catalogue")
        samples = [s for s in samples if s.id not in skipped]
    else:
        check_tools(samples, specs)  # the whole file, so --limit never hides a bad line
    unknown_in_split = len(select_split(unknown, half)) if skip_unknown else 0
    samples = select_split(samples, half)
    samples = samples[:limit]
    overrides: dict[str, Any] = {k: v for k, v in dict(strategy=strategy, assessor=assessor).items() if v is not None}
    sections: dict[str, Any] = {"agent": overrides}  # merged over the environment's agent section
    planner = build_planner(ToolGraph(specs), ToGSettings(**sections))
    # The offline decomposer's reading was written for the built-in toolbox; any other catalogue is read
    # from its own data only.
    name = decomposer or ("retrieval" if catalogue is not None else "offline")
    chosen = make_decomposer(name, EvalContext(specs=specs, planner=planner))
    with err_console.status(f"evaluating {len(samples)} requests…") as status:
        result = evaluate(chosen, planner, samples, progress=lambda row: status.update(f"evaluating… {row.id} done"))
    result.skipped_unknown = unknown_in_split
    for table in report_tables(result, every_row=rows):
        console.print(table)
    summary = result.summary()
    if baseline:
        from agent.evaluation.baseline import retrieval_baseline

        scores = retrieval_baseline(samples, specs)
        console.print(baseline_table(result, scores))
        for score in scores:
            summary[f"baseline_top{score.k}_node_f1"] = round(score.node_f1, 4)
            summary[f"baseline_top{score.k}_edge_f1"] = round(score.edge_f1, 4)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(result.model_dump_json(indent=2), encoding="utf-8")
        err_console.print(f"wrote {report}")
    print(json.dumps(summary))


def _all_specs(catalogue: Path | None) -> list[ToolSpec]:
    """Every tool planning may use: the catalogue's, or every built-in tool whether or not it can run here
    (evaluation measures planning, not what this machine has installed)."""
    if catalogue is not None:
        from graph.catalogue import load_catalogue

        return load_catalogue(catalogue)
    from tools.registry import default_registry

    return default_registry().specs()


#: The user-trial suite of a source checkout (``tog eval outcomes`` with no SUITE).
DEFAULT_SUITE = Path(__file__).resolve().parents[1] / "tests" / "data" / "outcomes" / "cases.yaml"


@eval_app.command("outcomes")
def outcomes(
    suite: Annotated[
        Path | None,
        typer.Argument(help="User-trial suite (YAML; default: the checkout's tests/data/outcomes/cases.yaml)."),
    ] = None,
    plans: Annotated[
        Path | None,
        typer.Option(
            "--plans",
            help="Instead run this planning set's requests (JSON lines) on real inputs and count refusals: "
            "false ones, and ones its gold plans explain (a tool unavailable here).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON, not tables.")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run the cases (or records) whose id contains this; repeatable.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Run only the first N cases (or records).")] = None,
) -> None:
    """Run realistic requests through an offline agent (no VLM, no LLM) and judge what the user gets.

    Each case ends right, honest_refusal, wrong_but_succeeded, false_refusal, wrong_refusal (refused for the
    wrong reason), failed or skipped (an input this machine cannot make). The last line is the counts as JSON.
    """
    from agent.cli import _friendly_errors

    _friendly_errors(_outcomes)(suite, plans, as_json, only or [], limit)


def _outcomes(suite: Path | None, plans: Path | None, as_json: bool, only: list[str], limit: int | None) -> None:
    from agent.cli import _usage

    if plans is not None:
        if suite is not None:
            raise _usage("give a SUITE or --plans, not both")
        _plans_outcomes(plans, as_json, only, limit)
        return
    from agent.evaluation.outcome_cases import load_suite
    from agent.evaluation.outcomes import run_suite

    path = suite or DEFAULT_SUITE
    if suite is None and not path.is_file():
        raise _usage("no suite given and none in this installation: give the path of a suite YAML file")
    loaded = load_suite(path)
    cases = [c for c in loaded.cases if not only or any(part in c.id for part in only)][:limit]
    if not cases:
        raise _usage(f"no case id contains {' or '.join(map(repr, only))}")
    with _counting(f"running {len(cases)} requests…", len(cases), "verdict") as progress:
        report = run_suite(cases, progress=progress, models=loaded.settings)
    _show(report.model_dump_json(indent=2) if as_json else None, report, report.summary())


def _plans_outcomes(path: Path, as_json: bool, only: list[str], limit: int | None) -> None:
    from agent.cli import _usage
    from agent.evaluation.dataset import load_samples
    from agent.evaluation.outcome_plans import run_plans

    samples = [s for s in load_samples(path) if not only or any(part in s.id for part in only)][:limit]
    if not samples:
        raise _usage(f"no record id contains {' or '.join(map(repr, only))}")
    with _counting(f"running {len(samples)} requests on real inputs…", len(samples), "status") as progress:
        report = run_plans(samples, progress=progress)
    _show(report.model_dump_json(indent=2) if as_json else None, report, report.summary())


@contextmanager
def _counting(title: str, total: int, outcome: str) -> Iterator[Callable[[Any], None]]:
    """A spinner line "done/total id: <outcome attribute>", and the callback that advances it per result."""
    from agent.cli import err_console

    with err_console.status(title) as status:
        done = 0

        def progress(item: Any) -> None:
            nonlocal done
            done += 1
            status.update(f"{done}/{total} {item.id}: {getattr(item, outcome)}")

        yield progress


def _show(as_json: str | None, report: Any, summary: dict[str, Any]) -> None:
    """Tables (or the whole report as JSON), then the summary as one JSON line, last."""
    from agent.cli import console
    from agent.evaluation.outcome_plans import PlansOutcomeReport
    from agent.evaluation.outcome_view import cases_table, counts_table, plans_table

    if as_json is not None:
        print(as_json)
    else:
        console.print(plans_table(report) if isinstance(report, PlansOutcomeReport) else cases_table(report))
        console.print(counts_table(summary))
    print(json.dumps(summary))

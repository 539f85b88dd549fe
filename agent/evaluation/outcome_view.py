"""Rich tables of the user trials (``tog eval outcomes``) and of the false-refusal measurement."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from agent.evaluation.outcome_plans import PlansOutcomeReport
from agent.evaluation.outcomes import OutcomeReport

_STYLE = {
    "right": "green",
    "honest_refusal": "green",
    "wrong_but_succeeded": "bold red",
    "false_refusal": "yellow",
    "wrong_refusal": "yellow",
    "failed": "red",
    "skipped": "dim",
}


def cases_table(report: OutcomeReport) -> Table:
    """Every case: what was expected, what came back, the verdict and why."""
    table = Table(title=f"user trials: {len(report.results)} requests")
    for column in ("case", "lang", "kind", "expected", "status", "verdict", "s", "why"):
        table.add_column(column, justify="right" if column == "s" else "left", overflow="fold")
    for r in report.results:
        style = _STYLE.get(r.verdict, "")
        table.add_row(
            r.id,
            r.lang,
            r.kind,
            r.expected,
            r.status,
            f"[{style}]{r.verdict}[/]" if style else r.verdict,
            f"{r.seconds:.2f}",
            escape(r.why),
        )
    return table


def counts_table(summary: dict[str, Any]) -> Table:
    """The verdict counts, the impossible requests refused, and the time taken."""
    table = Table(title="outcomes")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        style = _STYLE.get(key, "")
        shown = f"[{style}]{value}[/]" if style and value else str(value)
        table.add_row(key, shown)
    return table


def plans_table(report: PlansOutcomeReport) -> Table:
    """The records that did not succeed (refused, empty, failed, crashed) and why, those answered without
    the unavailable tool their gold plan uses (worth a look), and the skipped ones."""
    table = Table(title="requests not answered, or answered without their gold tool")
    for column in ("record", "status", "note", "gold needs (unavailable)", "message", "s"):
        table.add_column(column, justify="right" if column == "s" else "left", overflow="fold")
    for run in report.runs:
        if run.status == "succeeded" and not run.gold_unavailable:
            continue
        if run.false_refusal:
            note = "[yellow]false refusal[/]"
        elif run.status == "succeeded":
            note = "[yellow]answered without it[/]"
        else:
            note = ""
        table.add_row(
            run.id,
            run.status,
            note,
            ", ".join(run.gold_unavailable),
            escape(run.message[:200]),
            f"{run.seconds:.2f}",
        )
    for record, why in report.skipped.items():
        table.add_row(record, "skipped", "", "", escape(why), "")
    return table

"""Rich tables of an evaluation report: figures per group, the tools most often missed or added, and
the samples that went wrong (or all of them)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from agent.evaluation.baseline import BaselineScores
from agent.evaluation.run import EvalReport, SampleResult, Scores

#: How many imperfect samples the default view lists.
WORST = 15


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def scores_table(report: EvalReport) -> Table:
    table = Table(
        title=f"{report.decomposer} + ToG ({report.strategy}, {report.tools} tools): "
        f"{report.overall.n} requests in {report.seconds:.1f} s"
    )
    for column in (
        "group",
        "n",
        "node F1",
        "edge F1",
        "node F1 (macro)",
        "edge F1 (macro)",
        "NR ↑",
        "IR ↓",
        "HR ↓",
        "CR ↑",
        "errors",
        "unsolved",
    ):
        table.add_column(column, justify="left" if column == "group" else "right")
    groups: list[tuple[str, Scores]] = [("all", report.overall)]
    groups += [(f"kind={k}", s) for k, s in report.by_kind.items()]
    groups += [(f"lang={k}", s) for k, s in report.by_lang.items()]
    for name, s in groups:
        table.add_row(
            name,
            str(s.n),
            _fmt(s.node_f1),
            _fmt(s.edge_f1),
            _fmt(s.node_f1_macro),
            _fmt(s.edge_f1_macro),
            _fmt(s.nr),
            _fmt(s.ir),
            _fmt(s.hr),
            _fmt(s.cr),
            str(s.errors),
            str(s.unsolved),
            end_section=name == "all",
        )
    return table


def tools_table(report: EvalReport, top: int = 8) -> Table:
    table = Table(title="Tools most often missed / added")
    for column in ("missed (gold, not predicted)", "n", "added (predicted, not gold)", "n"):
        table.add_column(column, justify="right" if column == "n" else "left")
    missed, extra = list(report.missed.items())[:top], list(report.extra.items())[:top]
    for i in range(max(len(missed), len(extra))):
        left = missed[i] if i < len(missed) else ("", "")
        right = extra[i] if i < len(extra) else ("", "")
        table.add_row(left[0], str(left[1]), right[0], str(right[1]))
    return table


def _graph_text(nodes: list[str], edges: list[tuple[str, str]]) -> str:
    linked = {n for e in edges for n in e}
    parts = [f"{a}→{b}" for a, b in edges] + [n for n in nodes if n not in linked]
    return ", ".join(parts) or "(nothing)"


def rows_table(rows: list[SampleResult], title: str) -> Table:
    table = Table(title=title, show_lines=True)
    for column in ("id", "request", "gold", "predicted", "node F1", "edge F1"):
        table.add_column(column, overflow="fold", justify="right" if "F1" in column else "left")
    for row in rows:
        predicted = escape(row.error) if row.error else _graph_text(row.predicted.nodes, row.predicted.edges)
        if row.unsolved:
            predicted += f" [dim](no solution for subtask {', '.join(map(str, row.unsolved))})[/]"
        table.add_row(
            row.id,
            escape(row.request),
            _graph_text(row.gold.nodes, row.gold.edges),
            predicted,
            _fmt(row.node_f1),
            _fmt(row.edge_f1),
        )
    return table


def failures_table(report: EvalReport) -> Table:
    """Requests per failure kind (a request may show several)."""
    table = Table(title="Failures by kind (requests)")
    counts = report.failure_counts()
    for kind in counts:
        table.add_column(kind.replace("_", " "), justify="right")
    table.add_row(*(str(n) for n in counts.values()))
    return table


def report_tables(report: EvalReport, every_row: bool = False) -> list[Table]:
    tables = [scores_table(report), failures_table(report)]
    if report.missed or report.extra:
        tables.append(tools_table(report))
    if every_row:
        tables.append(rows_table(report.rows, "Every sample"))
    else:
        imperfect = sorted(
            (r for r in report.rows if r.node_f1 < 1 or r.edge_f1 < 1), key=lambda r: (r.node_f1 + r.edge_f1, r.id)
        )
        if imperfect:
            shown = imperfect[:WORST]
            tables.append(rows_table(shown, f"Worst {len(shown)} of {len(imperfect)} imperfect samples"))
    return tables


def baseline_table(report: EvalReport, baseline: list[BaselineScores]) -> Table:
    """The run's figures beside the retrieval baseline's, so each result is read against it."""
    table = Table(title="Against the retrieval baseline (top-k tools most similar to the request, no edges)")
    for column in ("predictor", "node F1", "edge F1"):
        table.add_column(column, justify="left" if column == "predictor" else "right")
    table.add_row(f"{report.decomposer} + ToG", _fmt(report.overall.node_f1), _fmt(report.overall.edge_f1))
    for score in baseline:
        table.add_row(f"baseline top-{score.k}", _fmt(score.node_f1), _fmt(score.edge_f1))
    return table

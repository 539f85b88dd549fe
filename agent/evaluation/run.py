"""Run a decomposer + ToG planner over an evaluation set and score every request.

Per sample: decompose the request with its resources, plan each subtask (the planner's best solution),
turn plan + solutions into a predicted tool graph and compare it with the gold graph. A request that
cannot be decomposed scores an empty prediction (its error is kept on the row); a subtask with no
solution contributes no tools. Averages are given overall, per kind and per language.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, Field

from agent.decompose.base import Decomposer
from agent.evaluation.callgraph import CallGraph
from agent.evaluation.dataset import PlanSample
from agent.evaluation.metrics import Match, check_resources, irrelevant_rate, match, mean, micro_f1, necessary_rate
from agent.evaluation.predicted import predicted_graph
from graph.errors import NoSolutionError, ToGError
from graph.plan import Plan, Solution
from graph.search import ToGPlanner


class Counts(BaseModel):
    tp: int
    fp: int
    fn: int

    @classmethod
    def of(cls, m: Match) -> Counts:
        return cls(tp=m.tp, fp=m.fp, fn=m.fn)

    def match(self) -> Match:
        return Match(self.tp, self.fp, self.fn)


class SampleResult(BaseModel):
    """One request's prediction and scores."""

    id: str
    request: str
    lang: str
    kind: str
    gold: CallGraph
    predicted: CallGraph
    node_f1: float
    edge_f1: float
    nodes: Counts
    edges: Counts
    nr: float
    ir: float
    hr: float | None
    cr: float | None
    subtasks: int = 0
    unsolved: list[int] = Field(default_factory=list)
    """Subtasks the planner found no solution for."""
    error: str | None = None
    """Why the request could not be decomposed, if it could not."""
    seconds: float = 0.0

    def failures(self) -> list[str]:
        """What went wrong, by kind: ``no_plan`` (no tool predicted at all), ``wrong_tools`` (the tool set
        differs from gold), ``missing_edges`` / ``extra_edges`` (data flow absent or invented)."""
        if not self.predicted.nodes:
            return ["no_plan"]
        kinds = []
        if self.nodes.fp or self.nodes.fn:
            kinds.append("wrong_tools")
        if self.edges.fn:
            kinds.append("missing_edges")
        if self.edges.fp:
            kinds.append("extra_edges")
        return kinds


class Scores(BaseModel):
    """Averages over a group of samples: F1 micro (pooled counts, TaskBench) and macro (sample mean);
    NR, IR, HR and CR as sample means (HR and CR over the samples where they are defined)."""

    n: int
    node_f1: float
    edge_f1: float
    node_f1_macro: float
    edge_f1_macro: float
    nr: float
    ir: float
    hr: float | None
    cr: float | None
    errors: int
    unsolved: int


class EvalReport(BaseModel):
    decomposer: str
    strategy: str
    tools: int
    overall: Scores
    by_kind: dict[str, Scores]
    by_lang: dict[str, Scores]
    missed: dict[str, int]
    """Gold tools the predictions lacked, most often first."""
    extra: dict[str, int]
    """Predicted tools the gold graphs lacked, most often first."""
    seconds: float
    rows: list[SampleResult]
    skipped_unknown: int = 0
    """Samples left out because their gold graph names a tool outside the catalogue (``--skip-unknown``)."""

    def failure_counts(self) -> dict[str, int]:
        """Samples per failure kind (:meth:`SampleResult.failures`); a sample may count in several."""
        counts = Counter(kind for row in self.rows for kind in row.failures())
        return {kind: counts.get(kind, 0) for kind in ("no_plan", "wrong_tools", "missing_edges", "extra_edges")}

    def summary(self) -> dict[str, object]:
        """The one-line JSON figure set (rates rounded to 4 decimals)."""
        scores = {k: round(v, 4) if isinstance(v, float) else v for k, v in self.overall.model_dump().items()}
        n = max(self.overall.n, 1)
        failures = self.failure_counts()
        return {
            **scores,
            "no_plan_rate": round(failures["no_plan"] / n, 4),
            "failures": failures,
            "skipped_unknown": self.skipped_unknown,
            "decomposer": self.decomposer,
            "strategy": self.strategy,
            "tools": self.tools,
            "seconds": round(self.seconds, 2),
        }


def plan_solutions(planner: ToGPlanner, plan: Plan) -> tuple[dict[int, Solution | None], list[int]]:
    """The best solution of each subtask, and the ids of those with none."""
    best: dict[int, Solution | None] = {}
    unsolved: list[int] = []
    for sub in plan.subtasks:
        try:
            best[sub.id] = planner.search(sub).solutions[0]
        except NoSolutionError:
            best[sub.id] = None
            unsolved.append(sub.id)
    return best, unsolved


def evaluate_sample(decomposer: Decomposer, planner: ToGPlanner, sample: PlanSample) -> SampleResult:
    started = time.perf_counter()
    resources = sample.request_resources()
    error: str | None = None
    plan: Plan | None = None
    unsolved: list[int] = []
    try:
        plan = decomposer.decompose(sample.request, resources)
    except ToGError as exc:
        error = f"{type(exc).__name__}: {exc.message}"
    if plan is not None:
        solutions, unsolved = plan_solutions(planner, plan)
        predicted = predicted_graph(plan, solutions)
        check = check_resources(plan, resources)
        hr, cr = check.hallucination_rate, check.consistency_rate
    else:
        predicted, hr, cr = CallGraph(), None, None
    nodes = match(predicted.nodes, sample.gold.nodes)
    edges = match(predicted.edges, sample.gold.edges)
    return SampleResult(
        id=sample.id,
        request=sample.request,
        lang=sample.lang,
        kind=sample.kind,
        gold=sample.gold,
        predicted=predicted,
        node_f1=nodes.f1,
        edge_f1=edges.f1,
        nodes=Counts.of(nodes),
        edges=Counts.of(edges),
        nr=necessary_rate(predicted.nodes, sample.gold.nodes),
        ir=irrelevant_rate(predicted.nodes, sample.gold.nodes),
        hr=hr,
        cr=cr,
        subtasks=len(plan.subtasks) if plan else 0,
        unsolved=unsolved,
        error=error,
        seconds=round(time.perf_counter() - started, 4),
    )


def summarize(rows: Sequence[SampleResult]) -> Scores:
    return Scores(
        n=len(rows),
        node_f1=micro_f1(r.nodes.match() for r in rows),
        edge_f1=micro_f1(r.edges.match() for r in rows),
        node_f1_macro=mean(r.node_f1 for r in rows) or 0.0,
        edge_f1_macro=mean(r.edge_f1 for r in rows) or 0.0,
        nr=mean(r.nr for r in rows) or 0.0,
        ir=mean(r.ir for r in rows) or 0.0,
        hr=mean(r.hr for r in rows),
        cr=mean(r.cr for r in rows),
        errors=sum(1 for r in rows if r.error),
        unsolved=sum(len(r.unsolved) for r in rows),
    )


def _groups(rows: Sequence[SampleResult], key: Callable[[SampleResult], str]) -> dict[str, Scores]:
    names = sorted({key(r) for r in rows})
    return {name: summarize([r for r in rows if key(r) == name]) for name in names}


def _tally(pairs: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(pairs).items(), key=lambda kv: (-kv[1], kv[0])))


def evaluate(
    decomposer: Decomposer,
    planner: ToGPlanner,
    samples: Sequence[PlanSample],
    progress: Callable[[SampleResult], None] | None = None,
) -> EvalReport:
    """Score ``decomposer`` + ``planner`` on ``samples``; ``progress`` is called after each sample."""
    started = time.perf_counter()
    rows = []
    for sample in samples:
        row = evaluate_sample(decomposer, planner, sample)
        rows.append(row)
        if progress is not None:
            progress(row)
    return EvalReport(
        decomposer=getattr(decomposer, "name", type(decomposer).__name__),
        strategy=planner.config.strategy.value,
        tools=len(planner.graph.specs),
        overall=summarize(rows),
        by_kind=_groups(rows, lambda r: r.kind),
        by_lang=_groups(rows, lambda r: r.lang),
        missed=_tally(t for r in rows for t in r.gold.nodes if t not in r.predicted.node_set),
        extra=_tally(t for r in rows for t in r.predicted.nodes if t not in r.gold.node_set),
        seconds=time.perf_counter() - started,
        rows=rows,
    )

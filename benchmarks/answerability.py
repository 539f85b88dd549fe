"""Calibrate and measure the answerability check (:mod:`agent.answerability`) on planned requests.

Every request of the calibration sets — ``tests/data/plans.jsonl`` and
``tests/agent/decompose/fresh_plans.jsonl``, both already read while building the decomposer — is
decomposed by the offline decomposer with resources of its given types, then planned and checked under
two configurations of the built-in catalogue:

* ``all``: every tool available (a VLM configured). Every request can be answered, so every refusal is
  false.
* ``none``: the tools that need a model left out (no VLM, no LLM: the reasons ``tools.registry`` gives
  with nothing configured). A request whose gold tools are all available should be answered (a refusal
  is false); one whose gold graph needs an unavailable tool should be refused (honest), else it is
  answered by tools not meant for it.

The constants are chosen from these figures by a fixed rule, never by reading single requests:

* ``FIT_FLOOR``: the lowest fit of any ``all`` request, less ``NEAR_TIE`` (rounded down to 0.01): no
  answerable calibration request falls under it, with room for the wording of requests not seen. The
  figures are printed with and without it (``floor_adds``: honest refusals only the floor makes).
* ``UNAVAILABLE_MARGIN``: the smallest value (step 0.01) whose false refusals in ``none`` stay at most 2 %,
  but at least ``NEAR_TIE`` (two fits that close are a tie, not a tool "clearly less suited").

Check 4 (a subtask with no cue whose tools nothing in its words asks for) has no constant; its refusals
count in every figure above (``unread``: how many). Because the calibration sets have hardly a clause
without a cue, ``--taskbench`` also runs it where such clauses are the rule: the offline decomposer over the
TaskBench catalogues, on their dev halves only, counting a refusal false when the refused chain is the gold
one.

Held-out requests (``tests/data/plans_heldout.jsonl``) are only counted, as aggregates, with the
constants in the module (``--heldout``). Run ``python -m benchmarks.answerability`` (about a minute);
the last line of stdout is JSON with the chosen constants and the false/honest refusal rates.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = (ROOT / "tests/data/plans.jsonl", ROOT / "tests/agent/decompose/fresh_plans.jsonl")
HELDOUT = ROOT / "tests/data/plans_heldout.jsonl"


@dataclass
class Outcome:
    """One request under one configuration."""

    id: str
    needs_unavailable: bool
    product: bool = False  # check 1 refused
    unread: bool = False  # check 4 refused (a subtask with no cue and nothing tying it to its tools)
    no_plan: bool = False  # the decomposer or the planner found nothing (refused before the check)
    gaps: list[float] = field(default_factory=list)
    fits: list[float] = field(default_factory=list)

    def refused(self, margin: float, floor: float) -> bool:
        return (
            self.product
            or self.unread
            or self.no_plan
            or any(g > margin for g in self.gaps)
            or any(f < floor for f in self.fits)
        )


def measure(paths: Sequence[Path], unavailable: dict[str, str]) -> list[Outcome]:
    from agent.answerability import AnswerabilityCheck
    from agent.decompose.base import Resource
    from agent.decompose.offline import OfflineDecomposer
    from agent.evaluation.dataset import load_samples
    from agent.outcomes import UnsupportedRequestError
    from graph.assessors import EmbeddingAssessor
    from graph.errors import ToGError
    from graph.search import SearchConfig, ToGPlanner
    from graph.toolgraph import ToolGraph
    from tools.registry import default_registry

    specs = default_registry().specs()
    config = SearchConfig()
    decomposer = OfflineDecomposer()
    planner = ToGPlanner(ToolGraph([s for s in specs if s.name not in unavailable]), EmbeddingAssessor(), config)
    check = AnswerabilityCheck(specs, unavailable, config)
    outcomes = []
    for path in paths:
        for sample in load_samples(path):
            outcome = Outcome(sample.id, any(n in unavailable for n in sample.gold.nodes))
            outcomes.append(outcome)
            resources = [Resource(name=r.name, type=r.type, value=r.name) for r in sample.resources]
            try:
                check.check_products(sample.request, [r.type for r in resources])
                plan = decomposer.decompose(sample.request, resources)
                for subtask in plan.subtasks:
                    solutions = planner.search(subtask).solutions
                    fit = check.fit(subtask, solutions)
                    outcome.gaps.append(fit.gap)
                    outcome.fits.append(fit.peak)
                    try:
                        check.check_understood(subtask, solutions)
                    except UnsupportedRequestError:
                        outcome.unread = True
            except UnsupportedRequestError:
                outcome.product = True
            except ToGError:
                outcome.no_plan = True
    return outcomes


def taskbench_unread(name: str) -> dict[str, float | int]:
    """Check 4 over a TaskBench catalogue (its dev half only; every tool available): the offline decomposer
    plans each request over that catalogue, and a request check 4 refuses counts as a false refusal when the
    chain it refused is the gold one (else the refusal was of a wrong answer)."""
    from agent.answerability import AnswerabilityCheck
    from agent.decompose.base import Resource
    from agent.decompose.offline import OfflineDecomposer
    from agent.evaluation.dataset import load_samples
    from agent.evaluation.split import select_split
    from agent.outcomes import UnsupportedRequestError
    from graph.assessors import EmbeddingAssessor
    from graph.catalogue import load_catalogue
    from graph.errors import ToGError
    from graph.search import SearchConfig, ToGPlanner
    from graph.toolgraph import ToolGraph

    folder = ROOT / "tests" / "data" / name
    specs = load_catalogue(folder / "tool_desc.json")
    planner = ToGPlanner(ToolGraph(specs), EmbeddingAssessor(), SearchConfig())
    check = AnswerabilityCheck(specs, {}, SearchConfig())
    decomposer = OfflineDecomposer(specs=specs)
    planned = refused = false = 0
    for sample in select_split(load_samples(folder / "plans.jsonl"), "dev"):
        resources = [Resource(name=r.name, type=r.type, value=r.name) for r in sample.resources]
        try:
            plan = decomposer.decompose(sample.request, resources)
            chains = [(subtask, planner.search(subtask).solutions) for subtask in plan.subtasks]
        except ToGError:
            continue
        planned += 1
        for subtask, solutions in chains:
            try:
                check.check_understood(subtask, solutions)
            except UnsupportedRequestError:
                refused += 1
                false += all(t in sample.gold.nodes for t in solutions[0].tools)
                break
    row: dict[str, float | int] = {
        "planned": planned,
        "unread_refused": refused,
        "false_refusals": round(false / planned, 4) if planned else 0.0,
        "false_refusals_n": false,
    }
    print(f"{name:>24}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return row


def rate(outcomes: Sequence[Outcome], margin: float, floor: float) -> float:
    return sum(o.refused(margin, floor) for o in outcomes) / len(outcomes) if outcomes else 0.0


def choose_floor(everything: Sequence[Outcome]) -> float:
    from agent.answerability import NEAR_TIE

    planned = [min(o.fits) for o in everything if o.fits and not o.no_plan and not o.product]
    return math.floor((min(planned) - NEAR_TIE) * 100) / 100


def choose_margin(none: Sequence[Outcome], floor: float, budget: float = 0.02) -> float:
    from agent.answerability import NEAR_TIE

    answerable = [o for o in none if not o.needs_unavailable]
    for step in range(100):
        margin = step / 100
        if rate(answerable, margin, floor) <= budget:
            return max(margin, NEAR_TIE)
    return 1.0


def report(name: str, outcomes: Sequence[Outcome], margin: float, floor: float) -> dict[str, float | int]:
    answerable = [o for o in outcomes if not o.needs_unavailable]
    needing = [o for o in outcomes if o.needs_unavailable]
    row: dict[str, float | int] = {
        "n": len(outcomes),
        "answerable": len(answerable),
        "false_refusals": round(rate(answerable, margin, floor), 4),
        "false_refusals_n": sum(o.refused(margin, floor) for o in answerable),
        "needs_unavailable": len(needing),
        "honest_refusals": round(rate(needing, margin, floor), 4),
        "no_plan": sum(o.no_plan for o in outcomes),
        "unread": sum(o.unread for o in outcomes),
    }
    print(f"{name:>16}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--heldout", action="store_true", help="also count the held-out set (aggregates only)")
    parser.add_argument(
        "--taskbench", action="store_true", help="also run check 4 on the TaskBench dev halves (their catalogues)"
    )
    args = parser.parse_args(argv)
    for variable in ("TOG_VLM_MODEL", "TOG_VLM_URL", "TOG_LLM_URL"):
        os.environ.pop(variable, None)
    from agent import answerability
    from tools.registry import default_registry

    none_reasons = default_registry().unavailable()
    all_ = measure(CALIBRATION, {})
    none = measure(CALIBRATION, none_reasons)
    floor = choose_floor(all_)
    margin = choose_margin(none, floor)
    figures: dict[str, object] = {"chosen_floor": floor, "chosen_margin": margin}
    print(f"chosen: FIT_FLOOR={floor}, UNAVAILABLE_MARGIN={margin}")
    used_margin, used_floor = answerability.UNAVAILABLE_MARGIN, answerability.FIT_FLOOR
    print(f"in the module: FIT_FLOOR={used_floor}, UNAVAILABLE_MARGIN={used_margin}")
    needing = [o for o in none if o.needs_unavailable]
    figures["floor_adds"] = round(rate(needing, used_margin, floor) - rate(needing, used_margin, 0.0), 4)
    print(f"honest refusals the chosen floor adds: {figures['floor_adds']}")
    figures["calibration_all"] = report("calibration all", all_, used_margin, used_floor)
    figures["calibration_none"] = report("calibration none", none, used_margin, used_floor)
    plans = [o for o in none if o.id in set(_ids(CALIBRATION[0]))]
    plans_all = [o for o in all_ if o.id in set(_ids(CALIBRATION[0]))]
    figures["plans_all"] = report("plans.jsonl all", plans_all, used_margin, used_floor)
    figures["plans_none"] = report("plans.jsonl none", plans, used_margin, used_floor)
    if args.taskbench:
        for name in ("taskbench_huggingface", "taskbench_dailylifeapis"):
            figures[name] = taskbench_unread(name)
    if args.heldout:
        figures["heldout_all"] = report("heldout all", measure([HELDOUT], {}), used_margin, used_floor)
        figures["heldout_none"] = report("heldout none", measure([HELDOUT], none_reasons), used_margin, used_floor)
    print(json.dumps(figures))
    return 0


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


if __name__ == "__main__":
    sys.exit(main())

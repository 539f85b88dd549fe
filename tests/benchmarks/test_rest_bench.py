"""benchmarks/rest.py runs end to end in a reduced mode against a real uvicorn and accounts for every task.

The queue is made tiny (2 waiting tasks, Retry-After 1 s) so that a burst of 12 submissions is refused
with 429 at least once: the figures must show the client retried and that nothing was lost or doubled.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = 12
REPEAT = 2


@pytest.fixture(scope="module")
def bench():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(REPO_ROOT))
        return importlib.import_module("benchmarks.rest")


@pytest.fixture(scope="module")
def run(bench) -> tuple[dict, str]:
    """One reduced run: (the figures main returned, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        figures = bench.main(
            [
                "--quick",
                "--submissions",
                str(SUBMISSIONS),
                "--repeat",
                str(REPEAT),
                "--queue-size",
                "2",
                "--retry-after-s",
                "1",
            ]
        )
    return figures, out.getvalue()


@pytest.fixture(scope="module")
def figures(run) -> dict:
    return run[0]


def test_the_last_line_is_the_json_summary(run) -> None:
    figures, printed = run
    last = json.loads(printed.strip().splitlines()[-1])
    assert last == json.loads(json.dumps(figures))
    for key in (
        "throughput_rps",
        "p50_ms",
        "p99_ms",
        "overhead_ms",
        "direct_ms",
        "lost",
        "duplicated",
        "rejected_429",
        "submissions",
        "concurrency",
    ):
        assert key in last, key


def test_headline_figures_have_the_right_types(figures) -> None:
    for key in ("throughput_rps", "p50_ms", "p99_ms", "direct_ms", "rest_c1_ms", "server_p50_ms"):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert isinstance(figures["overhead_ms"], float)  # REST minus direct: may be near zero, is never missing
    assert figures["p50_ms"] <= figures["p99_ms"]
    assert figures["submissions"] == figures["concurrency"] == SUBMISSIONS and figures["repeat"] == REPEAT
    for key in ("lost", "duplicated", "wrong", "rejected_429", "accepted", "listed"):
        assert isinstance(figures[key], int), key


def test_no_task_is_lost_duplicated_or_wrong(figures) -> None:
    assert figures["errors"] == []
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["wrong"] == 0
    expected = 1 + REPEAT + SUBMISSIONS  # the warm-up, the sequential tasks, the load
    assert figures["accepted"] == figures["listed"] == figures["server_submitted"] == expected


def test_refused_submissions_are_retried_and_counted(figures) -> None:
    assert figures["rejected_429"] > 0  # 12 at once into a queue of 2
    assert figures["rejected_429_all"] == figures["server_rejected"]  # the client saw every 429 the server sent


def test_the_ledger_catches_lost_and_duplicated_tasks(bench) -> None:
    done = ["task_queued", "task_started", "task_finished"]
    ok = bench.Outcome(boxes=2, id="a", status="succeeded", answer="1. count the boxes (count_boxes): 2", kinds=done)
    assert bench.ledger([ok], ["a"]) == bench.Ledger(lost=0, duplicated=0, wrong=0, accepted=1, listed=1)
    assert bench.ledger([ok], []).lost == 1  # accepted, not listed
    assert bench.ledger([ok, bench.Outcome(boxes=1, error="refused")], ["a"]).lost == 1  # never accepted
    unfinished = bench.Outcome(boxes=1, id="b", kinds=done[:2])
    assert bench.ledger([ok, unfinished], ["a", "b"]).lost == 1
    assert bench.ledger([ok], ["a", "a"]).duplicated == 1  # listed twice
    assert bench.ledger([ok], ["a", "stray"]).duplicated == 1  # a task no client was given
    assert bench.ledger([ok, ok], ["a"]).duplicated == 1  # one id handed out twice
    twice = bench.Outcome(boxes=2, id="c", status="succeeded", answer=ok.answer, kinds=[*done, "task_started"])
    assert bench.ledger([twice], ["c"]).duplicated == 1  # ran twice
    wrong = bench.Outcome(boxes=3, id="d", status="succeeded", answer=ok.answer, kinds=done)
    assert bench.ledger([wrong], ["d"]).wrong == 1  # someone else's answer


def test_percentile_is_nearest_rank(bench) -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 50) == 50.0 and bench.percentile(values, 99) == 99.0
    assert bench.percentile([5.0, float("nan")], 99) == 5.0

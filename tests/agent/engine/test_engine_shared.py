"""The suite every backend must pass: results, parallelism, fallback, timeouts, retries, cancellation, events."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from agent.engine import EventKind, ExecutionGraphError, RunStatus, SubtaskStatus
from agent.engine.testing import plan, solution, step, subtask
from graph.plan import Action, Solution
from tools.registry import default_registry


def kinds(result, kind):
    return [e for e in result.events if e.kind is kind]


def intervals(result, tool=None):
    return sorted(
        (e.started_at, e.ended_at) for e in kinds(result, EventKind.ACTION_FINISHED) if tool is None or e.tool == tool
    )


def max_overlap(spans):
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    live = best = 0
    for _, delta in points:
        live += delta
        best = max(best, live)
    return best


def test_diamond_dag_binds_results_across_subtasks(engine):
    p = plan(
        subtask(0, "start", ("text", "x")),
        subtask(1, "left", ("text", "<GENERATED>-0"), deps=[0]),
        subtask(2, "right", ("text", "<GENERATED>-0"), deps=[0]),
        subtask(3, "join", ("text", "<GENERATED>-1"), ("text", "<GENERATED>-2"), deps=[1, 2]),
    )
    sols = {
        0: [solution(0, step("a0", "wait", text="input:0"))],
        1: [solution(1, step("a0", "append", text="input:0"), step("a1", "wait", text="a0.result"))],
        2: [solution(2, step("a0", "wait", text="input:0"), step("a1", "wait", text="a0.result"))],
        3: [solution(3, step("a0", "join_texts", first="input:0", second="input:1"))],
    }
    result = engine().run(p, sols)
    assert result.status is RunStatus.SUCCEEDED
    assert result.outputs(0) == ["x."]
    assert result.outputs(1) == ["x.."]
    assert result.outputs(2) == ["x..."]
    assert result.outputs(3) == ["x..+x..."]


def test_wide_dag_runs_independent_actions_at_the_same_time(engine):
    n = 6
    p = plan(*[subtask(i, f"wait {i}", ("text", str(i)), ("number", 0.4)) for i in range(n)])
    sols = {i: [solution(i, step("a0", "wait", text="input:0", seconds="input:1"))] for i in range(n)}
    result = engine().run(p, sols)
    assert result.status is RunStatus.SUCCEEDED
    assert [result.outputs(i) for i in range(n)] == [[f"{i}."] for i in range(n)]
    spans = intervals(result)
    assert len(spans) == n
    assert max_overlap(spans) >= 4, spans  # measured where the tools ran, not when the engine heard of them
    assert result.wall_s < 0.4 * n * 0.6


def test_a_failing_tool_falls_back_to_the_next_solution_reusing_what_succeeded(engine, tmp_path: Path):
    counter = tmp_path / "count"
    p = plan(subtask(0, "fragile", ("text", "x"), ("text", str(counter)), ("number", 0)))
    first = solution(
        0,
        step("a0", "flaky", text="input:0", counter="input:1", failures="input:2"),
        step("a1", "always_fail", text="a0.result"),
    )
    second = solution(
        0,
        step("a0", "flaky", text="input:0", counter="input:1", failures="input:2"),
        step("a1", "append", text="a0.result"),
    )
    result = engine().run(p, {0: [first, second]})
    sub = result.subtasks[0]
    assert sub.status is SubtaskStatus.SUCCEEDED and sub.solution == 1 and sub.outputs == ["x~"]
    assert sub.fallbacks and sub.fallbacks[0]["tool"] == "always_fail"
    assert counter.read_text() == "1"  # the shared first call ran once
    assert kinds(result, EventKind.SUBTASK_FALLBACK)
    assert [e.tool for e in kinds(result, EventKind.ACTION_REUSED)] == ["flaky"]


def test_a_subtask_without_solutions_left_fails_its_dependents_are_skipped_the_rest_kept(engine):
    p = plan(
        subtask(0, "doomed", ("text", "x")),
        subtask(1, "needs 0", ("text", "<GENERATED>-0"), deps=[0]),
        subtask(2, "independent", ("text", "y")),
    )
    sols = {
        0: [solution(0, step("a0", "always_fail", text="input:0"))],
        1: [solution(1, step("a0", "append", text="input:0"))],
        2: [solution(2, step("a0", "append", text="input:0"))],
    }
    result = engine().run(p, sols)
    assert result.status is RunStatus.PARTIAL
    assert result.subtasks[0].status is SubtaskStatus.FAILED
    assert result.subtasks[0].error["code"] == "execution" and "refuses" in result.subtasks[0].error["message"]
    assert result.subtasks[1].status is SubtaskStatus.SKIPPED
    assert result.subtasks[2].outputs == ["y"]
    assert not [e for e in kinds(result, EventKind.ACTION_STARTED) if e.subtask == 1]
    with pytest.raises(Exception) as info:
        result.raise_for_status()
    assert info.value.result is result


def test_a_hanging_tool_times_out_and_the_subtask_falls_back(engine):
    p = plan(subtask(0, "slow", ("text", "x"), ("number", 20)))
    sols = {
        0: [
            solution(0, step("a0", "hang", text="input:0", seconds="input:1")),
            solution(0, step("a0", "append", text="input:0")),
        ]
    }
    started = time.monotonic()
    result = engine(tool_timeouts={"hang": 0.5}).run(p, sols)
    assert time.monotonic() - started < 8
    sub = result.subtasks[0]
    assert sub.status is SubtaskStatus.SUCCEEDED and sub.solution == 1
    assert sub.fallbacks[0]["code"] == "timeout"
    failed = kinds(result, EventKind.ACTION_FAILED)
    assert failed[0].tool == "hang" and failed[0].error["kind"] == "timeout"


def test_a_transient_error_is_retried_with_backoff(engine, tmp_path: Path):
    counter = tmp_path / "count"
    p = plan(subtask(0, "flaky", ("text", "x"), ("text", str(counter)), ("number", 2)))
    sols = {0: [solution(0, step("a0", "flaky", text="input:0", counter="input:1", failures="input:2"))]}
    result = engine(max_retries=2).run(p, sols)
    assert result.outputs(0) == ["x~"]
    assert counter.read_text() == "3"
    assert len(kinds(result, EventKind.ACTION_RETRIED)) == 2
    assert kinds(result, EventKind.ACTION_FINISHED)[0].attempt == 3


def test_retries_run_out(engine, tmp_path: Path):
    counter = tmp_path / "count"
    p = plan(subtask(0, "flaky", ("text", "x"), ("text", str(counter)), ("number", 5)))
    sols = {0: [solution(0, step("a0", "flaky", text="input:0", counter="input:1", failures="input:2"))]}
    result = engine(max_retries=1).run(p, sols)
    assert result.status is RunStatus.FAILED
    assert counter.read_text() == "2"
    assert result.subtasks[0].error["code"] == "execution"


def test_cancellation_stops_pending_actions(engine):
    p = plan(subtask(0, "long chain", ("text", "x"), ("number", 0.6)))
    sols = {
        0: [
            solution(
                0,
                *[
                    step(f"a{k}", "wait", text="input:0" if k == 0 else f"a{k - 1}.result", seconds="input:1")
                    for k in range(4)
                ],
            )
        ]
    }
    handle = engine().submit(p, sols)
    for event in handle.events(timeout=30):
        if event.kind is EventKind.ACTION_STARTED:
            handle.cancel()
    result = handle.result(timeout=10)
    assert result.status is RunStatus.CANCELLED
    assert result.subtasks[0].status is SubtaskStatus.CANCELLED
    assert len(kinds(result, EventKind.ACTION_STARTED)) == 1
    assert result.wall_s < 2.0
    assert result.events[-1].kind is EventKind.RUN_FINISHED


def test_events_arrive_in_a_consistent_order(engine):
    p = plan(
        subtask(0, "a", ("text", "x")),
        subtask(1, "b", ("text", "<GENERATED>-0"), deps=[0]),
        subtask(2, "c", ("text", "z")),
    )
    sols = {
        i: [solution(i, step("a0", "wait", text="input:0"), step("a1", "append", text="a0.result"))] for i in range(3)
    }
    streamed = list(engine().submit(p, sols).events(timeout=30))
    assert [e.seq for e in streamed] == list(range(1, len(streamed) + 1))
    assert streamed[0].kind is EventKind.RUN_STARTED and streamed[-1].kind is EventKind.RUN_FINISHED
    position = {(e.node, e.kind): i for i, e in enumerate(streamed) if e.node}
    nodes = {e.node for e in streamed if e.node}
    assert len(nodes) == 6
    for node in nodes:
        assert (
            position[(node, EventKind.ACTION_QUEUED)]
            < position[(node, EventKind.ACTION_STARTED)]
            < position[(node, EventKind.ACTION_FINISHED)]
        )
    finished_sub = {e.subtask: i for i, e in enumerate(streamed) if e.kind is EventKind.SUBTASK_FINISHED}
    for i, e in enumerate(streamed):
        if e.kind is EventKind.ACTION_FINISHED:
            assert i < finished_sub[e.subtask]
    first_b = min(i for i, e in enumerate(streamed) if e.kind is EventKind.ACTION_STARTED and e.subtask == 1)
    assert finished_sub[0] < first_b


def test_a_malformed_graph_is_one_error_listing_every_problem_and_nothing_runs(engine, tmp_path: Path):
    counter = tmp_path / "count"
    p = plan(
        subtask(0, "fine", ("text", "x"), ("text", str(counter))),
        subtask(1, "broken", ("text", "y"), ("number", 1)),
    )
    good = solution(0, step("a0", "flaky", text="input:0", counter="input:1"))
    broken = Solution(
        subtask_id=1,
        outputs=["a3.result"],
        actions=[
            Action(id="a0", tool="no_such_tool", args={"text": "input:0"}, outputs={"result": "text"}),
            Action(id="a1", tool="append", args={"suffix": "input:0"}, outputs={"result": "text"}),  # text unbound
            Action(id="a2", tool="append", args={"text": "input:1"}, outputs={"result": "text"}),  # number -> text
            Action(id="a3", tool="append", args={"text": "a4.result"}, outputs={"result": "text"}),
            Action(id="a4", tool="append", args={"text": "a3.result"}, outputs={"result": "text"}),  # cycle
        ],
    )
    with pytest.raises(ExecutionGraphError) as info:
        engine().run(p, {0: [good], 1: [broken]})
    text = str(info.value)
    assert "cycle" in text
    fixed = Solution(subtask_id=1, outputs=["a2.result"], actions=broken.actions[:3])
    with pytest.raises(ExecutionGraphError) as info:
        engine().run(p, {0: [good], 1: [fixed], 2: [good]})
    problems = info.value.problems
    assert any("unknown tool 'no_such_tool'" in m for m in problems)
    assert any("'text'" in m and "not bound" in m for m in problems)
    assert any("takes text" in m and "number" in m for m in problems)
    assert any("subtask 2" in m for m in problems)
    assert len(problems) == 4
    assert not counter.exists()


def test_gpu_hinted_calls_share_one_slot_per_device(engine):
    n = 8
    p = plan(*[subtask(i, f"gpu {i}", ("text", str(i)), ("number", 0.3)) for i in range(n)])
    sols = {i: [solution(i, step("a0", "where_am_i", text="input:0", seconds="input:1"))] for i in range(n)}
    result = engine().run(p, sols)
    assert result.status is RunStatus.SUCCEEDED
    spans = intervals(result)
    assert 2 <= max_overlap(spans) <= 4  # 4 logical GPUs, one call each


def test_a_per_tool_limit_serialises_that_tool(engine):
    p = plan(*[subtask(i, f"wait {i}", ("text", str(i)), ("number", 0.15)) for i in range(3)])
    sols = {i: [solution(i, step("a0", "wait", text="input:0", seconds="input:1"))] for i in range(3)}
    result = engine(tool_concurrency={"wait": 1}).run(p, sols)
    assert result.status is RunStatus.SUCCEEDED
    spans = intervals(result)
    assert max_overlap(spans) == 1


def test_real_image_tools_pass_images_between_calls(engine):
    registry = default_registry()
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    grey = subtask(0, "grey then rotate", ("image", image), ("number", 90))
    p = plan({**grey, "returns": [{"type": "image"}]})
    sol = Solution(
        subtask_id=0,
        outputs=["a1.image"],
        actions=[
            Action(id="a0", tool="grayscale_image", args={"image": "input:0"}, outputs={"image": "image"}),
            Action(
                id="a1", tool="rotate_image", args={"image": "a0.image", "angle": "input:1"}, outputs={"image": "image"}
            ),
        ],
    )
    result = engine(registry).run(p, {0: [sol]})
    assert result.status is RunStatus.SUCCEEDED, result.subtasks[0].error
    out = result.outputs(0)[0]
    assert out.size == (48, 64)
    assert out.convert("L").getpixel((10, 10)) == image.convert("L").getpixel((10, 10))

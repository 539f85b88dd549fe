"""Metrics on hand-computed examples, including the empty cases."""

from __future__ import annotations

import pytest

from agent.decompose.base import Resource
from agent.evaluation.metrics import (
    Match,
    check_resources,
    f1,
    irrelevant_rate,
    match,
    mean,
    micro_f1,
    necessary_rate,
)
from graph.plan import Plan


def test_set_f1_known_values():
    assert f1({"a", "b"}, {"a", "b"}) == 1.0
    assert f1({"a"}, {"a", "b"}) == pytest.approx(2 / 3)  # P 1, R 1/2
    assert f1({"a", "b", "c"}, {"a", "d"}) == pytest.approx(0.4)  # P 1/3, R 1/2
    assert f1({"x"}, {"a"}) == 0.0
    assert match(["a", "a", "b"], ["a"]) == Match(tp=1, fp=1, fn=0)  # duplicates count once


def test_empty_sets():
    assert f1(set(), {"a"}) == 0.0  # empty prediction
    assert f1({"a"}, set()) == 0.0
    assert f1(set(), set()) == 1.0  # single tool: no gold edges and none predicted
    assert Match(0, 0, 3).precision == 0.0 and Match(0, 0, 3).recall == 0.0
    assert Match(0, 0, 0).precision == 1.0


def test_edges_are_directed_pairs():
    gold = {("detect_faces", "blur_regions")}
    assert f1({("blur_regions", "detect_faces")}, gold) == 0.0
    assert f1({("detect_faces", "blur_regions"), ("detect_faces", "count_boxes")}, gold) == pytest.approx(2 / 3)


def test_micro_pools_counts_and_differs_from_macro():
    samples = [Match(tp=1, fp=0, fn=0), Match(tp=0, fp=0, fn=3)]
    assert micro_f1(samples) == pytest.approx(2 / (2 + 3))  # pooled: tp 1, fn 3
    assert mean(m.f1 for m in samples) == pytest.approx(0.5)
    assert micro_f1([Match(0, 0, 0), Match(0, 0, 0)]) == 1.0
    assert micro_f1([]) == 1.0
    assert mean([None, 0.5, None, 1.0]) == 0.75 and mean([None]) is None


def test_necessary_and_irrelevant_rates():
    gold = ["detect_faces", "blur_regions", "count_boxes"]
    assert necessary_rate(["detect_faces", "draw_boxes"], gold) == pytest.approx(1 / 3)
    assert irrelevant_rate(["detect_faces", "draw_boxes"], gold) == pytest.approx(1 / 2)
    assert necessary_rate([], gold) == 0.0
    assert irrelevant_rate([], gold) == 0.0
    assert irrelevant_rate(gold, gold) == 0.0 and necessary_rate(gold, gold) == 1.0


def _plan(*subtasks: dict) -> Plan:
    return Plan.parse({"request": "r", "subtasks": list(subtasks)})


RESOURCES = [Resource(name="photo.jpg", type="image"), Resource(name="notes", type="text", value="notes.txt")]


def test_resource_references_given_generated_and_literal():
    plan = _plan(
        {
            "id": 0,
            "description": "find faces",
            "args": [{"type": "image", "value": "photo.jpg"}],
            "returns": [{"type": "bboxes"}],
        },
        {
            "id": 1,
            "description": "blur",
            "dep": [0],
            "args": [
                {"type": "image", "value": "photo.jpg"},
                {"type": "bboxes", "value": "<GENERATED>-0"},
                {"type": "text", "value": "pixelate"},
                {"type": "number", "value": 5},
            ],
            "returns": [{"type": "image"}],
        },
    )
    check = check_resources(plan, RESOURCES)
    assert (check.references, check.hallucinated, check.consistent) == (3, 0, 3)  # literals not counted
    assert check.hallucination_rate == 0.0 and check.consistency_rate == 1.0


def test_hallucinated_and_mistyped_references():
    plan = _plan(
        {
            "id": 0,
            "description": "caption",
            "args": [{"type": "image", "value": "cat.png"}],  # never given
            "returns": [{"type": "text"}],
        },
        {
            "id": 1,
            "description": "boxes from nowhere",
            "args": [{"type": "bboxes", "value": None}],
            "returns": [{"type": "number"}],
        },
        {
            "id": 2,
            "description": "read photo as text",
            "args": [{"type": "text", "value": "photo.jpg"}],  # wrong type
            "returns": [{"type": "audio"}],
        },
        {
            "id": 3,
            "description": "notes by value",
            "args": [{"type": "text", "value": "notes.txt"}],
            "returns": [{"type": "text"}],
        },
        {
            "id": 4,
            "description": "use caption as an image",
            "dep": [0],
            "args": [{"type": "image", "value": "<GENERATED>-0"}],
            "returns": [{"type": "image"}],
        },  # 0 makes text
    )
    check = check_resources(plan, RESOURCES)
    assert (check.references, check.hallucinated, check.consistent) == (5, 2, 1)
    assert check.hallucination_rate == pytest.approx(2 / 5)
    assert check.consistency_rate == pytest.approx(1 / 3)


def test_rates_undefined_without_references():
    plan = _plan(
        {
            "id": 0,
            "description": "say hello",
            "args": [{"type": "text", "value": "hello"}],
            "returns": [{"type": "audio"}],
        }
    )
    check = check_resources(plan, [])
    assert check.references == 0
    assert check.hallucination_rate is None and check.consistency_rate is None

"""The evaluation set is valid for the built-in toolbox, and bad files are reported line by line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agent.evaluation.dataset import DatasetError, check_tools, load_samples, parse_samples, type_problems
from tools.registry import default_registry

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def specs():
    return default_registry().specs()


@pytest.fixture(scope="module")
def samples():
    return load_samples(DATA / "plans.jsonl")


def test_the_set_is_large_bilingual_and_covers_every_kind(samples):
    assert len(samples) >= 80
    langs = Counter(s.lang for s in samples)
    assert langs["zh"] >= 12 and langs["en"] >= 40
    kinds = Counter(s.kind for s in samples)
    assert set(kinds) == {"single", "chain", "dag"} and min(kinds.values()) >= 15
    assert len({s.request for s in samples}) == len(samples)
    assert Counter(s.resources[0].type.value for s in samples if s.resources).keys() >= {
        "image",
        "audio",
        "video",
        "text",
        "bboxes",
    }


def test_every_gold_tool_is_a_builtin_tool_and_the_types_connect(samples, specs):
    check_tools(samples, specs)  # raises on an unknown name
    problems = [p for s in samples for p in type_problems(s, specs)]
    assert problems == []


def test_the_fixture_is_valid_too(specs):
    fixture = load_samples(DATA / "plans_fixture.jsonl")
    assert 3 <= len(fixture) <= 5
    check_tools(fixture, specs)


LINE = (
    '{"id": "%s", "request": "blur the faces", "lang": "en", "kind": "%s", "resources": [{"name": "p.jpg", '
    '"type": "image"}], "gold": {"nodes": ["detect_faces", "blur_regions"], '
    '"edges": [["detect_faces", "blur_regions"]]}}'
)


def test_problems_name_their_lines():
    lines = [
        LINE % ("a", "chain"),
        "",
        "{not json",
        LINE % ("b", "dag"),
        LINE % ("a", "chain"),
        '{"id": "c", "request": "x", "lang": "fr", "kind": "single", "gold": {"nodes": ["t"], "edges": [["t", "u"]]}}',
    ]
    with pytest.raises(DatasetError) as caught:
        parse_samples(lines, source="bad.jsonl")
    problems = caught.value.problems
    assert any(p.startswith("line 3: not JSON") for p in problems)
    assert any(p.startswith("line 4:") and "kind is 'dag' but the gold graph is a chain" in p for p in problems)
    assert any(p.startswith("line 5:") and "already used on line 1" in p for p in problems)
    assert any(p.startswith("line 6: lang") for p in problems)
    assert any(p.startswith("line 6:") and "not among the nodes" in p for p in problems)
    assert "bad.jsonl has" in caught.value.message


def test_unknown_tools_are_listed_with_suggestions(specs):
    sample = parse_samples([LINE % ("x", "chain")])[0]
    wrong = sample.model_copy(
        update={"gold": sample.gold.model_copy(update={"nodes": ["detect_face", "blur_regions"], "edges": []})}
    )
    with pytest.raises(DatasetError) as caught:
        check_tools([wrong], specs)
    [problem] = caught.value.problems
    assert problem.startswith("x: unknown tool 'detect_face' (did you mean 'detect_faces'")


def test_type_problems_catch_annotation_mistakes(specs):
    line = (
        '{"id": "t", "request": "r", "lang": "en", "kind": "chain", '
        '"resources": [{"name": "a.wav", "type": "audio"}],'
        ' "gold": {"nodes": ["caption_image", "crop_image"], "edges": [["caption_image", "crop_image"]]}}'
    )
    problems = type_problems(parse_samples([line])[0], specs)
    assert any("caption_image makes ['text'], which crop_image does not take" in p for p in problems)
    assert any("crop_image needs boxes (bboxes)" in p for p in problems)
    assert any("no gold tool takes a.wav (audio)" in p for p in problems)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DatasetError, match="no dataset at"):
        load_samples(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n# only a comment\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="holds no samples"):
        load_samples(tmp_path / "empty.jsonl")

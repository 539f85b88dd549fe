"""``tog eval plans`` end to end on the fixture with a scripted decomposer: known figures come out.

The scripted plans are fixed; the planner is real ToG (uniform assessor) over a small catalogue in
which each scripted subtask has one shortest solution, so the predicted graphs are known by hand:

=========  ==========================================  ======  ======  ===  ===  ===  ===
sample     predicted                                   node    edge    NR   IR   HR   CR
=========  ==========================================  ======  ======  ===  ===  ===  ===
fx-blur    detect_faces->blur_regions (= gold)          1       1       1    0    0    1
fx-sign    read_text->text_to_speech (translate missed) 0.8     0       2/3  0    0    1
fx-memo    speech_to_text, read_text of a made-up file  2/3     1*      1    1/2  1/2  1
fx-faces   detect_faces->count_boxes, text_to_speech    2/3     1       2/3  1/3  0    2/3
fx-fail    decomposition error: nothing                 0       0       0    0    –    –
=========  ==========================================  ======  ======  ===  ===  ===  ===

(* no edges on either side). Pooled: nodes tp 7, fp 2, fn 4 -> micro F1 0.7; edges tp 2, fp 1, fn 3 -> 0.5.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.evaluation.dataset import load_samples
from agent.evaluation.decomposers import (
    EvalContext,
    UnknownDecomposerError,
    imported,
    make_decomposer,
    register_decomposer,
    unregister_decomposer,
)
from agent.evaluation.run import evaluate
from graph.assessors import UniformAssessor
from graph.catalogue import dump_catalogue
from graph.plan import Plan
from graph.search import ToGPlanner
from graph.toolgraph import ToolGraph
from tools.registry import default_registry

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "plans_fixture.jsonl"
TOOLS = [
    "detect_faces",
    "blur_regions",
    "count_boxes",
    "read_text",
    "translate_text",
    "text_to_speech",
    "speech_to_text",
    "summarize_text",
]

IMG = "image"
PLANS: dict[str, list[dict]] = {
    "Blur the faces in photo.jpg.": [
        {
            "id": 0,
            "description": "find the faces",
            "args": [{"type": IMG, "value": "photo.jpg"}],
            "returns": [{"type": "bboxes"}],
        },
        {
            "id": 1,
            "description": "blur them",
            "dep": [0],
            "args": [{"type": IMG, "value": "photo.jpg"}, {"type": "bboxes", "value": "<GENERATED>-0"}],
            "returns": [{"type": IMG}],
        },
    ],
    "Read the sign, translate it into English and say it aloud.": [
        {
            "id": 0,
            "description": "read the sign",
            "args": [{"type": IMG, "value": "sign.jpg"}],
            "returns": [{"type": "text"}],
        },
        {
            "id": 1,
            "description": "say it aloud",
            "dep": [0],
            "args": [{"type": "text", "value": "<GENERATED>-0"}],
            "returns": [{"type": "audio"}],
        },
    ],
    "Transcribe memo.wav.": [
        {
            "id": 0,
            "description": "transcribe",
            "args": [{"type": "audio", "value": "memo.wav"}],
            "returns": [{"type": "text"}],
        },
        {
            "id": 1,
            "description": "read a file nobody gave",
            "args": [{"type": IMG, "value": "ghost.png"}],
            "returns": [{"type": "text"}],
        },
    ],
    "Count the faces in photo.jpg and summarise notes.txt.": [
        {
            "id": 0,
            "description": "find faces",
            "args": [{"type": IMG, "value": "photo.jpg"}],
            "returns": [{"type": "bboxes"}],
        },
        {
            "id": 1,
            "description": "count them",
            "dep": [0],
            "args": [{"type": "bboxes", "value": "<GENERATED>-0"}],
            "returns": [{"type": "number"}],
        },
        {
            "id": 2,
            "description": "photo as text, spoken",
            "args": [{"type": "text", "value": "photo.jpg"}],
            "returns": [{"type": "audio"}],
        },
    ],
}


class ScriptedDecomposer(Decomposer):
    """Fixed plans by request; any other request cannot be decomposed."""

    name = "scripted"

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        if request not in PLANS:
            raise DecompositionError(f"no script for {request!r}")
        return Plan.parse({"request": request, "subtasks": PLANS[request]})


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> Path:
    registry = default_registry()
    path = tmp_path_factory.mktemp("catalogue") / "tools.json"
    path.write_text(json.dumps(dump_catalogue(registry.get(n).spec for n in TOOLS)), encoding="utf-8")
    return path


@pytest.fixture()
def scripted():
    register_decomposer("scripted", lambda context: ScriptedDecomposer(), replace=True)
    yield "scripted"
    unregister_decomposer("scripted")


runner = CliRunner()


def _eval(*args: str):
    result = runner.invoke(app, ["eval", "plans", *args], catch_exceptions=False)
    return result, result.stdout.strip().splitlines()


def test_eval_command_computes_the_known_figures(catalogue, scripted, tmp_path):
    report_path = tmp_path / "report.json"
    result, lines = _eval(
        str(FIXTURE),
        "--decomposer",
        scripted,
        "--catalogue",
        str(catalogue),
        "--assessor",
        "uniform",
        "--report",
        str(report_path),
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(lines[-1])
    expected = {
        "n": 5,
        "node_f1": 0.7,
        "edge_f1": 0.5,
        "node_f1_macro": (1 + 0.8 + 2 / 3 + 2 / 3 + 0) / 5,
        "edge_f1_macro": 0.6,
        "nr": (1 + 2 / 3 + 1 + 2 / 3) / 5,
        "ir": (1 / 2 + 1 / 3) / 5,
        "hr": 0.5 / 4,
        "cr": (3 + 2 / 3) / 4,
        "errors": 1,
        "unsolved": 0,
    }
    for key, value in expected.items():
        assert figures[key] == pytest.approx(value, abs=1e-4), key
    assert figures["tools"] == len(TOOLS) and figures["decomposer"] == "scripted"
    assert "node F1" in result.stdout and "fx-fail" in result.stdout  # the table and the worst rows

    report = json.loads(report_path.read_text(encoding="utf-8"))
    rows = {r["id"]: r for r in report["rows"]}
    assert rows["fx-sign"]["predicted"]["edges"] == [["read_text", "text_to_speech"]]
    assert rows["fx-memo"]["hr"] == 0.5 and rows["fx-faces"]["cr"] == pytest.approx(2 / 3)
    assert rows["fx-fail"]["error"].startswith("DecompositionError: no script")
    assert report["missed"] == {"summarize_text": 2, "speech_to_text": 1, "translate_text": 1}
    assert report["extra"] == {"read_text": 1, "text_to_speech": 1}
    chain = report["by_kind"]["chain"]  # fx-blur, fx-sign, fx-fail
    assert chain["n"] == 3 and chain["node_f1"] == pytest.approx(8 / 11) and chain["edge_f1"] == pytest.approx(1 / 3)
    assert report["by_lang"]["zh"]["n"] == 1 and report["by_lang"]["zh"]["errors"] == 1


def test_evaluate_called_directly(catalogue):
    from graph.catalogue import load_catalogue

    specs = load_catalogue(catalogue)
    planner = ToGPlanner(ToolGraph(specs), assessor=UniformAssessor())
    report = evaluate(ScriptedDecomposer(), planner, load_samples(FIXTURE)[:2])
    assert report.overall.n == 2
    assert report.overall.node_f1 == pytest.approx(2 * 4 / (2 * 4 + 1))  # tp 4, fn 1
    assert report.overall.edge_f1 == pytest.approx(2 / (2 + 1 + 2))  # tp 1, fp 1, fn 2


def test_limit_option(catalogue, scripted):
    result, lines = _eval(str(FIXTURE), "-d", scripted, "-c", str(catalogue), "--assessor", "uniform", "--limit", "1")
    assert result.exit_code == 0
    figures = json.loads(lines[-1])
    assert figures["n"] == 1 and figures["node_f1"] == 1.0 and figures["edge_f1"] == 1.0


def test_gold_tools_must_exist_in_the_catalogue_used(tmp_path, scripted):
    small = tmp_path / "small.json"
    small.write_text(json.dumps(dump_catalogue([default_registry().get("detect_faces").spec])), encoding="utf-8")
    result, _ = _eval(str(FIXTURE), "-d", scripted, "-c", str(small), "--assessor", "uniform")
    assert result.exit_code == 2
    assert "fx-blur: unknown tool 'blur_regions'" in result.output


def test_bad_choices_are_usage_errors(tmp_path):
    result, _ = _eval(str(FIXTURE), "--decomposer", "nobody", "--assessor", "uniform")
    assert result.exit_code == 2 and "unknown decomposer 'nobody'" in result.output and "offline" in result.output
    result, _ = _eval(str(FIXTURE), "--strategy", "sideways")
    assert result.exit_code == 2 and "unknown strategy" in result.output
    result, _ = _eval(str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2 and "no dataset at" in result.output


def test_a_decomposer_that_cannot_be_imported_says_so():
    register_decomposer("broken", lambda context: imported("agent.decompose.not_written_yet", "Later")(), replace=True)
    try:
        with pytest.raises(UnknownDecomposerError, match="agent.decompose.not_written_yet.Later cannot be imported"):
            make_decomposer("broken", EvalContext(specs=[], planner=ToGPlanner(ToolGraph([]))))
    finally:
        unregister_decomposer("broken")
    with pytest.raises(UnknownDecomposerError, match="is not a Decomposer"):
        imported("agent.decompose.base", "Resource")


def test_failure_kinds_are_counted(catalogue, scripted):
    result, lines = _eval(str(FIXTURE), "-d", scripted, "-c", str(catalogue), "--assessor", "uniform")
    figures = json.loads(lines[-1])
    # fx-fail: no plan; fx-sign, fx-memo, fx-faces: wrong tools; fx-sign misses its edges and invents one
    assert figures["failures"] == {"no_plan": 1, "wrong_tools": 3, "missing_edges": 1, "extra_edges": 1}
    assert figures["no_plan_rate"] == pytest.approx(1 / 5)
    assert "Failures by kind" in result.stdout


def test_skip_unknown_skips_and_counts_records_outside_the_catalogue(tmp_path, scripted):
    small = tmp_path / "small.json"
    names = ["detect_faces", "blur_regions", "speech_to_text", "read_text"]
    small.write_text(json.dumps(dump_catalogue(default_registry().get(n).spec for n in names)), encoding="utf-8")
    result, lines = _eval(str(FIXTURE), "-d", scripted, "-c", str(small), "--assessor", "uniform", "--skip-unknown")
    assert result.exit_code == 0, result.output
    figures = json.loads(lines[-1])
    # fx-blur and fx-memo name only catalogue tools; the other three are skipped and counted
    assert figures["n"] == 2 and figures["skipped_unknown"] == 3
    assert "skipping 3 record(s)" in result.output


def test_split_halves_are_fixed_disjoint_and_complete(scripted, catalogue):
    from agent.evaluation.split import select_split, split_of

    samples = load_samples(FIXTURE)
    dev, test = select_split(samples, "dev"), select_split(samples, "test")
    assert sorted(s.id for s in dev + test) == sorted(s.id for s in samples) and not {s.id for s in dev} & {
        s.id for s in test
    }
    assert [split_of(s.id) for s in dev] == ["dev"] * len(dev)
    assert split_of("tbhf-33446682") == split_of("tbhf-33446682")  # by id alone
    for half, expected in (("dev", dev), ("test", test)):
        result, lines = _eval(
            str(FIXTURE), "-d", scripted, "-c", str(catalogue), "--assessor", "uniform", "--split", half
        )
        assert result.exit_code == 0 and json.loads(lines[-1])["n"] == len(expected)
    result, _ = _eval(str(FIXTURE), "-d", scripted, "--split", "train")
    assert result.exit_code == 2 and "unknown split" in result.output


class _Spike:
    """An embedder that puts each text on the axis of the first known word it contains."""

    words = ("blur", "speech", "read", "faces")

    def encode(self, texts):
        import numpy as np

        out = np.zeros((len(texts), len(self.words) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            hit = next((i for i, w in enumerate(self.words) if w in text.lower()), len(self.words))
            out[row, hit] = 1.0
        return out


def test_retrieval_baseline_scores_top_k_without_edges():
    from agent.evaluation.baseline import retrieval_baseline

    samples = load_samples(FIXTURE)
    specs = [default_registry().get(n).spec for n in TOOLS]
    scores = retrieval_baseline(samples, specs, embedder=_Spike(), ks=(1, 2))
    assert [s.k for s in scores] == [1, 2]
    assert all(s.edge_f1 == 0.0 for s in scores)  # no edges predicted, and the fixture has gold edges
    assert all(0.0 < s.node_f1 < 1.0 for s in scores)


def test_baseline_option_prints_the_baseline_beside_the_figures(catalogue, scripted, monkeypatch):
    monkeypatch.setattr("agent.evaluation.baseline.shared_embedder", lambda: _Spike())
    result, lines = _eval(str(FIXTURE), "-d", scripted, "-c", str(catalogue), "--assessor", "uniform", "--baseline")
    assert result.exit_code == 0, result.output
    figures = json.loads(lines[-1])
    assert {"baseline_top1_node_f1", "baseline_top2_node_f1", "baseline_top3_node_f1"} <= figures.keys()
    assert figures["baseline_top1_edge_f1"] == 0.0
    assert "retrieval baseline" in result.stdout


def test_the_llm_decomposer_is_selectable_and_says_when_no_model_is_configured(catalogue, monkeypatch):
    import os

    for name in list(os.environ):
        if name.upper().startswith(("TOG_VLM_", "TOG_LLM_")):
            monkeypatch.delenv(name)
    result, _ = _eval(str(FIXTURE), "-d", "llm", "-c", str(catalogue), "--assessor", "uniform")
    assert result.exit_code == 2 and "TOG_VLM_MODEL" in result.output and "Traceback" not in result.output

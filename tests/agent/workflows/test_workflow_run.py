"""Running workflows on the engine: parallel steps (measured where the tools ran), foreach, when, step
retries and timeouts, failures with and without partial results, bad inputs, batches, saved results."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.engine import Engine, EngineConfig
from agent.workflows import (
    Workflow,
    WorkflowEvent,
    WorkflowFailedError,
    WorkflowInputError,
    WorkflowUnavailableError,
)
from tools.registry import ToolRegistry

# --- parallelism and step settings (the engine's timed test tools) ------------------------------------

PARALLEL = """\
name: parallel
inputs:
  x: {type: text}
  y: {type: text}
steps:
  - {id: a, tool: wait, args: {text: "${inputs.x}", seconds: 0.5}}
  - {id: b, tool: wait, args: {text: "${inputs.y}", seconds: 0.5}}
  - {id: both, tool: join_texts, args: {first: "${steps.a.outputs.result}", second: "${steps.b.outputs.result}"}}
outputs:
  joined: ${steps.both.outputs.result}
"""


def test_independent_steps_run_at_the_same_time(test_tools: ToolRegistry, test_engine: Engine) -> None:
    events: list[WorkflowEvent] = []
    started = time.time()
    result = Workflow.load(PARALLEL, registry=test_tools).run(
        {"x": "x", "y": "y"}, engine=test_engine, on_event=events.append
    )
    wall = time.time() - started
    assert result.value("joined") == "x.+y."
    finished = {e.step: e.engine for e in events if e.kind == "action_finished"}
    a, b, both = finished["a"], finished["b"], finished["both"]
    assert a.started_at < b.ended_at and b.started_at < a.ended_at, "a and b must overlap"
    assert both.started_at >= max(a.ended_at, b.ended_at)
    assert wall < 0.95, f"two 0.5 s steps took {wall:.2f} s: they ran one after the other"
    assert result.waves == 1 and {s.wave for s in result.steps.values()} == {0}
    assert result.steps["a"].seconds == pytest.approx(0.5, abs=0.2)
    assert [e.kind for e in events][:2] == ["wave_started", "run_started"]


def test_step_retries_map_onto_the_engine_for_that_run(
    test_tools: ToolRegistry, test_engine: Engine, tmp_path: Path
) -> None:
    def flaky(retries: int, name: str) -> Workflow:
        return Workflow.load(
            f"""\
name: flaky
steps:
  - id: f
    tool: flaky
    retries: {retries}
    args: {{text: x, counter: "{tmp_path / name}", failures: 2}}
outputs: {{out: "${{steps.f.outputs.result}}"}}
""",
            registry=test_tools,
        )

    ok = flaky(2, "enough").run(engine=test_engine)
    assert ok.value("out") == "x~" and ok.steps["f"].attempts == 3
    with pytest.raises(WorkflowFailedError) as info:
        flaky(1, "too-few").run(engine=test_engine)  # the engine default (2) would have succeeded
    assert info.value.result.steps["f"].status == "failed"
    assert test_engine.config.tool_retries == {}  # the engine's own settings are untouched


def test_a_step_timeout_fails_that_step_and_partial_keeps_the_rest(
    test_tools: ToolRegistry, test_engine: Engine
) -> None:
    workflow = Workflow.load(
        """\
name: slow
steps:
  - {id: stuck, tool: hang, timeout_s: 0.3, args: {text: x, seconds: 5}}
  - {id: fine, tool: append, args: {text: x, suffix: "!"}}
outputs:
  stuck: ${steps.stuck.outputs.result}
  fine: ${steps.fine.outputs.result}
""",
        registry=test_tools,
    )
    started = time.time()
    result = workflow.run(engine=test_engine, partial=True)
    assert time.time() - started < 2.5
    assert result.status == "partial"
    assert result.steps["stuck"].status == "failed" and "within 0.3 s" in result.steps["stuck"].reason
    assert result.value("fine") == "x!"
    assert result.outputs["stuck"].status == "missing"


def test_steps_of_one_tool_with_different_settings_go_to_different_waves(
    test_tools: ToolRegistry, test_engine: Engine
) -> None:
    result = Workflow.load(
        """\
name: waves
steps:
  - {id: quick, tool: append, timeout_s: 5, args: {text: a, suffix: "1"}}
  - {id: patient, tool: append, timeout_s: 50, args: {text: b, suffix: "2"}}
  - {id: plain, tool: wait, args: {text: c}}
outputs: {quick: "${steps.quick.outputs.result}", patient: "${steps.patient.outputs.result}",
          plain: "${steps.plain.outputs.result}"}
""",
        registry=test_tools,
    ).run(engine=test_engine)
    assert [result.value(n) for n in ("quick", "patient", "plain")] == ["a1", "b2", "c."]
    assert (result.steps["quick"].wave, result.steps["patient"].wave, result.steps["plain"].wave) == (0, 1, 0)
    assert test_engine.config.tool_timeouts == {}


FAILING = """\
name: failing
steps:
  - {id: bad, tool: always_fail, args: {text: x}}
  - {id: after, tool: append, args: {text: "${steps.bad.outputs.result}", suffix: "?"}}
  - {id: slow, tool: wait, args: {text: y, seconds: 1.5}}
outputs:
  after: ${steps.after.outputs.result}
  slow: ${steps.slow.outputs.result}
"""


def test_without_partial_the_first_failure_stops_the_run(test_tools: ToolRegistry, test_engine: Engine) -> None:
    started = time.time()
    with pytest.raises(WorkflowFailedError) as info:
        Workflow.load(FAILING, registry=test_tools).run(engine=test_engine)
    assert time.time() - started < 1.2, "the slow step must be cancelled, not waited for"
    result = info.value.result
    assert result.status == "failed" and "always_fail refuses" in info.value.message
    assert result.steps["slow"].status == "cancelled"
    assert all(o.status == "missing" and o.value is None for o in result.outputs.values())


def test_with_partial_independent_steps_finish_and_dependents_are_skipped(
    test_tools: ToolRegistry, test_engine: Engine
) -> None:
    result = Workflow.load(FAILING, registry=test_tools).run(engine=test_engine, partial=True)
    assert result.status == "partial"
    assert result.steps["bad"].status == "failed"
    assert result.steps["after"].status == "skipped"
    assert result.value("slow") == "y."
    assert result.outputs["after"].status == "missing" and "step 'after' skipped" in result.outputs["after"].reason


# --- foreach and when on the built-in tools --------------------------------------------------------------

BOXES = [
    {"x1": 0, "y1": 0, "x2": 20, "y2": 10},
    {"x1": 10, "y1": 10, "x2": 50, "y2": 40},
    {"x1": 60, "y1": 5, "x2": 90, "y2": 75},
]

FOREACH = """\
name: crops
inputs:
  image: {type: image}
  boxes: {type: bboxes}
steps:
  - id: crop
    tool: crop_image
    foreach: ${inputs.boxes}
    args: {image: "${inputs.image}", boxes: "${item}"}
  - id: flipped
    tool: flip_image
    foreach: ${steps.crop.outputs.image}
    args: {image: "${item}", direction: vertical}
  - id: info
    tool: image_info
    foreach: ${steps.flipped.outputs.image}
    args: {image: "${item}"}
  - id: count
    tool: count_boxes
    args: {boxes: "${inputs.boxes}"}
outputs:
  crops: ${steps.flipped.outputs.image}
  info: ${steps.info.outputs.info}
  count: ${steps.count.outputs.count}
"""


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    pixels = np.arange(100 * 80 * 3, dtype=np.uint32).reshape(80, 100, 3) % 251
    return Image.fromarray(pixels.astype(np.uint8))


def test_foreach_runs_a_step_per_item_and_chains(builtin: ToolRegistry, engine: Engine, picture: Image.Image) -> None:
    events: list[WorkflowEvent] = []
    result = Workflow.load(FOREACH, registry=builtin).run(
        {"image": picture, "boxes": BOXES}, engine=engine, on_event=events.append
    )
    crops = result.value("crops")
    assert [c.size for c in crops] == [(20, 10), (40, 30), (30, 70)]
    expected = np.asarray(picture)[10:40, 10:50][::-1]
    assert np.array_equal(np.asarray(crops[1]), expected)
    assert [i["width"] for i in result.value("info")] == [20, 40, 30]
    assert result.value("count") == 3
    assert result.steps["crop"].items == 3 and result.outputs["crops"].many
    assert result.waves == 3  # each foreach needs the list before it: crop+count, flipped, info
    assert sorted(e.item for e in events if e.kind == "action_finished" and e.step == "crop") == [0, 1, 2]


def test_foreach_over_an_empty_list_succeeds_with_empty_lists(
    builtin: ToolRegistry, engine: Engine, picture: Image.Image
) -> None:
    result = Workflow.load(FOREACH, registry=builtin).run({"image": picture, "boxes": []}, engine=engine)
    assert result.ok and result.value("crops") == [] and result.value("info") == [] and result.value("count") == 0


WHEN = """\
name: when
inputs:
  image: {type: image}
  grey: {type: boolean, default: false}
  boxes: {type: bboxes, default: []}
steps:
  - {id: count, tool: count_boxes, args: {boxes: "${inputs.boxes}"}}
  - id: grey
    tool: grayscale_image
    when: ${inputs.grey}
    args: {image: "${inputs.image}"}
  - id: small
    tool: resize_image
    args: {image: "${steps.grey.outputs.image}", scale: 0.5}
  - id: boxed
    tool: draw_boxes
    when: ${steps.count.outputs.count} >= 2
    args: {image: "${inputs.image}", boxes: "${inputs.boxes}"}
outputs:
  small: ${steps.small.outputs.image}
  boxed: ${steps.boxed.outputs.image}
"""


def test_when_skips_a_step_and_what_needs_it(builtin: ToolRegistry, engine: Engine, picture: Image.Image) -> None:
    workflow = Workflow.load(WHEN, registry=builtin)
    off = workflow.run({"image": picture}, engine=engine)
    assert off.status == "succeeded"
    assert off.steps["grey"].status == "skipped" and "is false" in off.steps["grey"].reason
    assert off.steps["small"].status == "skipped" and "step 'grey' skipped" in off.steps["small"].reason
    assert off.outputs["small"].status == "skipped" and off.outputs["boxed"].status == "skipped"
    on = workflow.run({"image": picture, "grey": True, "boxes": BOXES}, engine=engine)
    assert on.value("small").mode == "L" and on.value("small").size == (50, 40)
    assert on.value("boxed").size == picture.size
    assert on.steps["boxed"].wave == 1  # its condition needed the count first


# --- bad input -----------------------------------------------------------------------------------------------

INPUTS = """\
name: inputs
inputs:
  image: {type: image}
  boxes: {type: bboxes}
  k: {type: number, default: 1}
  label: {type: text, default: null}
steps:
  - {id: top, tool: top_k_boxes, args: {boxes: "${inputs.boxes}", k: "${inputs.k}"}}
  - {id: picked, tool: select_boxes, args: {boxes: "${steps.top.outputs.boxes}", label: face}}
  - {id: drawn, tool: draw_boxes, args: {image: "${inputs.image}", boxes: "${steps.picked.outputs.boxes}"}}
  - {id: n, tool: count_boxes, args: {boxes: "${inputs.boxes}", label: "${inputs.label}"}}
outputs:
  drawn: ${steps.drawn.outputs.image}
  n: ${steps.n.outputs.count}
"""


def test_bad_inputs_are_all_reported_and_nothing_runs(builtin: ToolRegistry, engine: Engine, tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    events: list[WorkflowEvent] = []
    workflow = Workflow.load(INPUTS, registry=builtin)
    with pytest.raises(WorkflowInputError) as info:
        workflow.run(
            {"image": str(corrupt), "boxes": [{"x1": 0}], "k": "3", "colour": "red"},
            engine=engine,
            on_event=events.append,
        )
    codes = sorted((p.code, p.path) for p in info.value.problems)
    assert codes == [
        ("bad_input", "inputs.boxes"),
        ("bad_input", "inputs.image"),
        ("bad_input", "inputs.k"),
        ("unknown_input", "inputs.colour"),
    ]
    assert "numeric strings are not converted" in info.value.message
    assert events == []
    with pytest.raises(WorkflowInputError) as info:
        workflow.run({"image": str(tmp_path / "missing.png")}, engine=engine, on_event=events.append)
    assert {p.code for p in info.value.problems} == {"bad_input", "missing_input"}
    assert "missing.png" in info.value.message and "'boxes' (bboxes) is required" in info.value.message
    assert events == []


def test_an_optional_input_left_out_keeps_the_tools_default(
    builtin: ToolRegistry, engine: Engine, picture: Image.Image
) -> None:
    boxes = [{**b, "label": "face" if i else "cat", "score": 0.5 + i / 10} for i, b in enumerate(BOXES)]
    workflow = Workflow.load(INPUTS, registry=builtin)
    assert workflow.run({"image": picture, "boxes": boxes}, engine=engine).value("n") == 3
    assert workflow.run({"image": picture, "boxes": boxes, "label": "cat"}, engine=engine).value("n") == 1


def test_a_tool_that_cannot_run_here_refuses_to_start_unless_partial(
    builtin: ToolRegistry, engine: Engine, picture: Image.Image
) -> None:
    workflow = Workflow.load(
        """\
name: caption
inputs: {image: {type: image}}
steps:
  - {id: caption, tool: caption_image, args: {image: "${inputs.image}"}}
  - {id: info, tool: image_info, args: {image: "${inputs.image}"}}
outputs: {caption: "${steps.caption.outputs.caption}", info: "${steps.info.outputs.info}"}
""",
        registry=builtin,
    )
    events: list[WorkflowEvent] = []
    with pytest.raises(WorkflowUnavailableError) as info:
        workflow.run({"image": picture}, engine=engine, on_event=events.append)
    assert info.value.problems[0].line == 4 and events == []
    result = workflow.run({"image": picture}, engine=engine, partial=True)
    assert result.status == "partial" and result.value("info")["width"] == 100
    assert result.steps["caption"].status == "failed"


# --- batches and saved results ----------------------------------------------------------------------------------


def test_a_batch_runs_in_the_same_waves(builtin: ToolRegistry, engine: Engine, picture: Image.Image) -> None:
    workflow = Workflow.load(FOREACH, registry=builtin)
    batch = [{"image": picture, "boxes": BOXES[:n]} for n in (1, 2, 3)]
    results = workflow.run_batch(batch, labels=["one", "two", "three"], engine=engine)
    assert [r.label for r in results] == ["one", "two", "three"]
    assert [len(r.value("crops")) for r in results] == [1, 2, 3]
    assert {r.waves for r in results} == {3}


def test_results_are_saved_as_files_and_json(
    builtin: ToolRegistry, engine: Engine, picture: Image.Image, tmp_path: Path
) -> None:
    result = Workflow.load(FOREACH, registry=builtin).run({"image": picture, "boxes": BOXES[:2]}, engine=engine)
    folder = result.save_to(tmp_path / "out")
    saved = json.loads((folder / "result.json").read_text())
    assert saved["status"] == "succeeded" and saved["workflow"] == "crops"
    assert saved["outputs"]["crops"]["files"] == ["crops/000.png", "crops/001.png"]
    assert saved["outputs"]["count"] == {
        "type": "number",
        "many": False,
        "status": "ok",
        "reason": "",
        "file": "count.json",
        "value": 2,
    }
    assert Image.open(folder / "crops" / "001.png").size == (40, 30)
    assert json.loads((folder / "info" / "000.json").read_text())["width"] == 20
    assert saved["steps"]["crop"]["items"] == 2 and saved["inputs"]["image"] == "<image 100x80>"


def test_outputs_go_into_an_artifact_store(
    builtin: ToolRegistry, engine: Engine, picture: Image.Image, tmp_path: Path
) -> None:
    from graph.artifacts import ArtifactStore

    store = ArtifactStore(tmp_path / "store")
    result = Workflow.load(FOREACH, registry=builtin).run({"image": picture, "boxes": BOXES[:2]}, engine=engine)
    ids = result.store_outputs(store)
    assert len(ids["crops"]) == 2 and store.load(ids["count"]) == 2
    assert store.load(ids["crops"][1]).size == (40, 30)


def test_run_workflow_takes_a_json_spec_and_artifact_ids(
    builtin: ToolRegistry, picture: Image.Image, tmp_path: Path
) -> None:
    """What a service calls: the spec as JSON, uploaded files as artifact ids of the engine's store."""
    import yaml

    from agent.workflows import WorkflowValidationError, run_workflow
    from graph.artifacts import ArtifactStore

    store = ArtifactStore(tmp_path / "store")
    image_id = store.put_image(picture).id
    spec = yaml.safe_load(FOREACH)
    with Engine(builtin, EngineConfig(max_workers=2), store=store) as with_store:
        result = run_workflow(spec, {"image": image_id, "boxes": BOXES[:1]}, engine=with_store)
        assert result.value("count") == 1 and result.value("crops")[0].size == (20, 10)
        boxes_id = store.put_json(BOXES, "bboxes").id
        with pytest.raises(WorkflowInputError, match=f"artifact '{boxes_id}' is bboxes, not image"):
            run_workflow(spec, {"image": boxes_id, "boxes": []}, engine=with_store)
        with pytest.raises(WorkflowInputError, match="give the id of an uploaded artifact, not a path"):
            run_workflow(spec, {"image": "/etc/hostname", "boxes": []}, engine=with_store, allow_paths=False)
        assert run_workflow(spec, {"image": image_id, "boxes": []}, engine=with_store, allow_paths=False).ok
        literal = {
            **spec,
            "inputs": {"boxes": spec["inputs"]["boxes"]},
            "steps": [{"id": "info", "tool": "image_info", "args": {"image": "/etc/hostname"}}],
            "outputs": {"info": "${steps.info.outputs.info}"},
        }
        with pytest.raises(WorkflowValidationError, match="file paths are not allowed here"):
            run_workflow(literal, {"boxes": []}, engine=with_store, allow_paths=False)
        with pytest.raises(WorkflowInputError, match="file paths are not allowed here"):  # loaded with paths allowed
            Workflow.from_spec(literal, builtin).run({"boxes": []}, engine=with_store, allow_paths=False)
        with pytest.raises(WorkflowValidationError) as info:
            run_workflow({**spec, "steps": spec["steps"][:1]}, {}, engine=with_store)
        problems = [str(p) for p in info.value.problems]
        assert problems[:3] == [
            "outputs.crops: ${steps.flipped.outputs.image}: there is no step 'flipped'",
            "outputs.info: ${steps.info.outputs.info}: there is no step 'info'",
            "outputs.count: ${steps.count.outputs.count}: there is no step 'count'",
        ]
        assert problems[3].startswith("steps.0.id: step 'crop' (crop_image) makes image")


def test_a_fresh_engine_is_made_and_closed_when_none_is_given(builtin: ToolRegistry, picture: Image.Image) -> None:
    result = Workflow.load(FOREACH, registry=builtin).run({"image": picture, "boxes": BOXES[:1]})
    assert result.value("count") == 1
    assert EngineConfig().timeout_for("crop_image") == 300.0

"""ToolGraph queries on ControlLLM's real 59-tool catalogue, with expected values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.catalogue import load_catalogue
from graph.errors import DuplicateToolError, UnknownToolError
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import ResourceType as RT

CONTROLLLM = Path(__file__).resolve().parents[1] / "data" / "catalogues" / "controlllm_tools.json"


@pytest.fixture(scope="module")
def graph() -> ToolGraph:
    return ToolGraph(load_catalogue(CONTROLLLM))


def _names(specs: list[ToolSpec]) -> list[str]:
    return [s.name for s in specs]


def test_graph_has_every_tool_and_type(graph: ToolGraph) -> None:
    assert len(graph) == 59
    assert "image_inpainting" in graph and "inpaint" not in graph
    assert len(graph.types) == 22
    tool_nodes = [n for n, d in graph.graph.nodes(data=True) if d["kind"] == "tool"]
    assert len(tool_nodes) == 59
    assert graph.graph.edges["type:mask", "tool:image_inpainting"] == {
        "relation": "accepts",
        "arg": "mask",
        "required": True,
    }
    assert graph.graph.edges["tool:object_detection", "type:bboxes"] == {"relation": "produces", "arg": "object"}


def test_tools_accepting_and_producing_are_sorted_and_alias_aware(graph: ToolGraph) -> None:
    assert _names(graph.tools_accepting("image.mask")) == [
        "count_masks",
        "image_inpainting",
        "image_segmentation_by_mask",
        "partial_image_editing",
        "select_mask",
    ]
    assert _names(graph.tools_producing("mask")) == [
        "image_instance_segmentation",
        "image_segmentation_by_mask",
        "image_segmentation_by_points",
        "select_mask",
    ]
    assert _names(graph.tools_producing("bbox")) == ["object_detection", "select_bbox", "visual_grounding"]
    assert _names(graph.tools_accepting("category")) == ["count_categories", "select_category"]
    assert graph.tools_accepting(RT.URL) == [] and graph.tools_producing("points") == []


def test_reachable_types_follow_required_inputs(graph: ToolGraph) -> None:
    # Nothing produces points, so an image alone reaches every other type (via text, video, ...).
    assert graph.reachable_types({"image"}) == set(graph.types) - {RT.POINTS}
    # location -> weather -> text, and text reaches images, audio, video, tags, title, time ...
    assert RT.IMAGE in graph.reachable_types({"location"})
    # time and html are produced but accepted by no tool: they lead nowhere.
    assert graph.reachable_types({"time"}) == {RT.TIME}
    assert graph.reachable_types({"html"}) == {RT.HTML}


def test_can_reach(graph: ToolGraph) -> None:
    assert graph.can_reach({"image"}, "bbox")
    assert graph.can_reach({"image", "points"}, "mask")
    assert graph.can_reach({"image"}, "image")  # image_to_image makes a *new* image
    assert graph.can_reach({"video", "title", "tags", "text"}, "html")
    assert not graph.can_reach({"points"}, "mask")  # segmentation by points also needs the image
    assert not graph.can_reach({"time"}, "text")
    assert not graph.can_reach({"text"}, "points")


def test_steps_to_mask_matches_hand_count(graph: ToolGraph) -> None:
    steps = {t.value: n for t, n in graph.steps_to("image.mask").items()}
    # One tool: image (instance segmentation), points (by points), text and mask (select_mask, by mask).
    for rtype in ("image", "points", "text", "mask"):
        assert steps[rtype] == 1, rtype
    # Two: a box crops/highlights into an image; a depth map becomes an image; a video is captioned to text.
    for rtype in ("bboxes", "depth", "edge", "labels", "video", "weather"):
        assert steps[rtype] == 2, rtype
    # Three: audio -> labels/video -> ...; location -> weather -> text -> mask.
    assert steps["audio"] == 3 and steps["location"] == 3
    # tags and title only feed video_to_webpage (-> html), which feeds nothing; time feeds nothing.
    assert {"tags", "title", "html", "time"}.isdisjoint(steps)


def test_steps_to_text(graph: ToolGraph) -> None:
    steps = graph.steps_to("text")
    assert steps[RT.IMAGE] == 1 and steps[RT.TEXT] == 1 and steps[RT.WEATHER] == 1 and steps[RT.BBOXES] == 1
    assert steps[RT.LOCATION] == 2  # get_weather, then summarize_weather_condition
    assert steps[RT.POINTS] == 2  # segmentation by points, then count_masks
    assert RT.TAGS not in steps and RT.TIME not in steps


def test_subgraph_keeps_domain_tools_and_general_ones(graph: ToolGraph) -> None:
    editing = graph.subgraph(["image-editing"])
    names = {s.name for s in editing}
    assert {"image_inpainting", "image_cropping", "select_mask", "count_objects"} <= names
    assert "text_to_speech" not in names
    assert all(s.is_general or "image-editing" in s.domains for s in editing)


def test_duplicate_and_unknown_tools_raise_typed_errors(graph: ToolGraph) -> None:
    spec = graph.spec("image_captioning")
    with pytest.raises(DuplicateToolError, match="image_captioning"):
        ToolGraph([spec, spec])
    with pytest.raises(UnknownToolError, match="'no_such_tool'") as info:
        graph.spec("no_such_tool")
    assert isinstance(info.value, KeyError) and str(info.value) == "unknown tool 'no_such_tool'"


def test_optional_inputs_are_left_out_on_request() -> None:
    tg = ToolGraph(
        [
            ToolSpec(
                name="resize",
                description="resize an image",
                inputs=[
                    InputSpec(name="image", type="image"),
                    InputSpec(name="scale", type="number", required=False, default=0.5),
                ],
                outputs=[OutputSpec(name="image", type="image")],
            )
        ]
    )
    assert _names(tg.tools_accepting("number")) == ["resize"]
    assert tg.tools_accepting("number", required_only=True) == []
    assert tg.can_reach({"image"}, "image")  # the optional scale does not block the tool

"""Pictures and mermaid text of tool graphs, solutions and plans."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from graph.catalogue import load_catalogue
from graph.plan import Action, Plan, Solution, Subtask
from graph.render import graph_to_mermaid, plan_to_mermaid, render_graph, render_solutions, solution_to_mermaid
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph

CATALOGUES = Path(__file__).resolve().parents[1] / "data" / "catalogues"

NODE = re.compile(r'^    (?P<id>[A-Za-z0-9_]+)(\(\[|\[|\()"(?P<label>[^"]*)"(\]\)|\]|\)):::tog_[a-z]+$')
EDGE = re.compile(r'^    (?P<src>[A-Za-z0-9_]+) -->(\|"[^"]*"\|)? (?P<dst>[A-Za-z0-9_]+)$')
CLASS = re.compile(r"^    classDef tog_[a-z]+ fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6}$")


def _catalogue(name: str) -> ToolGraph:
    return ToolGraph(load_catalogue(CATALOGUES / name))


@pytest.fixture(scope="module")
def controlllm() -> ToolGraph:
    return _catalogue("controlllm_tools.json")


@pytest.fixture(scope="module")
def taskbench() -> ToolGraph:
    return _catalogue("taskbench_multimedia_tool_desc.json")


_OCR = ToolGraph(
    [
        ToolSpec(
            name="ocr",
            description="read text",
            inputs=[InputSpec(name="image", type="image")],
            outputs=[OutputSpec(name="text", type="text")],
        )
    ]
)


def _unescape(label: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)


def _parse_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Node id -> label and the edges; fails on any line that is not well formed."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        if node := NODE.match(line):
            assert node["id"] not in nodes, f"duplicate id {node['id']}"
            nodes[node["id"]] = _unescape(node["label"])
        elif edge := EDGE.match(line):
            edges.append((edge["src"], edge["dst"]))
        else:
            assert CLASS.match(line), f"malformed mermaid line: {line!r}"
    assert all(src in nodes and dst in nodes for src, dst in edges), "edge to an undeclared node"
    return nodes, edges


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join(t for t in root.itertext() if t.strip())


# --- tool graph ---------------------------------------------------------------------------------


def test_graph_mermaid_has_every_tool_type_and_edge(taskbench: ToolGraph) -> None:
    nodes, edges = _parse_mermaid(graph_to_mermaid(taskbench))
    assert set(nodes.values()) == {s.name for s in taskbench} | {t.value for t in taskbench.types}
    ids = {label: node_id for node_id, label in nodes.items()}
    assert ids["Image Search (by Image)"] == "tool_Image_Search_by_Image"
    label = {n: d["name"] if d["kind"] == "tool" else d["type"].value for n, d in taskbench.graph.nodes(data=True)}
    assert sorted((nodes[s], nodes[d]) for s, d in edges) == sorted(
        (label[u], label[v]) for u, v in taskbench.graph.edges
    )
    stitcher = f'    type_image -->|"image, image_2"| {ids["Image Stitcher"]}'
    assert stitcher in graph_to_mermaid(taskbench).splitlines()
    assert taskbench.to_mermaid() == graph_to_mermaid(taskbench)


def test_graph_png_is_a_real_picture_that_grows_with_the_catalogue(controlllm: ToolGraph, tmp_path: Path) -> None:
    path = render_graph(controlllm, tmp_path / "deep" / "dir" / "graph.png")
    assert path == tmp_path / "deep" / "dir" / "graph.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as big:
        big.load()
        assert big.width > 600 and big.height > 1500  # 59 rows of tools stay legible
        colours = len(big.convert("RGB").getcolors(maxcolors=1 << 24) or ())
    assert colours > 50  # boxes, ellipses, coloured edges and text, not a blank canvas
    with Image.open(_OCR.render(tmp_path / "small.png")) as tiny:
        assert tiny.height < 600


def test_graph_svg_is_xml_with_every_label_and_is_reproducible(controlllm: ToolGraph, tmp_path: Path) -> None:
    first = controlllm.render(tmp_path / "a.svg")
    second = render_graph(controlllm, tmp_path / "b.SVG")
    text = _svg_text(first)
    for spec in controlllm:
        assert spec.name in text
    assert "accepted types" in text and "produced types" in text
    assert first.read_bytes() == second.read_bytes()


def test_unsupported_suffix_is_refused_before_writing(controlllm: ToolGraph, tmp_path: Path) -> None:
    for name in ("graph.pdf", "graph"):
        with pytest.raises(ValueError, match=r"must end in \.png or \.svg"):
            render_graph(controlllm, tmp_path / "out" / name)
    assert not (tmp_path / "out").exists()


def test_rendering_leaves_pyplot_and_the_backend_alone(tmp_path: Path) -> None:
    import matplotlib

    had_pyplot = "matplotlib.pyplot" in sys.modules
    backend = dict.__getitem__(matplotlib.rcParams, "backend")
    render_graph(_OCR, tmp_path / "g.png")
    assert dict.__getitem__(matplotlib.rcParams, "backend") == backend
    if not had_pyplot:
        assert "matplotlib.pyplot" not in sys.modules


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), min_size=1, max_size=20)
        .map(str.strip)
        .filter(bool),
        min_size=1,
        max_size=6,
        unique=True,
    )
)
@example(["a b", "a_b", "a-b", "a (b)"])  # all four sanitise to the same id
def test_any_tool_names_give_valid_unique_mermaid_ids(names: list[str]) -> None:
    specs = [
        ToolSpec(
            name=n,
            description="d",
            inputs=[InputSpec(name="x", type="text")],
            outputs=[OutputSpec(name="y", type="image")],
        )
        for n in names
    ]
    nodes, edges = _parse_mermaid(graph_to_mermaid(ToolGraph(specs)))
    assert sorted(nodes.values()) == sorted([*names, "image", "text"])
    assert len(edges) == 2 * len(names)


# --- solutions and plans -------------------------------------------------------------------------


@pytest.fixture
def subtask() -> Subtask:
    return Subtask(
        id=3,
        description="remove the dog from the photo",
        args=[{"type": "image", "value": "photo.png"}, {"type": "text", "value": "the dog"}],
        returns=[{"type": "image"}],
    )


@pytest.fixture
def solutions() -> list[Solution]:
    ground = Action(
        id="a1", tool="visual_grounding", args={"image": "input:0", "query": "input:1"}, outputs={"bbox": "bboxes"}
    )
    return [
        Solution(
            subtask_id=3,
            score=0.91,
            outputs=["a2.image"],
            actions=[
                ground,
                Action(
                    id="a2",
                    tool="image_cropping",
                    args={"image": "input:0", "object": "a1.bbox"},
                    outputs={"image": "image"},
                ),
            ],
        ),
        Solution(
            subtask_id=3,
            score=0.5,
            outputs=["a3.image"],
            actions=[
                ground,
                Action(
                    id="a2",
                    tool="image_segmentation_by_points",
                    args={"image": "input:0", "prompt_points": "a1.bbox"},
                    outputs={"mask": "mask"},
                ),
                Action(
                    id="a3",
                    tool="image_inpainting",
                    args={"image": "input:0", "mask": "a2.mask"},
                    outputs={"image": "image"},
                ),
            ],
        ),
    ]


def test_solution_mermaid_shows_data_flow(solutions: list[Solution], subtask: Subtask) -> None:
    text = solution_to_mermaid(solutions[1], subtask)
    nodes, edges = _parse_mermaid(text)
    assert nodes == {
        "input_0": "image: photo.png",
        "input_1": "text: the dog",
        "action_a1": "visual_grounding",
        "action_a2": "image_segmentation_by_points",
        "action_a3": "image_inpainting",
        "output_0": "image",
    }
    lines = text.splitlines()
    assert '    action_a1 -->|"bbox → prompt_points"| action_a2' in lines
    assert '    input_0 -->|"image"| action_a3' in lines
    assert '    action_a3 -->|"image"| output_0' in lines
    assert len(edges) == 7
    bare, _ = _parse_mermaid(solution_to_mermaid(solutions[0]))
    assert bare["input_0"] == "input:0" and bare["output_0"] == "image"


def test_render_solutions_one_panel_per_solution(solutions: list[Solution], subtask: Subtask, tmp_path: Path) -> None:
    one = render_solutions(solutions[:1], tmp_path / "one.png", subtask)
    two = render_solutions(solutions, tmp_path / "two.png", subtask)
    with Image.open(one) as a, Image.open(two) as b:
        assert b.height > a.height * 1.5 and a.width > 300
    text = _svg_text(render_solutions(solutions, tmp_path / "two.svg", subtask))
    for expected in (
        "#1",
        "score 0.910",
        "#2",
        "score 0.500",
        "3 actions",
        "image: photo.png",
        "text: the dog",
        "image_inpainting",
        "bbox → prompt_points",
        "subtask 3: remove the dog from the photo",
    ):
        assert expected in text, expected
    assert text.index("score 0.910") < text.index("score 0.500")


def test_render_solutions_refuses_nothing_and_bad_suffixes(solutions: list[Solution], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no solutions"):
        render_solutions([], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        render_solutions(solutions, tmp_path / "x.jpg")


def test_plan_mermaid_shows_dependencies_and_passed_types() -> None:
    plan = Plan(
        request="find the dog and describe it",
        subtasks=[
            Subtask(
                id=0,
                description='find the "dog" #1',
                args=[{"type": "image", "value": "a.png"}],
                returns=[{"type": "bbox"}],
            ),
            Subtask(
                id=1,
                description="describe <it>",
                dep=[0],
                args=[{"type": "image", "value": "a.png"}, {"type": "bbox", "value": "<GENERATED>-0"}],
                returns=[{"type": "text"}],
            ),
        ],
    )
    text = plan_to_mermaid(plan)
    nodes, edges = _parse_mermaid(text)
    assert nodes == {
        "subtask_0": '0. find the "dog" #1<br/>image → bboxes',
        "subtask_1": "1. describe <it><br/>image, bboxes → text",
    }
    assert edges == [("subtask_0", "subtask_1")]
    assert '    subtask_0 -->|"bboxes"| subtask_1' in text.splitlines()

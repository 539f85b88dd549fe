"""Catalogue loading: the three shapes, the two real third-party files, alias tables, and errors that
list every problem at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.catalogue import CatalogueShape, detect_shape, dump_catalogue, load_catalogue
from graph.errors import CatalogueError
from graph.spec import Device, InputSpec, OutputSpec, ToolSpec
from graph.types import ResourceType as RT

CATALOGUES = Path(__file__).resolve().parents[1] / "data" / "catalogues"
CONTROLLLM = CATALOGUES / "controlllm_tools.json"
TASKBENCH = CATALOGUES / "taskbench_multimedia_tool_desc.json"


def _io(spec: ToolSpec) -> tuple[list[tuple[str, RT]], list[tuple[str, RT]]]:
    return [(i.name, i.type) for i in spec.inputs], [(o.name, o.type) for o in spec.outputs]


def _problems(source: object, **kwargs: object) -> list[str]:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(source, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


# --- real catalogues --------------------------------------------------------------------------------


def test_controlllm_catalogue_loads_with_mapped_types() -> None:
    specs = {s.name: s for s in load_catalogue(CONTROLLLM)}
    assert len(specs) == 59
    assert _io(specs["image_inpainting"]) == ([("image", RT.IMAGE), ("mask", RT.MASK)], [("image", RT.IMAGE)])
    assert specs["image_inpainting"].domains == ("image-editing",)
    assert _io(specs["object_detection"])[1] == [("object", RT.BBOXES)]
    assert _io(specs["image_classification"])[1] == [("category", RT.LABELS)]
    assert _io(specs["image_segmentation_by_points"])[0] == [("image", RT.IMAGE), ("prompt_points", RT.POINTS)]
    assert _io(specs["image_to_depth"])[1] == [("depth", RT.DEPTH)]
    assert specs["select_bbox"].is_general
    used = {t for s in specs.values() for t in s.input_types | s.output_types}
    assert len(used) == 22  # ControlLLM's 22 resource types, each mapped to a distinct one of ours
    assert RT.NUMBER not in used and RT.URL not in used


def test_taskbench_catalogue_names_repeated_arguments_and_keeps_ids() -> None:
    specs = {s.name: s for s in load_catalogue(str(TASKBENCH))}
    assert len(specs) == 40
    assert _io(specs["Image Stitcher"]) == ([("image", RT.IMAGE), ("image_2", RT.IMAGE)], [("image", RT.IMAGE)])
    assert _io(specs["Audio Splicer"])[0] == [("audio", RT.AUDIO), ("audio_2", RT.AUDIO)]
    assert _io(specs["Image Search"])[1] == [("image", RT.IMAGE)]  # written "Image" in the file
    assert _io(specs["Image Downloader"])[0] == [("url", RT.URL)]
    assert "Image Search (by Image)" in specs
    assert all(s.domains == ("general",) for s in specs.values())
    assert specs["Image Stitcher"].description.startswith("Stitches together two input images")


def test_taskbench_bare_node_list_equals_wrapped_file() -> None:
    nodes = json.loads(TASKBENCH.read_text())["nodes"]
    assert load_catalogue(nodes) == load_catalogue(TASKBENCH)


def test_real_catalogues_round_trip_through_our_shape(tmp_path: Path) -> None:
    for source in (CONTROLLLM, TASKBENCH):
        specs = load_catalogue(source)
        path = tmp_path / f"{source.stem}.json"
        path.write_text(json.dumps(dump_catalogue(specs)))
        assert detect_shape(json.loads(path.read_text())) is CatalogueShape.TOG
        assert load_catalogue(path) == specs


# --- shapes ---------------------------------------------------------------------------------------


def test_shapes_are_detected_by_their_keys() -> None:
    tog = [{"name": "t", "description": "d", "outputs": [{"name": "o", "type": "text"}]}]
    controlllm = [{"name": "t", "description": "d", "domain": "x", "args": [], "returns": []}]
    taskbench = {"nodes": [{"id": "t", "desc": "d", "input-type": [], "output-type": ["text"]}]}
    assert detect_shape(tog) is CatalogueShape.TOG
    assert detect_shape(controlllm) is CatalogueShape.CONTROLLLM
    assert detect_shape(taskbench) is CatalogueShape.TASKBENCH
    assert detect_shape(taskbench["nodes"]) is CatalogueShape.TASKBENCH


def test_controlllm_entry_keeps_descriptions_and_domain() -> None:
    (spec,) = load_catalogue(
        [
            {
                "name": "image_cropping",
                "description": "crop  the image\n to the box",
                "domain": "Image-Editing",
                "args": [
                    {"name": "image", "type": "image", "description": "the image"},
                    {"name": "object", "type": "bbox", "description": "where to crop"},
                ],
                "returns": [{"name": "image", "type": "image", "description": "the crop"}],
            }
        ]
    )
    assert spec.description == "crop the image to the box"
    assert spec.domains == ("image-editing",)
    assert [(i.name, i.type, i.description) for i in spec.inputs] == [
        ("image", RT.IMAGE, "the image"),
        ("object", RT.BBOXES, "where to crop"),
    ]
    assert spec.outputs[0].description == "the crop"


def test_taskbench_entry_may_use_name_description_and_domain() -> None:
    (spec,) = load_catalogue(
        [
            {
                "name": "Mixer",
                "description": "mix",
                "domain": "audio",
                "input-type": ["Audio"] * 3,
                "output-type": ["audio"],
            }
        ]
    )
    assert [i.name for i in spec.inputs] == ["audio", "audio_2", "audio_3"]
    assert spec.domains == ("audio",)


def test_our_shape_round_trips_every_field() -> None:
    specs = [
        ToolSpec(
            name="blur faces",
            description="blur the faces in an image",
            domains=("image-editing", "privacy"),
            inputs=[
                InputSpec(name="image", type="image", description="the photo"),
                InputSpec(name="radius", type="number", required=False, default=8),
            ],
            outputs=[OutputSpec(name="image", type="image")],
            device=Device.GPU,
            expected_seconds=2.5,
        ),
        ToolSpec(name="now", description="the current time", outputs=[OutputSpec(name="time", type="time")]),
    ]
    dumped = dump_catalogue(specs)
    assert json.loads(json.dumps(dumped)) == dumped  # plain JSON
    assert dumped[0]["inputs"][1] == {
        "name": "radius",
        "type": "number",
        "description": "",
        "required": False,
        "default": 8,
        "from_subtask": False,
    }
    assert load_catalogue(dumped) == specs


# --- aliases ----------------------------------------------------------------------------------------

_SKETCHY = [{"id": "Sketch Colouring", "desc": "colour a sketch", "input-type": ["sketch"], "output-type": ["Image"]}]


def test_unknown_type_loads_once_an_alias_is_declared() -> None:
    (problem,) = _problems(_SKETCHY)
    assert problem.startswith("tool 'Sketch Colouring' input 0: unknown resource type 'sketch'")
    for target in ("scribble", RT.SCRIBBLE):
        (spec,) = load_catalogue(_SKETCHY, aliases={"Sketch": target})
        assert _io(spec) == ([("scribble", RT.SCRIBBLE)], [("image", RT.IMAGE)])


def test_aliases_apply_to_our_shape_and_controlllm_too() -> None:
    tog = [
        {
            "name": "t",
            "description": "d",
            "inputs": [{"name": "s", "type": "sketch"}],
            "outputs": [{"name": "o", "type": "doc.sketch"}],
        }
    ]
    assert _io(load_catalogue(tog, aliases={"sketch": "scribble"})[0]) == ([("s", RT.SCRIBBLE)], [("o", RT.SCRIBBLE)])
    controlllm = [
        {
            "name": "t",
            "description": "d",
            "domain": "x",
            "args": [{"name": "s", "type": "sketch"}],
            "returns": [{"name": "o", "type": "image"}],
        }
    ]
    assert load_catalogue(controlllm, aliases={"sketch": "scribble"})[0].inputs[0].type is RT.SCRIBBLE


def test_alias_to_an_unknown_type_is_reported() -> None:
    problems = _problems(_SKETCHY, aliases={"sketch": "drawing"})
    assert problems[0] == "alias table: 'sketch' maps to unknown resource type 'drawing'"
    assert "unknown resource type 'sketch'" in problems[1]


# --- errors -----------------------------------------------------------------------------------------


def test_every_problem_is_reported_in_one_error() -> None:
    catalogue = [
        {
            "name": "foo",
            "description": "d",
            "domain": "x",
            "args": [{"name": "x", "type": "imgae"}],
            "returns": [{"name": "o", "type": "text"}],
        },
        {"name": "bar", "description": "d", "domain": "x", "args": [{"type": "image"}]},
        {"name": "foo", "description": "", "domain": "x", "args": [], "returns": [{"name": "o", "type": "nope"}]},
        "not a tool",
    ]
    with pytest.raises(CatalogueError) as info:
        load_catalogue(catalogue)
    err = info.value
    assert err.problems == [
        "tool 'foo' input 'x': unknown resource type 'imgae' (did you mean 'image'?)",
        "tool 'bar' input 0: missing field 'name'",
        "tool 'bar': missing field 'returns'",
        "tool 'foo' output 'o': unknown resource type 'nope'",
        "tool 'foo' description: String should have at least 1 character",
        "entry 3: expected an object, got str",
        "duplicate tool name 'foo' (entries 0, 2)",
    ]
    assert "7 problem(s)" in str(err) and "known types: text, image" in str(err)
    assert err.to_dict()["details"]["problems"] == err.problems
    assert isinstance(err, ValueError)


def test_pydantic_problems_name_the_fields_the_user_wrote() -> None:
    controlllm = [
        {"name": "t", "description": "d", "domain": "x", "args": [{"name": "an arg", "type": "image"}], "returns": []}
    ]
    problems = _problems(controlllm)
    assert problems == ["tool 't' args.0.name: argument name 'an arg' must be a Python identifier"]
    taskbench = [{"id": "t", "desc": " ", "input-type": "image", "output-type": ["text"]}]
    assert _problems(taskbench) == [
        "tool 't': field 'input-type' must be a list, got str",
        "tool 't' desc: tool description must not be blank",
    ]


def test_our_shape_reports_extra_and_missing_fields() -> None:
    entry = {
        "name": "t",
        "inputs": [{"name": "i", "type": "image", "colour": "red"}],
        "outputs": [{"name": "o", "type": "txt"}],
        "device": "tpu",
    }
    problems = _problems([entry])
    assert "tool 't' output 'o': unknown resource type 'txt' (did you mean 'text'?)" in problems
    assert "tool 't' description: Field required" in problems
    assert "tool 't' inputs.0.colour: Extra inputs are not permitted" in problems
    assert any(p.startswith("tool 't' device:") for p in problems)


def test_entries_of_another_shape_are_pointed_out() -> None:
    mixed = [
        {"name": "a", "description": "d", "domain": "x", "args": [], "returns": [{"name": "o", "type": "text"}]},
        {"name": "b", "description": "d", "domain": "x", "args": [], "returns": [{"name": "o", "type": "text"}]},
        {"id": "c", "desc": "d", "input-type": [], "output-type": ["text"]},
    ]
    assert _problems(mixed) == ["tool 'c': looks like a taskbench entry in a controlllm catalogue"]


def test_bad_domains_are_reported_not_crashed_on() -> None:
    entry = {"name": "t", "description": "d", "domain": 7, "args": [], "returns": [{"name": "o", "type": "text"}]}
    assert _problems([entry]) == ["tool 't': field 'domain' must be a string or a list of strings, got 7"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"tools": []}, "got an object with keys tools"),
        (42, "got int"),
        ([{"foo": 1}, {"bar": 2}], "keys seen: bar, foo"),
    ],
)
def test_unrecognised_shapes(data: object, fragment: str) -> None:
    with pytest.raises(CatalogueError, match="unrecognised catalogue shape") as info:
        load_catalogue(data)  # type: ignore[arg-type]
    assert fragment in info.value.problems[0]
    assert "TaskBench nodes" in info.value.problems[0]


def test_empty_catalogue_is_an_error() -> None:
    with pytest.raises(CatalogueError, match="lists no tools"):
        load_catalogue({"nodes": []})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "missing.json")
    with pytest.raises(CatalogueError, match="is not a file"):
        load_catalogue(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"name": "x",\n  oops}]')
    with pytest.raises(CatalogueError, match="not valid JSON: .* at line 2, column 3"):
        load_catalogue(broken)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CatalogueError, match="cannot read tool catalogue"):
        load_catalogue(binary)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "name",
        "id",
        "description",
        "desc",
        "domain",
        "domains",
        "args",
        "returns",
        "inputs",
        "outputs",
        "input-type",
        "output-type",
        "type",
        "required",
        "default",
        "device",
        "expected_seconds",
    ]
)
_entry = st.dictionaries(_keys, _json | st.lists(st.dictionaries(_keys, _json, max_size=4), max_size=3), max_size=7)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_json, st.lists(_entry, max_size=4), st.fixed_dictionaries({"nodes": st.lists(_entry, max_size=4)})))
def test_any_json_loads_or_raises_catalogue_error(data: object) -> None:
    try:
        specs = load_catalogue(data)  # type: ignore[arg-type]
    except CatalogueError as err:
        assert str(err)
    else:
        assert all(isinstance(s, ToolSpec) for s in specs)


TASKBENCH_DATA = Path(__file__).resolve().parents[1] / "data"


def test_api_catalogues_load_parameters_as_named_text_inputs() -> None:
    specs = load_catalogue(TASKBENCH_DATA / "taskbench_dailylifeapis" / "tool_desc.json")
    assert len(specs) == 40
    flight = next(s for s in specs if s.name == "book_flight")
    assert [(i.name, i.type, i.required) for i in flight.inputs] == [
        ("date", RT.TEXT, True),
        ("from", RT.TEXT, True),
        ("to", RT.TEXT, True),
    ]
    assert flight.inputs[0].description == "The date to book the flight for (date)"  # the original type is kept
    assert [(o.name, o.type) for o in flight.outputs] == [("result", RT.TEXT)]
    assert "inferred" in flight.outputs[0].description


def test_a_tool_without_declared_outputs_answers_in_text() -> None:
    specs = load_catalogue(TASKBENCH_DATA / "taskbench_huggingface" / "tool_desc.json")
    assert len(specs) == 23
    similarity = next(s for s in specs if s.name == "Sentence Similarity")
    assert [i.type for i in similarity.inputs] == [RT.TEXT, RT.TEXT]
    assert [(o.name, o.type) for o in similarity.outputs] == [("result", RT.TEXT)]


def test_parameter_problems_are_all_reported_and_number_types_map() -> None:
    api = [
        {"id": "a", "desc": "d", "parameters": [{"name": "n", "type": "integer", "desc": "how many"}]},
        {"id": "b", "desc": "d", "parameters": [{"type": "string"}, {"name": "x", "type": "sketchpad"}, "oops"]},
    ]
    assert load_catalogue(api[:1])[0].inputs[0].type is RT.NUMBER
    problems = _problems(api)
    assert problems == [
        "tool 'b' parameter 0: missing field 'name'",
        "tool 'b' parameter 'x': unknown resource type 'sketchpad'",
        "tool 'b' parameter 2: expected an object, got str",
    ]

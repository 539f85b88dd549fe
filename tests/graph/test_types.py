from __future__ import annotations

import pytest

from graph.errors import UnknownTypeError
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.types import FILE_TYPES, ResourceType, all_type_info, resolve_type


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("image", "image"),
        ("Image", "image"),
        ("image.mask", "mask"),
        ("bbox", "bboxes"),
        ("category", "labels"),
        ("image.edge", "edge"),
        (" text ", "text"),
    ],
)
def test_names_from_other_catalogues_resolve(name, expected):
    assert resolve_type(name).value == expected


def test_unknown_type_lists_the_known_ones():
    with pytest.raises(UnknownTypeError) as info:
        resolve_type("imgae")
    assert "imgae" in info.value.message and "image" in info.value.message


def test_user_aliases_extend_the_table_without_opening_the_set():
    assert resolve_type("webpage", aliases={"webpage": ResourceType.HTML}) is ResourceType.HTML
    with pytest.raises(UnknownTypeError):
        resolve_type("webpage")


def test_every_type_is_documented_with_a_schema():
    infos = all_type_info()
    assert len(infos) == len(ResourceType) >= 9
    for info in infos:
        assert info.description and info.value_schema
        assert info.is_file == (info.type in FILE_TYPES)
    by_type = {i.type: i for i in infos}
    assert by_type[ResourceType.BBOXES].value_schema["items"]["required"] == ["x1", "y1", "x2", "y2"]


def test_tool_spec_rejects_bad_definitions():
    out = [OutputSpec(name="out", type="text")]
    with pytest.raises(ValueError, match="duplicate input names"):
        ToolSpec(name="t", description="d", inputs=[InputSpec(name="a", type="text")] * 2, outputs=out)
    with pytest.raises(ValueError, match="unknown resource type"):
        ToolSpec(name="t", description="d", inputs=[InputSpec(name="a", type="txet")], outputs=out)
    with pytest.raises(ValueError, match="at least 1"):
        ToolSpec(name="t", description="d", outputs=[])
    with pytest.raises(ValueError, match="cannot be required"):
        InputSpec(name="a", type="number", default=3)


def test_tool_spec_json_schema_and_argument_schema():
    spec = ToolSpec(
        name="rotate",
        description="rotate an image",
        inputs=[
            InputSpec(name="image", type="image"),
            InputSpec(name="angle", type="number", required=False, default=90),
        ],
        outputs=[OutputSpec(name="image", type="image")],
    )
    schema = ToolSpec.model_json_schema()
    assert {"name", "inputs", "outputs", "device"} <= set(schema["properties"])
    args = spec.arguments_schema()
    assert args["required"] == ["image"]
    assert args["properties"]["angle"]["default"] == 90
    assert args["properties"]["angle"]["x-resource-type"] == "number"
    assert ToolSpec.model_validate_json(spec.model_dump_json()) == spec

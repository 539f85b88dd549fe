"""Hints -> resource types and value checks; docstring parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from PIL import Image as PILImage

from graph.types import BBox, Label, Point, ResourceType, Segment
from tools import annotations as ann
from tools.annotations import AnnotationProblem, ValueProblem, check_for_annotation, check_for_type
from tools.docstrings import DocstringError, parse_docstring


def test_every_resource_type_has_an_alias_and_a_check() -> None:
    aliased = {
        check_for_annotation(getattr(ann, name)).rtype
        for name in ann.__all__
        if name[0].isupper() and name not in {"AnnotationProblem", "ValueCheck", "ValueProblem"}
    }
    assert aliased == set(ResourceType)
    for rtype in ResourceType:
        assert check_for_type(rtype).rtype is rtype


@pytest.mark.parametrize(
    ("hint", "rtype"),
    [
        (str, ResourceType.TEXT),
        (int, ResourceType.NUMBER),
        (float, ResourceType.NUMBER),
        (int | float, ResourceType.NUMBER),
        (PILImage.Image, ResourceType.IMAGE),
        (list[BBox], ResourceType.BBOXES),
        (list[Point], ResourceType.POINTS),
        (list[Label], ResourceType.LABELS),
        (list[str], ResourceType.TAGS),
        (Literal["a", "b"], ResourceType.TEXT),
        (Literal[1, 2], ResourceType.NUMBER),
        (ann.Mask | None, ResourceType.MASK),
        (ann.Annotated[PILImage.Image | None, "image.depth"], ResourceType.DEPTH),
        (ann.Annotated[str, "url"], ResourceType.URL),
        (bool, ResourceType.BOOLEAN),
        (dict, ResourceType.JSON),
        (dict[str, Any], ResourceType.JSON),
        (list[Segment], ResourceType.TRANSCRIPT),
        (list[float], ResourceType.EMBEDDING),
        (list[dict[str, Any]], ResourceType.TABLE),
        (list[list[tuple[float, float]]], ResourceType.POLYGONS),
        (list[list[list[float]]], ResourceType.POLYGONS),
    ],
)
def test_plain_and_annotated_hints_map_to_types(hint: Any, rtype: ResourceType) -> None:
    assert check_for_annotation(hint).rtype is rtype


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (Any, "cannot map"),
        (list[int], "cannot map"),
        (Literal["a", 1], "all str or all int"),
        (ann.Annotated[str, "image", "text"], "conflicting"),
        (ann.Annotated[list[str], ResourceType.BBOXES], "holds a list of BBox"),
        (Path, "could be several resource types"),
        (list[list[int]], "cannot map"),
    ],
)
def test_unmappable_hints(hint: Any, message: str) -> None:
    with pytest.raises(AnnotationProblem, match=message):
        check_for_annotation(hint)


def test_numbers_accept_numpy_and_reject_strings_and_bools() -> None:
    number = check_for_annotation(float)
    assert number.coerce(np.float32(1.5)) == 1.5 and isinstance(number.coerce(np.int64(2)), float)
    integer = check_for_annotation(int)
    assert integer.coerce(np.int64(4)) == 4 and type(integer.coerce(4.0)) is int
    for bad in ("4", True, None, float("nan")):
        with pytest.raises(ValueProblem):
            integer.coerce(bad)
    assert check_for_annotation(int | float).coerce(3) == 3


def test_lists_of_models_and_tags() -> None:
    labels = check_for_annotation(list[Label]).coerce([{"name": "cat"}, Label(name="dog", score=0.5)])
    assert labels == [Label(name="cat"), Label(name="dog", score=0.5)]
    points = check_for_annotation(list[Point]).coerce(({"x": 1, "y": 2, "label": 1},))
    assert points == [Point(x=1, y=2, label=1)]
    with pytest.raises(ValueProblem, match="item 0 is not a valid Label"):
        check_for_annotation(list[Label]).coerce([{"name": "cat", "colour": "red"}])
    with pytest.raises(ValueProblem, match="list of str"):
        check_for_annotation(list[str]).coerce(["a", 1])
    assert check_for_annotation(ann.Weather).coerce({"temp": 3}) == {"temp": 3}


def test_files_become_paths(tmp_path: Path) -> None:
    clip = tmp_path / "v.mp4"
    clip.write_bytes(b"x")
    assert check_for_annotation(ann.Video).coerce(str(clip)) == clip
    with pytest.raises(ValueProblem, match="not a file"):
        check_for_annotation(ann.Video).coerce(tmp_path)


def test_docstring_sections() -> None:
    doc = parse_docstring(
        """Summarise a text
        in one line.

        A second paragraph that is not part of the description.

        Args:
            text (str): the text.
            limit: at most this
                many words.

        Returns: the summary, shorter than the text.

        Raises:
            ToolInputError: when empty.
        """
    )
    assert doc.description == "Summarise a text in one line."
    assert doc.args == {"text": "the text.", "limit": "at most this many words."}
    assert doc.returns == [(None, "the summary, shorter than the text.")]
    assert parse_docstring(None).description == ""
    with pytest.raises(DocstringError):
        parse_docstring("Do.\n\nArgs:\n    nonsense here\n")


def test_booleans_are_strict() -> None:
    check = check_for_annotation(bool)
    assert check.coerce(False) is False
    for bad in ("true", 1, None):
        with pytest.raises(ValueProblem):
            check.coerce(bad)


def test_structured_json_kinds() -> None:
    assert check_for_annotation(ann.Embedding).coerce(np.arange(3)) == [0.0, 1.0, 2.0]
    with pytest.raises(ValueProblem, match="finite"):
        check_for_annotation(ann.Embedding).coerce([1.0, float("nan")])
    assert check_for_annotation(ann.Table).coerce(({"a": 1},)) == [{"a": 1}]
    square = [[0, 0], (4, 0), [4, 4], [0, 4]]
    assert check_for_annotation(ann.Polygons).coerce([square]) == [[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)]]
    with pytest.raises(ValueProblem, match="at least 3"):
        check_for_annotation(ann.Polygons).coerce([[[0, 0], [1, 1]]])
    with pytest.raises(ValueProblem, match="vertex"):
        check_for_annotation(ann.Polygons).coerce([[[0, 0, 1], [1, 1], [2, 2]]])
    transcript = check_for_annotation(ann.Transcript).coerce([{"start": 0, "end": 1.5, "text": "hi"}])
    assert transcript == [Segment(start=0, end=1.5, text="hi")]


def test_types_known_only_by_spec_fall_back_to_their_storage_shape(tmp_path: Path) -> None:
    doc = tmp_path / "a.pdf"
    doc.write_bytes(b"%PDF")
    assert check_for_type("pdf").coerce(str(doc)) == doc
    assert check_for_type("heatmap").coerce(PILImage.new("L", (2, 2))).size == (2, 2)
    assert check_for_type("json").coerce({"k": [1]}) == {"k": [1]}

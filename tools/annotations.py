"""Python type hints for tool parameters, and the value checks they imply.

A tool author writes ordinary hints; this module maps each hint to a :class:`~graph.types.ResourceType`
(for the planner) and to a :class:`ValueCheck` (for the call). Plain hints map to their obvious type
(``str`` -> text, ``float``/``int`` -> number, ``bool`` -> boolean, ``PIL.Image.Image`` -> image,
``list[BBox]`` -> bboxes, ``list[Point]``, ``list[Label]``, ``list[Segment]`` -> transcript, ``list[str]`` ->
tags, ``list[float]`` -> embedding, ``list[dict]`` -> table, ``dict`` -> json); the ``Annotated`` aliases below
name the other types (``Mask``, ``Audio``, ``Url``, …)::

    >>> from tools.annotations import Mask, check_for_annotation
    >>> check_for_annotation(Mask).rtype.value
    'mask'
    >>> check_for_annotation(int | None).coerce(3.0)
    3

Values are checked, not guessed: a numeric string given for a number is rejected rather than converted,
because silently accepting ``"3"`` hides a broken argument filler until it produces ``"three"``. The few
conversions made are lossless: dicts become :class:`BBox`/:class:`Point`/:class:`Label`, an integral float
becomes an ``int`` for an ``int`` hint, an ``int`` becomes a ``float`` for a ``float`` hint, ``str`` paths
become :class:`~pathlib.Path`. A plain ``Path`` or an unlisted hint is a definition error: annotate it.
"""

from __future__ import annotations

import collections.abc
import json
import math
import numbers
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, Union

from PIL import Image as PILImage
from pydantic import BaseModel, ValidationError

from graph.errors import UnknownTypeError
from graph.types import FILE_TYPES, IMAGE_TYPES, BBox, Label, Point, ResourceType, Segment, resolve_type

__all__ = [
    "Audio",
    "BBoxes",
    "Boolean",
    "Code",
    "Depth",
    "Document",
    "Edge",
    "Embedding",
    "Flow",
    "Hed",
    "Heatmap",
    "Html",
    "Image",
    "Json",
    "Labels",
    "Language",
    "Line",
    "Location",
    "Mask",
    "Mesh",
    "Midi",
    "Normal",
    "Number",
    "PointCloud",
    "Points",
    "Polygons",
    "Pose",
    "Scribble",
    "Segmentation",
    "Spectrogram",
    "Subtitles",
    "Table",
    "Tags",
    "Text",
    "Time",
    "Title",
    "Transcript",
    "Url",
    "Video",
    "Weather",
    "AnnotationProblem",
    "ValueCheck",
    "ValueProblem",
    "check_for_annotation",
    "check_for_type",
]

# --- aliases for hints ------------------------------------------------------------------------------

Text = Annotated[str, ResourceType.TEXT]
Title = Annotated[str, ResourceType.TITLE]
Location = Annotated[str, ResourceType.LOCATION]
Time = Annotated[str, ResourceType.TIME]
Url = Annotated[str, ResourceType.URL]
Code = Annotated[str, ResourceType.CODE]
Language = Annotated[str, ResourceType.LANGUAGE]
Number = Annotated[float, ResourceType.NUMBER]
Boolean = Annotated[bool, ResourceType.BOOLEAN]
Image = Annotated[PILImage.Image, ResourceType.IMAGE]
Mask = Annotated[PILImage.Image, ResourceType.MASK]
Segmentation = Annotated[PILImage.Image, ResourceType.SEGMENTATION]
Edge = Annotated[PILImage.Image, ResourceType.EDGE]
Line = Annotated[PILImage.Image, ResourceType.LINE]
Hed = Annotated[PILImage.Image, ResourceType.HED]
Scribble = Annotated[PILImage.Image, ResourceType.SCRIBBLE]
Pose = Annotated[PILImage.Image, ResourceType.POSE]
Depth = Annotated[PILImage.Image, ResourceType.DEPTH]
Normal = Annotated[PILImage.Image, ResourceType.NORMAL]
Heatmap = Annotated[PILImage.Image, ResourceType.HEATMAP]
Spectrogram = Annotated[PILImage.Image, ResourceType.SPECTROGRAM]
BBoxes = Annotated[list[BBox], ResourceType.BBOXES]
Points = Annotated[list[Point], ResourceType.POINTS]
Labels = Annotated[list[Label], ResourceType.LABELS]
Transcript = Annotated[list[Segment], ResourceType.TRANSCRIPT]
Tags = Annotated[list[str], ResourceType.TAGS]
Embedding = Annotated[list[float], ResourceType.EMBEDDING]
Table = Annotated[list[dict[str, Any]], ResourceType.TABLE]
Polygons = Annotated[list[list[tuple[float, float]]], ResourceType.POLYGONS]
Json = Annotated[dict[str, Any], ResourceType.JSON]
Weather = Annotated[dict[str, Any], ResourceType.WEATHER]
Audio = Annotated[Path, ResourceType.AUDIO]
Video = Annotated[Path, ResourceType.VIDEO]
Html = Annotated[Path, ResourceType.HTML]
Document = Annotated[Path, ResourceType.DOCUMENT]
Subtitles = Annotated[Path, ResourceType.SUBTITLES]
Flow = Annotated[Path, ResourceType.FLOW]
Mesh = Annotated[Path, ResourceType.MESH]
PointCloud = Annotated[Path, ResourceType.POINTCLOUD]
Midi = Annotated[Path, ResourceType.MIDI]

# --- what Python value each resource type holds ----------------------------------------------------

Kind = Literal[
    "str",
    "number",
    "bool",
    "image",
    "file",
    "bboxes",
    "points",
    "labels",
    "segments",
    "tags",
    "vector",
    "table",
    "polygons",
    "object",
    "json",
]

_JSON_KINDS: dict[ResourceType, Kind] = {
    ResourceType.TEXT: "str",
    ResourceType.TITLE: "str",
    ResourceType.LOCATION: "str",
    ResourceType.TIME: "str",
    ResourceType.URL: "str",
    ResourceType.CODE: "str",
    ResourceType.LANGUAGE: "str",
    ResourceType.NUMBER: "number",
    ResourceType.BOOLEAN: "bool",
    ResourceType.BBOXES: "bboxes",
    ResourceType.POINTS: "points",
    ResourceType.LABELS: "labels",
    ResourceType.TRANSCRIPT: "segments",
    ResourceType.TAGS: "tags",
    ResourceType.EMBEDDING: "vector",
    ResourceType.TABLE: "table",
    ResourceType.POLYGONS: "polygons",
    ResourceType.WEATHER: "object",
    ResourceType.JSON: "object",
}

#: The type a plain (un-``Annotated``) hint of each kind gets; a plain ``Path`` is ambiguous.
_PLAIN_TYPE: dict[Kind, ResourceType] = {
    "str": ResourceType.TEXT,
    "number": ResourceType.NUMBER,
    "bool": ResourceType.BOOLEAN,
    "image": ResourceType.IMAGE,
    "bboxes": ResourceType.BBOXES,
    "points": ResourceType.POINTS,
    "labels": ResourceType.LABELS,
    "segments": ResourceType.TRANSCRIPT,
    "tags": ResourceType.TAGS,
    "vector": ResourceType.EMBEDDING,
    "table": ResourceType.TABLE,
    "polygons": ResourceType.POLYGONS,
    "object": ResourceType.JSON,
}

_EXPECTED: dict[Kind, str] = {
    "str": "a str",
    "number": "a number",
    "bool": "a bool",
    "image": "a PIL.Image.Image",
    "file": "a path to an existing file",
    "bboxes": "a list of BBox (or dicts with x1, y1, x2, y2)",
    "points": "a list of Point (or dicts with x, y)",
    "labels": "a list of Label (or dicts with name)",
    "segments": "a list of Segment (or dicts with start, end, text)",
    "tags": "a list of str",
    "vector": "a list of numbers",
    "table": "a list of dicts (one per row)",
    "polygons": "a list of polygons, each a list of at least 3 [x, y] points",
    "object": "a dict",
    "json": "a JSON value",
}

_ITEM_MODELS: dict[Kind, type[BaseModel]] = {"bboxes": BBox, "points": Point, "labels": Label, "segments": Segment}


class AnnotationProblem(Exception):
    """A hint that maps to no resource type (internal: the caller names the tool and parameter)."""


class ValueProblem(Exception):
    """A value that does not fit its check (internal: the caller turns it into an input or output error)."""


def kind_of(rtype: ResourceType) -> Kind:
    """The Python shape of a type's values; a type added without one is checked as any JSON value or file."""
    if rtype in IMAGE_TYPES:
        return "image"
    if rtype in FILE_TYPES:
        return "file"
    return _JSON_KINDS.get(rtype, "json")


@dataclass(frozen=True)
class ValueCheck:
    """How to accept a value for one input or output: its resource type plus what the hint narrowed."""

    rtype: ResourceType
    nullable: bool = False
    integer: bool = False
    as_float: bool = False
    choices: tuple[str | int, ...] | None = None

    @property
    def expected(self) -> str:
        text = _EXPECTED[kind_of(self.rtype)]
        if self.integer:
            text = "an int"
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        return text + (" or None" if self.nullable else "")

    def coerce(self, value: Any) -> Any:
        """Return ``value`` in its canonical Python form, or raise :class:`ValueProblem` saying why not."""
        if value is None:
            if self.nullable:
                return None
            raise ValueProblem(f"expected {self.expected}, got None")
        kind = kind_of(self.rtype)
        result = _COERCERS[kind](self, value)
        if self.choices is not None and result not in self.choices:
            raise ValueProblem(f"expected {self.expected}, got {value!r}")
        return result

    def _fail(self, value: Any, hint: str = "") -> ValueProblem:
        return ValueProblem(f"expected {self.expected}, got {type(value).__name__} {_short(value)}{hint}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce_str(check: ValueCheck, value: Any) -> str:
    if not isinstance(value, str):
        raise check._fail(value)
    return value


def _coerce_bool(check: ValueCheck, value: Any) -> bool:
    if not isinstance(value, bool):
        hint = " (strings and numbers are not converted: pass true or false)" if isinstance(value, (str, int)) else ""
        raise check._fail(value, hint)
    return value


def _coerce_number(check: ValueCheck, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = " (numeric strings are not converted: pass a number)" if isinstance(value, str) else ""
        raise check._fail(value, hint)
    number: int | float = int(value) if isinstance(value, numbers.Integral) else float(value)
    if not math.isfinite(number):
        raise ValueProblem(f"expected a finite number, got {value!r}")
    if check.integer and isinstance(number, float):
        if not number.is_integer():
            raise ValueProblem(f"expected an int, got {value!r}")
        number = int(number)
    elif check.as_float:
        number = float(number)
    return number


def _coerce_image(check: ValueCheck, value: Any) -> PILImage.Image:
    if not isinstance(value, PILImage.Image):
        raise check._fail(value)
    return value


def _coerce_file(check: ValueCheck, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise check._fail(value)
    path = Path(value)
    if not path.is_file():
        raise ValueProblem(f"expected {check.expected}, but {str(path)!r} is not a file")
    return path


def _coerce_models(check: ValueCheck, value: Any) -> list[BaseModel]:
    model = _ITEM_MODELS[kind_of(check.rtype)]
    if not isinstance(value, (list, tuple)):
        raise check._fail(value)
    items: list[BaseModel] = []
    for index, item in enumerate(value):
        if isinstance(item, model):
            items.append(item)
            continue
        if not isinstance(item, collections.abc.Mapping):
            raise ValueProblem(f"item {index}: expected a {model.__name__} or a dict, got {type(item).__name__}")
        try:
            items.append(model.model_validate(dict(item)))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            raise ValueProblem(f"item {index} is not a valid {model.__name__}: {problems}") from None
    return items


def _coerce_tags(check: ValueCheck, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise check._fail(value)
    return list(value)


def _coerce_object(check: ValueCheck, value: Any) -> dict[str, Any]:
    if not isinstance(value, collections.abc.Mapping):
        raise check._fail(value)
    return dict(value)


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return None
    return float(value)


def _coerce_vector(check: ValueCheck, value: Any) -> list[float]:
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()  # a 1-D numpy array
    numbers_ = [_real(v) for v in value] if isinstance(value, (list, tuple)) else [None]
    if any(v is None for v in numbers_):
        raise check._fail(value, " (every item must be a finite number)")
    return typing.cast(list[float], numbers_)


def _coerce_table(check: ValueCheck, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, collections.abc.Mapping) for r in value):
        raise check._fail(value)
    return [dict(row) for row in value]


def _coerce_polygons(check: ValueCheck, value: Any) -> list[list[tuple[float, float]]]:
    if not isinstance(value, (list, tuple)):
        raise check._fail(value)
    polygons = []
    for index, polygon in enumerate(value):
        points = []
        for point in polygon if isinstance(polygon, (list, tuple)) else [None]:
            xy = [_real(c) for c in point] if isinstance(point, (list, tuple)) else []
            if len(xy) != 2 or None in xy:
                raise ValueProblem(f"polygon {index}: every vertex must be [x, y] with finite numbers, got {point!r}")
            points.append((typing.cast(float, xy[0]), typing.cast(float, xy[1])))
        if len(points) < 3:
            raise ValueProblem(f"polygon {index} has {len(points)} vertices; a polygon needs at least 3")
        polygons.append(points)
    return polygons


def _coerce_json(check: ValueCheck, value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise check._fail(value) from None
    return value


_COERCERS: dict[Kind, typing.Callable[[ValueCheck, Any], Any]] = {
    "str": _coerce_str,
    "number": _coerce_number,
    "bool": _coerce_bool,
    "image": _coerce_image,
    "file": _coerce_file,
    "bboxes": _coerce_models,
    "points": _coerce_models,
    "labels": _coerce_models,
    "segments": _coerce_models,
    "tags": _coerce_tags,
    "vector": _coerce_vector,
    "table": _coerce_table,
    "polygons": _coerce_polygons,
    "object": _coerce_object,
    "json": _coerce_json,
}

# --- hints -> checks --------------------------------------------------------------------------------


def check_for_type(rtype: ResourceType | str, *, nullable: bool = False) -> ValueCheck:
    """The check for a type known only by name (catalogue specs, class tools with an explicit ``spec``)."""
    return ValueCheck(rtype=resolve_type(rtype), nullable=nullable)


def check_for_annotation(annotation: Any) -> ValueCheck:
    """Map a resolved type hint to its check; raise :class:`AnnotationProblem` when it maps to nothing."""
    base, nullable = _strip_none(annotation)
    declared: ResourceType | None = None
    if typing.get_origin(base) is Annotated:
        inner, *metadata = typing.get_args(base)
        declared = _type_from_metadata(metadata)
        base, inner_nullable = _strip_none(inner)
        nullable = nullable or inner_nullable
    kind, integer, as_float, choices = _python_kind(base)
    if declared is None:
        if kind not in _PLAIN_TYPE:
            raise AnnotationProblem(
                f"{_name(base)} could be several resource types; annotate it, e.g. Audio, Video or Document"
            )
        declared = _PLAIN_TYPE[kind]
    elif kind_of(declared) != kind:
        raise AnnotationProblem(
            f"resource type {declared.value!r} holds {_EXPECTED[kind_of(declared)]}, not {_name(base)}"
        )
    return ValueCheck(rtype=declared, nullable=nullable, integer=integer, as_float=as_float, choices=choices)


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) not in (Union, types.UnionType):
        return annotation, False
    args = typing.get_args(annotation)
    rest = tuple(a for a in args if a is not type(None))
    if len(rest) == len(args):
        return annotation, False
    return (rest[0] if len(rest) == 1 else Union[rest]), True  # noqa: UP007 - rebuilding a runtime union


def _type_from_metadata(metadata: list[Any]) -> ResourceType | None:
    found: set[ResourceType] = set()
    for item in metadata:
        if isinstance(item, str):  # ResourceType is a StrEnum, so this covers both
            try:
                found.add(resolve_type(item))
            except UnknownTypeError as exc:
                raise AnnotationProblem(exc.message) from None
    if len(found) > 1:
        raise AnnotationProblem(f"conflicting resource types {sorted(t.value for t in found)}")
    return found.pop() if found else None


def _python_kind(tp: Any) -> tuple[Kind, bool, bool, tuple[str | int, ...] | None]:
    """(kind, integer, as_float, choices) of a hint with ``None`` and ``Annotated`` already removed."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return "bool", False, False, None
    if tp is str:
        return "str", False, False, None
    if tp is int:
        return "number", True, False, None
    if tp is float:
        return "number", False, True, None
    if origin in (Union, types.UnionType) and set(args) == {int, float}:
        return "number", False, False, None
    if origin is Literal:
        if all(isinstance(a, str) for a in args):
            return "str", False, False, args
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return "number", True, False, args
        raise AnnotationProblem(f"Literal choices must be all str or all int, got {args!r}")
    if isinstance(tp, type) and issubclass(tp, PILImage.Image):
        return "image", False, False, None
    if isinstance(tp, type) and (issubclass(tp, PurePath) or tp is os.PathLike):
        return "file", False, False, None
    if tp is dict or origin in (dict, collections.abc.Mapping):
        return "object", False, False, None
    if origin in (list, collections.abc.Sequence) and len(args) == 1:
        item = _list_kind(args[0])
        if item is not None:
            return item, False, False, None
    raise AnnotationProblem(
        f"cannot map {_name(tp)} to a resource type; use str, int, float, PIL.Image.Image, list[BBox], "
        "list[Point], list[Label], list[str], Literal[...] or an alias from tools.annotations (Mask, Audio, …)"
    )


def _list_kind(item: Any) -> Kind | None:
    """The kind of ``list[item]``: models, strings, floats, rows (dicts) or polygons (lists of pairs)."""
    simple: dict[Any, Kind] = {
        BBox: "bboxes",
        Point: "points",
        Label: "labels",
        Segment: "segments",
        str: "tags",
        float: "vector",
    }
    if item in simple:
        return simple[item]
    origin, args = typing.get_origin(item), typing.get_args(item)
    if item is dict or origin is dict:
        return "table"
    if origin is list and len(args) == 1:
        vertex, vertex_args = typing.get_origin(args[0]), typing.get_args(args[0])
        if (vertex is tuple and vertex_args == (float, float)) or (vertex is list and vertex_args == (float,)):
            return "polygons"
    return None


def _name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp)

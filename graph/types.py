"""The closed set of resource types that flow between tools.

Every tool input and output has one of these types, so the planner can connect tools by type and the
engine can check values before a tool sees them. The set is closed on purpose: a typo in a tool
definition ("imgae") must fail when the tool is defined, not silently create a disconnected node.

Catalogues written for other systems use other names (ControlLLM's ``bbox``/``image.mask``, TaskBench's
``url``/``Image``); :func:`resolve_type` maps them through :data:`TYPE_ALIASES` and rejects the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from graph.errors import UnknownTypeError


class ResourceType(StrEnum):
    """A kind of value a tool consumes or produces."""

    TEXT = "text"
    IMAGE = "image"
    BBOXES = "bboxes"
    MASK = "mask"
    SEGMENTATION = "segmentation"
    POINTS = "points"
    LABELS = "labels"
    NUMBER = "number"
    AUDIO = "audio"
    VIDEO = "video"
    EDGE = "edge"
    LINE = "line"
    HED = "hed"
    SCRIBBLE = "scribble"
    POSE = "pose"
    DEPTH = "depth"
    NORMAL = "normal"
    TAGS = "tags"
    TITLE = "title"
    HTML = "html"
    LOCATION = "location"
    WEATHER = "weather"
    TIME = "time"
    URL = "url"
    DOCUMENT = "document"
    TABLE = "table"
    JSON = "json"
    CODE = "code"
    TRANSCRIPT = "transcript"
    SUBTITLES = "subtitles"
    EMBEDDING = "embedding"
    HEATMAP = "heatmap"
    SPECTROGRAM = "spectrogram"
    FLOW = "flow"
    POLYGONS = "polygons"
    MESH = "mesh"
    POINTCLOUD = "pointcloud"
    MIDI = "midi"
    LANGUAGE = "language"
    BOOLEAN = "boolean"


#: File types whose files are raster images (a PIL image in Python); other file types are plain files.
IMAGE_TYPES: frozenset[ResourceType] = frozenset(
    {
        ResourceType.IMAGE,
        ResourceType.MASK,
        ResourceType.SEGMENTATION,
        ResourceType.EDGE,
        ResourceType.LINE,
        ResourceType.HED,
        ResourceType.SCRIBBLE,
        ResourceType.POSE,
        ResourceType.DEPTH,
        ResourceType.NORMAL,
        ResourceType.HEATMAP,
        ResourceType.SPECTROGRAM,
    }
)

#: Types whose values are files (kept in the artifact store and passed by id), as opposed to JSON values.
FILE_TYPES: frozenset[ResourceType] = IMAGE_TYPES | frozenset(
    {
        ResourceType.AUDIO,
        ResourceType.VIDEO,
        ResourceType.HTML,
        ResourceType.DOCUMENT,
        ResourceType.SUBTITLES,
        ResourceType.FLOW,
        ResourceType.MESH,
        ResourceType.POINTCLOUD,
        ResourceType.MIDI,
    }
)


# --- value schemas of the JSON-valued types ---------------------------------------------------------


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BBox(_Value):
    """One box in pixel coordinates of the image it was found in (x2 > x1, y2 > y1)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str | None = None
    score: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


class Point(_Value):
    """A pixel position, optionally labelled (1 = foreground, 0 = background for prompting)."""

    x: float
    y: float
    label: int | None = None


class Label(_Value):
    """A category name with an optional confidence."""

    name: str
    score: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


class Segment(_Value):
    """A span of time in seconds with the text spoken or shown in it."""

    start: Annotated[float, Field(ge=0.0)]
    end: Annotated[float, Field(ge=0.0)]
    text: str


class TypeInfo(_Value):
    """Documentation of one resource type: what a value looks like."""

    type: ResourceType
    description: str
    is_file: bool
    value_schema: dict[str, Any]


def _list_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": model.model_json_schema()}


_FILE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "artifact id of the file in the artifact store",
}

_DESCRIPTIONS: dict[ResourceType, tuple[str, dict[str, Any]]] = {
    ResourceType.TEXT: ("free text: a question, an answer, a caption, a prompt", {"type": "string"}),
    ResourceType.IMAGE: ("a raster image (PNG/JPEG/WebP)", _FILE_SCHEMA),
    ResourceType.BBOXES: (
        "a list of boxes in pixel coordinates of their image, each with optional label and score",
        _list_schema(BBox),
    ),
    ResourceType.MASK: ("a binary mask image, white = selected", _FILE_SCHEMA),
    ResourceType.SEGMENTATION: ("a colour-coded segmentation map image", _FILE_SCHEMA),
    ResourceType.POINTS: ("a list of pixel positions", _list_schema(Point)),
    ResourceType.LABELS: ("a list of category names with optional scores", _list_schema(Label)),
    ResourceType.NUMBER: ("a number: a count, an angle, a factor", {"type": "number"}),
    ResourceType.AUDIO: ("an audio clip (WAV/MP3/FLAC)", _FILE_SCHEMA),
    ResourceType.VIDEO: ("a video clip (MP4/WebM/GIF)", _FILE_SCHEMA),
    ResourceType.EDGE: ("an edge map image (e.g. Canny)", _FILE_SCHEMA),
    ResourceType.LINE: ("a line-drawing map image", _FILE_SCHEMA),
    ResourceType.HED: ("a soft-edge (HED) map image", _FILE_SCHEMA),
    ResourceType.SCRIBBLE: ("a scribble map image", _FILE_SCHEMA),
    ResourceType.POSE: ("a human-pose skeleton image", _FILE_SCHEMA),
    ResourceType.DEPTH: ("a depth map image", _FILE_SCHEMA),
    ResourceType.NORMAL: ("a surface-normal map image", _FILE_SCHEMA),
    ResourceType.TAGS: ("a list of keywords or named entities", {"type": "array", "items": {"type": "string"}}),
    ResourceType.TITLE: ("a short title", {"type": "string"}),
    ResourceType.HTML: ("an HTML document", _FILE_SCHEMA),
    ResourceType.LOCATION: ("a place name", {"type": "string"}),
    ResourceType.WEATHER: ("a weather report as key/value pairs", {"type": "object"}),
    ResourceType.TIME: ("a date/time in ISO 8601", {"type": "string", "format": "date-time"}),
    ResourceType.URL: ("an http(s) URL", {"type": "string", "format": "uri"}),
    ResourceType.DOCUMENT: ("a multi-page document (PDF)", _FILE_SCHEMA),
    ResourceType.TABLE: (
        "tabular data as a list of rows, each an object of column -> value",
        {"type": "array", "items": {"type": "object"}},
    ),
    ResourceType.JSON: ("structured data: any JSON object", {"type": "object"}),
    ResourceType.CODE: ("source code text", {"type": "string"}),
    ResourceType.TRANSCRIPT: ("timed text segments (speech-to-text output)", _list_schema(Segment)),
    ResourceType.SUBTITLES: ("a subtitle file (SRT/WebVTT)", _FILE_SCHEMA),
    ResourceType.EMBEDDING: ("a vector of floats", {"type": "array", "items": {"type": "number"}}),
    ResourceType.HEATMAP: ("a saliency or attention heat-map image", _FILE_SCHEMA),
    ResourceType.SPECTROGRAM: ("a spectrogram image of an audio clip", _FILE_SCHEMA),
    ResourceType.FLOW: ("an optical-flow field between video frames", _FILE_SCHEMA),
    ResourceType.POLYGONS: (
        "region outlines as lists of [x, y] pixel vertices",
        {"type": "array", "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
    ),
    ResourceType.MESH: ("a 3-D mesh (OBJ/GLB/PLY)", _FILE_SCHEMA),
    ResourceType.POINTCLOUD: ("a 3-D point cloud (PLY/PCD)", _FILE_SCHEMA),
    ResourceType.MIDI: ("a MIDI music score", _FILE_SCHEMA),
    ResourceType.LANGUAGE: ("a BCP-47 language code such as en or zh", {"type": "string"}),
    ResourceType.BOOLEAN: ("a yes/no answer", {"type": "boolean"}),
}


def type_info(rtype: ResourceType | str) -> TypeInfo:
    """Describe one resource type (description, whether it is a file, JSON schema of its value)."""
    rt = resolve_type(rtype)
    description, schema = _DESCRIPTIONS[rt]
    return TypeInfo(type=rt, description=description, is_file=rt in FILE_TYPES, value_schema=schema)


def all_type_info() -> list[TypeInfo]:
    """Documentation of every resource type, in declaration order."""
    return [type_info(rt) for rt in ResourceType]


#: Names used by other catalogues, mapped to ours. Keys are compared case-insensitively, and a dotted
#: name (ControlLLM's ``image.mask``) is looked up whole first, then by its last segment.
TYPE_ALIASES: Mapping[str, ResourceType] = {
    "bbox": ResourceType.BBOXES,
    "box": ResourceType.BBOXES,
    "boxes": ResourceType.BBOXES,
    "category": ResourceType.LABELS,
    "categories": ResourceType.LABELS,
    "label": ResourceType.LABELS,
    "point": ResourceType.POINTS,
    "masks": ResourceType.MASK,
    "str": ResourceType.TEXT,
    "string": ResourceType.TEXT,
    "int": ResourceType.NUMBER,
    "float": ResourceType.NUMBER,
    "integer": ResourceType.NUMBER,
    "count": ResourceType.NUMBER,
    "photo": ResourceType.IMAGE,
    "picture": ResourceType.IMAGE,
    "speech": ResourceType.AUDIO,
    "sound": ResourceType.AUDIO,
    "tag": ResourceType.TAGS,
    "keypoints": ResourceType.POINTS,
    "pdf": ResourceType.DOCUMENT,
    "csv": ResourceType.TABLE,
    "bool": ResourceType.BOOLEAN,
    "music": ResourceType.AUDIO,
    "srt": ResourceType.SUBTITLES,
}


def resolve_type(name: ResourceType | str, aliases: Mapping[str, ResourceType] | None = None) -> ResourceType:
    """Map a type name (ours, an alias, or a dotted ControlLLM name) to a :class:`ResourceType`.

    >>> resolve_type("image.mask")
    <ResourceType.MASK: 'mask'>
    >>> resolve_type("Image")
    <ResourceType.IMAGE: 'image'>

    Raises :class:`~graph.errors.UnknownTypeError` naming the known types when nothing matches.
    """
    if isinstance(name, ResourceType):
        return name
    if not isinstance(name, str) or not name.strip():
        raise UnknownTypeError(f"resource type must be a non-empty string, got {name!r}", type_name=str(name))
    table = {**TYPE_ALIASES, **(aliases or {})}
    lowered = {k.lower(): v for k, v in table.items()}
    key = name.strip().lower()
    for candidate in (key, key.rsplit(".", 1)[-1]):
        try:
            return ResourceType(candidate)
        except ValueError:
            pass
        if candidate in lowered:
            return lowered[candidate]
    known = ", ".join(rt.value for rt in ResourceType)
    raise UnknownTypeError(
        f"unknown resource type {name!r}; known types: {known} (aliases: {', '.join(sorted(lowered))})",
        type_name=name,
    )

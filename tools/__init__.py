"""Tools: the tool protocol (``@tool``, :class:`Tool`), the registry, and the built-in toolbox.

Importing this package is cheap: the toolbox modules (and any model code) load only when
:func:`default_registry` or the module itself is used.
"""

from __future__ import annotations

from tools.annotations import (
    Audio,
    BBoxes,
    Boolean,
    Code,
    Depth,
    Document,
    Edge,
    Embedding,
    Flow,
    Heatmap,
    Hed,
    Html,
    Image,
    Json,
    Labels,
    Language,
    Line,
    Location,
    Mask,
    Mesh,
    Midi,
    Normal,
    Number,
    PointCloud,
    Points,
    Polygons,
    Pose,
    Scribble,
    Segmentation,
    Spectrogram,
    Subtitles,
    Table,
    Tags,
    Text,
    Time,
    Title,
    Transcript,
    Url,
    Video,
    Weather,
)
from tools.base import FunctionTool, Tool, tool
from tools.errors import (
    ToolDefinitionError,
    ToolError,
    ToolExecutionError,
    ToolInputError,
    ToolUnavailableError,
)
from tools.registry import ToolRegistry, default_registry

__all__ = [
    "Audio", "BBoxes", "Boolean", "Code", "default_registry", "Depth", "Document", "Edge", "Embedding", "Flow",
    "FunctionTool", "Heatmap", "Hed", "Html", "Image", "Json", "Labels", "Language", "Line", "Location",
    "Mask", "Mesh", "Midi", "Normal", "Number", "PointCloud", "Points", "Polygons", "Pose", "Scribble",
    "Segmentation", "Spectrogram", "Subtitles", "Table", "Tags", "Text", "Time", "Title", "Tool", "tool",
    "ToolDefinitionError", "ToolError", "ToolExecutionError", "ToolInputError", "ToolRegistry",
    "ToolUnavailableError", "Transcript", "Url", "Video", "Weather",
]

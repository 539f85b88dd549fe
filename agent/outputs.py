"""Writing typed results to files people can open: images as PNG, files copied, everything else as JSON.

>>> import tempfile, pathlib
>>> save_value(3, ResourceType.NUMBER, pathlib.Path(tempfile.mkdtemp()) / "count").name
'count.json'
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from graph.types import FILE_TYPES, IMAGE_TYPES, ResourceType


def save_value(value: Any, rtype: ResourceType, stem: Path) -> Path:
    """Save ``value`` of type ``rtype`` next to ``stem`` (its suffix chosen by type); return the path."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    if rtype in IMAGE_TYPES and hasattr(value, "save"):
        path = stem.with_suffix(".png")
        value.save(path)
        return path
    if rtype in FILE_TYPES and isinstance(value, (str, Path)) and Path(value).is_file():
        path = stem.with_suffix(Path(value).suffix or ".bin")
        shutil.copyfile(value, path)
        return path
    path = stem.with_suffix(".json")
    path.write_text(json.dumps(jsonable(value), indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value

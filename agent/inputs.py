"""Turn command-line inputs (``image=photo.jpg``, ``text="a dog"``, ``photo.jpg``) into typed resources.

A mistake here is the user's (a missing file, a number that isn't one), so every failure is an
:class:`InputSpecError` with a message that says what to type instead.
"""

from __future__ import annotations

import json
import mimetypes
import os
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from graph.errors import ToGError, UnknownTypeError
from graph.plan import ResourceRef
from graph.types import FILE_TYPES, BBox, Label, Point, ResourceType, resolve_type

#: Types whose command-line value (and file content) is a plain string rather than JSON.
STRING_TYPES = frozenset(
    {
        ResourceType.TEXT,
        ResourceType.TITLE,
        ResourceType.LOCATION,
        ResourceType.CODE,
        ResourceType.LANGUAGE,
        ResourceType.URL,
        ResourceType.TIME,
    }
)
_VALIDATORS: dict[ResourceType, TypeAdapter[Any]] = {
    ResourceType.BBOXES: TypeAdapter(list[BBox]),
    ResourceType.POINTS: TypeAdapter(list[Point]),
    ResourceType.LABELS: TypeAdapter(list[Label]),
}

_BY_MIME_PREFIX = {"image": ResourceType.IMAGE, "audio": ResourceType.AUDIO, "video": ResourceType.VIDEO}
_BY_SUFFIX = {
    ".pdf": ResourceType.DOCUMENT,
    ".csv": ResourceType.TABLE,
    ".json": ResourceType.JSON,
    ".srt": ResourceType.SUBTITLES,
    ".vtt": ResourceType.SUBTITLES,
    ".html": ResourceType.HTML,
    ".txt": ResourceType.TEXT,
    ".mid": ResourceType.MIDI,
    ".webp": ResourceType.IMAGE,
}


class InputSpecError(ToGError):
    """A command-line input that cannot be turned into a typed resource."""

    code = "invalid_input"


#: A file given with the request: a path (its type from its name) or a path and the type the user declared.
FileArg = str | Path | tuple[str | Path, ResourceType | str]


def check_path(path: Path, shown: str | None = None) -> None:
    """Raise an :class:`InputSpecError` naming the user's path (``shown``) if it is not a readable file."""
    name = repr(shown if shown is not None else str(path))
    if path.is_dir():
        raise InputSpecError(f"{name} is a directory, not a file", path=str(path))
    if not path.exists():
        raise InputSpecError(f"no such file: {name}", path=str(path))
    if not path.is_file():
        raise InputSpecError(f"{name} is not a regular file", path=str(path))
    if not os.access(path, os.R_OK):
        raise InputSpecError(f"{name} cannot be read (permission denied)", path=str(path))


def type_for_file(path: Path) -> ResourceType:
    """Guess a file's resource type from its name (``photo.jpg`` -> image)."""
    suffix = path.suffix.lower()
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    mime, _ = mimetypes.guess_type(path.name)
    if mime and mime.split("/", 1)[0] in _BY_MIME_PREFIX:
        return _BY_MIME_PREFIX[mime.split("/", 1)[0]]
    raise InputSpecError(f"cannot tell the type of {path.name!r} from its name; write TYPE=PATH, e.g. image={path}")


def parse_input(text: str) -> ResourceRef:
    """Parse ``TYPE=VALUE`` or a bare file path into a :class:`ResourceRef`.

    >>> parse_input("text=a red car").model_dump()
    {'type': <ResourceType.TEXT: 'text'>, 'value': 'a red car'}
    >>> parse_input("number=45").value
    45.0
    """
    if "=" in text:
        name, value = text.split("=", 1)
        try:
            rtype = resolve_type(name)
        except UnknownTypeError as exc:
            raise InputSpecError(f"input {text!r}: {exc.message}") from None
    else:
        path = Path(text).expanduser()
        check_path(path, text)  # a missing file or a folder, not "cannot tell its type"
        return ResourceRef(type=type_for_file(path), value=str(path))  # a file, whatever its type (notes.txt)
    if rtype in FILE_TYPES:
        path = Path(value).expanduser()
        try:
            check_path(path, value)
        except InputSpecError as exc:
            raise InputSpecError(f"input {text!r}: {exc.message}", path=value) from None
        return ResourceRef(type=rtype, value=str(path))
    if rtype is ResourceType.NUMBER:
        try:
            return ResourceRef(type=rtype, value=float(value))
        except ValueError:
            raise InputSpecError(f"input {text!r}: {value!r} is not a number") from None
    if not value.strip():
        raise InputSpecError(f"input {text!r}: the value is empty")
    if rtype in STRING_TYPES:
        return ResourceRef(type=rtype, value=value)
    return ResourceRef(type=rtype, value=_json_value(text, rtype, value))


def _json_value(text: str, rtype: ResourceType, value: str) -> object:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputSpecError(f"input {text!r}: a {rtype.value} value must be JSON ({exc.msg})") from None
    validator = _VALIDATORS.get(rtype)
    if validator is None:
        return parsed
    try:
        return validator.dump_python(validator.validate_python(parsed), mode="json", exclude_none=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputSpecError(f"input {text!r}: not a valid {rtype.value} value ({where}: {first['msg']})") from None

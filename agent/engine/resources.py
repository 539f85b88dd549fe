"""Turning the request's resources into the values tools take, before anything runs.

A plan names its inputs as file paths, artifact ids or literals; tools take PIL images, paths and
JSON values. Loading happens once per distinct resource when the graph is compiled, so a corrupt,
truncated or oversized upload is reported (with every other problem) before the first tool starts,
and an image used by five subtasks is decoded once.

    >>> from PIL import Image
    >>> ResourceLoader().load(Image.new("RGB", (2, 2)), ResourceType.IMAGE).size
    (2, 2)
"""

from __future__ import annotations

import os
from typing import Any

from graph.artifacts import ArtifactStore
from graph.errors import ToGError
from graph.types import FILE_TYPES, IMAGE_TYPES, ResourceType


class ResourceLoader:
    """Loads resource values, using ``store`` for artifact ids; caches by (value, type)."""

    def __init__(self, store: ArtifactStore | None = None) -> None:
        self.store = store
        self._cache: dict[tuple[str, ResourceType], Any] = {}

    def load(self, value: Any, rtype: ResourceType) -> Any:
        """The value a tool takes; raises a :class:`~graph.errors.ToGError` subclass for a bad resource."""
        if not isinstance(value, (str, bytes, os.PathLike)):
            return value  # already a value (a PIL image, boxes, a number)
        if rtype not in FILE_TYPES and not self._is_artifact(value):
            return value  # a literal text
        key = (os.fspath(value) if not isinstance(value, bytes) else f"bytes:{hash(value)}", rtype)
        if key not in self._cache:
            self._cache[key] = self._load(value, rtype)
        return self._cache[key]

    def _is_artifact(self, value: Any) -> bool:
        try:
            return self.store is not None and isinstance(value, str) and value in self.store
        except ToGError:
            return False

    def _load(self, value: Any, rtype: ResourceType) -> Any:
        if self._is_artifact(value):
            assert self.store is not None
            meta = self.store.meta(value)
            if meta.type is not rtype:
                raise ResourceTypeError(
                    f"artifact {value!r} is {meta.type.value}, not {rtype.value}",
                    artifact=value,
                    expected=rtype.value,
                    actual=meta.type.value,
                )
            if rtype in IMAGE_TYPES:
                return self._image(self.store.path(value), rtype)
            return self.store.load(value)
        if rtype in IMAGE_TYPES:
            return self._image(value, rtype)
        path = os.fspath(value) if not isinstance(value, bytes) else None
        if path is None or not os.path.isfile(path):
            raise MissingResourceError(f"no {rtype.value} file at {value!r}", path=str(value))
        return os.path.abspath(path)

    @staticmethod
    def _image(source: Any, rtype: ResourceType) -> Any:
        """Every image-like input gets the same guards (size from the header, truncation, EXIF); masks stay grey."""
        from vlm.images import load_image

        image = load_image(source)
        return image.convert("L") if rtype is ResourceType.MASK else image


class ResourceError(ToGError, ValueError):
    code = "invalid_resource"


class ResourceTypeError(ResourceError):
    code = "resource_type_mismatch"


class MissingResourceError(ResourceError):
    code = "missing_resource"

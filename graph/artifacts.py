"""Content-addressed storage for the files and values that flow between tools.

Pipeline state holds artifact ids, never bytes or PIL images, so it stays JSON-able and checkpointable.
An id is opaque (``"image-3fa29b0c1d2e4f56"``: the type and the first 16 hex digits of the content's
SHA-256); the same bytes stored as the same type always get the same id and are written once. Content is
checked when stored: an undecodable image or a decompression bomb never gets an id.

    >>> import tempfile
    >>> store = ArtifactStore(tempfile.mkdtemp())
    >>> meta = store.put_json([{"x1": 0, "y1": 0, "x2": 4, "y2": 2, "label": "cat"}], "bboxes")
    >>> meta.id == store.put_json([{"x1": 0, "y1": 0, "x2": 4, "y2": 2, "label": "cat"}], "bbox").id
    True
    >>> store.load(meta.id)[0]["label"]
    'cat'

Layout under ``root``: ``<id>/content<ext>`` and ``<id>/meta.json``, both written through a temporary file
and an atomic rename; an artifact exists once its ``meta.json`` does. Pillow is imported only when an
image is stored or loaded, so importing :mod:`graph` stays fast.

Stored bytes are checked against the SHA-256 in ``meta.json`` whenever they are read whole (``get_bytes``,
``load``, ``verify``): a file damaged on disk raises :class:`ArtifactCorruptError` instead of handing out wrong
bytes or a decoder error naming the file. Storing the same bytes again repairs a damaged copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from graph.errors import (
    ArtifactError,
    ArtifactNotFoundError,
    ArtifactTooLargeError,
    InvalidArtifactError,
    InvalidArtifactIdError,
)
from graph.types import FILE_TYPES, IMAGE_TYPES, ResourceType, resolve_type

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: Largest image (width x height) the store accepts unless told otherwise: about 7000 x 7000.
DEFAULT_MAX_PIXELS = 50_000_000

_ID = re.compile(r"^(?P<type>[a-z]+)-(?P<digest>[0-9a-f]{16})$")
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
_DEFAULT_MIME = {
    ResourceType.AUDIO: "audio/octet-stream",
    ResourceType.VIDEO: "video/octet-stream",
    ResourceType.HTML: "text/html",
}
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})
_CHUNK = 1 << 20
_TYPE_NAMES = frozenset(t.value for t in ResourceType)


class ArtifactCorruptError(ArtifactError):
    """The stored content no longer matches the checksum it was stored with (damaged on disk)."""

    code = "artifact_corrupt"


class ArtifactMeta(BaseModel):
    """What the store knows about one artifact (``width``/``height`` only for images)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    type: ResourceType
    mime: str
    size: int = Field(ge=0)
    sha256: str
    created: datetime
    filename: str | None = None
    width: int | None = None
    height: int | None = None


class ArtifactStore:
    """Files and JSON values by id, under one directory. Safe to share between threads and processes."""

    def __init__(self, root: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        if max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, got {max_pixels}")
        self.root = Path(root)
        self.max_pixels = max_pixels
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    # --- storing ---------------------------------------------------------------------------------------

    def put_bytes(
        self, data: bytes, type: ResourceType | str, mime: str | None = None, filename: str | None = None
    ) -> ArtifactMeta:
        """Store bytes as ``type``; images are decoded to check them and their MIME type is detected."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArtifactError(f"put_bytes needs bytes, got {_type_name(data)}")
        with self._staging() as (tmp, out):
            out.write(data)
            out.close()
            return self._commit(tmp, resolve_type(type), mime, filename)

    def put_file(self, path: str | os.PathLike[str], type: ResourceType | str, mime: str | None = None) -> ArtifactMeta:
        """Copy a file into the store (streamed, so large videos are never held in memory)."""
        source = Path(path)
        rtype = resolve_type(type)
        with self._staging() as (tmp, out):
            try:
                with source.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
            except OSError as exc:
                raise InvalidArtifactError(
                    f"cannot read {str(source)!r}: {exc.strerror or exc}", path=str(source)
                ) from exc
            out.close()
            return self._commit(tmp, rtype, mime, source.name)

    def put_image(self, image: PILImage, type: ResourceType | str = ResourceType.IMAGE) -> ArtifactMeta:
        """Store a PIL image as PNG (lossless; modes PNG cannot hold are converted to RGB/RGBA)."""
        from PIL import Image

        rtype = resolve_type(type)
        if rtype not in IMAGE_TYPES:
            raise InvalidArtifactError(f"{rtype.value!r} is not an image type; use put_bytes or put_json")
        if not isinstance(image, Image.Image):
            raise InvalidArtifactError(f"put_image needs a PIL image, got {_type_name(image)}")
        self._check_pixels(*image.size)
        if image.mode not in _PNG_MODES:
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        with self._staging() as (tmp, out):
            image.save(out, format="PNG")
            out.close()
            return self._commit(tmp, rtype, "image/png", None, size=image.size)

    def put_json(self, value: Any, type: ResourceType | str) -> ArtifactMeta:
        """Store a JSON value (pydantic models such as ``BBox`` included) of a JSON-valued type."""
        rtype = resolve_type(type)
        if rtype in FILE_TYPES:
            raise InvalidArtifactError(f"{rtype.value!r} values are files; use put_image, put_bytes or put_file")
        try:
            text = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
            )
        except (TypeError, ValueError) as exc:
            raise InvalidArtifactError(f"value for {rtype.value!r} is not JSON-serialisable: {exc}") from exc
        return self.put_bytes(text.encode("utf-8"), rtype, "application/json")

    # --- reading ---------------------------------------------------------------------------------------

    def meta(self, artifact_id: str) -> ArtifactMeta:
        meta_path = self._dir(artifact_id) / "meta.json"
        try:
            return ArtifactMeta.model_validate_json(meta_path.read_bytes())
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"no artifact {artifact_id!r}", artifact_id=artifact_id) from None

    def path(self, artifact_id: str) -> Path:
        """The stored file; read it, never write it (other ids may share it)."""
        self.meta(artifact_id)
        found = sorted(self._dir(artifact_id).glob("content*"))
        if not found:
            raise ArtifactNotFoundError(f"the content of artifact {artifact_id!r} is missing", artifact_id=artifact_id)
        return found[0]

    def get_bytes(self, artifact_id: str) -> bytes:
        """The content, checked against its checksum (:class:`ArtifactCorruptError` if it was damaged)."""
        meta = self.meta(artifact_id)
        data = self.path(artifact_id).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.sha256:
            raise _corrupt(meta)
        return data

    def verify(self, artifact_id: str) -> ArtifactMeta:
        """The metadata, once the stored content has been checked against its checksum."""
        meta = self.meta(artifact_id)
        path = self.path(artifact_id)
        if path.stat().st_size != meta.size or _sha256(path) != meta.sha256:
            raise _corrupt(meta)
        return meta

    def load(self, artifact_id: str) -> Any:
        """The Python value: a PIL image for image types, parsed JSON for JSON types, a Path for other files.

        Images and JSON are read whole anyway, so their checksum is checked first; other files are returned
        as paths unread (a video can be large), so call :meth:`verify` where that matters."""
        meta = self.meta(artifact_id)
        if meta.type in IMAGE_TYPES:
            from PIL import Image

            with Image.open(io.BytesIO(self.get_bytes(artifact_id))) as image:
                image.load()
            return image
        if meta.type in FILE_TYPES:
            return self.path(artifact_id)
        return json.loads(self.get_bytes(artifact_id).decode("utf-8"))

    def exists(self, artifact_id: str) -> bool:
        """Whether the store holds ``artifact_id``; a malformed id is an :class:`InvalidArtifactIdError`."""
        return (self._dir(artifact_id) / "meta.json").is_file()

    def __contains__(self, artifact_id: object) -> bool:
        return isinstance(artifact_id, str) and bool(_parse_id(artifact_id)) and self.exists(artifact_id)

    def __iter__(self) -> Iterator[ArtifactMeta]:
        """Every artifact, sorted by id."""
        for entry in sorted(self.root.iterdir()):
            if _parse_id(entry.name) and (entry / "meta.json").is_file():
                yield self.meta(entry.name)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # --- internals -------------------------------------------------------------------------------------

    def _dir(self, artifact_id: str) -> Path:
        if not isinstance(artifact_id, str) or not _parse_id(artifact_id):
            raise InvalidArtifactIdError(
                f"{artifact_id!r} is not an artifact id (expected '<type>-<16 hex digits>')",
                artifact_id=str(artifact_id),
            )
        return self.root / artifact_id

    def _staging(self) -> _Staging:
        return _Staging(self._tmp)

    def _check_pixels(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise ArtifactTooLargeError(
                f"image of {width}x{height} pixels exceeds the limit of {self.max_pixels} pixels",
                width=width,
                height=height,
                max_pixels=self.max_pixels,
            )

    def _commit(
        self,
        tmp: Path,
        rtype: ResourceType,
        mime: str | None,
        filename: str | None,
        size: tuple[int, int] | None = None,
    ) -> ArtifactMeta:
        """Check staged content, then move it into place under its id (or reuse the stored copy)."""
        digest = _sha256(tmp)
        artifact_id = f"{rtype.value}-{digest[:16]}"
        folder = self.root / artifact_id
        if (folder / "meta.json").is_file():
            existing = self.meta(artifact_id)
            if existing.sha256 != digest:
                raise ArtifactError(f"id collision for {artifact_id!r}: different content has the same id prefix")
            self._repair(existing, tmp)
            return existing
        width = height = None
        if rtype in IMAGE_TYPES:
            detected, (width, height) = ("image/png", size) if size else self._inspect_image(tmp, rtype, filename)
            mime = detected
        elif rtype not in FILE_TYPES:
            _check_json(tmp, rtype)
            mime = "application/json"
        else:
            guessed = mimetypes.guess_type(filename)[0] if filename else None
            mime = mime or guessed or _DEFAULT_MIME.get(rtype, "application/octet-stream")
        name = Path(filename).name if filename else None
        meta = ArtifactMeta(
            id=artifact_id,
            type=rtype,
            mime=mime,
            size=tmp.stat().st_size,
            sha256=digest,
            created=datetime.now(UTC),
            filename=name or None,
            width=width,
            height=height,
        )
        folder.mkdir(exist_ok=True)
        os.replace(tmp, folder / f"content{_suffix(mime, name)}")
        with self._staging() as (meta_tmp, out):
            out.write(meta.model_dump_json(indent=2).encode("utf-8"))
            out.close()
            os.replace(meta_tmp, folder / "meta.json")
        return meta

    def _repair(self, meta: ArtifactMeta, staged: Path) -> None:
        """Put ``staged`` (the same bytes, just hashed) in place of a stored copy that is missing or damaged."""
        found = sorted((self.root / meta.id).glob("content*"))
        if found and found[0].stat().st_size == meta.size and _sha256(found[0]) == meta.sha256:
            return
        target = found[0] if found else self.root / meta.id / f"content{_suffix(meta.mime, meta.filename)}"
        os.replace(staged, target)

    def _inspect_image(self, path: Path, rtype: ResourceType, filename: str | None) -> tuple[str, tuple[int, int]]:
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit
                with Image.open(path) as image:
                    self._check_pixels(*image.size)
                    image.load()
                    return Image.MIME.get(image.format or "", "application/octet-stream"), image.size
        except ArtifactTooLargeError:
            raise
        except Image.DecompressionBombError as exc:
            raise ArtifactTooLargeError(f"image exceeds the pixel limit: {exc}") from exc
        except Exception as exc:  # Pillow raises many types for bad data: OSError, SyntaxError, ValueError…
            # Pillow names the file it read: the staging file, a path inside the store nobody should see.
            shown = Path(filename).name if filename else "content"
            reason = str(exc).replace(str(path), shown).replace(path.name, shown)
            what = repr(shown) if filename else "content"
            raise InvalidArtifactError(
                f"{what} declared as {rtype.value!r} is not a readable image ({reason})", type=rtype.value
            ) from exc


class _Staging:
    """A temporary file under the store's root, removed unless it was moved into place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> tuple[Path, BinaryIO]:
        fd, name = tempfile.mkstemp(dir=self.folder, prefix="put-")
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        return self.path, self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


def _corrupt(meta: ArtifactMeta) -> ArtifactCorruptError:
    return ArtifactCorruptError(
        f"the stored content of artifact {meta.id!r} is damaged (it no longer matches its checksum); "
        "store the same file again to repair it",
        artifact_id=meta.id,
    )


def _parse_id(artifact_id: str) -> bool:
    match = _ID.match(artifact_id)
    return match is not None and match.group("type") in _TYPE_NAMES


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_json(path: Path, rtype: ResourceType) -> None:
    try:
        json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidArtifactError(f"content declared as {rtype.value!r} is not UTF-8 JSON: {exc}") from exc


def _suffix(mime: str, filename: str | None) -> str:
    suffix = mimetypes.guess_extension(mime) or (Path(filename).suffix if filename else "")
    return suffix if _SAFE_SUFFIX.match(suffix or "") else ""


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _type_name(value: Any) -> str:  # the put_* methods shadow `type` with their argument
    return type(value).__name__

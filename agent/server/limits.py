"""What a request may send, checked before anything is queued: body size, file count and size, file types,
image pixels (from the header, before decoding: the artifact store's guard), and literal values.

A literal resource of a file type must name an artifact the store already holds: a path is never accepted,
so a client cannot make the server read its own files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.bounds import check_request_length
from agent.decompose.base import Resource
from agent.inputs import InputSpecError, type_for_file
from agent.result import Artifact
from agent.server.config import ServerSettings
from agent.server.errors import (
    FileTooLargeError,
    InvalidInputError,
    PayloadTooLargeError,
    TooManyFilesError,
    UnsupportedTypeError,
    error_response,
    storage_error,
)
from agent.server.models import ResourceInput
from agent.server.views import PREFIX
from graph import sniff
from graph.artifacts import ArtifactCorruptError, ArtifactStore
from graph.errors import ToGError
from graph.types import FILE_TYPES, ResourceType, type_info

#: The route whose refusals ``tog_tasks_rejected_total`` counts.
TASKS_PATH = f"{PREFIX}/tasks"

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: at once from Content-Length, or as soon as the stream passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int, on_task_refused: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_task_refused = on_task_refused  # counts a task submission refused here, before its route runs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            if self.on_task_refused is not None and scope.get("method") == "POST" and scope.get("path") == TASKS_PATH:
                self.on_task_refused(PayloadTooLargeError.code)
            await error_response(413, PayloadTooLargeError.code, self._message(), {"max_bytes": self.max_bytes})(
                scope, receive, send
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLargeError(self._message(), max_bytes=self.max_bytes)
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the request body exceeds the server's limit of {self.max_bytes} bytes"


class UploadPolicy:
    """Checks uploads and literal resources against the server's limits and stores the files."""

    def __init__(self, settings: ServerSettings, store_root: Path, *, max_request_chars: int | None = None) -> None:
        self.settings = settings
        #: The agent's limit (TOG_AGENT_MAX_REQUEST_CHARS) and the server's, whichever is lower: a request the
        #: agent would refuse is refused here, at submission, with the same error.
        self.max_request_chars = min(settings.max_request_chars, max_request_chars or settings.max_request_chars)
        self.allowed = frozenset(settings.allowed_types)
        # The same directory as the agent's store, with the server's pixel limit on everything uploaded.
        self.store = ArtifactStore(store_root, max_pixels=settings.max_pixels)

    def check_request(self, request: str) -> str:
        text = request.strip()
        if not text:
            raise InvalidInputError("the request is empty: say what you want done")
        check_request_length(request, self.max_request_chars)
        return request

    def check_count(self, count: int) -> None:
        if count > self.settings.max_files:
            raise TooManyFilesError(
                f"{count} files; the limit is {self.settings.max_files}", max_files=self.settings.max_files
            )

    def check_size(self, name: str, size: int | None) -> None:
        if size is not None and size > self.settings.max_file_bytes:
            raise FileTooLargeError(
                f"{name!r} is {size} bytes; the limit is {self.settings.max_file_bytes}",
                file=name,
                max_bytes=self.settings.max_file_bytes,
            )

    def file_type(self, name: str, declared: ResourceType | None) -> ResourceType:
        """The declared type, or the one the name implies; 415 when it is not a file type the server accepts."""
        rtype = declared
        if rtype is None:
            try:
                rtype = type_for_file(Path(name))
            except InputSpecError:
                raise UnsupportedTypeError(
                    f"cannot tell the type of {name!r} from its name; give it an extension (photo.png) or a type",
                    file=name,
                ) from None
        if rtype not in FILE_TYPES:
            raise UnsupportedTypeError(
                f"{rtype.value!r} is not a file type; send it as a resource value", file=name, type=rtype.value
            )
        if rtype not in self.allowed:
            raise UnsupportedTypeError(
                f"this server does not accept {rtype.value} uploads ({name!r})",
                file=name,
                type=rtype.value,
                allowed=sorted(t.value for t in self.allowed),
            )
        return rtype

    def store_file(self, name: str, rtype: ResourceType, data: bytes) -> tuple[Resource, Artifact]:
        """Store one checked upload; an undecodable image is 422, one over the pixel limit 413, a disk that cannot
        take it 507 or 503. The same bytes stored before get the same id, and a damaged stored copy is replaced."""
        self.check_size(name, len(data))
        if sniff.matches(data[: sniff.HEAD_BYTES], rtype) is False:
            raise UnsupportedTypeError(
                f"{name!r} is not {rtype.value}: its content is no {rtype.value} format this server knows",
                file=name,
                type=rtype.value,
            )
        try:
            meta = self.store.put_bytes(data, rtype, filename=name)
        except OSError as exc:
            raise storage_error(exc, f"{name!r}") from None
        return (
            Resource(name=name, type=rtype, value=meta.id),
            Artifact(id=meta.id, type=rtype, mime=meta.mime, role="input", name=name),
        )

    def resource(self, given: ResourceInput) -> Resource:
        """A literal resource, its value checked against its type's JSON shape (files: a stored artifact id)."""
        if given.type in FILE_TYPES:
            value = given.value
            try:
                known = isinstance(value, str) and value in self.store and self.store.meta(value).type is given.type
                if known:
                    self.store.verify(value)
            except ArtifactCorruptError as exc:
                raise InvalidInputError(
                    f"resource {given.name!r}: {exc.message} (upload the file again)", resource=given.name
                ) from None
            except ToGError:
                known = False
            if not known:
                raise InvalidInputError(
                    f"resource {given.name!r}: a {given.type.value} value must be the id of a stored "
                    f"{given.type.value} artifact (upload the file instead)",
                    resource=given.name,
                )
            return Resource(name=given.name, type=given.type, value=value)
        expected = type_info(given.type).value_schema.get("type")
        kinds = _JSON_TYPES.get(str(expected))
        bad_bool = isinstance(given.value, bool) and expected == "number"
        if given.value is None or (kinds and (not isinstance(given.value, kinds) or bad_bool)):
            raise InvalidInputError(
                f"resource {given.name!r}: a {given.type.value} value must be a JSON {expected}",
                resource=given.name,
                type=given.type.value,
            )
        if isinstance(given.value, str) and not given.value.strip():
            raise InvalidInputError(f"resource {given.name!r}: the value is empty", resource=given.name)
        return Resource(name=given.name, type=given.type, value=given.value)

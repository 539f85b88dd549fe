"""Read a task body, multipart or JSON, into a checked request, its resources and its stored input files;
and the files of a plain upload (``POST /v1/artifacts``).

Both shapes carry the same fields (see :class:`~agent.server.models.TaskCreate`): multipart has file
parts under ``files`` and the literal resources as a JSON array in ``resources``; JSON has files inline
as base64 (or as URLs, where enabled).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from agent.decompose.base import Resource
from agent.result import Artifact
from agent.server.errors import InvalidInputError, UnsupportedMediaTypeError
from agent.server.limits import UploadPolicy
from agent.server.models import FileInput, ResourceInput, TaskCreate
from agent.server.remote import fetch_url

_RESOURCES = TypeAdapter(list[ResourceInput])


@dataclass
class TaskInput:
    request: str
    resources: list[Resource] = field(default_factory=list)
    inputs: list[Artifact] = field(default_factory=list)


async def read_task_body(request: Request, policy: UploadPolicy) -> TaskInput:
    """The checked inputs of a ``POST /v1/tasks`` or ``POST /v1/plan``; raises a 4xx error for bad ones."""
    content_type = _content_type(request)
    if content_type == "application/json":
        return await _from_json(await request.body(), policy)
    if content_type == "multipart/form-data":
        return await _from_form(request, policy)
    raise UnsupportedMediaTypeError(
        f"send the task as application/json or multipart/form-data, not {content_type or 'no content type'!r}",
        content_type=content_type,
    )


async def _from_json(body: bytes, policy: UploadPolicy) -> TaskInput:
    try:
        task = TaskCreate.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(_with_body_loc(exc.errors())) from None
    request = policy.check_request(task.request)
    policy.check_count(len(task.files))
    literals = [policy.resource(r) for r in task.resources]
    files: list[tuple[Resource, Artifact]] = []
    for item in task.files:
        rtype = policy.file_type(item.name, item.type)
        data = await run_in_threadpool(_file_bytes, item, policy)
        files.append(await run_in_threadpool(policy.store_file, item.name, rtype, data))
    return TaskInput(request, [*(r for r, _ in files), *literals], [a for _, a in files])


def _file_bytes(item: FileInput, policy: UploadPolicy) -> bytes:
    if item.url is not None:
        return fetch_url(item.url, policy.settings)
    assert item.data is not None
    # base64 is 4/3 of the content: refuse an oversized file before decoding it.
    policy.check_size(item.name, len(item.data) * 3 // 4 - 2)
    try:
        return base64.b64decode(item.data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"file {item.name!r}: data is not valid base64", file=item.name) from None


async def _from_form(request: Request, policy: UploadPolicy) -> TaskInput:
    form = await _read_form(request, policy)
    try:
        text = form.get("request")
        if not isinstance(text, str):
            raise RequestValidationError(
                [{"loc": ("body", "request"), "msg": "Field required (a text form field)", "type": "missing"}]
            )
        request_text = policy.check_request(text)
        uploads = _file_parts(form, policy)
        literals = [policy.resource(r) for r in _form_resources(form.get("resources"))]
        files = await _store_uploads(uploads, policy)
    finally:
        await form.close()
    return TaskInput(request_text, [*(r for r, _ in files), *literals], [a for _, a in files])


async def read_uploads(request: Request, policy: UploadPolicy) -> list[Artifact]:
    """The files of a ``POST /v1/artifacts`` (multipart ``files`` parts), checked and stored."""
    content_type = _content_type(request)
    if content_type != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"upload files as multipart/form-data 'files' parts, not {content_type or 'no content type'!r}",
            content_type=content_type,
        )
    form = await _read_form(request, policy)
    try:
        uploads = _file_parts(form, policy)
        if not uploads:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "files"),
                        "msg": "Field required (one or more file parts named 'files')",
                        "type": "missing",
                    }
                ]
            )
        files = await _store_uploads(uploads, policy)
    finally:
        await form.close()
    return [artifact for _, artifact in files]


async def _read_form(request: Request, policy: UploadPolicy) -> FormData:
    settings = policy.settings
    # Generous parser limits (the body-size middleware bounds the total); our own counts give the 413s.
    return await request.form(
        max_files=max(64, settings.max_files * 4),
        max_fields=64,
        max_part_size=max(1 << 20, settings.max_request_chars * 4 + 1024),
    )


def _file_parts(form: FormData, policy: UploadPolicy) -> list[UploadFile]:
    uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if len(uploads) != len(form.getlist("files")):
        raise InvalidInputError("every 'files' part must be a file (with a filename)")
    policy.check_count(len(uploads))
    return uploads


async def _store_uploads(uploads: list[UploadFile], policy: UploadPolicy) -> list[tuple[Resource, Artifact]]:
    files: list[tuple[Resource, Artifact]] = []
    for upload in uploads:
        name = _safe_name(upload.filename)
        rtype = policy.file_type(name, None)
        policy.check_size(name, upload.size)
        data = await upload.read()
        files.append(await run_in_threadpool(policy.store_file, name, rtype, data))
    return files


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _form_resources(raw: Any) -> list[ResourceInput]:
    if raw is None or raw == "":
        return []
    if not isinstance(raw, str):
        raise InvalidInputError("'resources' must be a text field holding a JSON array")
    try:
        return _RESOURCES.validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", "resources", *e.get("loc", ()))} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def _safe_name(filename: str | None) -> str:
    """The last path segment of a client's file name (never used as a path: the store keys files by id)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(c for c in name if ord(c) >= 32)[:255]
    if not name or name in (".", ".."):
        raise InvalidInputError("every file needs a name with an extension (photo.png)")
    return name


def _with_body_loc(errors: list[Any]) -> list[Any]:
    return [{**e, "loc": ("body", *e.get("loc", ()))} for e in errors]
